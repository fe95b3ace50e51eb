"""Ephemeral keys in a table of the embedded SQLite file.

The embedded store serves one process, but each operation still runs in one
immediate transaction, so a CLI process touching the same file stays safe.
One worker thread drives the connection: SQLite never blocks the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
Clock = Callable[[], float]

BUSY_TIMEOUT_MS = 5000
# Sweep expired rows now and then rather than on every write.
SWEEP_EVERY = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS ephemeral (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ephemeral_expires ON ephemeral (expires);
"""


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # Performance (bench/throughput): these keys are throwaway (idempotency
    # records, throttle counters), so their commits need not wait for the
    # disk: in WAL mode NORMAL is still crash-safe and only a power cut may
    # lose the last ones. FULL made every command wait for two more fsyncs
    # besides its event's. The event store keeps FULL on its own connection.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(SCHEMA)
    return conn


class SqliteEphemeral:
    def __init__(self, conn: sqlite3.Connection, worker: ThreadPoolExecutor, clock: Clock) -> None:
        self._conn = conn
        self._worker = worker
        self._clock = clock
        self._writes = 0

    @classmethod
    async def open(cls, path: str | Path, clock: Clock = time.time) -> SqliteEphemeral:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallpass-ephemeral")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(worker, _connect, str(path))
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return cls(conn, worker, clock)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn)

    def _write(self, fn: Callable[[sqlite3.Connection, float], T]) -> T:
        now = self._clock()
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._writes += 1
            if self._writes % SWEEP_EVERY == 0:
                self._conn.execute("DELETE FROM ephemeral WHERE expires <= ?", (now,))
            result = fn(self._conn, now)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return result

    async def get(self, key: str) -> bytes | None:
        def fetch() -> bytes | None:
            row = self._conn.execute(
                "SELECT value FROM ephemeral WHERE key = ? AND expires > ?", (key, self._clock())
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(fetch)

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        def put(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO ephemeral (key, value, expires) VALUES (?, ?, ?)",
                (key, value, now + ttl),
            )

        await self._run(partial(self._write, put))

    async def put_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        def put(conn: sqlite3.Connection, now: float) -> bool:
            conn.execute("DELETE FROM ephemeral WHERE key = ? AND expires <= ?", (key, now))
            cursor = conn.execute(
                "INSERT OR IGNORE INTO ephemeral (key, value, expires) VALUES (?, ?, ?)",
                (key, value, now + ttl),
            )
            return cursor.rowcount == 1

        return await self._run(partial(self._write, put))

    async def incr(self, key: str, ttl: float) -> int:
        def incr(conn: sqlite3.Connection, now: float) -> int:
            conn.execute("DELETE FROM ephemeral WHERE key = ? AND expires <= ?", (key, now))
            row = conn.execute(
                "INSERT INTO ephemeral (key, value, expires) VALUES (?, CAST('1' AS BLOB), ?) "
                "ON CONFLICT (key) DO UPDATE "
                "SET value = CAST(CAST(CAST(value AS INTEGER) + 1 AS TEXT) AS BLOB) "
                "RETURNING value",
                (key, now + ttl),
            ).fetchone()
            return int(row[0])

        return await self._run(partial(self._write, incr))

    async def delete(self, key: str) -> None:
        def delete(conn: sqlite3.Connection, now: float) -> None:
            conn.execute("DELETE FROM ephemeral WHERE key = ?", (key,))

        await self._run(partial(self._write, delete))

    async def close(self) -> None:
        await self._run(self._conn.close)
        self._worker.shutdown(wait=True)
