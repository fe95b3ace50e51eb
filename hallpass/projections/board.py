"""The teacher's board: who is out, who waits for approval, who is in line."""

from __future__ import annotations

from datetime import datetime, timedelta

from hallpass.projections.records import PassRecord
from hallpass.projections.state import SchoolState, due_at


def board(state: SchoolState, room: str | None = None) -> list[PassRecord]:
    """Every active, pending and waiting pass: the active ones in the order
    they started, then those awaiting approval, then the line in its order.
    With `room` (a kiosk's), only passes whose origin or destination it is."""
    records = [r for group in (state.active, state.pending, state.line) for r in group.values()]
    if room is None:
        return records
    return [r for r in records if room in (r.origin, r.destination)]


def time_out(record: PassRecord, now: datetime) -> timedelta | None:
    """How long the student has been out (until now, or until the pass ended)."""
    if record.started_at is None:
        return None
    return (record.ended_at or now) - record.started_at


def time_left(record: PassRecord, now: datetime) -> timedelta | None:
    """Time until an active pass runs out; negative once it is overtime."""
    due = due_at(record)
    if due is None or record.state != "active":
        return None
    return due - now


def is_overtime(record: PassRecord, now: datetime) -> bool:
    """Whether an active pass has run past its minutes at `now` (the tick sets
    `record.overtime` within a second of this turning true)."""
    due = due_at(record)
    return record.state == "active" and due is not None and due <= now
