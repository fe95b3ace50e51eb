"""Retention's rules: which school days' history is kept, and forgetting the rest.

A school keeps its pass history for `Policies.retention_days` days, or when
that is unset, for the current school year and the one before it (a school
year starts on the first of `Policies.school_year_starts`, August unless set,
in school time). Older passes and requests that are over are forgotten by the
fold when it meets a HistoryTrimmed event (projections/state.py), so every
process forgets the same records at the same version, and a snapshot taken
after it holds none of them. Passes and requests not over yet are never
forgotten, however old.

Both functions are pure; `forget_before` changes the state in place, as the fold does.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from hallpass.events.types import Policies
from hallpass.projections.clock import day_bounds, local_day

if TYPE_CHECKING:  # state.py imports this module for its fold
    from hallpass.projections.state import SchoolState

DEFAULT_YEAR_START_MONTH = 8  # August
OVER_STATES: frozenset[str] = frozenset({"ended", "denied", "cancelled", "expired"})
REQUEST_OVER_STATES: frozenset[str] = frozenset({"accepted", "declined", "cancelled", "expired"})


def history_start(policies: Policies, now: datetime) -> date:
    """The first school day whose history is kept at `now`; days before it go.
    A retention or start month out of range counts as unset."""
    tz = policies.timezone
    today = local_day(now, tz)
    days = policies.retention_days
    if isinstance(days, int) and days >= 1:
        return today - timedelta(days=days)
    month = policies.school_year_starts
    if not (isinstance(month, int) and 1 <= month <= 12):
        month = DEFAULT_YEAR_START_MONTH
    this_year_began = today.year if today.month >= month else today.year - 1
    return date(this_year_began - 1, month, 1)


def history_cutoff(policies: Policies, now: datetime) -> tuple[date, datetime]:
    """`history_start` and the UTC instant that day begins: events before that
    instant are the ones retention removes."""
    first = history_start(policies, now)
    return first, day_bounds(first, policies.timezone)[0]


def forget_before(state: SchoolState, before: date) -> tuple[int, int]:
    """Forget the passes of school days before `before` (their local start
    day, or the day made when they never started) and the requests sent
    before it, of those that are over; returns how many of each went."""
    tz = state.policies.timezone
    cutoff = day_bounds(before, tz)[0]

    passes = state.passes
    gone_passes: dict[str, str] = {}  # pass id -> student
    # In creation order, which is time order up to clock skew between
    # processes: stop at the first pass made on or after the first kept day.
    for pid, record in passes.items():
        if record.created_at >= cutoff:
            break
        if (
            record.state in OVER_STATES
            and local_day(record.start_at or record.created_at, tz) < before
        ):
            gone_passes[pid] = record.student
    for pid in gone_passes:
        del passes[pid]
    _drop_ids(state.passes_by_student, gone_passes)
    _drop_ids(state.ahead, gone_passes)

    requests = state.requests
    gone_requests: dict[str, str] = {}
    for rid, request in requests.items():
        if request.sent_at >= cutoff:
            break
        if request.state in REQUEST_OVER_STATES:
            gone_requests[rid] = request.student
    for rid in gone_requests:
        del requests[rid]
    _drop_ids(state.requests_by_student, gone_requests)
    return len(gone_passes), len(gone_requests)


def _drop_ids(index: dict[str, list[str]], gone: dict[str, str]) -> None:
    """Take the ids in `gone` (id -> student) out of a per-student index,
    dropping students left with none."""
    for student in set(gone.values()):
        ids = index.get(student)
        if ids is None:
            continue
        kept = [each for each in ids if each not in gone]
        if kept:
            index[student] = kept
        else:
            del index[student]
