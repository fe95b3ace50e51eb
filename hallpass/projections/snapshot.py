"""A school's state as a snapshot's bytes, and back (pure).

A snapshot is msgpack (msgspec), in an envelope that says what it holds: its
kind ("state", or another projection's), FORMAT, the fingerprint of the
schema of the code that wrote it, and the version of the last event folded
into it. A reader whose code has another schema or FORMAT does not trust the
body (UnreadableSnapshot): the caller folds the stream again instead and
writes a fresh snapshot, unless retention has trimmed the stream, when it may
read the body anyway with `any_release` (msgspec's schema evolution: fields
added since take their defaults, fields dropped since are ignored).

Bump FORMAT when the fold's meaning changes while its types stay the same (a
fixed handler): the schema fingerprint cannot see that.

The live indexes of SchoolState (scheduled, pending, line, active) hold the
very records of `passes`, so encoding them would write those records twice
and decode two copies that no longer change together. They are written as the
ids in their order instead, and `rebuild_indexes` points them at the records
of `passes` again. The per-student indexes are lists of ids and are written as
they are: decoding them costs less than deriving them again.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from hallpass.projections.records import PassRecord
from hallpass.projections.state import SchoolState

FORMAT = 1
STATE_KIND = "state"

# The SchoolState fields that share `passes`'s records, written as ids.
SHARED_INDEXES = ("scheduled", "pending", "line", "active")


class UnreadableSnapshot(Exception):
    """The snapshot was written by code of another schema or format, or its
    bytes do not decode: fold the stream instead."""


class IndexOrder(msgspec.Struct, array_like=True):
    """The ids of the live indexes, each in its order (the line's is first
    come, first served)."""

    scheduled: list[str]
    pending: list[str]
    line: list[str]
    active: list[str]


class StateBody(msgspec.Struct, array_like=True):
    state: SchoolState  # with the SHARED_INDEXES left empty
    order: IndexOrder


class _Sealed(msgspec.Struct, array_like=True):
    """The envelope as written: the body is encoded in the same pass."""

    kind: str
    format: int
    fingerprint: str
    version: int
    body: Any


class Envelope(msgspec.Struct, array_like=True):
    """The envelope as read: the body stays undecoded until it is trusted."""

    kind: str
    format: int
    fingerprint: str
    version: int
    body: msgspec.Raw


def schema_fingerprint(kind: type[Any]) -> str:
    """A digest of the JSON schema of `kind`, which changes with any field,
    type or default of it or of any struct it holds."""
    schema = msgspec.json.encode(msgspec.json.schema(kind), order="deterministic")
    return hashlib.sha256(schema).hexdigest()[:16]


STATE_FINGERPRINT = schema_fingerprint(StateBody)

_encoder = msgspec.msgpack.Encoder()
_envelope_decoder = msgspec.msgpack.Decoder(Envelope)
_state_decoder = msgspec.msgpack.Decoder(StateBody)


def seal(kind: str, version: int, body: Any, fingerprint: str) -> bytes:
    """Any msgspec-encodable `body` in an envelope."""
    return _encoder.encode(_Sealed(kind, FORMAT, fingerprint, version, body))


def unseal(data: bytes, kind: str, fingerprint: str, *, any_release: bool = False) -> Envelope:
    """The envelope of `data`, checked to hold `kind` from code like this
    (unless `any_release`); raises UnreadableSnapshot."""
    try:
        envelope = _envelope_decoder.decode(data)
    except msgspec.DecodeError as error:
        raise UnreadableSnapshot(f"not a snapshot: {error}") from None
    if envelope.kind != kind:
        raise UnreadableSnapshot(f"a snapshot of {envelope.kind!r}, not of {kind!r}")
    if not any_release and (envelope.format, envelope.fingerprint) != (FORMAT, fingerprint):
        raise UnreadableSnapshot(
            f"written by other code (format {envelope.format}, schema {envelope.fingerprint};"
            f" this code: format {FORMAT}, schema {fingerprint})"
        )
    return envelope


def encode_state(state: SchoolState) -> bytes:
    """The snapshot of `state` at its version. Reads the state in one go
    (no await), so the bytes are of one version even while events arrive."""
    order = IndexOrder(
        scheduled=list(state.scheduled),
        pending=list(state.pending),
        line=list(state.line),
        active=list(state.active),
    )
    # A shallow copy with the shared indexes emptied; the records are not copied.
    primary = msgspec.structs.replace(state, scheduled={}, pending={}, line={}, active={})
    return seal(STATE_KIND, state.version, StateBody(primary, order), STATE_FINGERPRINT)


def decode_state(data: bytes, *, any_release: bool = False) -> SchoolState:
    """The state a snapshot holds, its live indexes rebuilt; raises
    UnreadableSnapshot for a snapshot of other code (unless `any_release`,
    then only when it does not decode)."""
    envelope = unseal(data, STATE_KIND, STATE_FINGERPRINT, any_release=any_release)
    try:
        body = _state_decoder.decode(envelope.body)
    except msgspec.DecodeError as error:
        raise UnreadableSnapshot(f"the state does not decode: {error}") from None
    state = rebuild_indexes(body.state, body.order)
    state.version = envelope.version
    return state


def rebuild_indexes(state: SchoolState, order: IndexOrder) -> SchoolState:
    """Point the live indexes at the records of `state.passes`, in `order`
    (in place; returns the state). An id without a record is skipped."""
    passes = state.passes
    for field in SHARED_INDEXES:
        index: dict[str, PassRecord] = {}
        for pid in getattr(order, field):
            record = passes.get(pid)
            if record is not None:
                index[pid] = record
        setattr(state, field, index)
    return state
