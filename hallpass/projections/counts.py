"""How many passes a student has used toward the school's limits.

Only passes the student asked for themselves count (on their own device or at
a kiosk), and not those denied, cancelled or expired: the fold keeps these
counts per school day (see SchoolState.counted), so a query reads at most
seven numbers.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from hallpass.projections.clock import local_day, week_days
from hallpass.projections.state import SchoolState


class PassCounts(msgspec.Struct, frozen=True, kw_only=True):
    """A student's counted passes on a school day and in its ISO week (Mon-Sun)."""

    day: date
    daily: int
    weekly: int
    daily_limit: int | None
    weekly_limit: int | None


def school_day(state: SchoolState, at: datetime) -> date:
    """The school day (local date in the school's timezone) of the instant `at`."""
    return local_day(at, state.policies.timezone)


def daily_count(state: SchoolState, student: str, day: date) -> int:
    """Passes counted toward `student`'s limit on `day`."""
    days = state.counted.get(student)
    return 0 if days is None else days.get(day, 0)


def weekly_count(state: SchoolState, student: str, day: date) -> int:
    """Passes counted toward `student`'s limit in the ISO week of `day`."""
    days = state.counted.get(student)
    if not days:
        return 0
    return sum(days.get(d, 0) for d in week_days(day))


def pass_counts(state: SchoolState, student: str, day: date) -> PassCounts:
    """The daily and weekly counts of `student` for `day`, with the limits."""
    return PassCounts(
        day=day,
        daily=daily_count(state, student, day),
        weekly=weekly_count(state, student, day),
        daily_limit=state.policies.daily_limit,
        weekly_limit=state.policies.weekly_limit,
    )
