"""The timed jobs of the embedded store, run inside the web process.

With the SQLite store there is one process and no worker: the Ticker runs
`runtime.run_tick()` for every school at each wall-clock second, and also at
the exact `start_at` of each scheduled pass it knows of, so that a scheduled
pass starts well within the 2 seconds API.md allows. A tick decides from the
stream and appends through the same conditional append as commands, so an
extra or repeated tick changes nothing. The Ticker never dies: a failing tick
or directory read is logged and the next second tries again.

It also keeps the schools' history (hallpass.retention): every minute it
writes the snapshots that are due, and every hour it trims what retention
says is due, in a task of its own, so that ticks go on meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from datetime import datetime, timedelta

from hallpass import metrics, retention
from hallpass.directory.base import Directory
from hallpass.service.runtime import Clock, Schools, utc_now
from hallpass.service.starts import SchoolWatch

log = logging.getLogger(__name__)

# How often the directory is listed again for schools added since.
RELIST_SECONDS = 5.0
# Wake a hair after the due moment, so that the tick's `now` is surely past it.
LATE_BY = timedelta(milliseconds=5)
ONE_SECOND = timedelta(seconds=1)
# How often the history is kept (hallpass.retention): snapshots, then retention.
SNAPSHOT_CHECK_SECONDS = 60.0
RETENTION_CHECK_SECONDS = 3600.0


class Ticker:
    """`Ticker(schools, directory)`, then `start()`; `await close()` when done."""

    def __init__(
        self,
        schools: Schools,
        directory: Directory,
        clock: Clock = utc_now,
        *,
        relist_seconds: float = RELIST_SECONDS,
    ) -> None:
        self.schools = schools
        self.clock = clock
        self.relist_seconds = relist_seconds
        self.watch = SchoolWatch(schools, directory, self._heard_start)
        # (start_at, school, pass id) of every scheduled start not yet ticked.
        self._starts: list[tuple[datetime, str, str]] = []
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listed_at = float("-inf")
        self._failing: set[str] = set()
        self._history: asyncio.Task[None] | None = None
        self._snapshots_checked = time.monotonic()  # the first, a minute after start
        self._retention_checked = float("-inf")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hallpass ticker")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._history is not None:
            self._history.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._history
            self._history = None
        self.watch.close()

    async def tick_all(self) -> None:
        """One round: every school's due events appended (errors logged)."""
        await self._relist_if_due()
        now = self.clock()
        for school in self.watch.slugs:
            await self._tick(school)
        # Starts that were due are decided now; later ones keep their place.
        while self._starts and self._starts[0][0] <= now:
            heapq.heappop(self._starts)
        self._keep_history_if_due()

    def _keep_history_if_due(self) -> None:
        if self._history is not None and not self._history.done():
            return
        now = time.monotonic()
        if now - self._snapshots_checked < SNAPSHOT_CHECK_SECONDS:
            return
        self._snapshots_checked = now
        with_retention = now - self._retention_checked >= RETENTION_CHECK_SECONDS
        if with_retention:
            self._retention_checked = now
        self._history = asyncio.create_task(
            retention.keep_history(self.schools.loaded(), retention=with_retention),
            name="hallpass history",
        )

    # --- the loop --------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                if await self._sleep_until(self._next_wake()):
                    await self.tick_all()
            except asyncio.CancelledError:
                raise
            except Exception:  # the ticker must outlive any bug in one round
                log.exception("ticker round failed; continuing")
                await asyncio.sleep(1.0)

    def _next_wake(self) -> datetime:
        """The next wall-clock second, or a scheduled start if that comes first."""
        now = self.clock()
        wake = now.replace(microsecond=0) + ONE_SECOND
        if self._starts and self._starts[0][0] < wake:
            wake = self._starts[0][0]
        return wake + LATE_BY

    async def _sleep_until(self, moment: datetime) -> bool:
        """Sleep until `moment`; False when a newly heard start cut the sleep
        short (the caller then works out the next wake-up again)."""
        seconds = (moment - self.clock()).total_seconds()
        if seconds <= 0:
            return True
        self._woken.clear()
        try:
            await asyncio.wait_for(self._woken.wait(), min(seconds, 1.0 + LATE_BY.total_seconds()))
        except TimeoutError:
            return True
        return False

    def _heard_start(self, school: str, pass_id: str, start_at: datetime) -> None:
        heapq.heappush(self._starts, (start_at, school, pass_id))
        if start_at == self._starts[0][0]:
            self._woken.set()  # it is the earliest now: sleep no longer than it

    # --- one school --------------------------------------------------------------

    async def _relist_if_due(self) -> None:
        if time.monotonic() - self._listed_at < self.relist_seconds:
            return
        try:
            await self.watch.refresh()
            self._listed_at = time.monotonic()
        except Exception:
            log.exception("cannot list the schools; ticking the known ones")

    async def _tick(self, school: str) -> None:
        try:
            runtime = await self.schools.get(school)
            with metrics.timed_tick():
                await runtime.run_tick()
        except Exception:
            # Log the first failure in a row in full, the rest briefly: a store
            # that is down would otherwise fill the log every second.
            if school in self._failing:
                log.debug("tick of %s failed again", school, exc_info=True)
            else:
                log.exception("tick of %s failed; retrying every second", school)
                self._failing.add(school)
        else:
            if school in self._failing:
                log.info("tick of %s works again", school)
                self._failing.discard(school)
