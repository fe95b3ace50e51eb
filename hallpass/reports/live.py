"""Each school's report aggregates in this process, kept current beside its runtime.

The aggregates are a fold of their own, separate from SchoolState: most
processes never show a report (the worker, the command line), so they are
folded only where someone asks for one. The first report of a school in a
process reads the school's stream once (or starts from a snapshot, when
`Reports.base` finds one), while a listener on the runtime collects every
event folded meanwhile; from then on the listener folds each new event as the
runtime folds it, so a report never rescans history.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable

from hallpass.events.store import EventStore, StoredEvent
from hallpass.projections.state import SchoolState
from hallpass.reports.aggregates import Aggregates, fold
from hallpass.reports.snapshot import load_snapshot
from hallpass.service.restore import collector_paused
from hallpass.service.runtime import SchoolRuntime

log = logging.getLogger(__name__)

# Where a school's aggregates start: a snapshot (and the version it is at),
# or None to fold the whole stream.
BaseLoader = Callable[[EventStore, str], Awaitable[Aggregates | None]]


class LiveAggregates:
    """One school's aggregates, current with its runtime once `ready`."""

    def __init__(self, runtime: SchoolRuntime) -> None:
        self.runtime = runtime
        self.aggregates = Aggregates()
        # Events the runtime folds while the stream is being read; None once caught up.
        self._held: list[StoredEvent] | None = []
        self.unlisten = runtime.listen(self._heard)

    def _heard(self, stored: StoredEvent, state: SchoolState) -> None:
        if self._held is not None:
            self._held.append(stored)
        elif stored.version > self.aggregates.version:
            fold(self.aggregates, stored)

    async def load(self, base: BaseLoader | None) -> None:
        runtime = self.runtime
        try:
            start = await base(runtime.store, runtime.school) if base is not None else None
            if start is not None:
                self.aggregates = start
            with collector_paused():  # as the school's own load does (service/restore.py)
                await self._read(runtime)
        except BaseException:
            self.unlisten()
            raise
        held, self._held = self._held or [], None
        for stored in held:
            if stored.version > self.aggregates.version:
                fold(self.aggregates, stored)

    async def _read(self, runtime: SchoolRuntime) -> None:
        async for stored in runtime.store.read(runtime.school, self.aggregates.version):
            if stored.version != self.aggregates.version + 1:
                log.warning(
                    "%s: reports start at v%d, past v%d: its early events were trimmed"
                    " and no reports snapshot covers them",
                    runtime.school,
                    stored.version,
                    self.aggregates.version,
                )
            fold(self.aggregates, stored)


class Reports:
    """The LiveAggregates of each runtime of this process, made on first use.

    `base`, when set, gives the aggregates a school starts from (a snapshot
    kept by retention): without it a trimmed school would lose the days its
    trimmed events counted in."""

    def __init__(self, base: BaseLoader | None = None) -> None:
        self.base = base
        self._loading: weakref.WeakKeyDictionary[SchoolRuntime, asyncio.Task[LiveAggregates]]
        self._loading = weakref.WeakKeyDictionary()

    async def of(self, runtime: SchoolRuntime) -> Aggregates:
        """The school's aggregates, current with `runtime.state`."""
        task = self._loading.get(runtime)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._load(runtime), name=f"reports {runtime.school}")
            self._loading[runtime] = task
        live = await asyncio.shield(task)
        return live.aggregates

    async def _load(self, runtime: SchoolRuntime) -> LiveAggregates:
        live = LiveAggregates(runtime)
        await live.load(self.base)
        return live


# The process's reports (web processes use this one), from the kept snapshot.
REPORTS = Reports(base=load_snapshot)
