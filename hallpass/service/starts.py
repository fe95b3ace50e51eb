"""Every school of the directory, kept loaded, and the passes that start at a set time.

Both timed-job runners (the in-process Ticker on the embedded store and the arq
worker on Redis) tick each school about every second. A scheduled pass must
become active within 2 seconds of its `start_at` (API.md), so besides the
steady ticks they also want to wake at exactly that moment. `SchoolWatch` keeps
the list of schools current (new schools appear while the service runs) and
reports each scheduled start it learns of: those already in a school's state
when the school is loaded, and those announced by events as they are folded.
A start may be reported more than once; runners treat reports as idempotent.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime

from hallpass.directory.base import Directory
from hallpass.events.store import StoredEvent
from hallpass.events.types import PassApproved, PassCreated
from hallpass.projections.state import SchoolState
from hallpass.service.runtime import SchoolRuntime, Schools

log = logging.getLogger(__name__)

# (school, pass id, start_at)
OnStart = Callable[[str, str, datetime], None]


def scheduled_starts(state: SchoolState) -> Iterator[tuple[str, datetime]]:
    """(pass id, start_at) of every pass in `state` still waiting for its start."""
    for pass_id in state.scheduled:
        start_at = state.passes[pass_id].start_at
        if start_at is not None:
            yield pass_id, start_at


def announced_start(stored: StoredEvent, state: SchoolState) -> tuple[str, datetime] | None:
    """The start that `stored` has just scheduled, if any: a pass created with a
    future start, or a pending pass approved before its start."""
    event = stored.event
    if not isinstance(event, PassCreated | PassApproved):
        return None
    record = state.passes.get(event.pass_id)
    if record is None or record.state != "scheduled" or record.start_at is None:
        return None
    return record.id, record.start_at


class SchoolWatch:
    """Loads every school of the directory into `schools` and reports starts."""

    def __init__(self, schools: Schools, directory: Directory, on_start: OnStart) -> None:
        self.schools = schools
        self.directory = directory
        self.on_start = on_start
        self._watched: dict[str, Callable[[], None]] = {}

    @property
    def slugs(self) -> list[str]:
        """The schools watched so far, in the order they were found."""
        return list(self._watched)

    async def refresh(self) -> list[str]:
        """List the directory's schools again and start watching new ones.
        Raises when the directory cannot be read; a school that fails to load
        is logged and tried again on the next refresh."""
        for school in await self.directory.schools():
            if school.slug in self._watched:
                continue
            try:
                runtime = await self.schools.get(school.slug)
            except Exception:
                log.exception("cannot load school %s; will try again", school.slug)
                continue
            self._watch(runtime)
        return self.slugs

    def _watch(self, runtime: SchoolRuntime) -> None:
        slug = runtime.school

        def heard(stored: StoredEvent, state: SchoolState) -> None:
            start = announced_start(stored, state)
            if start is not None:
                self.on_start(slug, *start)

        # Listen before reading the state: a start folded in between is then
        # reported twice rather than missed.
        self._watched[slug] = runtime.listen(heard)
        for pass_id, start_at in list(scheduled_starts(runtime.state)):
            self.on_start(slug, pass_id, start_at)

    def close(self) -> None:
        for unlisten in self._watched.values():
            # ValueError: the runtime dropped its listeners already.
            with contextlib.suppress(ValueError):
                unlisten()
        self._watched.clear()
