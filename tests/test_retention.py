"""Retention: which days are kept, trimming the stores, and the job that does both.

The school is six weeks of a small school made by the real rules
(retention_kit) with a retention of 30 days; the clock is fixed on the
Wednesday after, so the first kept day is Monday 15 September, and the two
weeks before it are due. Store tests run on SQLite and on a real Redis.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from retention_kit import TZ, append_all, local, read_all, school_days, stored

from hallpass.backend import open_backend
from hallpass.directory.model import School
from hallpass.events import sqlite as sqlite_store
from hallpass.events.snapshots import MissingHistory, SnapshotStore, snapshots_of
from hallpass.events.store import EventStore, TrimRefused, VersionConflict
from hallpass.events.types import (
    SYSTEM,
    Event,
    HistoryTrimmed,
    PassCreated,
    PassEnded,
    PassExpired,
    PassStarted,
    Policies,
    PoliciesSet,
    RequestDeclined,
    RequestSent,
    RoomAdded,
)
from hallpass.projections.clock import local_day
from hallpass.projections.forget import forget_before, history_start
from hallpass.projections.snapshot import STATE_KIND, encode_state, seal
from hallpass.projections.state import evolve, initial_state, replay
from hallpass.reports.aggregates import Aggregates
from hallpass.reports.aggregates import fold as fold_aggregates
from hallpass.reports.live import Reports
from hallpass.reports.snapshot import load_snapshot
from hallpass.retention import Trimmed, keep_retention
from hallpass.service import ticker as ticker_module
from hallpass.service.runtime import SchoolRuntime, Schools
from hallpass.service.ticker import Ticker
from hallpass.worker import retention_every_school, snapshot_every_school

EVENTS = school_days(seed=11, days=30, retention_days=30, asks=0.3)  # 1 Sep to 10 Oct 2025
NOW = local(date(2025, 10, 15), 12)  # a Wednesday: 30 days back is a Monday
FIRST_KEPT = date(2025, 9, 15)


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def due_before(day: date) -> int:
    """How many of EVENTS happened before the local `day` began."""
    return sum(1 for event in EVENTS if event.at < local(day, 0))


def snapshots(store: EventStore) -> SnapshotStore:
    found = snapshots_of(store)
    assert found is not None
    return found


def test_the_simulated_events_are_in_time_order() -> None:
    # What every count of "events before a day" below relies on.
    assert all(a.at <= b.at for a, b in itertools.pairwise(EVENTS))
    assert 0 < due_before(FIRST_KEPT) < len(EVENTS)
    assert replay(stored(EVENTS)).policies.retention_days == 30  # the rules took it


# --- which days are kept (pure) ------------------------------------------------------------


def chicago(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return local(date(year, month, day), hour, minute)


@pytest.mark.parametrize(
    ("now", "first_kept"),
    [
        (chicago(2026, 3, 10), date(2024, 8, 1)),  # this school year began 2025-08-01
        (chicago(2026, 7, 31, 23, 59), date(2024, 8, 1)),
        (chicago(2026, 8, 1, 0, 1), date(2025, 8, 1)),  # a new school year, in school time
        (chicago(2026, 12, 31), date(2025, 8, 1)),
    ],
)
def test_by_default_the_current_school_year_and_the_one_before_are_kept(
    now: datetime, first_kept: date
) -> None:
    assert history_start(Policies(timezone=TZ), now) == first_kept


def test_a_school_year_may_start_in_another_month() -> None:
    policies = Policies(timezone=TZ, school_year_starts=1)

    assert history_start(policies, chicago(2026, 3, 10)) == date(2025, 1, 1)


def test_a_start_month_out_of_range_counts_as_unset() -> None:
    policies = Policies(timezone=TZ, school_year_starts=13)

    assert history_start(policies, chicago(2026, 3, 10)) == date(2024, 8, 1)


def test_a_retention_in_days_counts_back_from_the_school_day_today() -> None:
    policies = Policies(timezone=TZ, retention_days=30)
    # 00:30 UTC on 1 March is still 28 February in Chicago.
    now = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)

    assert history_start(policies, now) == date(2026, 2, 28) - timedelta(days=30)


# --- forgetting (pure) ------------------------------------------------------------------------


def forgetting_school() -> list[Event]:
    old, later = chicago(2025, 9, 1, 9), chicago(2025, 9, 16, 9)
    made: list[Event] = [
        RoomAdded(at=old, actor="a", room="c1", name="Room 1"),
        RoomAdded(at=old, actor="a", room="rest", name="Restroom"),
    ]

    def create(pid: str, student: str, when: datetime, **more: object) -> PassCreated:
        return PassCreated(
            at=when,
            actor=student,
            pass_id=pid,
            student=student,
            origin="c1",
            destination="rest",
            minutes=5,
            **more,  # type: ignore[arg-type]
        )

    made += [
        create("ended-old", "s1", old),
        PassStarted(at=old, actor=SYSTEM, pass_id="ended-old"),
        PassEnded(at=old, actor="s1", pass_id="ended-old"),
        create("pending-old", "s2", old, needs_approval=True),
        create("active-old", "s3", old),
        PassStarted(at=old, actor=SYSTEM, pass_id="active-old"),
        # Made in the old days for a kept day: it belongs to the day it starts.
        create("ahead-kept", "s1", old, start_at=later),
        create("ahead-old", "s1", old, start_at=old + timedelta(days=1)),
        PassStarted(at=old + timedelta(days=1), actor=SYSTEM, pass_id="ahead-old"),
        PassEnded(at=old + timedelta(days=1), actor="s1", pass_id="ahead-old"),
        create("only-old", "s4", old),
        PassStarted(at=old, actor=SYSTEM, pass_id="only-old"),
        PassEnded(at=old, actor="s4", pass_id="only-old"),
        RequestSent(
            at=old,
            actor="t1",
            request_id="declined-old",
            student="s1",
            destination="rest",
            minutes=5,
        ),
        RequestDeclined(at=old, actor="s1", request_id="declined-old"),
        RequestSent(
            at=old, actor="t1", request_id="open-old", student="s1", destination="rest", minutes=5
        ),
        PassExpired(at=later, actor=SYSTEM, pass_id="ahead-kept"),
        create("ended-later", "s1", later),
        PassStarted(at=later, actor=SYSTEM, pass_id="ended-later"),
        PassEnded(at=later, actor="s1", pass_id="ended-later"),
    ]
    return [PoliciesSet(at=old, actor="a", policies=Policies(timezone=TZ)), *made]


def test_forgetting_drops_only_what_is_over_and_before_the_first_kept_day() -> None:
    state = replay(forgetting_school())

    assert forget_before(state, FIRST_KEPT) == (3, 1)

    assert list(state.passes) == ["pending-old", "active-old", "ahead-kept", "ended-later"]
    assert state.passes_by_student == {
        "s1": ["ahead-kept", "ended-later"],
        "s2": ["pending-old"],
        "s3": ["active-old"],
    }
    assert state.ahead == {"s1": ["ahead-kept"]}
    assert list(state.pending) == ["pending-old"]
    assert list(state.active) == ["active-old"]
    assert list(state.requests) == ["open-old"]
    assert state.requests_by_student == {"s1": ["open-old"]}
    assert list(state.open_requests) == ["open-old"]


def test_the_fold_forgets_the_same_when_it_meets_history_trimmed() -> None:
    events = forgetting_school()
    trimmed = HistoryTrimmed(at=NOW, actor=SYSTEM, before=FIRST_KEPT, through=4)
    expected = replay(events)
    forget_before(expected, FIRST_KEPT)

    folded = initial_state()
    for event in [*events, trimmed]:
        evolve(folded, event)

    assert folded == expected


# --- trimming the stores -------------------------------------------------------------------


async def covered_to(store: EventStore, school: str, version: int) -> None:
    state = replay(stored(EVENTS[:version]))
    await snapshots(store).save(school, version, encode_state(state))


async def versions(store: EventStore, school: str, after: int = 0) -> list[int]:
    return [each.version for each in await read_all(store, school, after)]


async def test_trim_removes_exactly_the_events_up_to_the_cut_and_keeps_the_version(
    store: EventStore, school: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "TRIM_BATCH", 5)  # several batches on SQLite
    await append_all(store, school, EVENTS[:40])
    await covered_to(store, school, 30)

    assert await store.trim(school, 12) == 12

    assert await versions(store, school) == list(range(13, 41))
    for after in (5, 11, 12):
        assert await versions(store, school, after) == list(range(13, 41))
    assert await versions(store, school, 20) == list(range(21, 41))
    assert await store.version(school) == 40
    assert await store.trim(school, 12) == 0
    assert await store.trim(school, 30) == 18
    assert await versions(store, school) == list(range(31, 41))
    assert await store.append(school, EVENTS[40:42], 40) == 42
    following = aiter(store.follow(school, 0))
    assert (await anext(following)).version == 31
    await following.aclose()  # type: ignore[attr-defined]


async def test_trim_without_a_covering_snapshot_is_refused_and_removes_nothing(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS[:40])

    with pytest.raises(TrimRefused):
        await store.trim(school, 10)
    await covered_to(store, school, 9)
    with pytest.raises(TrimRefused):
        await store.trim(school, 10)

    assert await versions(store, school) == list(range(1, 41))
    assert await store.trim(school, 9) == 9


async def test_a_stream_started_after_a_version_is_one_trimmed_there(
    store: EventStore, school: str, new_school: Callable[[], str]
) -> None:
    """What an import of a trimmed school makes (hallpass.transfer)."""
    with pytest.raises(TrimRefused):  # no snapshot covers it: nothing could load it
        await store.start_after(school, 30)
    await covered_to(store, school, 29)
    with pytest.raises(TrimRefused):
        await store.start_after(school, 30)
    assert await store.version(school) == 0

    await covered_to(store, school, 30)
    await store.start_after(school, 30)

    assert await store.version(school) == 30
    assert await versions(store, school) == []
    with pytest.raises(VersionConflict):
        await store.append(school, EVENTS[30:32], 0)
    assert await store.append(school, EVENTS[30:35], 30) == 35
    assert await versions(store, school) == list(range(31, 36))
    assert await versions(store, school, 32) == [33, 34, 35]
    following = aiter(store.follow(school, 30))
    assert (await anext(following)).version == 31
    await following.aclose()  # type: ignore[attr-defined]
    with pytest.raises(VersionConflict):  # a stream is started once
        await store.start_after(school, 40)

    other = new_school()
    await append_all(store, other, EVENTS[:3])
    await covered_to(store, other, 3)
    with pytest.raises(VersionConflict):  # nor over events already there
        await store.start_after(other, 3)
    assert await versions(store, other) == [1, 2, 3]


async def test_a_trimmed_stream_loads_from_its_snapshot_and_the_events_after_it(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS[:300])
    await covered_to(store, school, 200)
    await store.trim(school, 150)

    runtime = await SchoolRuntime.load(store, school)

    assert runtime.state == replay(stored(EVENTS[:300]))


async def test_a_trimmed_stream_without_a_readable_snapshot_cannot_be_loaded(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS[:300])
    await covered_to(store, school, 200)
    await store.trim(school, 150)
    await snapshots(store).save(school, 300, b"not a snapshot")

    with pytest.raises(MissingHistory):
        await SchoolRuntime.load(store, school)


async def test_a_trimmed_stream_reads_a_snapshot_of_another_release_rather_than_fail(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS[:300])
    state = replay(stored(EVENTS[:200]))
    body = msgspec.msgpack.decode(encode_state(state), type=list[msgspec.Raw])[-1]
    await snapshots(store).save(school, 200, seal(STATE_KIND, 200, body, "an-older-schema"))
    await store.trim(school, 150)

    runtime = await SchoolRuntime.load(store, school)

    assert runtime.state == replay(stored(EVENTS[:300]))


# --- the retention job -----------------------------------------------------------------------


async def test_retention_trims_what_is_due_and_nothing_more(store: EventStore, school: str) -> None:
    await append_all(store, school, EVENTS)
    clock = [NOW]
    runtime = await SchoolRuntime.load(store, school, lambda: clock[0])
    due = due_before(FIRST_KEPT)

    done = await keep_retention(runtime)

    assert done == Trimmed(school=school, before=FIRST_KEPT, through=due, removed=due)
    kept = await read_all(store, school)
    assert [each.version for each in kept] == list(range(due + 1, len(EVENTS) + 2))
    assert kept[-1].event == HistoryTrimmed(at=NOW, actor=SYSTEM, before=FIRST_KEPT, through=due)
    assert all(each.event.at >= local(FIRST_KEPT, 0) for each in kept)
    # Run again: nothing is due, nothing is appended.
    assert await keep_retention(runtime) is None
    assert await store.version(school) == len(EVENTS) + 1

    # A day later, the next day's events are due, and only those.
    clock[0] += timedelta(days=1)
    later = await keep_retention(runtime)

    next_day = FIRST_KEPT + timedelta(days=1)
    assert later is not None
    assert (later.before, later.through) == (next_day, due_before(next_day))
    assert later.removed == due_before(next_day) - due


async def test_a_runtime_loaded_after_a_trim_equals_the_state_with_old_history_forgotten(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS)
    runtime = await SchoolRuntime.load(store, school, at(NOW))
    listening = await SchoolRuntime.load(store, school)  # another process, following
    listening.start()
    untrimmed = replay(stored(EVENTS))
    try:
        await keep_retention(runtime)
        marker = HistoryTrimmed(
            at=NOW, actor=SYSTEM, before=FIRST_KEPT, through=due_before(FIRST_KEPT)
        )
        expected = replay(stored([*EVENTS, marker]))
        by_hand = replay(stored(EVENTS))
        forget_before(by_hand, FIRST_KEPT)
        by_hand.version += 1

        fresh = await SchoolRuntime.load(store, school)
        await listening.catch_up(len(EVENTS) + 1)

        assert fresh.state == expected == by_hand
        assert runtime.state == expected
        assert listening.state == expected
        assert 0 < len(fresh.state.passes) < len(untrimmed.passes)
        assert all(
            local_day(record.start_at or record.created_at, TZ) >= FIRST_KEPT
            for record in fresh.state.passes.values()
            if record.state in ("ended", "denied", "cancelled", "expired")
        )
    finally:
        await listening.close()


async def test_a_trimmed_school_keeps_its_report_aggregates_without_names(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS)
    runtime = await SchoolRuntime.load(store, school, at(NOW))

    await keep_retention(runtime)

    marker = HistoryTrimmed(at=NOW, actor=SYSTEM, before=FIRST_KEPT, through=due_before(FIRST_KEPT))
    expected = Aggregates()
    for each in stored([*EVENTS, marker]):
        fold_aggregates(expected, each)
    assert await load_snapshot(store, school) == expected

    # A process started after the trim reports every day, the trimmed ones too.
    fresh = await SchoolRuntime.load(store, school)
    reported = await Reports(base=load_snapshot).of(fresh)
    assert reported == expected
    trimmed_days = [day for day in reported.days if day < FIRST_KEPT]
    assert trimmed_days
    assert all(reported.days[day].routes for day in trimmed_days)
    assert not any(reported.days[day].by_room for day in trimmed_days)
    assert all(day >= FIRST_KEPT for student in reported.students.values() for day in student.days)


async def test_retention_without_anything_due_changes_nothing(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS)
    runtime = await SchoolRuntime.load(store, school, at(local(date(2025, 9, 5), 12)))

    assert await keep_retention(runtime) is None

    assert await store.version(school) == len(EVENTS)
    assert await snapshots(store).head(school) is None


# --- run by the timed jobs -----------------------------------------------------------------------


async def test_the_workers_cron_jobs_write_snapshots_and_trim(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS)
    schools = Schools(store, at(NOW), follow=False)
    await schools.get(school)
    try:
        assert await snapshot_every_school({"schools": schools}) == 1
        head = await snapshots(store).head(school)
        assert head is not None and head.version == len(EVENTS)

        await retention_every_school({"schools": schools})

        assert (await read_all(store, school))[0].version == due_before(FIRST_KEPT) + 1
    finally:
        await schools.close()


async def test_the_ticker_keeps_the_history_of_the_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ticker_module, "SNAPSHOT_CHECK_SECONDS", 0.0)
    async with await open_backend(f"sqlite:///{tmp_path / 'hallpass.db'}") as backend:
        await backend.directory.add_school(School(slug="kept", name="Kept High", timezone=TZ))
        await append_all(backend.store, "kept", EVENTS)
        schools = Schools(backend.store, at(NOW), follow=False)
        ticker = Ticker(schools, backend.directory, at(NOW))
        try:
            await ticker.tick_all()  # lists and loads the school, then keeps its history
            deadline = asyncio.get_running_loop().time() + 30
            while (await read_all(backend.store, "kept"))[0].version == 1:
                assert asyncio.get_running_loop().time() < deadline, "nothing was trimmed"
                await asyncio.sleep(0.05)
        finally:
            await ticker.close()
            await schools.close()

        kept = await read_all(backend.store, "kept")
        assert kept[0].version == due_before(FIRST_KEPT) + 1
