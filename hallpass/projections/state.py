"""A school's current state, folded from its events.

`evolve(state, event)` folds one event in place and returns the same state
(docs/architecture.md, "The fold"). Besides the records the API shows, the state
keeps the indexes that the rules and the views read on every command: the live
pass of each student, who is out per room and in the whole hallway, the line,
the passes that count toward a student's limits per school day. Each index is
updated by the one event that changes it, so no rule or view has to scan the
school's history.

The fold is lenient: an event about an unknown pass or request, or one that
does not apply to the record's state, is ignored, so a stream written by an
older or newer version of the rules never stops a replay.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from hallpass.events.store import StoredEvent
from hallpass.events.types import (
    DayEnded,
    Event,
    HallSwept,
    PassApproved,
    PassArrived,
    PassCancelled,
    PassCreated,
    PassDenied,
    PassEnded,
    PassesPaused,
    PassesResumed,
    PassExpired,
    PassExtended,
    PassOvertime,
    PassQueued,
    PassStarted,
    Policies,
    PoliciesSet,
    RequestAccepted,
    RequestCancelled,
    RequestDeclined,
    RequestExpired,
    RequestSent,
    RoomAdded,
    RoomChanged,
)
from hallpass.projections.clock import local_day
from hallpass.projections.records import PassRecord, PassState, RequestRecord, RoomRecord

# Passes a student asked for themselves (on their device or at a kiosk) count
# toward the daily and weekly limits; staff passes and accepted requests don't.
COUNTED_KINDS: frozenset[str] = frozenset({"student", "kiosk"})


class SchoolState(msgspec.Struct, kw_only=True):
    """Everything the rules and the views know about one school.

    Mutable and owned by one fold. Two states folded from the same events
    compare equal (`==`), whatever order of calls produced them.
    """

    version: int = 0
    rooms: dict[str, RoomRecord] = {}
    policies: Policies = msgspec.field(default_factory=Policies)
    paused: bool = False
    passes: dict[str, PassRecord] = {}  # in creation order
    requests: dict[str, RequestRecord] = {}  # in the order they were sent

    # Pass ids by state; the dicts are ordered sets (values are None).
    scheduled: dict[str, None] = {}
    pending: dict[str, None] = {}
    line: dict[str, None] = {}  # waiting passes, first come first served
    active: dict[str, None] = {}  # in the order they started

    live: dict[str, str] = {}  # student -> their pending, waiting or active pass
    out_to: dict[str, int] = {}  # destination room -> active passes to it
    out_from: dict[str, int] = {}  # origin room -> active passes from it
    in_hallway: int = 0  # active passes in the whole school

    passes_by_student: dict[str, list[str]] = {}  # pass ids, oldest first
    requests_by_student: dict[str, list[str]] = {}  # request ids, oldest first
    open_requests: dict[str, None] = {}
    # student -> school day -> passes that count toward the limits (created by
    # the student, not denied, cancelled or expired), by the day they start.
    counted: dict[str, dict[date, int]] = {}
    last_end: dict[str, datetime] = {}  # student -> when their last pass ended
    last_day_ended: date | None = None

    # Derived from the policies when they are set.
    exempt: frozenset[str] = frozenset()
    apart: dict[str, frozenset[str]] = {}  # student -> everyone kept apart from them


def initial_state() -> SchoolState:
    """The state of a school with no events: no rooms, default policies."""
    return SchoolState()


def evolve(state: SchoolState, event: Event) -> SchoolState:
    """Fold one event into `state` in place and return it. Never raises for
    an event of the contract, whatever the state."""
    _HANDLERS[type(event)](state, event)
    return state


def fold(state: SchoolState, stored: StoredEvent) -> SchoolState:
    """Fold a stored event and advance `state.version` to its version."""
    _HANDLERS[type(stored.event)](state, stored.event)
    state.version = stored.version
    return state


def replay(events: list[Event] | list[StoredEvent]) -> SchoolState:
    """A fresh state with `events` (bare or stored) folded in, in order."""
    state = initial_state()
    for each in events:
        if isinstance(each, StoredEvent):
            fold(state, each)
        else:
            evolve(state, each)
    return state


def pass_day(state: SchoolState, record: PassRecord) -> date:
    """The school day a pass belongs to: the local day it starts (or was made)."""
    return local_day(record.start_at or record.created_at, state.policies.timezone)


def due_at(record: PassRecord) -> datetime | None:
    """When an active pass's time runs out (extensions included)."""
    if record.started_at is None:
        return None
    return record.started_at + timedelta(minutes=record.minutes)


# --- rooms and school controls -------------------------------------------------


def _room_added(s: SchoolState, e: RoomAdded | RoomChanged) -> None:
    s.rooms[e.room] = RoomRecord(
        id=e.room,
        name=e.name,
        locked=e.locked,
        capacity=e.capacity,
        minutes=e.minutes,
        enabled=e.enabled,
    )


