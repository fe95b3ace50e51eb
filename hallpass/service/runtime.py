"""One school's live state in this process, and the one way to change it.

A runtime replays the school's stream into a SchoolState, then keeps it current
from `follow` (events appended by any process). A command is decided against
the state at version V and appended only if the stream is still at V; on a
conflict the runtime catches up and decides again. Events this process
appended are folded as soon as the append succeeds, so a command's answer
already shows its own effect (read-your-writes); the follower skips them when
they come round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import cast

from hallpass import metrics
from hallpass.events.store import EventStore, StoredEvent, StoreUnavailable, VersionConflict
from hallpass.events.types import AnyEvent, Event
from hallpass.projections.state import SchoolState, evolve
from hallpass.rules.commands import AnyCommand, Rejection
from hallpass.rules.decide import decide
from hallpass.rules.tick import tick
from hallpass.service.restore import restore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Listener = Callable[[StoredEvent, SchoolState], None]

# Conflicts mean another process appended first; each retry starts from a
# newer state, so a few are plenty unless the school is under a storm.
MAX_ATTEMPTS = 50
CATCH_UP_TIMEOUT = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class ContentionError(StoreUnavailable):
    """Too many conflicting appends in a row; nothing was written."""


class SchoolRuntime:
    def __init__(self, store: EventStore, school: str, state: SchoolState, clock: Clock) -> None:
        self.store = store
        self.school = school
        self.state = state
        self.clock = clock
        self._listeners: list[Listener] = []
        self._advanced = asyncio.Condition()
        self._writer = asyncio.Lock()
        self._follower: asyncio.Task[None] | None = None

    @classmethod
    async def load(cls, store: EventStore, school: str, clock: Clock = utc_now) -> SchoolRuntime:
        """From the school's snapshot and the events after it, or from the
        whole stream (hallpass.service.restore)."""
        return cls(store, school, await restore(store, school), clock)

    # --- keeping current -----------------------------------------------------

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after each event is folded, in order, exactly once.
        Listeners run on the fold's path: they must be quick and not raise."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def start(self) -> None:
        """Follow the stream for events that other processes append."""
        if self._follower is None:
            self._follower = asyncio.create_task(self._follow(), name=f"follow {self.school}")

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None

    async def _follow(self) -> None:
        while True:
            try:
                async for stored in self.store.follow(self.school, self.state.version):
                    await self._apply(stored)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following %s failed; resuming", self.school)
                await asyncio.sleep(1.0)

    async def _apply(self, stored: StoredEvent) -> None:
        if stored.version <= self.state.version:
            return  # this process appended it and folded it already
        if stored.version != self.state.version + 1:
            # A gap means a read went wrong; refold from the store, in order.
            await self._read_up()
            return
        self._fold(stored)
        async with self._advanced:
            self._advanced.notify_all()

    def _fold(self, stored: StoredEvent) -> None:
        evolve(self.state, stored.event)
        self.state.version = stored.version
        for listener in tuple(self._listeners):
            try:
                listener(stored, self.state)
            except Exception:
                log.exception("listener failed on %s v%d", self.school, stored.version)

    async def _read_up(self) -> None:
        async for stored in self.store.read(self.school, self.state.version):
            if stored.version == self.state.version + 1:
                self._fold(stored)

    async def catch_up(self, version: int) -> None:
        """Return once the state has folded at least `version`."""
        if self.state.version >= version:
            return
        if self._follower is None:
            await self._read_up()
            return
        async with self._advanced:
            try:
                await asyncio.wait_for(
                    self._advanced.wait_for(lambda: self.state.version >= version),
                    CATCH_UP_TIMEOUT,
                )
            except TimeoutError:
                raise StoreUnavailable("the event store did not deliver new events") from None

    # --- changing ------------------------------------------------------------

    async def execute(self, command: AnyCommand) -> list[StoredEvent] | Rejection:
        """Decide `command` now and append its events; the state shows them on return."""
        started = time.perf_counter()
        result = await self._commit(lambda now: decide(self.state, command, now))
        rejection = result.code if isinstance(result, Rejection) else None
        metrics.command_done(type(command).__name__, rejection, time.perf_counter() - started)
        return result

    async def run_tick(self) -> list[StoredEvent]:
        """Append whatever the clock makes due (scheduled starts, overtime, day end)."""
        result = await self._commit(lambda now: tick(self.state, now))
        assert not isinstance(result, Rejection)
        return result

    async def _commit(
        self, decision: Callable[[datetime], Sequence[Event] | Rejection]
    ) -> list[StoredEvent] | Rejection:
        async with self._writer:
            for _ in range(MAX_ATTEMPTS):
                result = decision(self.clock())
                if isinstance(result, Rejection) or not result:
                    return result if isinstance(result, Rejection) else []
                expected = self.state.version
                try:
                    await self.store.append(self.school, result, expected)
                except VersionConflict as conflict:
                    await self.catch_up(conflict.actual)
                    continue
                stored = [
                    StoredEvent(expected + i, cast(AnyEvent, e)) for i, e in enumerate(result, 1)
                ]
                for each in stored:
                    if each.version == self.state.version + 1:  # the follower may have been first
                        self._fold(each)
                async with self._advanced:
                    self._advanced.notify_all()
                return stored
        raise ContentionError(f"{self.school}: gave up after {MAX_ATTEMPTS} conflicting appends")


class Schools:
    """The runtimes of this process, one per school, loaded on first use."""

    def __init__(self, store: EventStore, clock: Clock = utc_now, follow: bool = True) -> None:
        self.store = store
        self.clock = clock
        self.follow = follow
        self._runtimes: dict[str, SchoolRuntime] = {}
        self._loading: dict[str, asyncio.Task[SchoolRuntime]] = {}
        # Called with each runtime once it is loaded, before it follows the
        # stream: what must listen to every school (hallpass.deletion).
        self.on_load: list[Callable[[SchoolRuntime], object]] = []

    async def get(self, school: str) -> SchoolRuntime:
        runtime = self._runtimes.get(school)
        if runtime is not None:
            return runtime
        task = self._loading.get(school)
        if task is None:
            task = asyncio.create_task(self._load(school))
            self._loading[school] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._loading.pop(school, None)

    async def _load(self, school: str) -> SchoolRuntime:
        runtime = await SchoolRuntime.load(self.store, school, self.clock)
        for hook in self.on_load:
            hook(runtime)
        if self.follow:
            runtime.start()
        self._runtimes[school] = runtime
        return runtime

    def loaded(self) -> list[SchoolRuntime]:
        return list(self._runtimes.values())

    async def close(self) -> None:
        for runtime in self._runtimes.values():
            await runtime.close()
        self._runtimes.clear()
