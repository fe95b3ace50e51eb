"""The report projection: a school's pass history folded into counts by school day.

A report over a period sums the days of the period instead of scanning passes,
so a year costs a few hundred days, not a few hundred thousand passes. Each
school day (a local date in the school's time zone) holds a `Route` per origin
and destination room (how many passes started, by hour too; how long the
ended ones were out; how many went overtime; how long passes waited in line)
and the same per destination over all origins (`totals`), which is what the
whole school's reports sum. None of that names anyone.

Only the per-student counts know students, by their random id: `students`
(each student's days with passes, as running totals, so any period is two
look-ups per student) and each day's `by_room` (a room's students that day).
Retention drops those of the days it trims (HistoryTrimmed); a deleted
student's go at once (StudentErased); the anonymous counts stay.

A pass counts on the day and hour it started; its time out, overtime and wait
in line count on that same day. A pass that left the line without starting
(cancelled, denied, expired) counts as `gave_up` on the day it left.

The state is plain msgspec Structs (`encode`/`decode` below), so a snapshot can
keep it when retention trims the events it was folded from. `fold` is lenient
like the school's own fold: an event about an unknown pass is ignored.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from hallpass.events.store import StoredEvent
from hallpass.events.types import (
    Event,
    HistoryTrimmed,
    PassCancelled,
    PassCreated,
    PassDenied,
    PassEnded,
    PassExpired,
    PassExtended,
    PassOvertime,
    PassQueued,
    PassStarted,
    PoliciesSet,
    RoomAdded,
    RoomChanged,
    StudentErased,
)
from hallpass.projections.clock import zone

_SECOND = timedelta(seconds=1)


class Tally(msgspec.Struct, array_like=True, gc=False):
    """A student's passes started and whole seconds out (of the ended ones)."""

    passes: int = 0
    seconds: int = 0


class Route(msgspec.Struct, array_like=True):
    """Passes from one room to another (or to one room) on one school day."""

    passes: int = 0  # started
    hours: dict[int, int] = {}  # local hour -> passes started in it
    ended: int = 0
    seconds: int = 0  # whole seconds out, summed over the ended passes
    longest: int = 0  # the longest of them, in whole seconds
    overtime: int = 0  # ended passes that were overtime at the end
    waited: int = 0  # started after waiting in line
    wait_seconds: int = 0
    wait_longest: int = 0
    gave_up: int = 0  # left the line without starting


class Day(msgspec.Struct):
    routes: dict[str, dict[str, Route]] = {}  # origin -> destination -> Route
    totals: dict[str, Route] = {}  # destination -> Route, all origins together
    # Named by student id: room (origin or destination) -> student -> Tally.
    by_room: dict[str, dict[str, Tally]] = {}


class StudentDays(msgspec.Struct, array_like=True):
    """One student's school days with passes, oldest first, and running
    totals up to and including each: a period is the difference of two."""

    days: list[date] = []
    passes: list[int] = []
    seconds: list[int] = []


class InFlight(msgspec.Struct, array_like=True):
    """A pass not over yet: what its later events need to be counted."""

    student: str
    origin: str
    destination: str
    minutes: int
    queued_at: datetime | None = None
    started_at: datetime | None = None
    day: date | None = None  # the school day it started
    overtime: bool = False


class Aggregates(msgspec.Struct, kw_only=True):
    version: int = 0  # the last event folded in
    timezone: str = "America/Chicago"
    rooms: dict[str, str] = {}  # room id -> its current name
    days: dict[date, Day] = {}
    students: dict[str, StudentDays] = {}  # named: see the module's doc
    inflight: dict[str, InFlight] = {}
    # Per-student counts of days before this one were dropped (retention).
    students_from: date | None = None


def fold(aggregates: Aggregates, stored: StoredEvent) -> Aggregates:
    """Fold a stored event in place (any version above the last one: events
    that retention trimmed before a snapshot are simply not there)."""
    handler = _HANDLERS.get(type(stored.event))
    if handler is not None:
        handler(aggregates, stored.event)
    aggregates.version = stored.version
    return aggregates


def fold_event(aggregates: Aggregates, event: Event) -> Aggregates:
    """Fold a bare event in place (tests, benchmarks); the version is left alone."""
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(aggregates, event)
    return aggregates


