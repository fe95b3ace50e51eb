"""Every business rule for what people ask: decide(state, command, now).

`decide` reads the state and returns the events that record the answer, or a
Rejection with API.md's stable code, a sentence for a person and the HTTP
status. It never changes the state, reads no clock and does no I/O, so the
same state, command and `now` always give the same answer.

Events carry `at=now` and the acting user's id; a pass that starts because
someone else's action freed a place (it leaves the line) carries "system".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from msgspec import UNSET

from hallpass.events.types import (
    SYSTEM,
    CancelReason,
    EndReason,
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
    PassExtended,
    PassKind,
    Policies,
    PoliciesSet,
    RequestAccepted,
    RequestCancelled,
    RequestDeclined,
    RequestSent,
    RoomAdded,
    RoomChanged,
)
from hallpass.projections.clock import WEEKDAYS, is_timezone, local, local_day, parse_hhmm
from hallpass.projections.counts import daily_count, last_ended_at, weekly_count
from hallpass.projections.records import PassRecord, RequestRecord, RoomRecord
from hallpass.projections.state import SchoolState, live_pass
from hallpass.rules.capacity import Hall
from hallpass.rules.commands import (
    STAFF,
    AcceptRequest,
    Actor,
    AddRoom,
    AnyCommand,
    ApprovePass,
    ArrivePass,
    CancelPass,
    CancelRequest,
    ChangeRoom,
    CreatePass,
    DeclineRequest,
    DenyPass,
    EndPass,
    ExtendPass,
    Rejection,
    ResumePasses,
    SendRequest,
    SetPolicies,
    SweepHall,
)
from hallpass.rules.timing import MAX_MINUTES, MAX_NOTE, future_start, is_past

Decision = list[Event] | Rejection

FORBIDDEN = Rejection("forbidden", "You are not allowed to do that.", 403)
NO_SUCH_PASS = Rejection("not_found", "There is no such pass.", 404)
NO_SUCH_REQUEST = Rejection("not_found", "There is no such request.", 404)
PAUSED = Rejection("passes_paused", "Passes are paused for the whole school right now.")
UNAVAILABLE = Rejection(
    "unavailable", "This pass is not available right now. Please try again in a few minutes."
)

_PASS_STATE_SENTENCES = {
    "scheduled": "This pass has not started yet.",
    "pending": "This pass is still waiting for a teacher's approval.",
    "waiting": "This pass is still waiting in line.",
    "active": "This pass has already started.",
    "ended": "This pass has already ended.",
    "denied": "This pass was denied.",
    "cancelled": "This pass was cancelled.",
    "expired": "This pass has expired.",
}
_REQUEST_STATE_SENTENCES = {
    "accepted": "This request was already accepted.",
    "declined": "This request was declined.",
    "cancelled": "This request was cancelled.",
    "expired": "This request has expired.",
}
_NOT_STARTED = frozenset({"scheduled", "pending", "waiting"})


def decide(state: SchoolState, command: AnyCommand, now: datetime) -> Decision:
    """The events that carry out `command` at `now`, or why it is refused.

    Never changes `state`. An empty list means there is nothing to change."""
    return _DECIDERS[type(command)](state, command, now)


# --- shared checks -------------------------------------------------------------


def _invalid(message: str) -> Rejection:
    return Rejection("invalid", message, 422)


def _invalid_state(message: str) -> Rejection:
    return Rejection("invalid_state", message, 409)


def _open_room(state: SchoolState, room_id: str, what: str) -> RoomRecord | Rejection:
    room = state.rooms.get(room_id)
    if room is None:
        return Rejection("unknown_room", f"There is no such room for the {what}.", 422)
    if not room.enabled:
        return Rejection("unknown_room", f"{room.name} is closed to passes right now.", 422)
    return room


def _new_pass_destination(
    state: SchoolState, pass_id: str, origin: str, destination: str
) -> RoomRecord | Rejection:
    """A new pass's destination, once its id is free and both of its rooms
    are open (the starting room checked first)."""
    if pass_id in state.passes:
        return _invalid("That pass id is already taken.")
    leaving = _open_room(state, origin, "starting room")
    if isinstance(leaving, Rejection):
        return leaving
    return _open_room(state, destination, "destination")


def _check_minutes(minutes: int) -> Rejection | None:
    if not 1 <= minutes <= MAX_MINUTES:
        return _invalid(f"Minutes must be between 1 and {MAX_MINUTES}.")
    return None


def _check_start(start_at: datetime | None, now: datetime) -> Rejection | None:
    if start_at is None:
        return None
    if start_at.tzinfo is None or start_at.utcoffset() is None:
        return _invalid("Give the start time with its time zone offset.")
    if is_past(start_at, now):
        return _invalid("The start time is in the past.")
    return None


def _check_note(note: str) -> Rejection | None:
    if len(note) > MAX_NOTE:
        return _invalid(f"Keep the note under {MAX_NOTE} characters.")
    return None


def _visible_pass(state: SchoolState, actor: Actor, pass_id: str) -> PassRecord | Rejection:
    """The pass if the actor may see it; not_found otherwise, so that a
    student never learns about another student's pass."""
    record = state.passes.get(pass_id)
    if record is None:
        return NO_SUCH_PASS
    if actor.role == "student" and record.student != actor.id:
        return NO_SUCH_PASS
    if actor.role == "kiosk" and actor.room not in (record.origin, record.destination):
        return NO_SUCH_PASS
    return record


