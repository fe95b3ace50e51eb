"""School time: local days, weekdays and clock times in the school's timezone.

Events carry UTC instants; limits, blackouts and the end of the day are in the
school's own time. Finding an instant's local day is on the fold's hot path, so
each timezone remembers the UTC bounds of the last local day it was asked
about: consecutive events of one school fall on the same day and cost two
comparisons. The caches live here, not in the state, so reading the school
time never changes a SchoolState.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_ONE_DAY = timedelta(days=1)

# timezone name -> (UTC start, UTC end, local date) of the day last looked up.
_day_bounds: dict[str, tuple[datetime, datetime, date]] = {}


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name (cached; raises for an unknown name)."""
    return ZoneInfo(name)


def is_timezone(name: str) -> bool:
    """Whether `name` is an IANA timezone this machine knows."""
    if not name or name != name.strip():
        return False
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def parse_hhmm(text: str) -> int | None:
    """Minutes after midnight for "HH:MM" (00:00..23:59), None when malformed."""
    match = _HHMM.fullmatch(text)
    if match is None:
        return None
    return int(match.group(1)) * 60 + int(match.group(2))


def local(at: datetime, tz: str) -> datetime:
    """`at` as a wall-clock time in the timezone `tz`."""
    return at.astimezone(zone(tz))


def local_day(at: datetime, tz: str) -> date:
    """The school day (a local date in `tz`) that the instant `at` falls on."""
    bounds = _day_bounds.get(tz)
    if bounds is not None and bounds[0] <= at < bounds[1]:
        return bounds[2]
    day = at.astimezone(zone(tz)).date()
    start, end = day_bounds(day, tz)
    if start <= at < end:  # a day whose midnight is skipped by DST is not cached
        _day_bounds[tz] = (start, end, day)
    return day


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants at which the local `day` begins and the next one begins."""
    zi = zone(tz)
    start = datetime.combine(day, time(0), zi).astimezone(UTC)
    end = datetime.combine(day + _ONE_DAY, time(0), zi).astimezone(UTC)
    return start, end


def at_local_time(day: date, minutes: int, tz: str) -> datetime:
    """The UTC instant of wall-clock `minutes` after midnight on the local `day`."""
    wall = datetime.combine(day, time(minutes // 60, minutes % 60), zone(tz))
    return wall.astimezone(UTC)
