"""Counting failures (wrong passwords, wrong PINs) and locking for a while.

After `limit` failures within `window` seconds, a key is locked: the first
lock lasts `lock_base` seconds and each further failure (one per lock, since
a locked key is not even tried) doubles it, up to `lock_max`. Counters and
locks live in the ephemeral store, so every process of a deployment sees them.

An account's throttle (`one_at_a_time`) also lets one attempt at a time
through: `check` takes the key's turn and `failed` or `succeeded` gives it
back. Otherwise forty guesses sent at once would all pass `check` before the
first failure was counted, and the limit would count for nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from hallpass.config import Settings
from hallpass.service.ephemeral import Ephemeral
from hallpass.web.errors import ApiError

# How long a turn is held at most, should its attempt never report back.
TURN_SECONDS = 10.0


class TooManyAttempts(ApiError):
    """429 `too_many_attempts`; the handler adds a Retry-After header."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        minutes = math.ceil(self.retry_after / 60)
        when = "a minute" if minutes <= 1 else f"{minutes} minutes"
        super().__init__(
            429, "too_many_attempts", f"Too many failed attempts. Please try again in {when}."
        )


@dataclass(frozen=True, kw_only=True)
class Throttle:
    ephemeral: Ephemeral
    limit: int
    window: float
    lock_base: float
    lock_max: float
    clock: Callable[[], float] = time.time
    one_at_a_time: bool = False

    async def check(self, key: str) -> None:
        """Raise TooManyAttempts while `key` is locked (or, one at a time,
        while another attempt on it is still being decided)."""
        until = await self.ephemeral.get(key + ":lock")
        if until is not None:
            remaining = float(until) - self.clock()
            if remaining > 0:
                raise TooManyAttempts(remaining)
        if self.one_at_a_time and not await self.ephemeral.put_if_absent(
            key + ":turn", b"1", TURN_SECONDS
        ):
            raise TooManyAttempts(1)

    async def failed(self, key: str) -> None:
        count = await self.ephemeral.incr(key + ":fails", self.window)
        over = count - self.limit
        if over >= 0:
            seconds = min(self.lock_max, self.lock_base * 2 ** min(over, 32))
            await self.ephemeral.put(key + ":lock", repr(self.clock() + seconds).encode(), seconds)
        await self._end_turn(key)

    async def succeeded(self, key: str) -> None:
        await self.ephemeral.delete(key + ":fails")
        await self._end_turn(key)

    async def _end_turn(self, key: str) -> None:
        if self.one_at_a_time:
            await self.ephemeral.delete(key + ":turn")


def account_throttle(ephemeral: Ephemeral, settings: Settings) -> Throttle:
    """For one account's password (or one teacher's PIN, or one device's tries)."""
    return Throttle(
        ephemeral=ephemeral,
        limit=settings.login_account_failures,
        window=settings.login_window_seconds,
        lock_base=settings.login_lock_seconds,
        lock_max=settings.login_lock_max_seconds,
        one_at_a_time=True,
    )


def address_throttle(ephemeral: Ephemeral, settings: Settings) -> Throttle:
    """For everything one client address tries, whatever the account."""
    return Throttle(
        ephemeral=ephemeral,
        limit=settings.login_address_failures,
        window=settings.login_window_seconds,
        lock_base=settings.login_lock_seconds,
        lock_max=settings.login_lock_max_seconds,
    )
