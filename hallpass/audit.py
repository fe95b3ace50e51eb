"""The audit log: who exported, viewed names in a report, deleted or changed what, and when.

One append-only log per school, kept in the backend beside the directory and
not in the pass event stream (the stream is the school's history; this is a
record about the people who handle it):

    SQLite  table `audit` in the store's file (id, school, data)
    Redis   stream `hallpass:{<school>}:audit`, one field `a` per entry

Entries are never changed or removed; there is no call to do so. They name
people by id only (the API adds names when an admin reads the log), and an
entry about a deleted student names the deletion's certificate, never the
student (hallpass/deletion.py).

A page of entries is the newest first; `before` (an entry's id) continues
after it. Ids are opaque strings that order the entries within a school.
"""

from __future__ import annotations

import asyncio
import getpass
import re
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from hallpass.events.redis import command_timeout
from hallpass.events.store import StoreUnavailable

T = TypeVar("T")

# What an entry records (`action`), one name each.
EXPORT_PASSES = "export.passes"
EXPORT_STUDENT = "export.student"
REPORT_STUDENTS = "report.students"
STUDENT_DELETED = "student.deleted"
ROOM_ADDED = "room.added"
ROOM_CHANGED = "room.changed"
POLICIES_SET = "policies.set"
ACTIONS = (
    EXPORT_PASSES,
    EXPORT_STUDENT,
    REPORT_STUDENTS,
    STUDENT_DELETED,
    ROOM_ADDED,
    ROOM_CHANGED,
    POLICIES_SET,
)

MAX_PAGE = 500
# The actor of what an operator did on the command line: "operator:<name>".
OPERATOR = "operator:"


class AuditEntry(msgspec.Struct, kw_only=True, frozen=True):
    at: datetime
    actor: str  # a user id, or "operator:<name>" for the command line
    action: str  # one of ACTIONS
    subject: str  # what it was about: a room id, a student id, "school", a certificate id
    detail: str = ""  # the parameters (period, filters), a digest; never a person's name


class Logged(msgspec.Struct, frozen=True):
    id: str
    entry: AuditEntry


class AuditLog(Protocol):
    async def append(self, school: str, entry: AuditEntry) -> str:
        """Add an entry to the school's log; returns its id."""

    async def page(self, school: str, before: str | None = None, limit: int = 50) -> list[Logged]:
        """Up to `limit` entries, newest first, older than the entry `before`
        when given. ValueError when `before` is not an id of this log."""

    async def close(self) -> None: ...


def operator(name: str | None = None) -> str:
    """The actor of what someone does on the command line: their login by default."""
    if name is None:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a bare container)
            name = "unknown"
    return OPERATOR + name


async def record(
    log: AuditLog, school: str, actor: str, action: str, subject: str, detail: str = ""
) -> str:
    """Add an entry made now; its id."""
    entry = AuditEntry(
        at=datetime.now(UTC), actor=actor, action=action, subject=subject, detail=detail
    )
    return await log.append(school, entry)


_encode = msgspec.json.Encoder().encode
_entry = msgspec.json.Decoder(AuditEntry)


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"a page holds 1 to {MAX_PAGE} entries")
    return limit


# --- SQLite ----------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    school TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_school ON audit (school, id);
"""
BUSY_TIMEOUT_MS = 5000


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(_SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteAuditLog:
    """One connection driven by one thread, like the directory beside it."""

    def __init__(self, conn: sqlite3.Connection, worker: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._worker = worker
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path) -> SqliteAuditLog:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallpass-audit")
        try:
            conn = await asyncio.get_running_loop().run_in_executor(worker, _connect, str(path))
        except sqlite3.Error as error:
            worker.shutdown(wait=False)
            raise StoreUnavailable(f"cannot open the audit log at {path}: {error}") from error
        return cls(conn, worker)

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StoreUnavailable("the audit log is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._worker, fn)
        except sqlite3.OperationalError as error:
            raise StoreUnavailable(f"the audit log cannot be used: {error}") from error

    async def append(self, school: str, entry: AuditEntry) -> str:
        def insert() -> int:
            cursor = self._conn.execute(
                "INSERT INTO audit (school, data) VALUES (?, ?)", (school, _encode(entry))
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

        return str(await self._run(insert))

    async def page(self, school: str, before: str | None = None, limit: int = 50) -> list[Logged]:
        limit = _limit(limit)
        if before is not None and not (before.isascii() and before.isdigit() and len(before) < 19):
            raise ValueError(f"{before!r} is not an entry of this log")
        below = int(before) if before is not None else 2**63 - 1

        def fetch() -> list[tuple[int, bytes]]:
            rows = self._conn.execute(
                "SELECT id, data FROM audit WHERE school = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (school, below, limit),
            )
            return [(row[0], bytes(row[1])) for row in rows]

        return [Logged(str(i), _entry.decode(data)) for i, data in await self._run(fetch)]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._worker, self._conn.close)
        self._worker.shutdown(wait=True)


# --- Redis -----------------------------------------------------------------------

_STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def audit_key(school: str) -> str:
    return f"hallpass:{{{school}}}:audit"


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
        raise StoreUnavailable(f"Redis cannot be reached: {error}") from error


class RedisAuditLog:
    def __init__(self, client: Redis) -> None:
        self._redis = client

    @classmethod
    def from_url(cls, url: str) -> RedisAuditLog:
        timeout = command_timeout()
        return cls(Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout))

    async def append(self, school: str, entry: AuditEntry) -> str:
        with _reachable():
            made: Any = await self._redis.xadd(audit_key(school), {"a": _encode(entry)})
        return made.decode() if isinstance(made, bytes) else str(made)

    async def page(self, school: str, before: str | None = None, limit: int = 50) -> list[Logged]:
        limit = _limit(limit)
        if before is not None and _STREAM_ID.fullmatch(before) is None:
            raise ValueError(f"{before!r} is not an entry of this log")
        top = "+" if before is None else f"({before}"
        with _reachable():
            rows: Any = await self._redis.xrevrange(audit_key(school), top, "-", count=limit)
        return [Logged(i.decode(), _entry.decode(fields[b"a"])) for i, fields in rows]

    async def close(self) -> None:
        await self._redis.aclose()
