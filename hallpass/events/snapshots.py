"""Snapshots: a school's folded state, encoded, kept in the store beside its stream.

A snapshot lets a process start from the state at some version and fold only
the events after it, not the whole stream; and it is what lets retention
remove old events: `EventStore.trim` refuses unless the school's "state"
snapshot covers every event it would remove. The bytes are opaque here
(hallpass.projections.snapshot makes and reads them). A school keeps one
snapshot per name: "state" (its SchoolState) and "reports" (the report
aggregates, which retention keeps because they cannot be folded again from a
trimmed stream).

SQLite: the table `snapshots` in the store's file, used through the event
store's own connection and thread (`SqliteEventStore.snapshots`). Redis: one
hash per school and name, `hallpass:{school}:snapshot` for the state and
`hallpass:{school}:snapshot:<name>` for the others, with the fields `version`,
`saved_at` and `data` (the hash tag keeps them in the stream's cluster slot,
so a trim can check the snapshot atomically).

Saving never replaces a snapshot of a later version: of two processes writing
at once the newer state stays, and the snapshot that covered a trim is never
replaced by one from before it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from hallpass.events.store import StoreUnavailable

T = TypeVar("T")

STATE = "state"
REPORTS = "reports"

# How often a save retries when another process changed the snapshot between
# its check and its write (Redis); after that the other writer's stands.
SAVE_ATTEMPTS = 5


class SnapshotHead(msgspec.Struct, frozen=True):
    """What is known of a kept snapshot without fetching its bytes."""

    version: int
    saved_at: float  # seconds since the epoch, by the writer's clock


@runtime_checkable
class SnapshotStore(Protocol):
    async def save(self, school: str, version: int, data: bytes, *, name: str = STATE) -> bool:
        """Keep `data` as the school's snapshot `name` at `version`, unless the
        one kept already is of a later version; True when it was kept."""

    async def load(self, school: str, *, name: str = STATE) -> tuple[int, bytes] | None:
        """(version, data) of the school's snapshot `name`, or None."""

    async def head(self, school: str, *, name: str = STATE) -> SnapshotHead | None:
        """The kept snapshot's version and time, without its bytes."""


@runtime_checkable
class HasSnapshots(Protocol):
    @property
    def snapshots(self) -> SnapshotStore: ...


def snapshots_of(store: object) -> SnapshotStore | None:
    """The snapshot store beside an event store, or None for a store that
    keeps none (then every load replays the whole stream)."""
    if isinstance(store, HasSnapshots):
        return store.snapshots
    return None


class MissingHistory(Exception):
    """The school's early events were trimmed and no readable snapshot covers
    them, so its state cannot be rebuilt: restore the store from a backup."""


# --- SQLite ------------------------------------------------------------------------

SQLITE_SCHEMA = """CREATE TABLE IF NOT EXISTS snapshots (
    school TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    saved_at REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (school, name)
)"""

_SQLITE_SAVE = """INSERT INTO snapshots (school, name, version, saved_at, data)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (school, name) DO UPDATE
SET version = excluded.version, saved_at = excluded.saved_at, data = excluded.data
WHERE excluded.version >= snapshots.version"""


class InThread(Protocol):
    """Runs a function in the thread that owns the SQLite connection."""

    def __call__(self, function: Callable[..., T], /, *args: Any) -> Awaitable[T]: ...


class SqliteSnapshotStore:
    """Made by `SqliteEventStore` (its `snapshots`): shares its connection
    and its one thread, so calls queue up with the store's own. The table is
    made with the store's (SQLITE_SCHEMA)."""

    def __init__(self, call: InThread, connection: sqlite3.Connection) -> None:
        self._call = call
        self._connection = connection

    async def save(self, school: str, version: int, data: bytes, *, name: str = STATE) -> bool:
        return await self._call(self._save, school, name, version, time.time(), data)

    async def load(self, school: str, *, name: str = STATE) -> tuple[int, bytes] | None:
        return await self._call(self._load, school, name)

    async def head(self, school: str, *, name: str = STATE) -> SnapshotHead | None:
        return await self._call(self._head, school, name)

    # --- in the store's thread -------------------------------------------------------

    def _save(self, school: str, name: str, version: int, saved_at: float, data: bytes) -> bool:
        cursor = self._connection.execute(_SQLITE_SAVE, (school, name, version, saved_at, data))
        return cursor.rowcount > 0

    def _load(self, school: str, name: str) -> tuple[int, bytes] | None:
        row = self._connection.execute(
            "SELECT version, data FROM snapshots WHERE school = ? AND name = ?", (school, name)
        ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def _head(self, school: str, name: str) -> SnapshotHead | None:
        row = self._connection.execute(
            "SELECT version, saved_at FROM snapshots WHERE school = ? AND name = ?",
            (school, name),
        ).fetchone()
        return SnapshotHead(int(row[0]), float(row[1])) if row else None


def sqlite_covered(connection: sqlite3.Connection, school: str) -> int | None:
    """The version of the school's state snapshot (the store's trim checks it
    inside its own transaction)."""
    row = connection.execute(
        "SELECT version FROM snapshots WHERE school = ? AND name = ?", (school, STATE)
    ).fetchone()
    return int(row[0]) if row else None


# --- Redis -------------------------------------------------------------------------


def snapshot_key(school: str, name: str = STATE) -> str:
    key = f"hallpass:{{{school}}}:snapshot"
    return key if name == STATE else f"{key}:{name}"


@contextmanager
def _unavailable_on_errors() -> Iterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as error:
        raise StoreUnavailable(f"Redis cannot be reached: {error}") from error


class RedisSnapshotStore:
    """Made by `RedisEventStore` (its `snapshots`) on its command client."""

    def __init__(self, client: Redis) -> None:
        self._client = client

    async def save(self, school: str, version: int, data: bytes, *, name: str = STATE) -> bool:
        # WATCH rather than a script: a script would copy the bytes (tens of
        # megabytes) into Lua first.
        key = snapshot_key(school, name)
        fields = {"version": version, "saved_at": time.time(), "data": data}
        with _unavailable_on_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                commands: Any = pipe  # redis-py's types do not know a watching pipeline
                for _ in range(SAVE_ATTEMPTS):
                    try:
                        await commands.watch(key)
                        kept = await commands.hget(key, "version")
                        if kept is not None and int(kept) > version:
                            return False
                        commands.multi()
                        commands.hset(key, mapping=fields)
                        await commands.execute()
                        return True
                    except WatchError:
                        continue
        return False

    async def load(self, school: str, *, name: str = STATE) -> tuple[int, bytes] | None:
        with _unavailable_on_errors():
            version, data = await self._hmget(snapshot_key(school, name), "version", "data")
        if version is None or data is None:
            return None
        return int(version), bytes(data)

    async def head(self, school: str, *, name: str = STATE) -> SnapshotHead | None:
        with _unavailable_on_errors():
            version, saved_at = await self._hmget(snapshot_key(school, name), "version", "saved_at")
        if version is None:
            return None
        return SnapshotHead(int(version), float(saved_at or 0))

    async def _hmget(self, key: str, *fields: str) -> list[bytes | None]:
        return await cast(Awaitable[list[bytes | None]], self._client.hmget(key, list(fields)))