def kept_apart(state: SchoolState, student: str) -> bool:
    """Whether someone kept apart from `student` has an active pass now."""
    others = state.apart.get(student)
    return others is not None and any(r.student in others for r in state.active.values())


def _blackout(state: SchoolState, start: datetime) -> Rejection | None:
    policies = state.policies
    if not policies.blackouts:
        return None
    wall = local(start, policies.timezone)
    weekday = WEEKDAYS[wall.weekday()]
    minute = wall.hour * 60 + wall.minute
    for window in policies.blackouts:
        begin, end = parse_hhmm(window.from_), parse_hhmm(window.to)
        if begin is None or end is None or weekday not in window.days:
            continue
        if begin <= minute < end:
            return Rejection(
                "blackout", f"Passes are not allowed from {window.from_} to {window.to}."
            )
    return None


def _cooldown(state: SchoolState, student: str, start: datetime) -> Rejection | None:
    minutes = state.policies.cooldown_minutes
    last = last_ended_at(state, student)
    if minutes <= 0 or last is None:
        return None
    wait = last.timestamp() + minutes * 60 - start.timestamp()
    if wait <= 0:
        return None
    left = int(-(-wait // 60))
    unit = "minute" if left == 1 else "minutes"
    return Rejection("cooldown", f"Please wait {left} more {unit} before your next pass.")


def _pass_limit(state: SchoolState, student: str, start: datetime) -> Rejection | None:
    policies = state.policies
    if policies.daily_limit is None and policies.weekly_limit is None:
        return None
    day = local_day(start, policies.timezone)
    daily = policies.daily_limit
    if daily is not None and daily_count(state, student, day) >= daily:
        unit = "pass" if daily == 1 else "passes"
        return Rejection("pass_limit", f"You have used your {daily} {unit} for the day.")
    weekly = policies.weekly_limit
    if weekly is not None and weekly_count(state, student, day) >= weekly:
        unit = "pass" if weekly == 1 else "passes"
        return Rejection("pass_limit", f"You have used your {weekly} {unit} for the week.")
    return None


# --- passes --------------------------------------------------------------------


def _create_pass(state: SchoolState, c: CreatePass, now: datetime) -> Decision:
    actor = c.actor
    role = actor.role
    # 1. unknown_room / invalid
    if role == "student" and (c.named_student or c.student != actor.id):
        return _invalid("A student can ask for a pass only for themselves.")
    if not c.student:
        return _invalid("Say which student the pass is for.")
    destination = _new_pass_destination(state, c.pass_id, c.origin, c.destination)
    if isinstance(destination, Rejection):
        return destination
    if c.origin == c.destination:
        return _invalid("The destination must be another room than the one you leave.")
    minutes = destination.minutes if c.minutes is None else c.minutes
    problem = _check_minutes(minutes) or _check_start(c.start_at, now) or _check_note(c.note)
    if problem is not None:
        return problem
    # 2. passes_paused
    if state.paused:
        return PAUSED
    # 3. already_out
    student = c.student
    if live_pass(state, student) is not None:
        if role == "student":
            return Rejection("already_out", "You already have a pass. End it before asking again.")
        return Rejection("already_out", "This student already has a pass out or waiting.")
    start_at = future_start(c.start_at, now)
    if start_at is not None:
        start_at = start_at.astimezone(UTC)
    start = start_at or now
    # 4-6. the student's own asking (their device or a kiosk) meets the limits
    asked = role in ("student", "kiosk")
    if asked:
        refused = _blackout(state, start)
        if refused is None and student not in state.exempt:
            refused = _cooldown(state, student, start) or _pass_limit(state, student, start)
        if refused is not None:
            return refused
    # 7. unavailable
    if kept_apart(state, student):
        return UNAVAILABLE
    # 8. create
    kind: PassKind = "student" if role == "student" else "kiosk" if role == "kiosk" else "staff"
    needs_approval = destination.locked and role == "student"
    created = PassCreated(
        at=now,
        actor=actor.id,
        pass_id=c.pass_id,
        student=student,
        origin=c.origin,
        destination=c.destination,
        minutes=minutes,
        kind=kind,
        start_at=start_at,
        needs_approval=needs_approval,
        note=c.note,
    )
    if needs_approval or start_at is not None:
        return [created]
    return [created, Hall(state).begin(c.pass_id, c.origin, c.destination, now, actor.id)]


def _end_pass(state: SchoolState, c: EndPass, now: datetime) -> Decision:
    record = _visible_pass(state, c.actor, c.pass_id)
    if isinstance(record, Rejection):
        return record
    if record.state != "active":
        if record.state in _NOT_STARTED:
            return _invalid_state("This pass has not started yet; cancel it instead.")
        return _invalid_state(_PASS_STATE_SENTENCES[record.state])
    reason: EndReason = "staff" if c.actor.role in STAFF else "returned"
    hall = Hall(state)
    hall.leave(record.origin, record.destination)
    ended = PassEnded(at=now, actor=c.actor.id, pass_id=record.id, reason=reason)
    return [ended, *hall.drain(now)]


def _approve_pass(state: SchoolState, c: ApprovePass, now: datetime) -> Decision:
    actor = c.actor
    if actor.role in STAFF:
        approver = actor
    elif actor.role == "student" and c.approver is not None and c.approver.role in STAFF:
        approver = c.approver
    else:
        return FORBIDDEN
    record = _visible_pass(state, actor, c.pass_id)
    if isinstance(record, Rejection):
        return record
    if record.state != "pending":
        return _invalid_state(_PASS_STATE_SENTENCES[record.state])
    if state.paused:
        return PAUSED
    approved = PassApproved(
        at=now, actor=approver.id, pass_id=record.id, by_pin=approver is not actor
    )
    if future_start(record.start_at, now) is not None:
        return [approved]  # scheduled: tick starts it at its time
    started = Hall(state).begin(record.id, record.origin, record.destination, now, approver.id)
    return [approved, started]


def _deny_pass(state: SchoolState, c: DenyPass, now: datetime) -> Decision:
    if c.actor.role not in STAFF:
        return FORBIDDEN
    record = _visible_pass(state, c.actor, c.pass_id)
    if isinstance(record, Rejection):
        return record
    if record.state != "pending":
        return _invalid_state(_PASS_STATE_SENTENCES[record.state])
    return [PassDenied(at=now, actor=c.actor.id, pass_id=record.id)]


def _cancel_pass(state: SchoolState, c: CancelPass, now: datetime) -> Decision:
    role = c.actor.role
    if role not in STAFF and role != "student":
        return FORBIDDEN
    record = _visible_pass(state, c.actor, c.pass_id)
    if isinstance(record, Rejection):
        return record
    if record.state not in _NOT_STARTED:
        if record.state == "active":
            return _invalid_state("This pass has already started; end it instead.")
        return _invalid_state(_PASS_STATE_SENTENCES[record.state])
    reason: CancelReason = "student" if role == "student" else "staff"
    # A pass that never started holds no place, so nobody in line can move up.
    return [PassCancelled(at=now, actor=c.actor.id, pass_id=record.id, reason=reason)]


def _extend_pass(state: SchoolState, c: ExtendPass, now: datetime) -> Decision:
    if c.actor.role not in STAFF:
        return FORBIDDEN
    problem = _check_minutes(c.minutes)
    if problem is not None:
        return problem
    record = _visible_pass(state, c.actor, c.pass_id)
    if isinstance(record, Rejection):
        return record
    if record.state != "active":
        return _invalid_state(_PASS_STATE_SENTENCES[record.state])
    return [PassExtended(at=now, actor=c.actor.id, pass_id=record.id, minutes=c.minutes)]


def _arrive_pass(state: SchoolState, c: ArrivePass, now: datetime) -> Decision:
    actor = c.actor
    if actor.role not in STAFF and actor.role != "kiosk":
        return FORBIDDEN
    record = _visible_pass(state, actor, c.pass_id)
    if isinstance(record, Rejection):
        return record
    if actor.role == "kiosk" and actor.room != record.destination:
        return FORBIDDEN  # a kiosk records arrivals at its own room only
    if record.state != "active":
        return _invalid_state(_PASS_STATE_SENTENCES[record.state])
    if record.arrived_at is not None:
        return _invalid_state("This student's arrival is already recorded.")
    return [PassArrived(at=now, actor=actor.id, pass_id=record.id)]


# --- requests ------------------------------------------------------------------


def _visible_request(
    state: SchoolState, actor: Actor, request_id: str
) -> RequestRecord | Rejection:
    record = state.requests.get(request_id)
    if record is None or (actor.role == "student" and record.student != actor.id):
        return NO_SUCH_REQUEST
    return record


def _send_request(state: SchoolState, c: SendRequest, now: datetime) -> Decision:
    if c.actor.role not in STAFF:
        return FORBIDDEN
    if not c.student:
        return _invalid("Say which student the request is for.")
    if c.request_id in state.requests:
        return _invalid("That request id is already taken.")
    destination = _open_room(state, c.destination, "destination")
    if isinstance(destination, Rejection):
        return destination
    minutes = destination.minutes if c.minutes is None else c.minutes
    problem = _check_minutes(minutes) or _check_start(c.start_at, now) or _check_note(c.note)
    if problem is not None:
        return problem
    start_at = future_start(c.start_at, now)
    return [
        RequestSent(
            at=now,
            actor=c.actor.id,
            request_id=c.request_id,
            student=c.student,
            destination=c.destination,
            minutes=minutes,
            start_at=None if start_at is None else start_at.astimezone(UTC),
            note=c.note,
        )
    ]


def _accept_request(state: SchoolState, c: AcceptRequest, now: datetime) -> Decision:
    actor = c.actor
    if actor.role != "student":
        return FORBIDDEN
    record = _visible_request(state, actor, c.request_id)
    if isinstance(record, Rejection):
        return record
    if record.state != "open":
        return _invalid_state(_REQUEST_STATE_SENTENCES[record.state])
    destination = _new_pass_destination(state, c.pass_id, c.origin, record.destination)
    if isinstance(destination, Rejection):
        return destination
    if c.origin == record.destination:
        return _invalid("You are already in the room this request asks you to go to.")
    if state.paused:
        return PAUSED
    if live_pass(state, actor.id) is not None:
        return Rejection("already_out", "You already have a pass. End it before accepting.")
    # A teacher asked: no approval step, no limits, no cooldown.
    start_at = future_start(record.start_at, now)
    events: list[Event] = [
        RequestAccepted(at=now, actor=actor.id, request_id=record.id, pass_id=c.pass_id),
        PassCreated(
            at=now,
            actor=actor.id,
            pass_id=c.pass_id,
            student=actor.id,
            origin=c.origin,
            destination=record.destination,
            minutes=record.minutes,
            kind="request",
            start_at=start_at,
            note=record.note,
            request=record.id,
        ),
    ]
    if start_at is None:
        events.append(Hall(state).begin(c.pass_id, c.origin, record.destination, now, actor.id))
    return events


def _decline_request(state: SchoolState, c: DeclineRequest, now: datetime) -> Decision:
    if c.actor.role != "student":
        return FORBIDDEN
    record = _visible_request(state, c.actor, c.request_id)
    if isinstance(record, Rejection):
        return record
    if record.state != "open":
        return _invalid_state(_REQUEST_STATE_SENTENCES[record.state])
    problem = _check_note(c.reason)
    if problem is not None:
        return problem
    return [RequestDeclined(at=now, actor=c.actor.id, request_id=record.id, reason=c.reason)]


def _cancel_request(state: SchoolState, c: CancelRequest, now: datetime) -> Decision:
    if c.actor.role not in STAFF:
        return FORBIDDEN
    record = _visible_request(state, c.actor, c.request_id)
    if isinstance(record, Rejection):
        return record
    if c.actor.role != "admin" and record.teacher != c.actor.id:
        return FORBIDDEN  # a teacher withdraws only their own requests
    if record.state != "open":
        return _invalid_state(_REQUEST_STATE_SENTENCES[record.state])
    return [RequestCancelled(at=now, actor=c.actor.id, request_id=record.id)]


# --- school controls -----------------------------------------------------------


def _check_room(
    state: SchoolState, room_id: str, name: str, capacity: int | None, minutes: int
) -> Rejection | None:
    if not room_id:
        return _invalid("A room needs an id.")
    if not name.strip() or len(name) > 100:
        return _invalid("A room needs a name of 1 to 100 characters.")
    wanted = name.strip().casefold()
    if any(r.id != room_id and r.name.strip().casefold() == wanted for r in state.rooms.values()):
        return _invalid(f"There is already a room named {name.strip()}.")
    if capacity is not None and capacity < 1:
        return _invalid("A room's capacity must be at least 1, or none for no limit.")
    return _check_minutes(minutes)


def _add_room(state: SchoolState, c: AddRoom, now: datetime) -> Decision:
    if c.actor.role != "admin":
        return FORBIDDEN
    if c.room_id in state.rooms:
        return _invalid("That room id is already taken.")
    problem = _check_room(state, c.room_id, c.name, c.capacity, c.minutes)
    if problem is not None:
        return problem
    return [
        RoomAdded(
            at=now,
            actor=c.actor.id,
            room=c.room_id,
            name=c.name.strip(),
            locked=c.locked,
            capacity=c.capacity,
            minutes=c.minutes,
            enabled=c.enabled,
        )
    ]


def _change_room(state: SchoolState, c: ChangeRoom, now: datetime) -> Decision:
    if c.actor.role != "admin":
        return FORBIDDEN
    if c.room_id not in state.rooms:
        return Rejection("not_found", "There is no such room.", 404)
    problem = _check_room(state, c.room_id, c.name, c.capacity, c.minutes)
    if problem is not None:
        return problem
    changed = RoomChanged(
        at=now,
        actor=c.actor.id,
        room=c.room_id,
        name=c.name.strip(),
        locked=c.locked,
        capacity=c.capacity,
        minutes=c.minutes,
        enabled=c.enabled,
    )
    room = RoomRecord(
        id=c.room_id,
        name=changed.name,
        locked=c.locked,
        capacity=c.capacity,
        minutes=c.minutes,
        enabled=c.enabled,
    )
    # A larger capacity or a reopened room lets the line move up.
    return [changed, *Hall(state, room=room).drain(now)]


_LIMIT_LABELS = {
    "daily_limit": "The daily limit",
    "weekly_limit": "The weekly limit",
    "hallway_cap": "The hallway cap",
    "classroom_cap": "The classroom cap",
}


def policies_problem(policies: Policies) -> str | None:
    """Why `policies` cannot be set (a sentence), or None when they can."""
    for name, label in _LIMIT_LABELS.items():
        value = getattr(policies, name)
        if value is not None and value < 1:
            return f"{label} must be at least 1, or empty for no limit."
    if not 0 <= policies.cooldown_minutes <= 240:
        return "The cooldown must be between 0 and 240 minutes."
    if not 1 <= policies.overtime_end_minutes <= 240:
        return "Overtime passes must end between 1 and 240 minutes after their time."
    if not is_timezone(policies.timezone):
        return f"The time zone {policies.timezone!r} is unknown; use one like America/Chicago."
    if parse_hhmm(policies.day_ends_at) is None:
        return "The end of the day must be a time like 16:00."
    days = policies.retention_days
    if days is not UNSET and not 30 <= days <= 3650:
        return "Pass history must be kept between 30 and 3,650 days."
    month = policies.school_year_starts
    if month is not UNSET and not 1 <= month <= 12:
        return "The school year must start in a month from 1 to 12."
    for window in policies.blackouts:
        begin, end = parse_hhmm(window.from_), parse_hhmm(window.to)
        if begin is None or end is None:
            return "A no-pass time needs times like 08:00."
        if begin >= end:
            return f"A no-pass time must end after it begins ({window.from_} to {window.to})."
        if not window.days:
            return "A no-pass time needs at least one day."
    return None


def _set_policies(state: SchoolState, c: SetPolicies, now: datetime) -> Decision:
    if c.actor.role != "admin":
        return FORBIDDEN
    problem = policies_problem(c.policies)
    if problem is not None:
        return _invalid(problem)
    changed = PoliciesSet(at=now, actor=c.actor.id, policies=c.policies)
    # Raised or removed caps let the line move up.
    return [changed, *Hall(state, policies=c.policies).drain(now)]


def _sweep_hall(state: SchoolState, c: SweepHall, now: datetime) -> Decision:
    if c.actor.role != "admin":
        return FORBIDDEN
    who = c.actor.id
    events: list[Event] = [HallSwept(at=now, actor=who, pause=c.pause)]
    if c.pause and not state.paused:
        events.append(PassesPaused(at=now, actor=who))
    events.extend(PassEnded(at=now, actor=who, pass_id=p, reason="sweep") for p in state.active)
    for waiting in (state.line, state.pending):
        events.extend(PassCancelled(at=now, actor=who, pass_id=p, reason="sweep") for p in waiting)
    return events


def _resume_passes(state: SchoolState, c: ResumePasses, now: datetime) -> Decision:
    if c.actor.role != "admin":
        return FORBIDDEN
    if not state.paused:
        return []  # resuming twice changes nothing
    resumed = PassesResumed(at=now, actor=c.actor.id)
    return [resumed, *Hall(state, paused=False).drain(now)]


_DECIDERS: dict[type[Any], Callable[[SchoolState, Any, datetime], Decision]] = {
    CreatePass: _create_pass,
    EndPass: _end_pass,
    ApprovePass: _approve_pass,
    DenyPass: _deny_pass,
    CancelPass: _cancel_pass,
    ExtendPass: _extend_pass,
    ArrivePass: _arrive_pass,
    SendRequest: _send_request,
    AcceptRequest: _accept_request,
    DeclineRequest: _decline_request,
    CancelRequest: _cancel_request,
    AddRoom: _add_room,
    ChangeRoom: _change_room,
    SetPolicies: _set_policies,
    SweepHall: _sweep_hall,
    ResumePasses: _resume_passes,
}

__all__ = ["SYSTEM", "Decision", "decide", "kept_apart", "policies_problem"]