def student_totals(found: StudentDays, first: date, last: date) -> tuple[int, int]:
    """The student's passes and seconds out on the days from `first` to `last`."""
    days = found.days
    hi = bisect_right(days, last)
    lo = bisect_left(days, first, 0, hi)
    if hi <= lo:
        return 0, 0
    if lo == 0:
        return found.passes[hi - 1], found.seconds[hi - 1]
    return (
        found.passes[hi - 1] - found.passes[lo - 1],
        found.seconds[hi - 1] - found.seconds[lo - 1],
    )


def forget_students_before(aggregates: Aggregates, day: date) -> int:
    """Drop the per-student counts of the days before `day` (retention); the
    anonymous counts of those days stay. Returns how many student-days went."""
    dropped = 0
    for each, found in aggregates.days.items():
        if each < day and found.by_room:
            found.by_room = {}
    for student, days in list(aggregates.students.items()):
        cut = bisect_left(days.days, day)
        if cut == 0:
            continue
        dropped += cut
        if cut == len(days.days):
            del aggregates.students[student]
            continue
        passes, seconds = days.passes[cut - 1], days.seconds[cut - 1]
        days.days = days.days[cut:]
        days.passes = [p - passes for p in days.passes[cut:]]
        days.seconds = [s - seconds for s in days.seconds[cut:]]
    if aggregates.students_from is None or day > aggregates.students_from:
        aggregates.students_from = day
    return dropped


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Aggregates)


def encode(aggregates: Aggregates) -> bytes:
    """The aggregates as bytes, for a snapshot."""
    return _encoder.encode(aggregates)


def decode(data: bytes) -> Aggregates:
    return _decoder.decode(data)


# --- the fold --------------------------------------------------------------------


