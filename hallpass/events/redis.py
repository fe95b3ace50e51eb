"""The event store on Redis Streams: one stream per school.

Keys carry the school as a hash tag (`hallpass:{school}:...`), so all of a
school's keys share one Redis Cluster slot and one Lua script may touch them.
The event with version N is the stream entry `0-N` whose one field `e` holds
the event's JSON, so `XRANGE` and `XREAD` address versions directly and
`redis-cli XRANGE` shows readable events.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hallpass.events.snapshots import RedisSnapshotStore, snapshot_key
from hallpass.events.store import StoredEvent, StoreUnavailable, TrimRefused, VersionConflict
from hallpass.events.types import Event, decode, encode

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
# A command that has no answer in this time finds the store unavailable.
COMMAND_TIMEOUT_SECONDS = 5.0
# Overrides it for every Redis client of the process (events, directory,
# ephemeral keys); the fault tests freeze Redis with a shorter one.
TIMEOUT_ENV = "HALLPASS_REDIS_TIMEOUT"
# A follower's XREAD waits at most this long before asking again, so a
# connection that died without a word is noticed.
FOLLOW_BLOCK_MS = 5000
# A follower that lost Redis tries again after these pauses (doubling).
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 2.0

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)

# The stream's version lives in its own key rather than being XLEN or the last
# entry's id, so that retention may trim old entries without resetting it.
# Answers {1, new version} or, on a conflict, {0, the stream's version}.
_APPEND = """
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
if version ~= tonumber(ARGV[1]) then
    return {0, version}
end
if #ARGV == 1 then
    return {1, version}
end
for i = 2, #ARGV do
    version = version + 1
    redis.call('XADD', KEYS[2], '0-' .. version, 'e', ARGV[i])
end
redis.call('SET', KEYS[1], version)
return {1, version}
"""

# Starts an absent stream after version ARGV[1], under a state snapshot that
# covers it (as _TRIM checks). Answers {1, version}, {0, the stream's version}
# when the stream exists, or {-1, the snapshot's version or false}.
_START = """
local version = tonumber(redis.call('GET', KEYS[1]) or '0')
if version ~= 0 or redis.call('EXISTS', KEYS[3]) == 1 then
    return {0, version}
end
local covered = redis.call('HGET', KEYS[2], 'version')
if not covered or tonumber(covered) < tonumber(ARGV[1]) then
    return {-1, covered}
end
redis.call('SET', KEYS[1], ARGV[1])
return {1, tonumber(ARGV[1])}
"""

# Removes the entries up to version ARGV[1] (XTRIM MINID ARGV[2] = "0-<ARGV[1] + 1>")
# only when the school's state snapshot covers them. Answers how many went,
# or -1 with the snapshot's version (false when there is none) when refused.
_TRIM = """
local covered = redis.call('HGET', KEYS[1], 'version')
if not covered or tonumber(covered) < tonumber(ARGV[1]) then
    return {-1, covered}
