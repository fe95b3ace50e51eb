"""Store URLs: one string names where a school's events live.

`sqlite:///hallpass.db` is a file relative to the working directory and
`sqlite:////var/lib/hallpass/hallpass.db` an absolute one (SQLAlchemy's
convention, so `f"sqlite:///{absolute_path}"` also works). `redis://host:port/db`
(or `rediss://`, `unix://`) is handed to redis-py as it is.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from hallpass.events.redis import RedisEventStore
from hallpass.events.sqlite import SqliteEventStore
from hallpass.events.store import EventStore

REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


class SqliteUrl(msgspec.Struct, frozen=True):
    path: Path


class RedisUrl(msgspec.Struct, frozen=True):
    url: str


def parse_store_url(url: str) -> SqliteUrl | RedisUrl:
    """Raises ValueError, with a sentence an operator can act on, for a URL
    that names no store this service knows."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in REDIS_SCHEMES:
        return RedisUrl(url)
    if scheme == "sqlite":
        prefix = "sqlite:///"
        if not url.lower().startswith(prefix) or len(url) == len(prefix):
            raise ValueError(
                f"{url!r} names no file: write sqlite:///relative/file.db "
                "or sqlite:////absolute/file.db"
            )
        return SqliteUrl(Path(url[len(prefix) :]))
    raise ValueError(f"{url!r} is not a store URL: use sqlite:///file.db or redis://host:port/db")


async def open_event_store(url: str) -> EventStore:
    """The event store named by `url`, opened and ready."""
    parsed = parse_store_url(url)
    if isinstance(parsed, SqliteUrl):
        return await SqliteEventStore.open(parsed.path)
    return RedisEventStore.from_url(parsed.url)
