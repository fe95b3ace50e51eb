"""The event store contract (hallpass/events/store.py), proven on both backends.

Every test taking `store` or `open_store` runs once on SQLite and once on
Redis. The stores here read in pages of a few events, so reads and follows
cross page boundaries. Timeouts only guard against a hang.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import textwrap
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio

from hallpass.events.redis import RedisEventStore, stream_key, version_key
from hallpass.events.sqlite import SqliteEventStore
from hallpass.events.store import EventStore, StoredEvent, StoreUnavailable, VersionConflict
from hallpass.events.types import RoomAdded, encode

HANG_GUARD = 20  # seconds

OpenStore = Callable[[], Awaitable[EventStore]]

START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


def added(label: str, n: int = 0) -> RoomAdded:
    return RoomAdded(
        at=START + timedelta(seconds=n), actor="admin-1", room=label, name=f"Room {label}"
    )


def rooms(prefix: str, count: int) -> list[RoomAdded]:
    return [added(f"{prefix}{n}", n) for n in range(count)]


async def read_all(store: EventStore, school: str, after: int = 0) -> list[StoredEvent]:
    return [stored async for stored in store.read(school, after)]


async def follow_until(
    store: EventStore,
    school: str,
    after: int,
    last: int,
    on_event: Callable[[StoredEvent], None] = lambda stored: None,
) -> list[StoredEvent]:
    """What `follow` yields, up to and including version `last`."""
    seen: list[StoredEvent] = []
    async with aclosing(store.follow(school, after)) as follower:  # type: ignore[type-var]
        async for stored in follower:
            seen.append(stored)
            on_event(stored)
            if stored.version >= last:
                return seen
    raise AssertionError("follow ended by itself")


async def append_with_retry(store: EventStore, school: str, event: RoomAdded) -> None:
    """What a command handler does: on a conflict, catch up and try again."""
    version = await store.version(school)
    while True:
        try:
            await store.append(school, [event], version)
            return
        except VersionConflict as conflict:
            version = conflict.actual


# --- append and read ------------------------------------------------------------


async def test_events_read_back_in_order_numbered_from_one(store: EventStore, school: str) -> None:
    events = rooms("r", 10)

    first = await store.append(school, events[:3], 0)
    second = await store.append(school, events[3:], first)

    assert first == 3
    assert second == len(events)
    assert await store.version(school) == len(events)
    stored = await read_all(store, school)
    assert [s.version for s in stored] == list(range(1, len(events) + 1))
    assert [s.event for s in stored] == events


async def test_a_school_without_events_is_at_version_zero(store: EventStore, school: str) -> None:
    assert await store.version(school) == 0
    assert await read_all(store, school) == []


@pytest.mark.parametrize("expected", [0, 1, 3])
async def test_a_wrong_expected_version_conflicts_and_appends_nothing(
    store: EventStore, school: str, expected: int
) -> None:
    events = rooms("r", 2)
    await store.append(school, events, 0)

    with pytest.raises(VersionConflict) as raised:
        await store.append(school, [added("late")], expected)

    assert (raised.value.school, raised.value.expected, raised.value.actual) == (
        school,
        expected,
        len(events),
    )
    assert await store.version(school) == len(events)
    assert [s.event for s in await read_all(store, school)] == events


async def test_appending_nothing_checks_the_version_and_writes_nothing(
    store: EventStore, school: str
) -> None:
    await store.append(school, rooms("r", 2), 0)

    assert await store.append(school, [], 2) == 2
    with pytest.raises(VersionConflict):
        await store.append(school, [], 1)
    assert await store.version(school) == 2
    assert len(await read_all(store, school)) == 2


async def test_of_many_concurrent_appenders_exactly_one_wins(
    open_store: OpenStore, school: str
) -> None:
    # Two store objects: for SQLite two connections (and threads) on one file.
    stores = [await open_store(), await open_store()]
    await stores[0].append(school, [added("first")], 0)
    batches = [[added(f"a{n}-x"), added(f"a{n}-y")] for n in range(20)]

    results = await asyncio.gather(
        *(stores[n % 2].append(school, batch, 1) for n, batch in enumerate(batches)),
        return_exceptions=True,
    )

    winners = [n for n, result in enumerate(results) if isinstance(result, int)]
    assert len(winners) == 1
    assert results[winners[0]] == 3
    losers = [result for result in results if not isinstance(result, int)]
    assert all(isinstance(loser, VersionConflict) for loser in losers)
    assert {loser.actual for loser in losers if isinstance(loser, VersionConflict)} == {3}
    stored = await read_all(stores[1], school)
    assert [s.event for s in stored] == [added("first"), *batches[winners[0]]]


async def test_read_after_a_version_starts_after_it(store: EventStore, school: str) -> None:
    events = rooms("r", 10)
    await store.append(school, events, 0)

    for after in range(len(events) + 1):
        stored = await read_all(store, school, after)
        assert [s.version for s in stored] == list(range(after + 1, len(events) + 1))
        assert [s.event for s in stored] == events[after:]


async def test_read_ends_at_the_version_current_when_it_began(
    store: EventStore, school: str
) -> None:
    events = rooms("r", 6)
    await store.append(school, events, 0)

    reader = store.read(school)
    first = await anext(reader)
    await store.append(school, rooms("later", 3), len(events))
    rest = [stored async for stored in reader]

    assert [first.version] + [s.version for s in rest] == list(range(1, len(events) + 1))


async def test_read_raw_yields_each_events_json(store: EventStore, school: str) -> None:
    events = rooms("r", 7)
    await store.append(school, events, 0)
    assert isinstance(store, SqliteEventStore | RedisEventStore)

    raw = [row async for row in store.read_raw(school, 2)]

    assert [version for version, _ in raw] == list(range(3, len(events) + 1))
    assert [data for _, data in raw] == [encode(event) for event in events[2:]]
    assert json.loads(raw[0][1])["type"] == "room_added"


async def test_schools_are_kept_apart(store: EventStore, new_school: Callable[[], str]) -> None:
    north, south = new_school(), new_school()
    north_events, south_events = rooms("n", 3), rooms("s", 2)

    await store.append(north, north_events, 0)
    await store.append(south, south_events, 0)

    assert [s.event for s in await read_all(store, north)] == north_events
    assert [s.version for s in await read_all(store, south)] == [1, 2]
    assert [s.event for s in await read_all(store, south)] == south_events
    with pytest.raises(VersionConflict):
        await store.append(south, [added("x")], len(north_events))


async def test_a_reopened_store_holds_everything(open_store: OpenStore, school: str) -> None:
    events = rooms("r", 9)
    first = await open_store()
    await first.append(school, events, 0)
    await first.close()

    again = await open_store()

    assert await again.version(school) == len(events)
    assert [s.event for s in await read_all(again, school)] == events
    assert await again.append(school, [added("next")], len(events)) == len(events) + 1


async def test_a_closed_store_refuses_work(store: EventStore, school: str) -> None:
    await store.close()

    with pytest.raises(StoreUnavailable):
        await store.append(school, [added("r")], 0)
    with pytest.raises(StoreUnavailable):
        await store.version(school)


# --- follow ---------------------------------------------------------------------


async def test_follow_from_mid_stream_yields_each_event_once_in_order(
    store: EventStore, school: str
) -> None:
    before, during = rooms("before", 6), rooms("during", 9)
    await store.append(school, before, 0)
    caught_up = asyncio.Event()

    def note(stored: StoredEvent) -> None:
        if stored.version == len(before):
            caught_up.set()

    async with asyncio.timeout(HANG_GUARD):
        following = asyncio.create_task(
            follow_until(store, school, 2, len(before) + len(during), note)
        )
        await caught_up.wait()
        version = len(before)
        for n in range(0, len(during), 2):
            version = await store.append(school, during[n : n + 2], version)
        seen = await following

    assert [s.version for s in seen] == list(range(3, len(before) + len(during) + 1))
    assert [s.event for s in seen] == before[2:] + during


async def test_follow_with_concurrent_appenders_misses_nothing_and_doubles_nothing(
    open_store: OpenStore, school: str
) -> None:
    stores = [await open_store(), await open_store()]
    writers, each = 4, 6
    events = [added(f"w{w}-{n}", n) for w in range(writers) for n in range(each)]

    async def write(w: int) -> None:
        for n in range(each):
            await append_with_retry(stores[w % 2], school, added(f"w{w}-{n}", n))

    async with asyncio.timeout(HANG_GUARD):
        following = asyncio.create_task(follow_until(stores[0], school, 0, len(events)))
        await asyncio.gather(*(write(w) for w in range(writers)))
        seen = await following

    assert [s.version for s in seen] == list(range(1, len(events) + 1))
    assert sorted(s.event.room for s in seen if isinstance(s.event, RoomAdded)) == sorted(
        e.room for e in events
    )
    assert seen == await read_all(stores[1], school)


async def test_follow_sees_appends_made_through_another_store_object(
    open_store: OpenStore, school: str
) -> None:
    writer, reader = await open_store(), await open_store()
    events = rooms("r", 5)
    await writer.append(school, events[:1], 0)
    caught_up = asyncio.Event()

    async with asyncio.timeout(HANG_GUARD):
        following = asyncio.create_task(
            follow_until(reader, school, 0, len(events), lambda stored: caught_up.set())
        )
        await caught_up.wait()
        await writer.append(school, events[1:], 1)
        seen = await following

    assert [s.event for s in seen] == events


async def test_a_follower_ends_with_store_unavailable_when_its_store_closes(
    store: EventStore, school: str
) -> None:
    await store.append(school, [added("r")], 0)
    caught_up = asyncio.Event()

    async with asyncio.timeout(HANG_GUARD):
        following = asyncio.create_task(
            follow_until(store, school, 0, 2, lambda stored: caught_up.set())
        )
        await caught_up.wait()
        await store.close()
        with pytest.raises(StoreUnavailable):
            await following


_APPENDER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime
    from hallpass.events.store import VersionConflict
    from hallpass.events.types import RoomAdded
    from hallpass.events.urls import open_event_store

    async def main(url, school, label, count):
        store = await open_event_store(url)
        try:
            for n in range(count):
                event = RoomAdded(
                    at=datetime.now(UTC), actor="admin-1", room=f"{label}-{n}", name=label
                )
                version = await store.version(school)
                while True:
                    try:
                        await store.append(school, [event], version)
                        break
                    except VersionConflict as conflict:
                        version = conflict.actual
        finally:
            await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


async def test_processes_appending_to_one_store_lose_nothing(
    store: EventStore, store_url: str, school: str
) -> None:
    labels, each = ["p", "q"], 20
    async with asyncio.timeout(60):
        following = asyncio.create_task(follow_until(store, school, 0, len(labels) * each))
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _APPENDER, store_url, school, label, str(each)
            )
            for label in labels
        ]
        codes = [await process.wait() for process in processes]
        seen = await following

    assert codes == [0] * len(labels)
    assert [s.version for s in seen] == list(range(1, len(labels) * each + 1))
    appended = [s.event.room for s in seen if isinstance(s.event, RoomAdded)]
    for label in labels:
        assert [room for room in appended if room.startswith(f"{label}-")] == [
            f"{label}-{n}" for n in range(each)
        ]


# --- what each backend keeps --------------------------------------------------------


async def test_redis_keeps_each_event_as_readable_json(redis_url: str, school: str) -> None:
    store = RedisEventStore.from_url(redis_url)
    client = redis.asyncio.Redis.from_url(redis_url)
    events = rooms("r", 3)
    try:
        await store.append(school, events, 0)

        entries: list[Any] = await client.xrange(f"hallpass:{{{school}}}:events")
        version = await client.get(f"hallpass:{{{school}}}:version")
    finally:
        await store.close()
        await client.aclose()

    assert stream_key(school) == f"hallpass:{{{school}}}:events"
    assert version_key(school) == f"hallpass:{{{school}}}:version"
    assert [entry_id for entry_id, _ in entries] == [b"0-1", b"0-2", b"0-3"]
    assert [fields for _, fields in entries] == [{b"e": encode(event)} for event in events]
    assert json.loads(entries[0][1][b"e"])["room"] == events[0].room
    assert version == b"3"


async def test_redis_follow_rides_out_an_outage(
    redis_server: Callable[..., Any], school: str
) -> None:
    server = redis_server("--appendonly", "yes", "--appendfsync", "always")
    store = RedisEventStore.from_url(server.url, page_size=2)
    events = rooms("r", 6)
    caught_up = asyncio.Event()

    def note(stored: StoredEvent) -> None:
        if stored.version == 2:
            caught_up.set()

    try:
        await store.append(school, events[:2], 0)
        async with asyncio.timeout(HANG_GUARD):
            following = asyncio.create_task(follow_until(store, school, 0, len(events), note))
            await caught_up.wait()
            server.stop()

            with pytest.raises(StoreUnavailable):
                await store.append(school, events[2:], 2)
            with pytest.raises(StoreUnavailable):
                await store.version(school)
            with pytest.raises(StoreUnavailable):
                await read_all(store, school)

            server.start()
            await store.append(school, events[2:], 2)
            seen = await following
    finally:
        await store.close()

    assert [s.version for s in seen] == list(range(1, len(events) + 1))
    assert [s.event for s in seen] == events


async def test_sqlite_shares_its_file_with_other_tables(tmp_path: Path, school: str) -> None:
    path = tmp_path / "shared.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE schools (slug TEXT PRIMARY KEY)")
        other.execute("INSERT INTO schools VALUES (?)", (school,))
    other.close()

    store = await SqliteEventStore.open(path)
    try:
        await store.append(school, rooms("r", 2), 0)
        with sqlite3.connect(path) as other:
            slugs = other.execute("SELECT slug FROM schools").fetchall()
            mode = other.execute("PRAGMA journal_mode").fetchone()
        other.close()
    finally:
        await store.close()

    assert slugs == [(school,)]
    assert mode == ("wal",)


async def test_sqlite_followers_get_their_stores_appends_whole_even_past_what_it_holds(
    tmp_path: Path, school: str
) -> None:
    """A follower takes this store's appends from the append itself, which
    keeps only the latest few (a page's worth); an append larger than that,
    or a follower further behind, is read from the file: nothing is missed
    and nothing doubled either way."""
    store = await SqliteEventStore.open(tmp_path / "events.db", page_size=3)
    events = rooms("r", 12)
    try:
        async with asyncio.timeout(HANG_GUARD):
            following = asyncio.create_task(follow_until(store, school, 0, len(events)))
            await asyncio.sleep(0.05)  # the follower waits at the stream's end
            version = await store.append(school, events[:1], 0)  # held: taken as is
            await asyncio.sleep(0.05)
            version = await store.append(school, events[1:9], version)  # more than held
            await store.append(school, events[9:], version)
            seen = await following
    finally:
        await store.close()

    assert [s.version for s in seen] == list(range(1, len(events) + 1))
    assert [s.event for s in seen] == events
