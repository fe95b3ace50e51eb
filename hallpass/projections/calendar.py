"""A student's passes by school day, and the pass listing of GET /api/passes.

Both walk one student's own index (newest first) when a student is given, so a
student's query never scans the whole school's history.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date, datetime, timedelta

import msgspec

from hallpass.projections.records import PassRecord
from hallpass.projections.state import SchoolState, pass_day

# Clocks of several web processes may differ a little, so creation order is
# only nearly time order: a scan stops this far past the `since` bound.
_CLOCK_SKEW = timedelta(minutes=5)


class DayOfPasses(msgspec.Struct, frozen=True):
    """One school day of a student's passes, newest first."""

    day: date
    passes: list[PassRecord]


def _newest_first(state: SchoolState, student: str | None) -> Iterator[PassRecord]:
    passes = state.passes
    if student is None:
        for pid in reversed(passes):
            yield passes[pid]
    else:
        for pid in reversed(state.passes_by_student.get(student, ())):
            yield passes[pid]


def list_passes(
    state: SchoolState,
    *,
    student: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    states: Collection[str] | None = None,
    limit: int | None = None,
) -> list[PassRecord]:
    """Passes newest first (by creation), made in [since, until), in one of
    `states`; at most `limit` of them."""
    found: list[PassRecord] = []
    stop = None if since is None else since - _CLOCK_SKEW
    for record in _newest_first(state, student):
        created = record.created_at
        if stop is not None and created < stop:
            break
        if since is not None and created < since:
            continue
        if until is not None and created >= until:
            continue
        if states is not None and record.state not in states:
            continue
        found.append(record)
        if limit is not None and len(found) >= limit:
            break
    return found


def passes_by_day(
    state: SchoolState, student: str, from_day: date, to_day: date
) -> list[DayOfPasses]:
    """The student's passes on each school day from `from_day` to `to_day`
    (both included, in the school's timezone), newest day first; days
    without passes are left out. A pass belongs to the day it starts."""
    days: dict[date, list[PassRecord]] = {}
    for record in _newest_first(state, student):
        day = pass_day(state, record)
        if from_day <= day <= to_day:
            days.setdefault(day, []).append(record)
    ordered = sorted(days.items(), reverse=True)
    return [
        DayOfPasses(day, sorted(records, key=_start_key, reverse=True)) for day, records in ordered
    ]


def _start_key(record: PassRecord) -> datetime:
    return record.start_at or record.created_at