def _policies_set(s: SchoolState, e: PoliciesSet) -> None:
    moved = e.policies.timezone != s.policies.timezone
    s.policies = e.policies
    s.exempt = frozenset(e.policies.exempt)
    apart: dict[str, set[str]] = {}
    for group in e.policies.keep_apart:
        for student in group:
            apart.setdefault(student, set()).update(x for x in group if x != student)
    s.apart = {student: frozenset(others) for student, others in apart.items() if others}
    if moved:
        _recount(s)


def _recount(s: SchoolState) -> None:
    """Rebuild the limit counts: school days moved with the timezone."""
    s.counted = {}
    for record in s.passes.values():
        if record.kind in COUNTED_KINDS and record.state not in _UNCOUNTED:
            _count(s, record.student, pass_day(s, record), 1)


def _paused(s: SchoolState, e: PassesPaused) -> None:
    s.paused = True


def _resumed(s: SchoolState, e: PassesResumed) -> None:
    s.paused = False


def _swept(s: SchoolState, e: HallSwept) -> None:
    """A marker: the passes the sweep closed have their own events."""


def _day_ended(s: SchoolState, e: DayEnded) -> None:
    if s.last_day_ended is None or e.day > s.last_day_ended:
        s.last_day_ended = e.day


# --- passes --------------------------------------------------------------------

_UNCOUNTED: frozenset[str] = frozenset({"denied", "cancelled", "expired"})


def _count(s: SchoolState, student: str, day: date, delta: int) -> None:
    days = s.counted.get(student)
    if days is None:
        s.counted[student] = {day: delta}
    else:
        days[day] = days.get(day, 0) + delta


def _pass_created(s: SchoolState, e: PassCreated) -> None:
    pid = e.pass_id
    passes = s.passes
    if pid in passes:
        return
    student = e.student
    # Until its PassStarted or PassQueued (same append) a pass that needs no
    # approval is kept as scheduled: a stream cut short still starts it on tick.
    needs_approval = e.needs_approval
    passes[pid] = PassRecord(
        id=pid,
        student=student,
        origin=e.origin,
        destination=e.destination,
        minutes=e.minutes,
        state="pending" if needs_approval else "scheduled",
        created_at=e.at,
        created_by=e.actor,
        start_at=e.start_at,
        note=e.note,
        kind=e.kind,
        request=e.request,
    )
    if needs_approval:
        s.pending[pid] = None
        s.live[student] = pid
    else:
        s.scheduled[pid] = None
    mine = s.passes_by_student.get(student)
    if mine is None:
        s.passes_by_student[student] = [pid]
    else:
        mine.append(pid)
    if e.kind in COUNTED_KINDS:
        day = local_day(e.start_at or e.at, s.policies.timezone)
        days = s.counted.get(student)
        if days is None:
            s.counted[student] = {day: 1}
        else:
            days[day] = days.get(day, 0) + 1


def _leave_waiting_state(s: SchoolState, record: PassRecord) -> bool:
    """Take a not-yet-started pass out of its state's index; False if it had started."""
    state = record.state
    if state == "scheduled":
        s.scheduled.pop(record.id, None)
    elif state == "waiting":
        s.line.pop(record.id, None)
    elif state == "pending":
        s.pending.pop(record.id, None)
    else:
        return False
    return True


def _pass_approved(s: SchoolState, e: PassApproved) -> None:
    record = s.passes.get(e.pass_id)
    if record is None or record.state != "pending":
        return
    # Scheduled until its start time, or until the PassStarted or PassQueued
    # that follows in the same append.
    s.pending.pop(record.id, None)
    record.state = "scheduled"
    s.scheduled[record.id] = None
    if s.live.get(record.student) == record.id:
        del s.live[record.student]


def _pass_queued(s: SchoolState, e: PassQueued) -> None:
    record = s.passes.get(e.pass_id)
    if record is None or record.state == "waiting" or not _leave_waiting_state(s, record):
        return
    record.state = "waiting"
    s.line[record.id] = None
    s.live[record.student] = record.id


def _pass_started(s: SchoolState, e: PassStarted) -> None:
    pid = e.pass_id
    record = s.passes.get(pid)
    if record is None:
        return
    state = record.state
    if state == "waiting":
        del s.line[pid]
    elif state == "scheduled":
        del s.scheduled[pid]
    elif state == "pending":
        del s.pending[pid]
    else:
        return
    record.state = "active"
    record.started_at = e.at
    s.active[pid] = None
    s.live[record.student] = pid
    out_to = s.out_to
    out_to[record.destination] = out_to.get(record.destination, 0) + 1
    out_from = s.out_from
    out_from[record.origin] = out_from.get(record.origin, 0) + 1
    s.in_hallway += 1


