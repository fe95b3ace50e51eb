"""Snapshots: a school's state kept beside its stream, and loading from them.

Each store test runs on SQLite and on a real Redis. The school is a few weeks
of a small school made by the real rules (retention_kit), so the states
compared hold every kind of record and index.
"""

from __future__ import annotations

import gc
import typing

import msgspec
import pytest
from retention_kit import append_all, school_days, stored

from hallpass.events.snapshots import SnapshotHead, SnapshotStore, snapshots_of
from hallpass.events.store import EventStore
from hallpass.events.types import Event, decode
from hallpass.projections import snapshot
from hallpass.projections.records import PassRecord
from hallpass.projections.snapshot import (
    SHARED_INDEXES,
    STATE_FINGERPRINT,
    STATE_KIND,
    UnreadableSnapshot,
    decode_state,
    encode_state,
    seal,
)
from hallpass.projections.state import SchoolState, fold, initial_state, replay
from hallpass.retention import (
    SNAPSHOT_EVERY_EVENTS,
    SNAPSHOT_EVERY_SECONDS,
    keep_snapshot,
    snapshot_due,
    write_snapshot,
)
from hallpass.service import restore
from hallpass.service.runtime import SchoolRuntime

EVENTS = school_days(seed=7, days=6)


def assert_shares_records(state: SchoolState) -> None:
    """The live indexes hold the very records of `passes`, as the fold's do."""
    for field in SHARED_INDEXES:
        for pid, record in getattr(state, field).items():
            assert record is state.passes[pid], f"{field}[{pid}] is a copy"


def snapshots(store: EventStore) -> SnapshotStore:
    found = snapshots_of(store)
    assert found is not None
    return found


# --- encoding (pure) -----------------------------------------------------------------


def busy_moment(events: list[Event]) -> SchoolState:
    """The state at the first moment when passes are out, in line and scheduled."""
    state = initial_state()
    for each in stored(events):
        fold(state, each)
        if state.active and state.line and state.scheduled:
            return state
    raise AssertionError("the simulated school is never that busy")


def test_a_state_survives_encoding_with_its_indexes_pointing_at_its_records() -> None:
    state = busy_moment(EVENTS)

    again = decode_state(encode_state(state))

    assert again == state
    assert list(again.line) == list(state.line)  # first come, first served
    assert list(again.active) == list(state.active)
    assert_shares_records(again)


def test_every_index_of_pass_records_is_rebuilt_rather_than_copied() -> None:
    hints = typing.get_type_hints(SchoolState)
    holding_records = {
        name
        for name, hint in hints.items()
        if typing.get_origin(hint) is dict and typing.get_args(hint)[1] is PassRecord
    }
    assert holding_records - {"passes"} == set(SHARED_INDEXES)


@pytest.mark.parametrize(
    "data",
    [b"", b"not msgpack at all", msgspec.msgpack.encode([1, 2, 3])],
    ids=["empty", "junk", "other shape"],
)
def test_bytes_that_are_no_snapshot_are_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableSnapshot):
        decode_state(data)


def test_a_snapshot_of_another_kind_is_unreadable_as_a_state() -> None:
    data = seal("reports", 3, {"days": {}}, STATE_FINGERPRINT)

    with pytest.raises(UnreadableSnapshot, match="reports"):
        decode_state(data, any_release=True)


def test_a_snapshot_of_other_code_is_unreadable_unless_any_release_will_do() -> None:
    state = replay(stored(EVENTS[:300]))
    data = seal(STATE_KIND, state.version, _body(state), "another-schema")

    with pytest.raises(UnreadableSnapshot, match="another-schema"):
        decode_state(data)
    assert decode_state(data, any_release=True) == state


def _body(state: SchoolState) -> object:
    """The body of a state snapshot, as encode_state makes it."""
    envelope = msgspec.msgpack.decode(encode_state(state), type=snapshot.Envelope)
    return msgspec.Raw(bytes(envelope.body))


# --- in the stores ---------------------------------------------------------------------


async def test_a_snapshot_round_trip_through_the_store_equals_the_full_replay(
    store: EventStore, school: str
) -> None:
    version = await append_all(store, school, EVENTS)
    runtime = await SchoolRuntime.load(store, school)

    assert await write_snapshot(runtime) == version
    kept = await snapshots(store).load(school)

    assert kept is not None and kept[0] == version
    state = decode_state(kept[1])
    assert state == replay(stored(EVENTS))
    assert state.version == version
    assert_shares_records(state)


async def test_loading_is_the_snapshot_then_the_events_after_it(
    store: EventStore, school: str
) -> None:
    half = len(EVENTS) // 2 + 11
    await append_all(store, school, EVENTS[:half])
    await snapshots(store).save(school, half, encode_state(replay(stored(EVENTS[:half]))))
    await append_all(store, school, EVENTS[half:])

    runtime = await SchoolRuntime.load(store, school)

    assert runtime.state == replay(stored(EVENTS))
    assert runtime.state.version == len(EVENTS)
    assert_shares_records(runtime.state)


async def test_a_snapshot_is_what_loading_starts_from(store: EventStore, school: str) -> None:
    # A snapshot that says something the events do not: only a load that
    # starts from it shows the room it holds.
    await append_all(store, school, EVENTS[:100])
    state = replay(stored(EVENTS[:100]))
    state.rooms["only-in-the-snapshot"] = msgspec.structs.replace(
        state.rooms["c1"], id="only-in-the-snapshot"
    )
    await snapshots(store).save(school, 100, encode_state(state))
    await append_all(store, school, EVENTS[100:])

    runtime = await SchoolRuntime.load(store, school)

    assert "only-in-the-snapshot" in runtime.state.rooms
    assert runtime.state.version == len(EVENTS)


