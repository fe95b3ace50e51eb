"""How a school's history is kept: snapshots of its state, and retention.

Two timed jobs, run for every school by the arq worker on Redis (cron jobs,
one worker at a time) and by the in-process ticker on SQLite:

`keep_snapshot(runtime)` writes the school's state snapshot when one is due:
SNAPSHOT_EVERY_EVENTS events after the kept one, or SNAPSHOT_EVERY_SECONDS
after it when the stream moved at all. It encodes on the event loop, in one
go: the state is read at one version with no `await` in between, and there
is no copy to make. For a 3,000-student school year that takes about 0.3 s
(docs/performance.md), at most every few minutes, and on Redis only in the
worker, which serves no requests. A thread would not help: msgspec holds
the interpreter lock while it encodes, and the state must not change under it.

`keep_retention(runtime)` trims history past the school's retention
(projections/forget.py says which days are kept): it appends HistoryTrimmed
(before, through), so that every process's fold forgets the old passes and
requests at the same version; writes the report aggregates and the state as
snapshots at or after that version; then has the store remove the events up
to `through`, which the store allows only under such a snapshot. Each step
can fail and be run again: a HistoryTrimmed without a trim is harmless, and
the next run trims what is still due. The reports keep the trimmed days'
counts without names in their own snapshot (hallpass.reports.snapshot),
written here before the trim.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime

import msgspec

from hallpass.events.snapshots import SnapshotHead, snapshots_of
from hallpass.events.store import EventStore, StoredEvent, VersionConflict
from hallpass.events.types import SYSTEM, HistoryTrimmed
from hallpass.projections.forget import history_cutoff
from hallpass.projections.snapshot import encode_state
from hallpass.reports.snapshot import save_current as save_reports
from hallpass.service.runtime import MAX_ATTEMPTS, SchoolRuntime

log = logging.getLogger(__name__)

SNAPSHOT_EVERY_EVENTS = 50_000
SNAPSHOT_EVERY_SECONDS = 600.0


class Trimmed(msgspec.Struct, frozen=True, kw_only=True):
    """What one retention run did to a school."""

    school: str
    before: date  # the first school day kept
    through: int  # the last version removed
    removed: int  # events removed from the store


class RetentionRefused(Exception):
    """A step before the trim did not hold (a snapshot that did not reach
    the cut, a stream that kept moving): nothing was removed."""


# --- snapshots ---------------------------------------------------------------------


def snapshot_due(head: SnapshotHead | None, version: int, now: float) -> bool:
    """Whether a state at `version` should be written, given the kept
    snapshot's `head` and the wall clock `now` (seconds since the epoch)."""
    if head is None:
        return version > 0
    if version - head.version >= SNAPSHOT_EVERY_EVENTS:
        return True
    return version > head.version and now - head.saved_at >= SNAPSHOT_EVERY_SECONDS


async def write_snapshot(runtime: SchoolRuntime) -> int | None:
    """Write the runtime's state as the school's snapshot now; its version,
    or None when the store keeps no snapshots or a newer one is kept."""
    snapshots = snapshots_of(runtime.store)
    if snapshots is None:
        return None
    state = runtime.state
    version = state.version
    data = encode_state(state)  # no await before this: one version's state
    saved = await snapshots.save(runtime.school, version, data)
    return version if saved else None


async def keep_snapshot(runtime: SchoolRuntime, now: float | None = None) -> int | None:
    """Write the school's snapshot if it is due (`snapshot_due`); its version."""
    snapshots = snapshots_of(runtime.store)
    if snapshots is None:
        return None
    head = await snapshots.head(runtime.school)
    if not snapshot_due(head, runtime.state.version, time.time() if now is None else now):
        return None
    return await write_snapshot(runtime)


# --- retention -----------------------------------------------------------------------


async def due_through(store: EventStore, school: str, cutoff: datetime) -> int:
    """The last version of the stream whose event happened before `cutoff`
    (0 when none is kept). Events are appended in time order (up to clock
    skew between processes), so a binary search over versions finds it in a
    few reads."""
    first = await _event_time(store, school, 1)
    if first is None or first[1] >= cutoff:
        return 0
    low = first[0]  # happened before the cutoff
    high = await store.version(school) + 1  # past the end
    while high - low > 1:
        middle = (low + high) // 2
        found = await _event_time(store, school, middle)
        if found is None or found[1] >= cutoff:
            high = middle if found is None else found[0]
        else:
            low = found[0]
    return low


async def keep_retention(runtime: SchoolRuntime) -> Trimmed | None:
    """Trim the school's history past its retention, if any is due now (the
    runtime's clock); what was done, or None when nothing was due. Raises
    RetentionRefused or the store's errors; nothing is lost either way."""
    store, school = runtime.store, runtime.school
    snapshots = snapshots_of(store)
    if snapshots is None:
        return None
    before, cutoff = history_cutoff(runtime.state.policies, runtime.clock())
    through = await due_through(store, school, cutoff)
    if through == 0:
        return None
    event = HistoryTrimmed(at=runtime.clock(), actor=SYSTEM, before=before, through=through)
    marked = await _append(runtime, event)
    # The reports' counts of the trimmed days live on only in their snapshot.
    reports_at = await save_reports(store, school)
    state_at = await write_snapshot(runtime)
    head = await snapshots.head(school)
    if reports_at is None or reports_at < marked or head is None or head.version < marked:
        raise RetentionRefused(
            f"{school}: the snapshots (state at {state_at}, reports at {reports_at}) do not"
            f" cover version {marked}; nothing was removed"
        )
    removed = await store.trim(school, through)
    log.info("%s: removed %d events up to v%d (days before %s)", school, removed, through, before)
    return Trimmed(school=school, before=before, through=through, removed=removed)


# --- for the timed-job runners ---------------------------------------------------------


async def keep_history(runtimes: Iterable[SchoolRuntime], *, retention: bool) -> None:
    """Write each school's snapshot when due, and when `retention`, trim its
    history when due. A school that fails is logged; the others go on."""
    for runtime in runtimes:
        if retention:
            try:
                await keep_retention(runtime)
            except Exception:
                log.exception("%s: retention failed; it is tried again later", runtime.school)
        try:
            await keep_snapshot(runtime)
        except Exception:
            log.exception("%s: cannot write its snapshot; tried again later", runtime.school)


# --- steps -----------------------------------------------------------------------------


async def _event_time(store: EventStore, school: str, version: int) -> tuple[int, datetime] | None:
    """The version and time of the first kept event at or after `version`."""
    events = store.read(school, version - 1)
    try:
        async for stored in events:
            return stored.version, stored.event.at
    finally:
        await _close(events)
    return None


async def _append(runtime: SchoolRuntime, event: HistoryTrimmed) -> int:
    """Append `event` at the runtime's version (the same conditional append
    as commands) and wait until the runtime has folded it; its version."""
    for _ in range(MAX_ATTEMPTS):
        expected = runtime.state.version
        try:
            version = await runtime.store.append(runtime.school, [event], expected)
        except VersionConflict as conflict:
            await runtime.catch_up(conflict.actual)
            continue
        await runtime.catch_up(version)
        return version
    raise RetentionRefused(f"{runtime.school}: the stream kept moving; nothing was removed")


async def _close(events: AsyncIterator[StoredEvent]) -> None:
    """End a store's read left early (both stores' reads are async generators)."""
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
