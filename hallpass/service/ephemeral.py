"""Short-lived keys with a time to live: sign-in throttles, idempotency records.

Nothing here is the truth about a school (that is the event log); losing it
costs a retry or resets a throttle, no more. Both backends keep the same
promise: a key is gone `ttl` seconds after it was set, and `put_if_absent` and
`incr` are atomic across every process sharing the store.
"""

from __future__ import annotations

from typing import Protocol

from hallpass.events.urls import SqliteUrl, parse_store_url


class Ephemeral(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """Set `key` to `value`, expiring `ttl` seconds from now."""

    async def put_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        """Set `key` only when it does not exist; True when this call set it."""

    async def incr(self, key: str, ttl: float) -> int:
        """Add 1 to the counter at `key` and return it. A new counter starts
        at 1 and expires `ttl` seconds later (a fixed window: later
        increments do not extend it)."""

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


def ephemeral_key(school: str | None, *parts: str) -> str:
    """A key for `parts`, hash-tagged with the school when there is one, so on
    Redis Cluster it sits in the school's slot beside its stream."""
    tail = ":".join(parts)
    return f"{{{school}}}:{tail}" if school is not None else f"global:{tail}"


async def open_ephemeral(url: str) -> Ephemeral:
    """The ephemeral keys kept in the store named by `url` (the same URL as the
    event store's: a table in the SQLite file, or keys in Redis)."""
    parsed = parse_store_url(url)
    if isinstance(parsed, SqliteUrl):
        from hallpass.service.ephemeral_sqlite import SqliteEphemeral

        return await SqliteEphemeral.open(parsed.path)
    from hallpass.service.ephemeral_redis import RedisEphemeral

    return RedisEphemeral.from_url(parsed.url)
