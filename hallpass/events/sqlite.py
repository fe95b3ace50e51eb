"""The embedded event store: every school's stream in one SQLite file (WAL).

The directory keeps its own tables in the same file, so this module touches
only its two tables and the file-wide settings WAL needs.

sqlite3 blocks, so each store object owns one connection that only one
dedicated thread ever uses: calls queue up in that thread, which serializes
them inside this process, and the conditional append runs whole (BEGIN
IMMEDIATE ... COMMIT) in a single call, so a cancelled caller can never leave a
transaction open. Other processes (or other store objects) on the same file
are kept apart by SQLite's write lock: BEGIN IMMEDIATE takes it before the
version is read, so the check and the insert see the same stream.

Followers get what this store object appended straight from the append (the
events as given, numbered), not read back from the file; they read the file
when another connection has committed (SQLite's `data_version`, polled), and
whenever what they hold does not join up with what they have yielded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from hallpass.events.snapshots import SQLITE_SCHEMA, SqliteSnapshotStore, sqlite_covered
from hallpass.events.store import StoredEvent, StoreUnavailable, TrimRefused, VersionConflict
from hallpass.events.types import Event, decode, encode

T = TypeVar("T")

# The stream's version lives in its own row rather than being max(version), so
# that retention may later delete a school's old events without resetting it.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        school TEXT NOT NULL,
        version INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (school, version)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS event_streams (
        school TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    ) WITHOUT ROWID""",
    SQLITE_SCHEMA,
)

PAGE_SIZE = 1000
# A trim deletes this many events per transaction, so appends wait little.
TRIM_BATCH = 20_000
# How often a follower looks for appends made through another connection.
POLL_SECONDS = 0.2
# How long an append waits for another process's write to finish.
BUSY_TIMEOUT_SECONDS = 5.0


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; this module says BEGIN itself.
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        # Events are the truth: a commit must survive a power cut, not only a crash.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            connection.execute(statement)
        connection.execute("COMMIT")
    except BaseException:
        connection.close()
        raise
    return connection


