"""The few durations the rules agree on, and what "now" means for a start time."""

from __future__ import annotations

from datetime import datetime, timedelta

# A start time this close ahead counts as "now": a pass is not scheduled to
# start two seconds from now because a phone's clock runs slow.
NOW_WINDOW = timedelta(seconds=5)
# A start time this far back counts as "now" too; older ones are in the past.
PAST_GRACE = timedelta(minutes=1)
# Scheduled and pending passes and open requests expire this long after they
# were due without starting, being approved or being answered.
EXPIRES_AFTER = timedelta(minutes=15)

MAX_MINUTES = 120
MAX_NOTE = 500


def is_past(start_at: datetime | None, now: datetime) -> bool:
    """Whether a requested start time lies in the past (beyond the grace)."""
    return start_at is not None and start_at < now - PAST_GRACE


def future_start(start_at: datetime | None, now: datetime) -> datetime | None:
    """`start_at` when it is truly ahead of `now`; None when it means now."""
    if start_at is None or start_at <= now + NOW_WINDOW:
        return None
    return start_at