end
return {redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2]), covered}
"""


def command_timeout(environ: Mapping[str, str] | None = None) -> float:
    """Seconds a Redis command may wait for its answer: HALLPASS_REDIS_TIMEOUT
    when set, else COMMAND_TIMEOUT_SECONDS. ValueError names a bad value."""
    raw = (os.environ if environ is None else environ).get(TIMEOUT_ENV, "")
    if not raw:
        return COMMAND_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise ValueError(f"{TIMEOUT_ENV}: {raw!r} is not a number of seconds above 0.")
    return seconds


def stream_key(school: str) -> str:
    return f"hallpass:{{{school}}}:events"


def version_key(school: str) -> str:
    return f"hallpass:{{{school}}}:version"


@contextmanager
def _unavailable_on_errors() -> Iterator[None]:
    try:
        yield
    except _UNREACHABLE as error:
        raise StoreUnavailable(f"Redis cannot be reached: {error}") from error


def _as_sent(response: Any, **options: Any) -> Any:
    return response


def _version_of(entry_id: bytes) -> int:
    return int(entry_id[2:])  # every id this store writes is b"0-<version>"


class RedisEventStore:
    """`RedisEventStore.from_url(url)`, or give it two clients: `client` for
    commands (with a socket timeout) and `follower` for blocking reads (with
    none, or its reads would be cut). `close()` closes both."""

    def __init__(self, client: Redis, follower: Redis, *, page_size: int = PAGE_SIZE) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._client = client
        self._follower = follower
        self._page_size = page_size
        self._append_script = client.register_script(_APPEND)
        self._trim_script = client.register_script(_TRIM)
        self._start_script = client.register_script(_START)
        # XRANGE's reply as Redis sends it, [[id, [b"e", event]], ...]: redis-py
        # would make a dict of each entry, most of the client's work in
        # reading a whole stream (read_raw_pages). Same connections.
        self._pager = Redis(connection_pool=client.connection_pool)
        self._pager.set_response_callback("XRANGE", _as_sent)
        self._snapshots = RedisSnapshotStore(client)
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, page_size: int = PAGE_SIZE) -> RedisEventStore:
        """Connects lazily: an unreachable Redis shows at the first command."""
        timeout = command_timeout()
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        follower = Redis.from_url(url, socket_timeout=None, socket_connect_timeout=timeout)
        return cls(client, follower, page_size=page_size)

    async def append(self, school: str, events: Sequence[Event], expected_version: int) -> int:
        """A StoreUnavailable from a connection lost while the script ran does
        not say whether it ran; appending again then finds a conflict rather
        than writing the events twice."""
        self._check_open()
        args: list[bytes | int] = [expected_version, *(encode(event) for event in events)]
        with _unavailable_on_errors():
            appended, version = await self._append_script(
                keys=[version_key(school), stream_key(school)], args=args
            )
        if not appended:
            raise VersionConflict(school, expected_version, int(version))
        return int(version)

    async def start_after(self, school: str, version: int) -> None:
        self._check_open()
        with _unavailable_on_errors():
            started, found = await self._start_script(
                keys=[version_key(school), snapshot_key(school), stream_key(school)],
                args=[version],
            )
        if started == 0:
            raise VersionConflict(school, 0, int(found))
        if started < 0:
            raise TrimRefused(
                f"no snapshot of {school!r} covers version {version}"
                f" (the newest is at {int(found) if found else None})"
            )

    async def read(self, school: str, after: int = 0) -> AsyncIterator[StoredEvent]:
        async for rows in self._pages(school, after):
            for version, data in rows:
                yield StoredEvent(version, decode(data))

    async def read_raw(self, school: str, after: int = 0) -> AsyncIterator[tuple[int, bytes]]:
        """Like `read`, with each event's JSON left undecoded."""
        async for rows in self._pages(school, after):
            for row in rows:
                yield row

    async def read_raw_pages(
        self, school: str, after: int = 0
    ) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Like `read_raw`, a page of rows at a time: a whole stream folds
        faster without an `await` per event."""
        key = stream_key(school)
        end = await self.version(school)
        while after < end:
            self._check_open()
            with _unavailable_on_errors():
                entries: list[Any] = await self._pager.xrange(
                    key, f"0-{after + 1}", f"0-{end}", count=self._page_size
                )
            if not entries:
                return
            rows = [(_version_of(entry_id), fields[1]) for entry_id, fields in entries]
            yield rows
            after = rows[-1][0]

    async def follow(self, school: str, after: int = 0) -> AsyncIterator[StoredEvent]:
        """Rides out a Redis outage: it tries again, with growing pauses, from
        the last version it yielded. Raises StoreUnavailable once closed."""
        key = stream_key(school)
        last = after
        pause = RETRY_FIRST_SECONDS
        while True:
            self._check_open()
            try:
                response: list[Any] = await self._follower.xread(
                    {key: f"0-{last}"}, count=self._page_size, block=FOLLOW_BLOCK_MS
                )
            except _UNREACHABLE as error:
                self._check_open()
                if pause == RETRY_FIRST_SECONDS:
                    log.warning("following %s: Redis cannot be reached (%s); retrying", key, error)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_SECONDS)
                continue
            if pause != RETRY_FIRST_SECONDS:
                log.warning("following %s: Redis is back", key)
                pause = RETRY_FIRST_SECONDS
            for _stream, entries in response:
                for entry_id, fields in entries:
                    last = _version_of(entry_id)
                    yield StoredEvent(last, decode(fields[b"e"]))

    async def version(self, school: str) -> int:
        self._check_open()
        with _unavailable_on_errors():
            value = await self._client.get(version_key(school))
        return int(value) if value is not None else 0

    @property
    def snapshots(self) -> RedisSnapshotStore:
        """The schools' snapshots, in the same Redis (hallpass.events.snapshots)."""
        return self._snapshots

    async def trim(self, school: str, before_version: int) -> int:
        self._check_open()
        with _unavailable_on_errors():
            removed, covered = await self._trim_script(
                keys=[snapshot_key(school), stream_key(school)],
                args=[before_version, f"0-{before_version + 1}"],
            )
        if removed < 0:
            raise TrimRefused(
                f"no snapshot of {school!r} covers version {before_version}"
                f" (the newest is at {int(covered) if covered else None})"
            )
        return int(removed)

    async def close(self) -> None:
        self._closed = True
        # Closing the follower's pool also ends any XREAD blocked on it.
        await self._follower.aclose()
        await self._client.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the event store is closed")

    async def _pages(self, school: str, after: int) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Pages up to the version current when the read began."""
        key = stream_key(school)
        end = await self.version(school)
        while after < end:
            self._check_open()
            with _unavailable_on_errors():
                entries: list[Any] = await self._client.xrange(
                    key, f"0-{after + 1}", f"0-{end}", count=self._page_size
                )
            if not entries:
                return
            rows = [(_version_of(entry_id), fields[b"e"]) for entry_id, fields in entries]
            yield rows
            after = rows[-1][0]
