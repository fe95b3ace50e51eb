"""Ephemeral keys in Redis: plain strings with PEXPIRE, prefixed `hallpass:`.

Keys made by `ephemeral_key` carry the school's hash tag, so they share the
slot of the school's stream and directory on Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from hallpass.events.redis import command_timeout
from hallpass.events.store import StoreUnavailable

PREFIX = "hallpass:tmp:"


def _ms(ttl: float) -> int:
    return max(1, round(ttl * 1000))


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as error:
        raise StoreUnavailable(f"Redis cannot be reached: {error}") from error


class RedisEphemeral:
    def __init__(self, client: Redis, owns_client: bool = True) -> None:
        self._redis = client
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str) -> RedisEphemeral:
        # With no timeout a frozen Redis would hang every request that takes
        # an idempotency claim or counts a sign-in, instead of answering 503.
        timeout = command_timeout()
        return cls(Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout))

    async def get(self, key: str) -> bytes | None:
        with _reachable():
            value: bytes | None = await self._redis.get(PREFIX + key)
        return value

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        with _reachable():
            await self._redis.set(PREFIX + key, value, px=_ms(ttl))

    async def put_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        with _reachable():
            done = await self._redis.set(PREFIX + key, value, px=_ms(ttl), nx=True)
        return bool(done)

    async def incr(self, key: str, ttl: float) -> int:
        # SET NX gives a new counter its expiry in the same transaction as the
        # INCR, so no crash between the two can leave a counter that never expires.
        with _reachable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(PREFIX + key, 0, px=_ms(ttl), nx=True)
                pipe.incr(PREFIX + key)
                _, count = await pipe.execute()
        return int(count)

    async def delete(self, key: str) -> None:
        with _reachable():
            await self._redis.delete(PREFIX + key)

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()