def _whole_seconds(since: datetime, until: datetime) -> int:
    return max(0, (until - since) // _SECOND)


# timezone -> (UTC start, UTC end, local date, local hour) of the hour last
# looked up: passes start in bursts, so most cost two comparisons instead of
# a time zone conversion. Kept here, not in the aggregates, like clock.py's.
_last_hour: dict[str, tuple[datetime, datetime, date, int]] = {}
_HOUR = timedelta(hours=1)
_TICK = timedelta(microseconds=1)


def _local_hour(at: datetime, tz: str) -> tuple[date, int]:
    """The school day and the wall-clock hour at which the instant `at` falls."""
    window = _last_hour.get(tz)
    if window is not None and window[0] <= at < window[1]:
        return window[2], window[3]
    where = zone(tz)
    wall = at.astimezone(where)
    day, hour = wall.date(), wall.hour
    start = at - timedelta(minutes=wall.minute, seconds=wall.second, microseconds=wall.microsecond)
    end = start + _HOUR
    last = (end - _TICK).astimezone(where)
    if last.hour == hour and last.date() == day:  # not an hour cut short by a clock change
        _last_hour[tz] = (start, end, day, hour)
    return day, hour


def _day(a: Aggregates, day: date) -> Day:
    found = a.days.get(day)
    if found is None:
        found = a.days[day] = Day()
    return found


def _routes(found: Day, origin: str, destination: str) -> tuple[Route, Route]:
    """The day's route from `origin` to `destination`, and its destination's total."""
    routes = found.routes.get(origin)
    if routes is None:
        routes = found.routes[origin] = {}
    route = routes.get(destination)
    if route is None:
        route = routes[destination] = Route()
    total = found.totals.get(destination)
    if total is None:
        total = found.totals[destination] = Route()
    return route, total


def _tally(found: Day, room: str, student: str) -> Tally:
    tallies = found.by_room.get(room)
    if tallies is None:
        tallies = found.by_room[room] = {}
    tally = tallies.get(student)
    if tally is None:
        tally = tallies[student] = Tally()
    return tally


def _add_student(a: Aggregates, student: str, day: date, passes: int, seconds: int) -> None:
    found = a.students.get(student)
    if found is None:
        a.students[student] = StudentDays([day], [passes], [seconds])
        return
    days = found.days
    if days[-1] == day:  # nearly always: today's pass
        found.passes[-1] += passes
        found.seconds[-1] += seconds
        return
    if days[-1] < day:
        days.append(day)
        found.passes.append(found.passes[-1] + passes)
        found.seconds.append(found.seconds[-1] + seconds)
        return
    # An earlier day: a pass that ended days after it started, or a clock
    # that lagged. Every running total from that day on grows.
    i = bisect_left(days, day)
    if days[i] != day:
        days.insert(i, day)
        found.passes.insert(i, found.passes[i - 1] if i else 0)
        found.seconds.insert(i, found.seconds[i - 1] if i else 0)
    for j in range(i, len(days)):
        found.passes[j] += passes
        found.seconds[j] += seconds


def _room(a: Aggregates, e: RoomAdded | RoomChanged) -> None:
    a.rooms[e.room] = e.name


def _policies(a: Aggregates, e: PoliciesSet) -> None:
    a.timezone = e.policies.timezone


def _created(a: Aggregates, e: PassCreated) -> None:
    if e.pass_id not in a.inflight:
        a.inflight[e.pass_id] = InFlight(e.student, e.origin, e.destination, e.minutes)


def _queued(a: Aggregates, e: PassQueued) -> None:
    f = a.inflight.get(e.pass_id)
    if f is not None and f.started_at is None and f.queued_at is None:
        f.queued_at = e.at


def _started(a: Aggregates, e: PassStarted) -> None:
    # On the replay's hot path: one pass in three of the school's events.
    f = a.inflight.get(e.pass_id)
    if f is None or f.started_at is not None:
        return
    at = e.at
    day, hour = _local_hour(at, a.timezone)
    found = a.days.get(day)
    if found is None:
        found = a.days[day] = Day()
    f.started_at = at
    f.day = day
    queued_at = f.queued_at
    waited = _whole_seconds(queued_at, at) if queued_at is not None else -1
    f.queued_at = None
    for route in _routes(found, f.origin, f.destination):
        route.passes += 1
        hours = route.hours
        hours[hour] = hours.get(hour, 0) + 1
        if waited >= 0:
            route.waited += 1
            route.wait_seconds += waited
            if waited > route.wait_longest:
                route.wait_longest = waited
    student = f.student
    _tally(found, f.origin, student).passes += 1
    _tally(found, f.destination, student).passes += 1
    _add_student(a, student, day, 1, 0)


def _overtime(a: Aggregates, e: PassOvertime) -> None:
    f = a.inflight.get(e.pass_id)
    if f is not None and f.started_at is not None:
        f.overtime = True


def _extended(a: Aggregates, e: PassExtended) -> None:
    # As the school's fold does: more time clears overtime if it is enough.
    f = a.inflight.get(e.pass_id)
    if f is None or f.started_at is None:
        return
    f.minutes += e.minutes
    if f.overtime and f.started_at + timedelta(minutes=f.minutes) > e.at:
        f.overtime = False


def _ended(a: Aggregates, e: PassEnded) -> None:
    f = a.inflight.get(e.pass_id)
    if f is None or f.started_at is None or f.day is None:
        return
    del a.inflight[e.pass_id]
    out = _whole_seconds(f.started_at, e.at)
    found = a.days[f.day]
    for route in _routes(found, f.origin, f.destination):
        route.ended += 1
        route.seconds += out
        if out > route.longest:
            route.longest = out
        if f.overtime:
            route.overtime += 1
    student = f.student
    if student not in a.students or (a.students_from is not None and f.day < a.students_from):
        return  # erased, or its day is past retention
    for room in (f.origin, f.destination):
        tally = found.by_room.get(room, {}).get(student)
        if tally is not None:
            tally.seconds += out
    _add_student(a, student, f.day, 0, out)


def _closed(a: Aggregates, e: PassDenied | PassCancelled | PassExpired) -> None:
    """A pass that never started is over; if it was in line, it gave up."""
    f = a.inflight.get(e.pass_id)
    if f is None or f.started_at is not None:
        return
    del a.inflight[e.pass_id]
    if f.queued_at is not None:
        found = _day(a, _local_hour(e.at, a.timezone)[0])
        for route in _routes(found, f.origin, f.destination):
            route.gave_up += 1


def _erased(a: Aggregates, e: StudentErased) -> None:
    student = e.student
    a.students.pop(student, None)
    for found in a.days.values():
        for tallies in found.by_room.values():
            tallies.pop(student, None)


def _trimmed(a: Aggregates, e: HistoryTrimmed) -> None:
    """Retention forgets old history: the days' counts stay, without names."""
    forget_students_before(a, e.before)


_HANDLERS: dict[type[Event], Callable[[Aggregates, Any], None]] = {
    RoomAdded: _room,
    RoomChanged: _room,
    PoliciesSet: _policies,
    PassCreated: _created,
    PassQueued: _queued,
    PassStarted: _started,
    PassOvertime: _overtime,
    PassExtended: _extended,
    PassEnded: _ended,
    PassDenied: _closed,
    PassCancelled: _closed,
    PassExpired: _closed,
    StudentErased: _erased,
    HistoryTrimmed: _trimmed,
}
