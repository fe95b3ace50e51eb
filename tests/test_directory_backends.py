"""What each directory backend promises beyond the shared contract: Redis's
key layout and real expiry, SQLite's tables beside the events."""

from __future__ import annotations

import socket
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from hallpass.directory.model import School, Session, User
from hallpass.directory.redis import RedisDirectory
from hallpass.directory.sqlite import SqliteDirectory
from hallpass.events.sqlite import SqliteEventStore
from hallpass.events.store import StoreUnavailable


async def test_redis_keys_are_hash_tagged_per_school(
    redis_url: str, new_school: Callable[[], str]
) -> None:
    slug = new_school()
    directory = RedisDirectory.from_url(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await directory.add_school(School(slug=slug, name="Tagged"))
        user = User(
            id="user_" + uuid.uuid4().hex,
            school=slug,
            username="t1",
            name="T One",
            role="teacher",
            pin_key="pk",
        )
        await directory.add_user(user)

        school_json = await client.hget("hallpass:schools", slug)
        assert school_json is not None
        assert msgspec.json.decode(school_json, type=School).name == "Tagged"
        user_json = await client.hget(f"hallpass:{{{slug}}}:users", user.id)
        assert user_json is not None
        assert msgspec.json.decode(user_json, type=User) == user
        assert await client.hget(f"hallpass:{{{slug}}}:usernames", "t1") == user.id.encode()
        assert await client.hget(f"hallpass:{{{slug}}}:pins", "pk") == user.id.encode()
        assert await client.hlen(f"hallpass:{{{slug}}}:numbers") == 0
    finally:
        await directory.close()
        await client.aclose()


async def test_redis_sessions_carry_a_real_expiry(redis_url: str) -> None:
    directory = RedisDirectory.from_url(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    token = uuid.uuid4().hex
    try:
        await directory.put_session(
            Session(token_hash=token, school="s", user="u", created=0, seen=0), ttl=90
        )
        remaining_ms = await client.pttl(f"hallpass:session:{token}")
        assert 0 < remaining_ms <= 90_000
    finally:
        await directory.close()
        await client.aclose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


async def test_an_unreachable_redis_is_store_unavailable() -> None:
    directory = RedisDirectory.from_url(f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        with pytest.raises(StoreUnavailable):
            await directory.get_school("demo")
    finally:
        await directory.close()


async def test_sqlite_directory_shares_the_event_store_file(tmp_path: Path) -> None:
    path = tmp_path / "hallpass.db"
    store = await SqliteEventStore.open(path)
    directory = await SqliteDirectory.open(path)
    try:
        await directory.add_school(School(slug="lincoln", name="Lincoln"))
        assert await directory.get_school("lincoln") is not None
    finally:
        await directory.close()
        await store.close()

    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert {"events", "schools", "users", "sessions"} <= tables
    assert {"users_username", "users_number", "users_pin_key"} <= indexes
    assert journal == "wal"


async def test_sqlite_directory_reopens_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "hallpass.db"
    first = await SqliteDirectory.open(path)
    await first.add_school(School(slug="lincoln", name="Lincoln"))
    await first.close()
    second = await SqliteDirectory.open(path)
    try:
        assert [s.slug for s in await second.schools()] == ["lincoln"]
    finally:
        await second.close()


async def test_sqlite_directory_that_cannot_open_is_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        await SqliteDirectory.open(tmp_path / "missing-folder" / "hallpass.db")


async def test_sqlite_point_reads_see_every_committed_write_at_once(tmp_path: Path) -> None:
    """Reads run on the loop's own connection (hallpass.directory.sqlite):
    what the writer committed a moment ago is there, and so is a change made
    by another process."""
    path = tmp_path / "hallpass.db"
    directory = await SqliteDirectory.open(path)
    other = await SqliteDirectory.open(path)  # as another process
    try:
        school = School(slug="lincoln", name="Lincoln")
        await directory.add_school(school)
        assert await directory.get_school("lincoln") == school
        renamed = msgspec.structs.replace(school, name="Lincoln High")
        await other.update_school(renamed)
        assert await directory.get_school("lincoln") == renamed
    finally:
        await other.close()
        await directory.close()


async def test_a_sqlite_read_the_loop_cannot_make_is_made_on_the_thread(
    tmp_path: Path,
) -> None:
    """A point read never waits on the event loop: its connection does not
    wait for locks, and a read it cannot make (busy, or refused as here) is
    made again on the directory's thread, which waits like every other call."""
    path = tmp_path / "hallpass.db"
    directory = await SqliteDirectory.open(path)
    try:
        await directory.add_school(School(slug="lincoln", name="Lincoln"))
        reader = directory._reader
        assert reader.execute("PRAGMA busy_timeout").fetchone() == (0,)
        reader.set_authorizer(lambda *_: sqlite3.SQLITE_DENY)
        with pytest.raises(sqlite3.DatabaseError):
            reader.execute("SELECT data FROM schools")
        found = await directory.get_school("lincoln")
        assert found is not None and found.slug == "lincoln"
    finally:
        await directory.close()
