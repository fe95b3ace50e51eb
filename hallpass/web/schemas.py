"""The shapes of the domain endpoints' request bodies and answers (API.md).

Bodies forbid unknown fields, so a misspelt field is a 422 naming it rather
than an option silently ignored. The constraints here are only those of the
shape (a time with its offset, a PIN's digits, lengths that keep a body
sane); what the school's data decides (a room exists, minutes within bounds)
is `decide`'s, so it has one home and one sentence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from hallpass.events.types import Policies, Weekday
from hallpass.projections.records import RoomRecord
from hallpass.service.views import PassView, RequestView

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Name = Annotated[str, msgspec.Meta(max_length=100)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
Number = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Pin = Annotated[str, msgspec.Meta(pattern="^[0-9]{4,6}$")]
# API.md: times carry their offset; a bare local time would be a guess.
Instant = Annotated[datetime, msgspec.Meta(tz=True)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


# --- passes --------------------------------------------------------------------


class PassBody(_Body, kw_only=True):
    origin: Id
    destination: Id
    minutes: int | None = None  # None: the destination's default
    start_at: Instant | None = None
    student: Id | None = None  # staff and kiosks: the student's id ...
    student_number: Number | None = None  # ... or the number on their ID card
    note: Note = ""


class ApproveBody(_Body, kw_only=True):
    pin: Pin | None = None  # a teacher's PIN, typed on the student's own screen


class ExtendBody(_Body, kw_only=True):
    minutes: int


# --- requests ------------------------------------------------------------------


class RequestBody(_Body, kw_only=True):
    student: Id | None = None  # the student's id ...
    student_number: Number | None = None  # ... or their number (one of the two)
    destination: Id
    start_at: Instant | None = None
    minutes: int | None = None
    note: Note = ""


class AcceptBody(_Body, kw_only=True):
    origin: Id


class DeclineBody(_Body, kw_only=True):
    reason: Note = ""


# --- rooms and school controls -------------------------------------------------


class RoomBody(_Body, kw_only=True):
    name: Name
    locked: bool = False
    capacity: int | None = None
    minutes: int = 5
    enabled: bool = True


class RoomPatch(_Body, kw_only=True):
    """Any of a room's fields; those absent keep their value (null clears a capacity)."""

    name: Name | UnsetType = UNSET
    locked: bool | UnsetType = UNSET
    capacity: int | UnsetType | None = UNSET
    minutes: int | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET


class BlackoutBody(_Body, kw_only=True):
    days: list[Weekday]
    from_: str = msgspec.field(name="from")  # "08:00", school time
    to: str


class PolicyBody(_Body, kw_only=True):
    """The events' Policies, checked strictly: the stored struct ignores
    unknown fields (for schema evolution), a person's body must not."""

    daily_limit: int | None = None
    weekly_limit: int | None = None
    cooldown_minutes: int = 0
    hallway_cap: int | None = None
    classroom_cap: int | None = None
    blackouts: list[BlackoutBody] = []
    exempt: list[Id] = []
    keep_apart: list[list[Id]] = []
    overtime_end_minutes: int = 15
    timezone: Name = "America/Chicago"
    day_ends_at: str = "16:00"
    retention_days: int | UnsetType = UNSET
    school_year_starts: int | UnsetType = UNSET

    def policies(self) -> Policies:
        return msgspec.convert(msgspec.to_builtins(self), Policies)


class SweepBody(_Body, kw_only=True):
    pause: bool = False


# --- answers -------------------------------------------------------------------


class Room(msgspec.Struct, kw_only=True):
    id: str
    name: str
    locked: bool
    capacity: int | None
    minutes: int
    enabled: bool
    # How full it is now, for people who cannot see every pass (a student):
    out: int = 0  # active passes to it
    waiting: int = 0  # passes in line for it


def room_view(record: RoomRecord, out: int = 0, waiting: int = 0) -> Room:
    return Room(
        id=record.id,
        name=record.name,
        locked=record.locked,
        capacity=record.capacity,
        minutes=record.minutes,
        enabled=record.enabled,
        out=out,
        waiting=waiting,
    )


class BoardView(msgspec.Struct, kw_only=True):
    position: str  # the stream position the list is current at (as /ws uses it)
    passes: list[PassView]


class AcceptView(msgspec.Struct, kw_only=True):
    request: RequestView
    pass_: PassView = msgspec.field(name="pass")


class SweepView(msgspec.Struct, kw_only=True):
    ended: int  # passes the sweep ended, cancelled or expired


class HallView(msgspec.Struct, kw_only=True):
    paused: bool  # new passes are refused until an admin resumes them


__all__ = [
    "AcceptBody",
    "AcceptView",
    "ApproveBody",
    "BlackoutBody",
    "BoardView",
    "DeclineBody",
    "ExtendBody",
    "HallView",
    "PassBody",
    "PassView",
    "Policies",
    "PolicyBody",
    "RequestBody",
    "RequestView",
    "Room",
    "RoomBody",
    "RoomPatch",
    "SweepBody",
    "SweepView",
    "room_view",
]
