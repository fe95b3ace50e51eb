"""A school's current state, folded from its events.

`evolve(state, event)` folds one event in place and returns the same state
(docs/architecture.md, "The fold"). Besides the records the API shows, the state
keeps the indexes that the rules and the views read: the passes not over yet,
by state (the line in its order), and each student's passes and requests. Each
index is changed by the events that change it, so no rule or view has to scan
the school's history.

The fold is a replay's hot path, so it keeps no more than that: counts that a
decision needs (students out per room, passes toward a limit, a student's last
return) are computed when asked, from these indexes (counts.py, capacity.py).
And every event about a pass finds its record in the small index of its
state, not in the year-long `passes`, whose lookups miss the processor's
caches.

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
    HistoryTrimmed,
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
    StudentErased,
)
from hallpass.projections.clock import local_day
from hallpass.projections.forget import forget_before
from hallpass.projections.records import PassRecord, PassState, RequestRecord, RoomRecord


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

    # The passes not over yet, by state: pass id -> the same record as in
    # `passes`. `scheduled` also holds, within one append only, a new pass
    # without a start time until its PassStarted or PassQueued.
    scheduled: dict[str, PassRecord] = {}  # waiting for their start time
    pending: dict[str, PassRecord] = {}  # waiting for approval
    line: dict[str, PassRecord] = {}  # waiting for a place, first come first served
    active: dict[str, PassRecord] = {}  # in the order they started

    passes_by_student: dict[str, list[str]] = {}  # pass ids, oldest first
    # student -> their passes made with a start time, oldest first: the few
    # that a scan of recent passes by creation time could miss (counts.py).
    ahead: dict[str, list[str]] = {}
    requests_by_student: dict[str, list[str]] = {}  # request ids, oldest first
    open_requests: dict[str, None] = {}
    last_day_ended: date | None = None

    # Derived from the policies when they are set.
    exempt: frozenset[str] = frozenset()
    apart: dict[str, frozenset[str]] = {}  # student -> everyone kept apart from them

    @property
    def live(self) -> dict[str, str]:
        """Student -> their pending, waiting or active pass (at most one each).
        Made on each call from the live indexes: a few hundred passes at most."""
        return {
            record.student: pid
            for group in (self.pending, self.line, self.active)
            for pid, record in group.items()
        }


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


def live_pass(state: SchoolState, student: str) -> PassRecord | None:
    """The student's pending, waiting or active pass, if they have one."""
    for group in (state.active, state.line, state.pending):
        for record in group.values():
            if record.student == student:
                return record
    return None


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
    s.policies = e.policies
    s.exempt = frozenset(e.policies.exempt)
    apart: dict[str, set[str]] = {}
    for group in e.policies.keep_apart:
        for student in group:
            apart.setdefault(student, set()).update(x for x in group if x != student)
    s.apart = {student: frozenset(others) for student, others in apart.items() if others}


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


def _pass_created(s: SchoolState, e: PassCreated) -> None:
    pid = e.pass_id
    student = e.student
    needs_approval = e.needs_approval
    actor = e.actor
    record = PassRecord(
        id=pid,
        student=student,
        origin=e.origin,
        destination=e.destination,
        minutes=e.minutes,
        state="pending" if needs_approval else "scheduled",
        created_at=e.at,
        # Share an equal string already held rather than keep the decoder's
        # fresh copy: a replay holds a school year in memory.
        created_by=student if actor == student else actor,
        start_at=e.start_at,
        note=e.note,
        kind=e.kind,
        request=e.request,
    )
    if s.passes.setdefault(pid, record) is not record:
        return  # a pass id made twice: the first one stands
    mine = s.passes_by_student.get(student)
    if mine is None:
        s.passes_by_student[student] = [pid]
    else:
        mine.append(pid)
    if needs_approval:
        s.pending[pid] = record
    else:
        # Without a start time, scheduled only until the PassStarted or
        # PassQueued that follows in the same append.
        s.scheduled[pid] = record
    if e.start_at is not None:
        ahead = s.ahead.get(student)
        if ahead is None:
            s.ahead[student] = [pid]
        else:
            ahead.append(pid)


def _not_started(s: SchoolState, pid: str) -> PassRecord | None:
    """Take a scheduled, waiting or pending pass out of its state's index."""
    return s.scheduled.pop(pid, None) or s.line.pop(pid, None) or s.pending.pop(pid, None)


def _pass_approved(s: SchoolState, e: PassApproved) -> None:
    record = s.pending.pop(e.pass_id, None)
    if record is None:
        return
    # Scheduled until its start time, or until the PassStarted or PassQueued
    # that follows in the same append.
    record.state = "scheduled"
    s.scheduled[record.id] = record


def _pass_queued(s: SchoolState, e: PassQueued) -> None:
    pid = e.pass_id
    if pid in s.line:
        return
    record = _not_started(s, pid)
    if record is None:
        return
    record.state = "waiting"
    s.line[pid] = record


def _pass_started(s: SchoolState, e: PassStarted) -> None:
    pid = e.pass_id
    # Passes are looked up in the small indexes of passes not over yet, never
    # in the whole school's history: on a replay that lookup would miss the
    # processor's caches almost every time.
    record = s.scheduled.pop(pid, None) or s.line.pop(pid, None) or s.pending.pop(pid, None)
    if record is None:
        return
    record.state = "active"
    at = e.at  # shared when equal, as in _pass_created
    record.started_at = record.created_at if at == record.created_at else at
    s.active[pid] = record


def _pass_ended(s: SchoolState, e: PassEnded) -> None:
    record = s.active.pop(e.pass_id, None)
    if record is None:
        return
    record.state = "ended"
    record.ended_at = e.at
    actor = e.actor
    record.ended_by = record.student if actor == record.student else actor


def _close(s: SchoolState, e: PassDenied | PassCancelled | PassExpired, to: PassState) -> None:
    """A pass that never started is over: denied, cancelled or expired."""
    record = _not_started(s, e.pass_id)
    if record is None:
        return
    record.state = to
    record.ended_at = e.at
    record.ended_by = e.actor


def _pass_denied(s: SchoolState, e: PassDenied) -> None:
    _close(s, e, "denied")


def _pass_cancelled(s: SchoolState, e: PassCancelled) -> None:
    _close(s, e, "cancelled")


def _pass_expired(s: SchoolState, e: PassExpired) -> None:
    _close(s, e, "expired")


def _pass_arrived(s: SchoolState, e: PassArrived) -> None:
    record = s.active.get(e.pass_id)
    if record is not None and record.arrived_at is None:
        record.arrived_at = e.at


def _pass_extended(s: SchoolState, e: PassExtended) -> None:
    record = s.active.get(e.pass_id)
    if record is None:
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
    record = s.active.get(e.pass_id)
    if record is not None:
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


# --- people --------------------------------------------------------------------


def _student_erased(s: SchoolState, e: StudentErased) -> None:
    """Notes are free text that may name the student: once the student is
    deleted no view or export shows them (hallpass/deletion.py)."""
    for pid in s.passes_by_student.get(e.student, ()):
        record = s.passes.get(pid)
        if record is not None:
            record.note = ""
    for rid in s.requests_by_student.get(e.student, ()):
        request = s.requests.get(rid)
        if request is not None:
            request.note = ""


def _history_trimmed(s: SchoolState, e: HistoryTrimmed) -> None:
    """Retention: old history that is over is forgotten (projections/forget.py)."""
    forget_before(s, e.before)


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
    StudentErased: _student_erased,
    HistoryTrimmed: _history_trimmed,
}
