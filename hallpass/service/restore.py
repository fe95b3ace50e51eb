"""Restoring a school's state when a process loads it.

From the school's snapshot and the events after it, when there is a snapshot
this code can read; else by folding the whole stream, and then writing a
fresh snapshot so that the next process need not (encoded at once, so it is
of the state just loaded, and written in the background, so that the process
serves meanwhile). A stream whose early events
retention trimmed cannot be folded from its start: then a snapshot written by
another release is read anyway (msgspec's schema evolution), and without one
the load fails with MissingHistory rather than show a school with part of
its history.

Loading is the one time a process folds a whole school year at once. The
events come a page at a time and fold in a tight loop, while the store
already fetches the next page (SQLite's thread and the Redis server work as
this one folds), with the cyclic garbage collector paused (it would otherwise scan the growing state again
and again), and a big state is then frozen out of its sight for good
(gc.freeze): it lives as long as the process, and its records hold no cycles.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar, runtime_checkable

from hallpass.events.snapshots import MissingHistory, SnapshotStore, snapshots_of
from hallpass.events.store import EventStore
from hallpass.events.types import decode
from hallpass.projections.snapshot import UnreadableSnapshot, decode_state, encode_state
from hallpass.projections.state import SchoolState, evolve, initial_state

log = logging.getLogger(__name__)

T = TypeVar("T")

# A load that had to fold at least this many events from the stream's start
# writes a snapshot, so that the next process starts from it.
SNAPSHOT_AFTER_EVENTS = 20_000
# A state with at least this many passes is frozen out of the collector's sight.
FREEZE_AFTER_PASSES = 20_000


@runtime_checkable
class PageReader(Protocol):
    """Both stores hand out events as stored, a page at a time."""

    def read_raw_pages(
        self, school: str, after: int = 0
    ) -> AsyncIterator[list[tuple[int, bytes]]]: ...


async def restore(store: EventStore, school: str) -> SchoolState:
    """The school's state, current with its stream as the call began (or
    later). Raises MissingHistory when it cannot be rebuilt, StoreUnavailable
    when the store cannot be read."""
    snapshots = snapshots_of(store)
    with collector_paused():
        state, kept = await _from_snapshot(store, school, snapshots)
        if state is not None:
            await fold_stream(store, school, state)
        else:
            state = initial_state()
            try:
                folded = await fold_stream(store, school, state)
            except MissingHistory:
                if kept is None:
                    raise
                log.warning("%s: reading a snapshot of another release (history trimmed)", school)
                state = _any_release(kept, school)
                kept = None  # its bytes are not needed any more
                await fold_stream(store, school, state)
            else:
                if snapshots is not None and folded >= SNAPSHOT_AFTER_EVENTS:
                    _save_soon(snapshots, school, state)
    if len(state.passes) >= FREEZE_AFTER_PASSES:
        gc.freeze()
    return state


async def fold_stream(store: EventStore, school: str, state: SchoolState) -> int:
    """Fold every event after `state.version` into `state`, in place; the
    number folded. Raises MissingHistory when the stream skips a version
    (its start trimmed by retention) and leaves `state.version` at the last
    event folded."""
    expected = state.version + 1
    try:
        if isinstance(store, PageReader):
            async for rows in read_ahead(store.read_raw_pages(school, state.version)):
                for version, data in rows:
                    if version != expected:
                        raise _gap(school, expected, version)
                    evolve(state, decode(data))
                    expected += 1
        else:
            async for stored in store.read(school, state.version):
                if stored.version != expected:
                    raise _gap(school, expected, stored.version)
                evolve(state, stored.event)
                expected += 1
    finally:
        folded = expected - 1 - state.version
        state.version = expected - 1
    return folded


async def read_ahead(pages: AsyncIterator[T]) -> AsyncIterator[T]:
    """`pages`, with the next one asked for before the caller gets this one."""
    upcoming: asyncio.Future[T | None] = asyncio.ensure_future(anext(pages, None))
    try:
        while True:
            page = await upcoming
            if page is None:
                return
            upcoming = asyncio.ensure_future(anext(pages, None))
            await asyncio.sleep(0)  # let the request go out before the caller folds
            yield page
    finally:
        if not upcoming.done():
            upcoming.cancel()
            with contextlib.suppress(BaseException):
                await upcoming
        closing = getattr(pages, "aclose", None)
        if closing is not None:
            await closing()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (loads running at once share one pause)."""
    global _pauses, _was_enabled
    if _pauses == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _pauses += 1
    try:
        yield
    finally:
        _pauses -= 1
        if _pauses == 0 and _was_enabled:
            gc.enable()


_pauses = 0
_was_enabled = True


async def _from_snapshot(
    store: EventStore, school: str, snapshots: SnapshotStore | None
) -> tuple[SchoolState | None, bytes | None]:
    """The state of the school's snapshot when this code can read it, else
    None and the snapshot's bytes (if any) for a stream that turns out trimmed."""
    if snapshots is None:
        return None, None
    saved = await snapshots.load(school)
    if saved is None:
        return None, None
    version, data = saved
    if version > await store.version(school):
        # Not of this stream (a store restored from an older backup, say).
        log.warning("%s: ignoring a snapshot at v%d, past the stream's end", school, version)
        return None, None
    try:
        return decode_state(data), None
    except UnreadableSnapshot as why:
        log.info("%s: folding the stream instead of the snapshot: %s", school, why)
        return None, data


def _any_release(data: bytes, school: str) -> SchoolState:
    try:
        return decode_state(data, any_release=True)
    except UnreadableSnapshot as why:
        raise MissingHistory(
            f"{school}: the start of its stream was trimmed and its snapshot cannot be read"
            f" ({why}); restore the store from a backup"
        ) from None


def _gap(school: str, expected: int, found: int) -> MissingHistory:
    return MissingHistory(
        f"{school}: its stream goes from version {expected - 1} to {found}; the events"
        " between were trimmed and no snapshot this release can read covers them"
    )


async def saves_done() -> None:
    """Return once the snapshots that loads started writing are written."""
    while _saving:
        await asyncio.gather(*_saving, return_exceptions=True)


_saving: set[asyncio.Task[None]] = set()


def _save_soon(snapshots: SnapshotStore, school: str, state: SchoolState) -> None:
    task = asyncio.create_task(
        _save(snapshots, school, state.version, encode_state(state)),
        name=f"snapshot {school}",
    )
    _saving.add(task)
    task.add_done_callback(_saving.discard)


async def _save(snapshots: SnapshotStore, school: str, version: int, data: bytes) -> None:
    try:
        await snapshots.save(school, version, data)
    except Exception as error:  # a missing snapshot costs time, never correctness
        log.warning("%s: the snapshot after loading was not written: %r", school, error)
