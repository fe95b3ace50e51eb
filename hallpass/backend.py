"""One URL names where a deployment keeps everything: its event store and its
directory, side by side in one SQLite file or one Redis.

    sqlite:///hallpass.db            a file relative to the current folder
    sqlite:////var/lib/hallpass.db   an absolute path (the fourth slash starts it)
    redis://host:6379/0              a Redis server (rediss:// for TLS, unix:// for a socket)

The URL grammar is hallpass.events.urls's, so the two never disagree.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Literal

from hallpass.audit import AuditLog, RedisAuditLog, SqliteAuditLog
from hallpass.directory.base import Directory
from hallpass.directory.redis import RedisDirectory
from hallpass.directory.sqlite import SqliteDirectory
from hallpass.events.redis import RedisEventStore
from hallpass.events.sqlite import SqliteEventStore
from hallpass.events.store import EventStore
from hallpass.events.urls import RedisUrl, parse_store_url

STORE_ENV = "HALLPASS_STORE"

Kind = Literal["sqlite", "redis"]


def default_store_url() -> str:
    """HALLPASS_STORE when set, else hallpass.db in the current folder."""
    return os.environ.get(STORE_ENV) or f"sqlite:///{Path.cwd() / 'hallpass.db'}"


def sqlite_file(path: Path) -> Path:
    """The absolute file a sqlite URL names, or ValueError saying why it cannot be used."""
    path = path if path.is_absolute() else Path.cwd() / path
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; the SQLite store needs a file name.")
    if not path.parent.is_dir():
        raise ValueError(f"The folder {str(path.parent)!r} for the SQLite store does not exist.")
    return path


class Backend:
    """An opened event store, directory and audit log; close it when done."""

    def __init__(
        self, url: str, kind: Kind, store: EventStore, directory: Directory, audit: AuditLog
    ) -> None:
        self.url = url
        self.kind = kind
        self.store = store
        self.directory = directory
        self.audit = audit  # who exported, deleted or changed what (hallpass/audit.py)

    async def close(self) -> None:
        try:
            try:
                await self.audit.close()
            finally:
                await self.directory.close()
        finally:
            await self.store.close()

    async def __aenter__(self) -> Backend:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def open_backend(url: str | None = None) -> Backend:
    """Open the store and directory that `url` names (`default_store_url()`
    when None). Raises ValueError, with a sentence, for a URL it cannot use,
    and StoreUnavailable when the SQLite file cannot be opened."""
    url = url or default_store_url()
    parsed = parse_store_url(url)
    if isinstance(parsed, RedisUrl):
        return Backend(
            url,
            "redis",
            RedisEventStore.from_url(parsed.url),
            RedisDirectory.from_url(parsed.url),
            RedisAuditLog.from_url(parsed.url),
        )
    path = sqlite_file(parsed.path)
    store = await SqliteEventStore.open(path)
    try:
        directory = await SqliteDirectory.open(path)
    except BaseException:
        await store.close()
        raise
    try:
        audit = await SqliteAuditLog.open(path)
    except BaseException:
        await directory.close()
        await store.close()
        raise
    return Backend(url, "sqlite", store, directory, audit)
