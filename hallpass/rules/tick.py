"""What the clock makes due: tick(state, now).

The worker calls `tick` every second or so. It ends the school day, flags and
ends overtime passes, expires passes and requests nobody acted on, moves the
line up after all that, and starts scheduled passes that came due. Like
`decide` it only reads the state, and it is idempotent: once its events are
folded, a tick at the same `now` returns nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hallpass.events.types import (
    SYSTEM,
    DayEnded,
    Event,
    PassEnded,
    PassExpired,
    PassOvertime,
    PassStarted,
    RequestExpired,
)
from hallpass.projections.clock import local, local_day, parse_hhmm
from hallpass.projections.state import SchoolState
from hallpass.rules.capacity import Hall
from hallpass.rules.timing import EXPIRES_AFTER


def tick(state: SchoolState, now: datetime) -> list[Event]:
    """The events due at `now` ([] when nothing is). Never changes `state`."""
    events: list[Event] = []
    hall = Hall(state)
    gone: set[str] = set()  # passes this tick ends or expires
    answered: set[str] = set()  # requests this tick expires
    if not _end_day(state, now, hall, events, gone, answered):
        _overtime(state, now, hall, events, gone)
        _expire_pending(state, now, events, gone)
    _expire_requests(state, now, events, answered)
    events.extend(hall.drain(now, gone))
    _start_scheduled(state, now, hall, events, gone)
    return events


def _end_day(
    state: SchoolState,
    now: datetime,
    hall: Hall,
    events: list[Event],
    gone: set[str],
    answered: set[str],
) -> bool:
    """Close today once the school's clock reaches day_ends_at (once a day).
    Only today: a school whose worker was down does not close days gone by."""
    policies = state.policies
    ends_at = parse_hhmm(policies.day_ends_at)
    if ends_at is None:
        return False
    wall = local(now, policies.timezone)
    today = wall.date()
    if wall.hour * 60 + wall.minute < ends_at:
        return False
    if state.last_day_ended is not None and state.last_day_ended >= today:
        return False
    events.append(DayEnded(at=now, actor=SYSTEM, day=today))
    for pid, record in state.active.items():
        hall.leave(record.origin, record.destination)
        events.append(PassEnded(at=now, actor=SYSTEM, pass_id=pid, reason="day_end"))
        gone.add(pid)
    for waiting in (state.line, state.pending):
        for pid in waiting:
            events.append(PassExpired(at=now, actor=SYSTEM, pass_id=pid, reason="day_end"))
            gone.add(pid)
    tz = policies.timezone
    for rid in state.open_requests:
        request = state.requests[rid]
        if local_day(request.start_at or request.sent_at, tz) <= today:
            events.append(RequestExpired(at=now, actor=SYSTEM, request_id=rid))
            answered.add(rid)
    return True


def _overtime(
    state: SchoolState, now: datetime, hall: Hall, events: list[Event], gone: set[str]
) -> None:
    """Flag passes whose time ran out; end those out too long after that."""
    grace = timedelta(minutes=state.policies.overtime_end_minutes)
    for pid, record in state.active.items():
        assert record.started_at is not None
        due = record.started_at + timedelta(minutes=record.minutes)
        if due > now:
            continue
        if not record.overtime:
            events.append(PassOvertime(at=now, actor=SYSTEM, pass_id=pid))
        if due + grace <= now:
            hall.leave(record.origin, record.destination)
            events.append(PassEnded(at=now, actor=SYSTEM, pass_id=pid, reason="overtime"))
            gone.add(pid)


def _expire_pending(state: SchoolState, now: datetime, events: list[Event], gone: set[str]) -> None:
    """A pass nobody approved within the window after it was due expires."""
    for pid, record in state.pending.items():
        due = record.created_at
        if record.start_at is not None and record.start_at > due:
            due = record.start_at
        if due + EXPIRES_AFTER <= now:
            events.append(PassExpired(at=now, actor=SYSTEM, pass_id=pid, reason="not_approved"))
            gone.add(pid)


def _expire_requests(
    state: SchoolState, now: datetime, events: list[Event], answered: set[str]
) -> None:
    """An open request nobody answered within the window after its start expires."""
    for rid in state.open_requests:
        if rid in answered:
            continue
        request = state.requests[rid]
        if (request.start_at or request.sent_at) + EXPIRES_AFTER <= now:
            events.append(RequestExpired(at=now, actor=SYSTEM, request_id=rid))


def _start_scheduled(
    state: SchoolState, now: datetime, hall: Hall, events: list[Event], gone: set[str]
) -> None:
    """Start (or queue) each scheduled pass whose time has come, in order of
    start time. One that cannot start (paused, the student is out with another
    pass, someone kept apart from them is out) waits, and expires later."""
    due = [r for r in state.scheduled.values() if (r.start_at or r.created_at) <= now]
    if not due:
        return
    due.sort(key=lambda r: r.start_at or r.created_at)  # stable: creation order on ties
    # Who is still live (pending, waiting, active) and who is out, after what
    # this tick has already ended; both grow as scheduled passes begin.
    live = {
        r.student
        for group in (state.active, state.line, state.pending)
        for pid, r in group.items()
        if pid not in gone
    }
    out = {r.student for pid, r in state.active.items() if pid not in gone}
    apart = state.apart
    for record in due:
        start = record.start_at or record.created_at
        if start + EXPIRES_AFTER <= now:
            events.append(PassExpired(at=now, actor=SYSTEM, pass_id=record.id))
            continue
        if state.paused or record.student in live:
            continue
        others = apart.get(record.student)
        if others is not None and not others.isdisjoint(out):
            continue
        began = hall.begin(record.id, record.origin, record.destination, now, SYSTEM)
        events.append(began)
        live.add(record.student)
        if isinstance(began, PassStarted):
            out.add(record.student)