class SqliteEventStore:
    """Open with `await SqliteEventStore.open(path)`; bound to the running loop."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        data_version: int,
        page_size: int,
    ) -> None:
        self._connection = connection
        self._executor = executor
        self._loop = asyncio.get_running_loop()
        self._page_size = page_size
        self._closed = False
        # Followers wait on the current event; a change sets it and puts a
        # fresh one in its place, so a waiter captured before a read never
        # misses a change made after that read.
        self._changed = asyncio.Event()
        # What this store appended lately, per school, as appended: followers
        # take their events from here rather than read back from the file what
        # was just written (a thread hop and a decode per command).
        self._tails: dict[str, deque[StoredEvent]] = {}
        # Moves when another connection committed: then followers read the file.
        self._foreign = 0
        self._data_version = data_version
        self._watcher: asyncio.Task[None] | None = None
        self._snapshots = SqliteSnapshotStore(self._call, connection)

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, page_size: int = PAGE_SIZE
    ) -> SqliteEventStore:
        """Opens (creating when missing) the file and the store's tables."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        path = Path(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallpass-events")
        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(executor, _connect, path)
            data_version = await loop.run_in_executor(executor, _data_version, connection)
        except sqlite3.Error as error:
            executor.shutdown(wait=False)
            raise StoreUnavailable(f"cannot open the event store at {path}: {error}") from error
        return cls(connection, executor, data_version, page_size)

    async def append(self, school: str, events: Sequence[Event], expected_version: int) -> int:
        payloads = [encode(event) for event in events]
        return await self._call(self._append, school, events, payloads, expected_version)

    async def read(self, school: str, after: int = 0) -> AsyncIterator[StoredEvent]:
        async for rows in self._pages(school, after):
            for version, data in rows:
                yield StoredEvent(version, decode(data))

    async def read_raw(self, school: str, after: int = 0) -> AsyncIterator[tuple[int, bytes]]:
        """Like `read`, with each event's JSON left undecoded."""
        async for rows in self._pages(school, after):
            for row in rows:
                yield row

    def read_raw_pages(self, school: str, after: int = 0) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Like `read_raw`, a page of rows at a time: a whole stream folds
        faster without an `await` per event."""
        return self._pages(school, after)

    async def follow(self, school: str, after: int = 0) -> AsyncIterator[StoredEvent]:
        """Raises StoreUnavailable once the store is closed."""
        if self._watcher is None and not self._closed:
            self._watcher = asyncio.create_task(self._watch_other_writers())
        last = after
        foreign = None  # the `_foreign` this follower has read the file for
        while True:
            if self._closed:
                raise StoreUnavailable("the event store is closed")
            changed = self._changed
            if foreign != self._foreign:
                foreign = self._foreign
                rows = await self._call(self._page, school, last, None)
                for version, data in rows:
                    last = version
                    yield StoredEvent(version, decode(data))
                if len(rows) == self._page_size:
                    foreign = None  # more to read
                    continue
            else:
                fresh = self._appended_after(school, last)
                if fresh and fresh[0].version != last + 1:
                    foreign = None  # the tail does not reach back: read the file
                    continue
                for stored in fresh:
                    last = stored.version
                    yield stored
            await changed.wait()

    async def version(self, school: str) -> int:
        return await self._call(self._version, school)

    @property
    def snapshots(self) -> SqliteSnapshotStore:
        """The schools' snapshots, in the same file (hallpass.events.snapshots)."""
        return self._snapshots

    async def trim(self, school: str, before_version: int) -> int:
        removed = 0
        while True:
            count = await self._call(self._trim_batch, school, before_version)
            if not count:
                return removed
            removed += count

    async def start_after(self, school: str, version: int) -> None:
        await self._call(self._start_after, school, version)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self._wake_followers()
        # Queued behind any call still in the thread, so none finds it closed.
        await self._loop.run_in_executor(self._executor, self._connection.close)
        self._executor.shutdown(wait=False)

    # --- on the event loop ---------------------------------------------------------

    async def _call(self, function: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise StoreUnavailable("the event store is closed")
        try:
            return await self._loop.run_in_executor(self._executor, function, *args)
        except sqlite3.OperationalError as error:
            # Locked past the busy timeout, disk full, I/O error: nothing was written.
            raise StoreUnavailable(f"the event store cannot be used: {error}") from error

    async def _pages(self, school: str, after: int) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Pages up to the version current when the read began."""
        end = await self.version(school)
        while after < end:
            rows = await self._call(self._page, school, after, end)
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def _wake_followers(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _watch_other_writers(self) -> None:
        # data_version moves only when another connection commits; this
        # store's own appends wake followers directly.
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                data_version = await self._call(_data_version, self._connection)
            except StoreUnavailable:
                continue
            if data_version != self._data_version:
                self._data_version = data_version
                self._foreign += 1
                self._wake_followers()

    def _appended_after(self, school: str, version: int) -> list[StoredEvent]:
        """What this store appended after `version` and still holds, in order."""
        fresh: list[StoredEvent] = []
        for stored in reversed(self._tails.get(school, ())):
            if stored.version <= version:
                break
            fresh.append(stored)
        fresh.reverse()
        return fresh

    def _appended(self, school: str, after: int, events: Sequence[Event]) -> None:
        tail = self._tails.get(school)
        if tail is None:
            tail = self._tails[school] = deque(maxlen=self._page_size)
        tail.extend(StoredEvent(after + n, e) for n, e in enumerate(events, start=1))  # type: ignore[arg-type]
        self._wake_followers()

    # --- in the store's thread ------------------------------------------------------

    def _append(
        self, school: str, events: Sequence[Event], payloads: list[bytes], expected: int
    ) -> int:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            current = self._version(school)
            if current != expected:
                raise VersionConflict(school, expected, current)
            if payloads:
                connection.executemany(
                    "INSERT INTO events (school, version, data) VALUES (?, ?, ?)",
                    [(school, current + n, data) for n, data in enumerate(payloads, start=1)],
                )
                connection.execute(
                    "INSERT INTO event_streams (school, version) VALUES (?, ?)"
                    " ON CONFLICT (school) DO UPDATE SET version = excluded.version",
                    (school, current + len(payloads)),
                )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        if payloads:
            # From here, not from the awaiting coroutine: it may have been cancelled.
            self._loop.call_soon_threadsafe(self._appended, school, current, events)
        return current + len(payloads)

    def _start_after(self, school: str, version: int) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            current = self._version(school)
            if current:
                raise VersionConflict(school, 0, current)
            covered = sqlite_covered(connection, school)
            if covered is None or covered < version:
                raise TrimRefused(
                    f"no snapshot of {school!r} covers version {version} (the newest is at {covered})"
                )
            connection.execute(
                "INSERT INTO event_streams (school, version) VALUES (?, ?)", (school, version)
            )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _trim_batch(self, school: str, before_version: int) -> int:
        """Delete the oldest events up to `before_version`, at most TRIM_BATCH."""
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            covered = sqlite_covered(connection, school)
            if covered is None or covered < before_version:
                raise TrimRefused(
                    f"no snapshot of {school!r} covers version {before_version}"
                    f" (the newest is at {covered})"
                )
            first = connection.execute(
                "SELECT min(version) FROM events WHERE school = ?", (school,)
            ).fetchone()[0]
            count = 0
            if first is not None and first <= before_version:
                last = min(before_version, first + TRIM_BATCH - 1)
                count = connection.execute(
                    "DELETE FROM events WHERE school = ? AND version <= ?", (school, last)
                ).rowcount
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return count

    def _version(self, school: str) -> int:
        row = self._connection.execute(
            "SELECT version FROM event_streams WHERE school = ?", (school,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _page(self, school: str, after: int, end: int | None) -> list[tuple[int, bytes]]:
        if end is None:
            end = 2**63 - 1
        cursor = self._connection.execute(
            "SELECT version, data FROM events WHERE school = ? AND version > ? AND version <= ?"
            " ORDER BY version LIMIT ?",
            (school, after, end, self._page_size),
        )
        return cursor.fetchall()


def _data_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA data_version").fetchone()[0])
