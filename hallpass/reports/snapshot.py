"""The report aggregates as a snapshot, kept beside the school's stream.

Retention trims old events from the store; the counts they made live on only
in this snapshot (named "reports" in hallpass.events.snapshots), so it must be
saved, at a version at least as far as the trim, before the trim
(`save_current`). A process then starts its aggregates from it
(`load_snapshot`, the `base` of hallpass.reports.live.REPORTS).

The envelope is hallpass.projections.snapshot's: a snapshot written by code
with another schema is not trusted while the whole stream can still be folded
again; once the stream was trimmed it is read anyway (msgspec's schema
evolution), since nothing else holds those days' counts.
"""

from __future__ import annotations

import logging

import msgspec

from hallpass.events.snapshots import REPORTS as NAME
from hallpass.events.snapshots import snapshots_of
from hallpass.events.store import EventStore
from hallpass.projections.snapshot import (
    UnreadableSnapshot,
    schema_fingerprint,
    seal,
    unseal,
)
from hallpass.reports.aggregates import Aggregates, fold

log = logging.getLogger(__name__)

KIND = "reports"
FINGERPRINT = schema_fingerprint(Aggregates)

_decoder = msgspec.msgpack.Decoder(Aggregates)


def encode_snapshot(aggregates: Aggregates) -> bytes:
    return seal(KIND, aggregates.version, aggregates, FINGERPRINT)


def decode_snapshot(data: bytes, *, any_release: bool = False) -> Aggregates:
    """Raises UnreadableSnapshot for another schema's (unless `any_release`)
    or for bytes that do not decode."""
    envelope = unseal(data, KIND, FINGERPRINT, any_release=any_release)
    try:
        aggregates = _decoder.decode(envelope.body)
    except msgspec.DecodeError as error:
        raise UnreadableSnapshot(f"the report aggregates do not decode: {error}") from None
    aggregates.version = envelope.version
    return aggregates


async def _trimmed(store: EventStore, school: str) -> bool:
    """Whether the stream's first events are gone (its first is not version 1)."""
    events = store.read(school)
    try:
        async for stored in events:
            return stored.version != 1
    finally:
        close = getattr(events, "aclose", None)  # both stores' reads are async generators
        if close is not None:
            await close()
    return await store.version(school) > 0


async def load_snapshot(store: EventStore, school: str) -> Aggregates | None:
    """The school's kept aggregates, or None to fold the stream from its start."""
    snapshots = snapshots_of(store)
    if snapshots is None:
        return None
    kept = await snapshots.load(school, name=NAME)
    if kept is None:
        return None
    version, data = kept
    if version > await store.version(school):
        log.warning("%s: ignoring a reports snapshot past the stream's end", school)
        return None
    try:
        return decode_snapshot(data)
    except UnreadableSnapshot as why:
        if not await _trimmed(store, school):
            log.info("%s: folding the stream for reports instead: %s", school, why)
            return None
    try:
        return decode_snapshot(data, any_release=True)
    except UnreadableSnapshot:
        log.exception("%s: the reports snapshot cannot be read; trimmed days are lost", school)
        return None


async def current(store: EventStore, school: str) -> Aggregates:
    """The aggregates as of the stream's end: the snapshot and the events after it."""
    aggregates = await load_snapshot(store, school) or Aggregates()
    async for stored in store.read(school, aggregates.version):
        fold(aggregates, stored)
    return aggregates


async def save_current(store: EventStore, school: str) -> int | None:
    """Bring the school's reports snapshot up to the stream's end (before a
    trim); the version it is at, or None for a store that keeps no snapshots."""
    snapshots = snapshots_of(store)
    if snapshots is None:
        return None
    aggregates = await current(store, school)
    await snapshots.save(school, aggregates.version, encode_snapshot(aggregates), name=NAME)
    return aggregates.version
