"""Reports: pure functions of the aggregates and a period, summing its days.

`Period` names the school days (both included) and, optionally, a room: then
only passes from or to that room count. Each function returns a Struct that
the API shows as it is (the students report with names added at the edge)
and whose `rows` are what the CSV download holds, one line each.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import date
from typing import Literal

import msgspec

from hallpass.events.types import Weekday
from hallpass.reports.aggregates import Aggregates, Day, Route, student_totals

StudentsBy = Literal["passes", "minutes"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Period(msgspec.Struct, frozen=True):
    first: date
    last: date
    room: str | None = None


def _minutes(seconds: float) -> float:
    return round(seconds / 60, 1)


def _average(seconds: int, count: int) -> float | None:
    return _minutes(seconds / count) if count else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _days(a: Aggregates, period: Period) -> Iterator[tuple[date, Day]]:
    first, last = period.first, period.last
    for day, found in a.days.items():
        if first <= day <= last:
            yield day, found


def _routes(found: Day, room: str | None) -> Iterator[tuple[str, Route]]:
    """(destination, route) of the day: per destination over all origins, or
    when `room` is given, the routes from it and the total to it (a pass
    never goes from a room to itself, so nothing counts twice)."""
    if room is None:
        yield from found.totals.items()
        return
    own = found.routes.get(room)
    if own is not None:
        yield from own.items()
    to_room = found.totals.get(room)
    if to_room is not None:
        yield room, to_room


# --- passes per hour and per weekday ---------------------------------------------


class HourRow(msgspec.Struct):
    hour: int  # 0..23, school time: the hour passes started in
    passes: int


class HoursReport(msgspec.Struct):
    from_: date = msgspec.field(name="from")
    to: date
    room: str | None
    rows: list[HourRow]  # all 24 hours, 0 first


def hours(a: Aggregates, period: Period) -> HoursReport:
    counts = [0] * 24
    for _, found in _days(a, period):
        for _, route in _routes(found, period.room):
            for hour, passes in route.hours.items():
                counts[hour] += passes
    rows = [HourRow(hour, passes) for hour, passes in enumerate(counts)]
    return HoursReport(period.first, period.last, period.room, rows)


class WeekdayRow(msgspec.Struct):
    weekday: Weekday
    passes: int


class WeekdaysReport(msgspec.Struct):
    from_: date = msgspec.field(name="from")
    to: date
    room: str | None
    rows: list[WeekdayRow]  # Monday to Sunday


def weekdays(a: Aggregates, period: Period) -> WeekdaysReport:
    counts = [0] * 7
    for day, found in _days(a, period):
        counts[day.weekday()] += sum(route.passes for _, route in _routes(found, period.room))
    rows = [WeekdayRow(name, passes) for name, passes in zip(WEEKDAYS, counts, strict=True)]
    return WeekdaysReport(period.first, period.last, period.room, rows)


# --- destinations: how many, how long, overtime -----------------------------------


class DestinationTotals(msgspec.Struct):
    passes: int
    ended: int
    average_minutes: float | None
    longest_minutes: float | None
    overtime: int
    overtime_rate: float | None  # overtime / ended


class DestinationRow(msgspec.Struct):
    room: str
    name: str
    passes: int
    ended: int
    average_minutes: float | None
    longest_minutes: float | None
    overtime: int
    overtime_rate: float | None


class DestinationsReport(msgspec.Struct):
    from_: date = msgspec.field(name="from")
    to: date
    room: str | None
    rows: list[DestinationRow]  # most passes first
    total: DestinationTotals


def destinations(a: Aggregates, period: Period) -> DestinationsReport:
    # destination -> [passes, ended, seconds, longest, overtime]
    sums: dict[str, list[int]] = {}
    for _, found in _days(a, period):
        for destination, r in _routes(found, period.room):
            s = sums.get(destination)
            if s is None:
                s = sums[destination] = [0, 0, 0, 0, 0]
            s[0] += r.passes
            s[1] += r.ended
            s[2] += r.seconds
            if r.longest > s[3]:
                s[3] = r.longest
            s[4] += r.overtime
    rows = [
        DestinationRow(
            room=room,
            name=a.rooms.get(room, room),
            passes=s[0],
            ended=s[1],
            average_minutes=_average(s[2], s[1]),
            longest_minutes=_minutes(s[3]) if s[1] else None,
            overtime=s[4],
            overtime_rate=_rate(s[4], s[1]),
        )
        for room, s in sums.items()
        if s[0] or s[1]
    ]
    rows.sort(key=lambda row: (-row.passes, row.name, row.room))
    ended = sum(s[1] for s in sums.values())
    overtime = sum(s[4] for s in sums.values())
    total = DestinationTotals(
        passes=sum(s[0] for s in sums.values()),
        ended=ended,
        average_minutes=_average(sum(s[2] for s in sums.values()), ended),
        longest_minutes=_minutes(max((s[3] for s in sums.values()), default=0)) if ended else None,
        overtime=overtime,
        overtime_rate=_rate(overtime, ended),
    )
    return DestinationsReport(period.first, period.last, period.room, rows, total)


# --- waiting in line ------------------------------------------------------------


class WaitTotals(msgspec.Struct):
    waited: int
    average_wait_minutes: float | None
    longest_wait_minutes: float | None
    gave_up: int


class WaitRow(msgspec.Struct):
    room: str  # the destination the line was for
    name: str
    waited: int  # passes that started after waiting in line
    average_wait_minutes: float | None
    longest_wait_minutes: float | None
    gave_up: int  # passes that left the line without starting


class WaitsReport(msgspec.Struct):
    from_: date = msgspec.field(name="from")
    to: date
    room: str | None
    rows: list[WaitRow]  # most waits first
    total: WaitTotals


def waits(a: Aggregates, period: Period) -> WaitsReport:
    # destination -> [waited, seconds, longest, gave up]
    sums: dict[str, list[int]] = {}
    for _, found in _days(a, period):
        for destination, r in _routes(found, period.room):
            if not (r.waited or r.gave_up):
                continue
            s = sums.get(destination)
            if s is None:
                s = sums[destination] = [0, 0, 0, 0]
            s[0] += r.waited
            s[1] += r.wait_seconds
            if r.wait_longest > s[2]:
                s[2] = r.wait_longest
            s[3] += r.gave_up
    rows = [
        WaitRow(
            room=room,
            name=a.rooms.get(room, room),
            waited=s[0],
            average_wait_minutes=_average(s[1], s[0]),
            longest_wait_minutes=_minutes(s[2]) if s[0] else None,
            gave_up=s[3],
        )
        for room, s in sums.items()
    ]
    rows.sort(key=lambda row: (-row.waited, -row.gave_up, row.name, row.room))
    waited = sum(s[0] for s in sums.values())
    total = WaitTotals(
        waited=waited,
        average_wait_minutes=_average(sum(s[1] for s in sums.values()), waited),
        longest_wait_minutes=_minutes(max((s[2] for s in sums.values()), default=0))
        if waited
        else None,
        gave_up=sum(s[3] for s in sums.values()),
    )
    return WaitsReport(period.first, period.last, period.room, rows, total)


# --- the students with the most ---------------------------------------------------


class StudentRow(msgspec.Struct):
    student: str  # the student's id; the API adds the name and number
    passes: int
    minutes_out: float


class StudentsReport(msgspec.Struct):
    from_: date = msgspec.field(name="from")
    to: date
    room: str | None
    by: StudentsBy
    rows: list[StudentRow]  # the most first
    # Per-student counts of days before this were dropped by retention.
    students_from: date | None = None


def students(a: Aggregates, period: Period, by: StudentsBy, limit: int) -> StudentsReport:
    first, last, room = period.first, period.last, period.room
    sums: dict[str, tuple[int, int]] = {}
    if room is None:
        # Two look-ups per student in their running totals, whatever the period.
        for student, found in a.students.items():
            passes, seconds = student_totals(found, first, last)
            if passes or seconds:
                sums[student] = (passes, seconds)
    else:
        # A room's students of each day: a classroom's few dozen.
        for _, day in _days(a, period):
            tallies = day.by_room.get(room)
            if not tallies:
                continue
            for student, tally in tallies.items():
                s = sums.get(student)
                sums[student] = (
                    (tally.passes, tally.seconds)
                    if s is None
                    else (s[0] + tally.passes, s[1] + tally.seconds)
                )
    first_key, second_key = (0, 1) if by == "passes" else (1, 0)
    ranked = heapq.nsmallest(
        limit, sums.items(), key=lambda item: (-item[1][first_key], -item[1][second_key], item[0])
    )
    rows = [StudentRow(student, s[0], _minutes(s[1])) for student, s in ranked]
    return StudentsReport(first, last, room, by, rows, a.students_from)