def _pass_ended(s: SchoolState, e: PassEnded) -> None:
    pid = e.pass_id
    record = s.passes.get(pid)
    if record is None or record.state != "active":
        return
    at = e.at
    record.state = "ended"
    record.ended_at = at
    record.ended_by = e.actor
    del s.active[pid]
    s.out_to[record.destination] -= 1
    s.out_from[record.origin] -= 1
    s.in_hallway -= 1
    student = record.student
    if s.live.get(student) == pid:
        del s.live[student]
    s.last_end[student] = at


def _close(s: SchoolState, e: PassDenied | PassCancelled | PassExpired, to: PassState) -> None:
    """A pass that never started is over: denied, cancelled or expired."""
    record = s.passes.get(e.pass_id)
    if record is None or not _leave_waiting_state(s, record):
        return
    record.state = to
    record.ended_at = e.at
    record.ended_by = e.actor
    if s.live.get(record.student) == record.id:
        del s.live[record.student]
    if record.kind in COUNTED_KINDS:
        _count(s, record.student, pass_day(s, record), -1)


def _pass_denied(s: SchoolState, e: PassDenied) -> None:
    _close(s, e, "denied")


def _pass_cancelled(s: SchoolState, e: PassCancelled) -> None:
    _close(s, e, "cancelled")


def _pass_expired(s: SchoolState, e: PassExpired) -> None:
    _close(s, e, "expired")


def _pass_arrived(s: SchoolState, e: PassArrived) -> None:
    record = s.passes.get(e.pass_id)
    if record is not None and record.state == "active" and record.arrived_at is None:
        record.arrived_at = e.at


def _pass_extended(s: SchoolState, e: PassExtended) -> None:
    record = s.passes.get(e.pass_id)
    if record is None or record.state != "active":
        return
    record.minutes += e.minutes
    started = record.started_at
    if (
        record.overtime
        and started is not None
        and started + timedelta(minutes=record.minutes) > e.at
    ):
        record.overtime = False


def _pass_overtime(s: SchoolState, e: PassOvertime) -> None:
    record = s.passes.get(e.pass_id)
    if record is not None and record.state == "active":
        record.overtime = True


# --- requests ------------------------------------------------------------------


def _request_sent(s: SchoolState, e: RequestSent) -> None:
    rid = e.request_id
    if rid in s.requests:
        return
    s.requests[rid] = RequestRecord(
        id=rid,
        student=e.student,
        teacher=e.actor,
        destination=e.destination,
        minutes=e.minutes,
        state="open",
        sent_at=e.at,
        start_at=e.start_at,
        note=e.note,
    )
    s.open_requests[rid] = None
    mine = s.requests_by_student.get(e.student)
    if mine is None:
        s.requests_by_student[e.student] = [rid]
    else:
        mine.append(rid)


def _open_request(s: SchoolState, request_id: str) -> RequestRecord | None:
    record = s.requests.get(request_id)
    if record is None or record.state != "open":
        return None
    del s.open_requests[request_id]
    return record


def _request_accepted(s: SchoolState, e: RequestAccepted) -> None:
    record = _open_request(s, e.request_id)
    if record is not None:
        record.state = "accepted"
        record.pass_id = e.pass_id


def _request_declined(s: SchoolState, e: RequestDeclined) -> None:
    record = _open_request(s, e.request_id)
    if record is not None:
        record.state = "declined"


def _request_cancelled(s: SchoolState, e: RequestCancelled) -> None:
    record = _open_request(s, e.request_id)
    if record is not None:
        record.state = "cancelled"


def _request_expired(s: SchoolState, e: RequestExpired) -> None:
    record = _open_request(s, e.request_id)
    if record is not None:
        record.state = "expired"


_HANDLERS: dict[type[Event], Callable[[SchoolState, Any], None]] = {
    RoomAdded: _room_added,
    RoomChanged: _room_added,
    PoliciesSet: _policies_set,
    PassesPaused: _paused,
    PassesResumed: _resumed,
    HallSwept: _swept,
    DayEnded: _day_ended,
    PassCreated: _pass_created,
    PassApproved: _pass_approved,
    PassDenied: _pass_denied,
    PassQueued: _pass_queued,
    PassStarted: _pass_started,
    PassArrived: _pass_arrived,
    PassExtended: _pass_extended,
    PassOvertime: _pass_overtime,
    PassEnded: _pass_ended,
    PassCancelled: _pass_cancelled,
    PassExpired: _pass_expired,
    RequestSent: _request_sent,
    RequestAccepted: _request_accepted,
    RequestDeclined: _request_declined,
    RequestCancelled: _request_cancelled,
    RequestExpired: _request_expired,
}
