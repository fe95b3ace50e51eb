"""The directory in the embedded SQLite file, beside the event store's table.

Each record is stored whole as msgspec JSON; the columns beside it exist only
for the unique indexes and lookups. One connection is driven by one worker
thread, so SQLite's blocking calls (writes wait for the lock and for the
disk) never run on the event loop and the connection is never shared between
threads.

Point reads by key (a session, a user, a school: every request makes one or
two) run on the event loop instead, on a second, read-only connection: in
WAL mode a reader never waits for a writer, and the read takes microseconds
from SQLite's cache, where the hop to the worker thread and back takes a few
hundred (docs/performance.md, "Live"). The rare read that finds the file
busy (recovery after a crash) is not waited for on the loop: it goes to the
worker thread, which waits as every other call does.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import msgspec

from hallpass.directory.model import (
    DuplicateUser,
    School,
    Session,
    UnknownSchool,
    User,
    email_key,
)
from hallpass.events.store import StoreUnavailable

T = TypeVar("T")
Clock = Callable[[], float]

# Another connection (the event store's) may hold the write lock briefly.
BUSY_TIMEOUT_MS = 5000

SCHEMA = """
CREATE TABLE IF NOT EXISTS schools (
    slug TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    school TEXT NOT NULL REFERENCES schools (slug),
    username TEXT NOT NULL,
    number TEXT,
    pin_key TEXT,
    data BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username ON users (school, username);
CREATE UNIQUE INDEX IF NOT EXISTS users_number ON users (school, number);
CREATE UNIQUE INDEX IF NOT EXISTS users_pin_key ON users (school, pin_key);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    expires REAL NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
"""

# Lower-cased emails (`email_key`), for sign-in by email. Added after the
# first release, so an older file gets the column (filled from the records).
EMAIL_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (school, email)"

_encode = msgspec.json.Encoder().encode
_school = msgspec.json.Decoder(School)
_user = msgspec.json.Decoder(User)
_session = msgspec.json.Decoder(Session)


def duplicate_user(school: str, field: str, value: str | None) -> DuplicateUser:
    """The error for a taken username, number or PIN, worded for a person.
    A PIN's owner is never named: that would reveal another teacher's PIN."""
    if field == "pin_key":
        return DuplicateUser(f"That PIN is already in use at school {school!r}; choose another.")
    label = {
        "username": "username",
        "number": "student number",
        "id": "user id",
        "email": "email address",
    }[field]
    return DuplicateUser(f"The {label} {value!r} is already taken at school {school!r}.")


def check_batch(school: str, added: Sequence[User], updated: Sequence[User]) -> None:
    """What `save_users` refuses before touching the store: a user of another
    school, or one id twice in the call."""
    seen: set[str] = set()
    for user in (*added, *updated):
        if user.school != school:
            raise ValueError(f"user {user.id!r} belongs to {user.school!r}, not {school!r}")
        if user.id in seen:
            raise duplicate_user(school, "id", user.id)
        seen.add(user.id)


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; `_write` says BEGIN itself.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(SCHEMA)
        _add_email_column(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _add_email_column(conn: sqlite3.Connection) -> None:
    """Give an older file the `email` column and its unique index. Under the
    write lock, so two processes opening the file at once do it once."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
        if "email" not in columns:
            conn.execute("ALTER TABLE users ADD COLUMN email TEXT")
            for user_id, data in conn.execute("SELECT id, data FROM users").fetchall():
                email = email_key(_user.decode(bytes(data)).email)
                if email is not None:
                    conn.execute("UPDATE users SET email = ? WHERE id = ?", (email, user_id))
        conn.execute(EMAIL_INDEX)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _connect_reader(path: str) -> sqlite3.Connection:
    """The loop's connection: reads only, and never waits for a lock."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    conn.execute("PRAGMA busy_timeout = 0")
    return conn


def _fetch_one(
    conn: sqlite3.Connection, sql: str, params: tuple[object, ...]
) -> tuple[object, ...] | None:
    row: tuple[object, ...] | None = conn.execute(sql, params).fetchone()
    return row


class SqliteDirectory:
    def __init__(
        self,
        conn: sqlite3.Connection,
        reader: sqlite3.Connection,
        worker: ThreadPoolExecutor,
        clock: Clock,
    ) -> None:
        self._conn = conn
        self._reader = reader  # used on the event loop only
        self._worker = worker
        self._clock = clock
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, clock: Clock = time.time) -> SqliteDirectory:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallpass-directory")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(worker, _connect, str(path))
        except sqlite3.Error as error:
            worker.shutdown(wait=False)
            raise StoreUnavailable(f"cannot open the directory at {path}: {error}") from error
        try:
            reader = _connect_reader(str(path))  # after `_connect` made the file and tables
        except sqlite3.Error as error:
            await loop.run_in_executor(worker, conn.close)
            worker.shutdown(wait=False)
            raise StoreUnavailable(f"cannot open the directory at {path}: {error}") from error
        return cls(conn, reader, worker, clock)

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in one transaction holding the write lock from the start, so
        the checks it makes still hold when it writes."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(self._conn)
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:  # a failed COMMIT leaves it open too
                self._conn.execute("ROLLBACK")
            raise
        return result

    async def _one(self, sql: str, *params: object) -> bytes | None:
        """The first column of the one row a point read finds, read on the
        event loop (see the module's docstring)."""
        if self._closed:
            raise StoreUnavailable("the directory is closed")
        try:
            row = self._reader.execute(sql, params).fetchone()
        except sqlite3.DatabaseError:  # busy, or the file is in trouble
            row = await self._run(partial(_fetch_one, self._conn, sql, params))
        return None if row is None else bytes(row[0])

    # --- schools -------------------------------------------------------------

    async def add_school(self, school: School) -> None:
        def add(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM schools WHERE slug = ?", (school.slug,)).fetchone():
                raise ValueError(f"A school with the slug {school.slug!r} already exists.")
            conn.execute(
                "INSERT INTO schools (slug, data) VALUES (?, ?)", (school.slug, _encode(school))
            )

        await self._run(partial(self._write, add))

    async def get_school(self, slug: str) -> School | None:
        data = await self._one("SELECT data FROM schools WHERE slug = ?", slug)
        return None if data is None else _school.decode(data)

    async def schools(self) -> list[School]:
        def fetch() -> list[bytes]:
            rows = self._conn.execute("SELECT data FROM schools ORDER BY slug")
            return [bytes(r[0]) for r in rows]

        return [_school.decode(d) for d in await self._run(fetch)]

    async def update_school(self, school: School) -> None:
        def update(conn: sqlite3.Connection) -> None:
            changed = conn.execute(
                "UPDATE schools SET data = ? WHERE slug = ?", (_encode(school), school.slug)
            )
            if changed.rowcount == 0:
                raise UnknownSchool(f"There is no school {school.slug!r}.")

        await self._run(partial(self._write, update))

    # --- users ---------------------------------------------------------------

    @staticmethod
    def _check_unique(conn: sqlite3.Connection, user: User) -> None:
        for field, value in (
            ("username", user.username),
            ("number", user.number),
            ("pin_key", user.pin_key),
            ("email", email_key(user.email)),
        ):
            if value is None:
                continue
            row = conn.execute(
                f"SELECT id FROM users WHERE school = ? AND {field} = ?", (user.school, value)
            ).fetchone()
            if row is not None and row[0] != user.id:
                raise duplicate_user(user.school, field, value)

    def _columns(self, user: User) -> tuple[str, str, str | None, str | None, str | None, bytes]:
        return (
            user.school,
            user.username,
            user.number,
            user.pin_key,
            email_key(user.email),
            _encode(user),
        )

    async def add_user(self, user: User) -> None:
        def add(conn: sqlite3.Connection) -> None:
            if not conn.execute("SELECT 1 FROM schools WHERE slug = ?", (user.school,)).fetchone():
                raise UnknownSchool(f"There is no school {user.school!r}.")
            if conn.execute("SELECT 1 FROM users WHERE id = ?", (user.id,)).fetchone():
                raise duplicate_user(user.school, "id", user.id)
            self._check_unique(conn, user)
            conn.execute(
                "INSERT INTO users (school, username, number, pin_key, email, data, id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*self._columns(user), user.id),
            )

        await self._run(partial(self._write, add))

    async def update_user(self, user: User) -> None:
        """Raises KeyError when the school has no user with that id, and
        DuplicateUser when the new username, number or PIN key is taken."""

        def update(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT 1 FROM users WHERE id = ? AND school = ?", (user.id, user.school)
            ).fetchone()
            if row is None:
                raise KeyError(f"school {user.school!r} has no user {user.id!r}")
            self._check_unique(conn, user)
            conn.execute(
                "UPDATE users SET school = ?, username = ?, number = ?, pin_key = ?, email = ?,"
                " data = ? WHERE id = ?",
                (*self._columns(user), user.id),
            )

        await self._run(partial(self._write, update))

    async def save_users(self, school: str, added: Sequence[User], updated: Sequence[User]) -> None:
        """One transaction. The updated rows are taken out before anything is
        written back, so values traded within the call never collide."""
        check_batch(school, added, updated)

        def save(conn: sqlite3.Connection) -> None:
            if not conn.execute("SELECT 1 FROM schools WHERE slug = ?", (school,)).fetchone():
                raise UnknownSchool(f"There is no school {school!r}.")
            for user in added:
                if conn.execute("SELECT 1 FROM users WHERE id = ?", (user.id,)).fetchone():
                    raise duplicate_user(school, "id", user.id)
            for user in updated:
                deleted = conn.execute(
                    "DELETE FROM users WHERE id = ? AND school = ?", (user.id, school)
                )
                if deleted.rowcount == 0:
                    raise KeyError(f"school {school!r} has no user {user.id!r}")
            for user in (*updated, *added):
                self._check_unique(conn, user)
                conn.execute(
                    "INSERT INTO users (school, username, number, pin_key, email, data, id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*self._columns(user), user.id),
                )

        await self._run(partial(self._write, save))

    async def _user_where(self, school: str, column: str, value: str) -> User | None:
        sql = f"SELECT data FROM users WHERE school = ? AND {column} = ?"
        data = await self._one(sql, school, value)
        return None if data is None else _user.decode(data)

    async def get_user(self, school: str, user_id: str) -> User | None:
        return await self._user_where(school, "id", user_id)

    async def user_by_username(self, school: str, username: str) -> User | None:
        return await self._user_where(school, "username", username)

    async def user_by_number(self, school: str, number: str) -> User | None:
        return await self._user_where(school, "number", number)

    async def user_by_pin_key(self, school: str, pin_key: str) -> User | None:
        return await self._user_where(school, "pin_key", pin_key)

    async def user_by_email(self, school: str, email: str) -> User | None:
        key = email_key(email)
        return None if key is None else await self._user_where(school, "email", key)

    async def users(self, school: str) -> list[User]:
        def fetch() -> list[bytes]:
            rows = self._conn.execute(
                "SELECT data FROM users WHERE school = ? ORDER BY username", (school,)
            )
            return [bytes(r[0]) for r in rows]

        return [_user.decode(d) for d in await self._run(fetch)]

    async def delete_user(self, school: str, user_id: str) -> User | None:
        """With `secure_delete`, SQLite overwrites the removed rows with zeros
        rather than leaving them in free pages, and a checkpoint then empties
        the write-ahead log that still held them (hallpass/deletion.py)."""

        def delete(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(
                "SELECT data FROM users WHERE id = ? AND school = ?", (user_id, school)
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
            sessions = conn.execute("SELECT token_hash, data FROM sessions").fetchall()
            for token_hash, data in sessions:
                session = _session.decode(bytes(data))
                if session.user == user_id and session.school == school:
                    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            return bytes(row[0])

        def run() -> bytes | None:
            self._conn.execute("PRAGMA secure_delete = ON")
            try:
                data = self._write(delete)
            finally:
                self._conn.execute("PRAGMA secure_delete = OFF")
            if data is not None:
                # Best effort: a reader elsewhere may keep part of the log for now.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            return data

        data = await self._run(run)
        return None if data is None else _user.decode(data)

    # --- sessions ------------------------------------------------------------

    async def put_session(self, session: Session, ttl: float) -> None:
        now = self._clock()

        def put(conn: sqlite3.Connection) -> None:
            # Sweeping here keeps the table small without a timer of its own.
            conn.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO sessions (token_hash, expires, data) VALUES (?, ?, ?)",
                (session.token_hash, now + ttl, _encode(session)),
            )

        await self._run(partial(self._write, put))

    async def get_session(self, token_hash: str) -> Session | None:
        sql = "SELECT data FROM sessions WHERE token_hash = ? AND expires > ?"
        data = await self._one(sql, token_hash, self._clock())
        return None if data is None else _session.decode(data)

    async def delete_session(self, token_hash: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

        await self._run(partial(self._write, delete))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._reader.close()
        await self._run(self._conn.close)
        self._worker.shutdown(wait=True)