@pytest.mark.parametrize("stale", ["schema", "format"])
async def test_a_snapshot_of_other_code_is_ignored_and_replaced_after_the_replay(
    store: EventStore, school: str, stale: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = await append_all(store, school, EVENTS)
    wrong = initial_state()  # would show an empty school if it were believed
    wrong.version = version
    if stale == "schema":
        data = seal(STATE_KIND, version, _body(wrong), "an-older-schema")
    else:
        with monkeypatch.context() as patch:
            patch.setattr(snapshot, "FORMAT", snapshot.FORMAT - 1)
            data = encode_state(wrong)
    await snapshots(store).save(school, version, data)
    monkeypatch.setattr(restore, "SNAPSHOT_AFTER_EVENTS", 1)

    runtime = await SchoolRuntime.load(store, school)
    await restore.saves_done()

    assert runtime.state == replay(stored(EVENTS))
    kept = await snapshots(store).load(school)
    assert kept is not None
    assert decode_state(kept[1]) == runtime.state  # a fresh one, of this code


async def test_a_snapshot_past_the_end_of_the_stream_is_ignored(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS[:200])
    ahead = replay(stored(EVENTS))  # of a longer history than this stream's
    await snapshots(store).save(school, len(EVENTS), encode_state(ahead))

    runtime = await SchoolRuntime.load(store, school)

    assert runtime.state == replay(stored(EVENTS[:200]))


async def test_saving_never_replaces_a_snapshot_of_a_later_version(
    store: EventStore, school: str
) -> None:
    kept = snapshots(store)

    assert await kept.save(school, 10, b"ten")
    assert not await kept.save(school, 9, b"nine")
    assert await kept.save(school, 10, b"ten again")
    assert await kept.load(school) == (10, b"ten again")
    head = await kept.head(school)
    assert head is not None and head.version == 10


async def test_snapshots_of_other_names_and_schools_are_kept_apart(
    store: EventStore, school: str, new_school: typing.Callable[[], str]
) -> None:
    other = new_school()
    kept = snapshots(store)
    await kept.save(school, 5, b"state")
    await kept.save(school, 7, b"reports", name="reports")

    assert await kept.load(school) == (5, b"state")
    assert await kept.load(school, name="reports") == (7, b"reports")
    assert await kept.load(other) is None
    assert await kept.head(other) is None


async def test_a_long_replay_leaves_a_snapshot_behind(
    store: EventStore, school: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = await append_all(store, school, EVENTS)
    monkeypatch.setattr(restore, "SNAPSHOT_AFTER_EVENTS", len(EVENTS))

    await SchoolRuntime.load(store, school)
    await restore.saves_done()

    head = await snapshots(store).head(school)
    assert head is not None and head.version == version


async def test_loading_leaves_the_garbage_collector_as_it_found_it(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS[:50])
    assert gc.isenabled()

    await SchoolRuntime.load(store, school)

    assert gc.isenabled()


# --- when the timed jobs write one ----------------------------------------------------


def test_a_snapshot_is_due_after_many_events_or_a_while_after_any() -> None:
    head = SnapshotHead(version=1000, saved_at=5000.0)

    assert snapshot_due(None, 1, 0.0)
    assert not snapshot_due(None, 0, 0.0)
    assert not snapshot_due(head, 1000, 5000.0 + 10 * SNAPSHOT_EVERY_SECONDS)
    assert not snapshot_due(head, 1001, 5000.0 + SNAPSHOT_EVERY_SECONDS - 1)
    assert snapshot_due(head, 1001, 5000.0 + SNAPSHOT_EVERY_SECONDS)
    assert snapshot_due(head, 1000 + SNAPSHOT_EVERY_EVENTS, 5000.0)


async def test_keep_snapshot_writes_only_when_due(store: EventStore, school: str) -> None:
    await append_all(store, school, EVENTS[:100])
    runtime = await SchoolRuntime.load(store, school)

    assert await keep_snapshot(runtime) == 100  # none yet
    assert await keep_snapshot(runtime) is None  # nothing moved
    await append_all(store, school, EVENTS[100:150])
    await runtime.catch_up(150)
    head = await snapshots(store).head(school)
    assert head is not None

    assert await keep_snapshot(runtime, now=head.saved_at + 1) is None
    assert await keep_snapshot(runtime, now=head.saved_at + SNAPSHOT_EVERY_SECONDS) == 150


# --- reading a whole stream fast ---------------------------------------------------------


async def test_pages_of_raw_events_hold_the_stream_in_order(store: EventStore, school: str) -> None:
    await append_all(store, school, EVENTS[:30])
    assert isinstance(store, restore.PageReader)

    pages = [page async for page in restore.read_ahead(store.read_raw_pages(school, 7))]

    rows = [row for page in pages for row in page]
    assert [version for version, _ in rows] == list(range(8, 31))
    assert [decode(data) for _, data in rows] == EVENTS[7:30]
    assert len(pages) > 1  # the tests' stores have small pages


async def test_a_read_ahead_left_early_leaves_the_store_usable(
    store: EventStore, school: str
) -> None:
    await append_all(store, school, EVENTS[:30])
    assert isinstance(store, restore.PageReader)
    pages = restore.read_ahead(store.read_raw_pages(school))

    first = await anext(pages)
    await pages.aclose()  # type: ignore[attr-defined]

    assert first[0][0] == 1
    assert len([each async for each in store.read(school)]) == 30
