"""How many passes a student has used toward the school's limits.

A pass counts when the student asked for it themselves (on their own device or
at a kiosk) and it was not denied, cancelled or expired; it counts on the
school day it starts (or was made). Staff passes and accepted requests never
count.

The fold keeps no counters (they would cost every replay a timezone lookup per
pass); a count walks the student's own passes back from the newest, and stops
a day before the period begins. Passes are appended in time order, so the
only ones such a walk could miss were made long before their start time, and
those are indexed apart (SchoolState.ahead).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import msgspec

from hallpass.projections.clock import day_bounds, local_day
from hallpass.projections.records import PassRecord
from hallpass.projections.state import SchoolState

COUNTED_KINDS: frozenset[str] = frozenset({"student", "kiosk"})
UNCOUNTED_STATES: frozenset[str] = frozenset({"denied", "cancelled", "expired"})
# Creation order is time order up to the clock skew between web processes.
_SLACK = timedelta(days=1)


class PassCounts(msgspec.Struct, frozen=True, kw_only=True):
    """A student's counted passes on a school day and in its ISO week (Mon-Sun)."""

    day: date
    daily: int
    weekly: int
    daily_limit: int | None
    weekly_limit: int | None


def counts_toward_limits(record: PassRecord) -> bool:
    """Whether a pass is one the limits count (see the module's docstring)."""
    return record.kind in COUNTED_KINDS and record.state not in UNCOUNTED_STATES


def school_day(state: SchoolState, at: datetime) -> date:
    """The school day (local date in the school's timezone) of the instant `at`."""
    return local_day(at, state.policies.timezone)


def count_between(state: SchoolState, student: str, first: date, last: date) -> int:
    """Passes counted toward `student`'s limits on the school days `first`
    to `last`, both included."""
    mine = state.passes_by_student.get(student)
    if not mine:
        return 0
    tz = state.policies.timezone
    begin = day_bounds(first, tz)[0]
    end = day_bounds(last, tz)[1]
    stop = begin - _SLACK
    passes = state.passes
    count = 0
    for pid in reversed(mine):
        record = passes[pid]
        if record.created_at < stop:
            break
        if begin <= (record.start_at or record.created_at) < end and counts_toward_limits(record):
            count += 1
    for pid in state.ahead.get(student, ()):
        record = passes[pid]
        start = record.start_at
        if record.created_at < stop and start is not None and begin <= start < end:
            count += counts_toward_limits(record)
    return count


def last_ended_at(state: SchoolState, student: str) -> datetime | None:
    """When the student's most recent pass ended (None: never).

    A student is out on one pass at a time, so the passes that started at
    once (or from the line) ended in the order they were made: the newest
    ended one of those is the last, unless one made with a start time ended
    later; those few are indexed apart."""
    passes = state.passes
    last: datetime | None = None
    for pid in reversed(state.passes_by_student.get(student, ())):
        record = passes[pid]
        if record.state == "ended" and record.start_at is None:
            last = record.ended_at
            break
    for pid in state.ahead.get(student, ()):
        record = passes[pid]
        ended = record.ended_at
        if record.state == "ended" and ended is not None and (last is None or ended > last):
            last = ended
    return last


def daily_count(state: SchoolState, student: str, day: date) -> int:
    """Passes counted toward `student`'s limit on `day`."""
    return count_between(state, student, day, day)


def weekly_count(state: SchoolState, student: str, day: date) -> int:
    """Passes counted toward `student`'s limit in the ISO week of `day`."""
    monday = day - timedelta(days=day.weekday())
    return count_between(state, student, monday, monday + timedelta(days=6))


def pass_counts(state: SchoolState, student: str, day: date) -> PassCounts:
    """The daily and weekly counts of `student` for `day`, with the limits."""
    return PassCounts(
        day=day,
        daily=daily_count(state, student, day),
        weekly=weekly_count(state, student, day),
        daily_limit=state.policies.daily_limit,
        weekly_limit=state.policies.weekly_limit,
    )
