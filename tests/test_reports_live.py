"""The report aggregates kept beside a school's runtime, on both stores.

The aggregates a process builds on first use (reading the stream, or starting
from a snapshot) and then keeps current through the runtime's listener must
always equal a fold of every event in the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

from reports_kit import simulate

from hallpass.events.snapshots import REPORTS as NAME
from hallpass.events.snapshots import snapshots_of
from hallpass.events.store import EventStore, StoredEvent
from hallpass.events.types import Event, PassCreated, PassEnded, PassStarted
from hallpass.projections.snapshot import seal
from hallpass.reports import queries
from hallpass.reports.aggregates import Aggregates, decode, encode, fold, fold_event
from hallpass.reports.live import LiveAggregates, Reports
from hallpass.reports.snapshot import KIND, current, load_snapshot, save_current
from hallpass.rules.commands import Actor, CreatePass, EndPass, Rejection
from hallpass.service.runtime import SchoolRuntime

CHUNK = 400


async def append_all(store: EventStore, school: str, events: list[Event]) -> int:
    version = await store.version(school)
    for start in range(0, len(events), CHUNK):
        version = await store.append(school, events[start : start + CHUNK], version)
    return version


async def fold_store(store: EventStore, school: str) -> Aggregates:
    aggregates = Aggregates()
    async for stored in store.read(school):
        fold(aggregates, stored)
    return aggregates


def bare(events: list[StoredEvent]) -> list[Event]:
    return [s.event for s in events]


async def test_the_first_report_folds_the_stream_and_then_follows_the_runtime(
    store: EventStore, school: str
) -> None:
    events = bare(simulate(11, days=3))
    await append_all(store, school, events)
    runtime = await SchoolRuntime.load(store, school)
    reports = Reports()

    aggregates = await reports.of(runtime)

    assert aggregates.version == len(events)
    assert aggregates == await fold_store(store, school)
    assert await reports.of(runtime) is aggregates  # made once per runtime

    # A pass made through the runtime counts at once.
    teacher = Actor("t1", "teacher")
    made = await runtime.execute(
        CreatePass(
            actor=teacher,
            pass_id="p-live",
            student="s-new",
            origin="c1",
            destination="water",
            named_student=True,
        )
    )
    assert not isinstance(made, Rejection), made
    assert runtime.state.passes["p-live"].state == "active"
    assert not isinstance(
        await runtime.execute(EndPass(actor=teacher, pass_id="p-live")), Rejection
    )
    assert aggregates.version == runtime.state.version
    assert aggregates == await fold_store(store, school)


async def test_events_another_process_appends_are_folded_as_the_runtime_follows(
    open_store: Callable[[], Awaitable[EventStore]], school: str
) -> None:
    store, other = await open_store(), await open_store()
    events = bare(simulate(12, days=3))
    half = len(events) // 2
    await append_all(store, school, events[:half])
    runtime = await SchoolRuntime.load(store, school)
    runtime.start()
    try:
        reports = Reports()
        aggregates = await reports.of(runtime)
        version = await append_all(other, school, events[half:])
        await runtime.catch_up(version)
        assert aggregates.version == version == len(events)
        assert aggregates == await fold_store(store, school)
    finally:
        await runtime.close()


async def test_events_folded_while_the_stream_is_read_are_held_and_folded_once(
    store: EventStore, school: str
) -> None:
    events = bare(simulate(13, days=3))
    half = len(events) // 2
    await append_all(store, school, events[:half])
    runtime = await SchoolRuntime.load(store, school)
    live = LiveAggregates(runtime)  # listening, not loaded yet
    await append_all(store, school, events[half:])
    await runtime.catch_up(len(events))  # the runtime folds the rest now: held

    await live.load(None)

    assert live.aggregates.version == len(events)
    assert live.aggregates == await fold_store(store, school)


async def test_a_snapshot_is_where_the_fold_starts(store: EventStore, school: str) -> None:
    events = bare(simulate(14, days=3))
    await append_all(store, school, events)
    half = len(events) // 2
    snapshot = Aggregates()
    for version, event in enumerate(events[:half], start=1):
        fold(snapshot, StoredEvent(version, event))  # type: ignore[arg-type]
    asked: list[str] = []

    async def base(store: EventStore, slug: str) -> Aggregates:
        asked.append(slug)
        return decode(encode(snapshot))

    runtime = await SchoolRuntime.load(store, school)
    aggregates = await Reports(base).of(runtime)

    assert asked == [school]
    assert aggregates == await fold_store(store, school)


def test_a_pass_that_ends_days_after_it_started_counts_on_its_first_day() -> None:
    """Running totals grow from the day a pass started, whenever it ends."""
    from datetime import UTC, datetime

    from hallpass.events.types import Policies, PoliciesSet

    def at(day: int, hour: int) -> datetime:
        return datetime(2025, 3, day, hour, tzinfo=UTC)

    a = Aggregates()
    fold_event(a, PoliciesSet(at=at(3, 0), actor="a", policies=Policies(timezone="UTC")))
    for pid, start_day in (("p1", 3), ("p2", 5), ("p3", 7)):
        fold_event(
            a,
            PassCreated(
                at=at(start_day, 9),
                actor="s",
                pass_id=pid,
                student="s",
                origin="r",
                destination="d",
                minutes=5,
            ),
        )
        fold_event(a, PassStarted(at=at(start_day, 9), actor="s", pass_id=pid))
    fold_event(a, PassEnded(at=at(7, 10), actor="s", pass_id="p3"))  # an hour
    fold_event(a, PassEnded(at=at(7, 11), actor="s", pass_id="p1"))  # four days and two hours

    def totals(first: int, last: int) -> tuple[int, float]:
        period = queries.Period(date(2025, 3, first), date(2025, 3, last))
        rows = queries.students(a, period, "passes", 10).rows
        return (rows[0].passes, rows[0].minutes_out) if rows else (0, 0.0)

    assert totals(3, 3) == (1, 4 * 24 * 60 + 120)
    assert totals(4, 5) == (1, 0.0)
    assert totals(6, 7) == (1, 60.0)
    assert totals(3, 7) == (3, 4 * 24 * 60 + 180)
    assert totals(8, 9) == (0, 0.0)


async def test_the_reports_snapshot_is_kept_and_read_back(store: EventStore, school: str) -> None:
    events = bare(simulate(15, days=2))
    half = len(events) // 2
    await append_all(store, school, events[:half])

    assert await save_current(store, school) == half
    kept = await load_snapshot(store, school)
    assert kept is not None and kept == await fold_store(store, school)

    await append_all(store, school, events[half:])
    runtime = await SchoolRuntime.load(store, school)
    assert await Reports(base=load_snapshot).of(runtime) == await fold_store(store, school)
    assert await current(store, school) == await fold_store(store, school)


async def test_a_snapshot_of_other_code_is_ignored_while_the_stream_is_whole(
    store: EventStore, school: str
) -> None:
    events = bare(simulate(16, days=1))
    await append_all(store, school, events)
    other_code = seal(KIND, len(events), Aggregates(), "another-schema")
    snapshots = snapshots_of(store)
    assert snapshots is not None
    await snapshots.save(school, len(events), other_code, name=NAME)

    assert await load_snapshot(store, school) is None
    runtime = await SchoolRuntime.load(store, school)
    assert await Reports(base=load_snapshot).of(runtime) == await fold_store(store, school)
