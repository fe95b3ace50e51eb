"""Everything that happens to a school's rooms, policies, passes and requests.

Events are facts in the past tense, appended to the school's stream and never
changed. Each carries the moment it happened (`at`) and who did it (`actor`: a
user id, or "system" when the school's rules did it). People are named by id
only; names and numbers live in the directory (DESIGN.md, point 7).

Schema evolution (msgspec): a field added later must have a default, so that
events stored before it keep decoding. Never rename a tag or a field, never
change a field's type; add a new event type instead.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

SYSTEM = "system"

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PassKind = Literal["student", "staff", "kiosk", "request"]
EndReason = Literal["returned", "staff", "overtime", "day_end", "sweep"]
CancelReason = Literal["student", "staff", "sweep", "day_end"]
ExpireReason = Literal["not_started", "not_approved", "day_end"]


class Blackout(msgspec.Struct):
    days: list[Weekday]
    from_: str = msgspec.field(name="from")  # "08:00", school time
    to: str


class Policies(msgspec.Struct, kw_only=True):
    """Stored in events, so unknown fields are ignored (a newer release may add
    one while an older process still reads the stream); request bodies are
    checked strictly at the edge."""

    daily_limit: int | None = None
    weekly_limit: int | None = None
    cooldown_minutes: int = 0
    hallway_cap: int | None = None
    classroom_cap: int | None = None
    blackouts: list[Blackout] = []
    exempt: list[str] = []
    keep_apart: list[list[str]] = []
    overtime_end_minutes: int = 15
    timezone: str = "America/Chicago"
    day_ends_at: str = "16:00"
    # Retention (hallpass.retention). Unset fields are left out of the encoded
    # event, so that events stored before these fields existed re-encode alike.
    # Days of pass history kept; unset: the current school year and the one before.
    retention_days: int | UnsetType = UNSET
    # The month (1 to 12) a school year starts in, school time; unset: August.
    school_year_starts: int | UnsetType = UNSET


class Event(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    at: datetime
    actor: str


# --- rooms and school controls -------------------------------------------------


class RoomAdded(Event, tag="room_added"):
    room: str
    name: str
    locked: bool = False
    capacity: int | None = None
    minutes: int = 5
    enabled: bool = True


class RoomChanged(Event, tag="room_changed"):
    """The room's whole record after the change."""

    room: str
    name: str
    locked: bool = False
    capacity: int | None = None
    minutes: int = 5
    enabled: bool = True


class PoliciesSet(Event, tag="policies_set"):
    policies: Policies


class PassesPaused(Event, tag="passes_paused"):
    pass


class PassesResumed(Event, tag="passes_resumed"):
    pass


class HallSwept(Event, tag="hall_swept"):
    """Marks a sweep; the passes it ended follow as their own events."""

    pause: bool = False


class DayEnded(Event, tag="day_ended"):
    """The school day `day` (school time) closed; active passes were ended."""

    day: date


# --- passes --------------------------------------------------------------------


class PassCreated(Event, tag="pass_created"):
    """A new pass. It starts `pending` when `needs_approval`, else `scheduled`
    when `start_at` is set; otherwise a PassStarted or PassQueued follows in
    the same append."""

    pass_id: str
    student: str
    origin: str
    destination: str
    minutes: int
    kind: PassKind = "student"
    start_at: datetime | None = None
    needs_approval: bool = False
    note: str = ""
    request: str | None = None


class PassApproved(Event, tag="pass_approved"):
    """A teacher approved a pending pass (`actor` is that teacher, also when
    the teacher typed a PIN on the student's screen). It becomes scheduled when
    it has a future start, else a PassStarted or PassQueued follows."""

    pass_id: str
    by_pin: bool = False


class PassDenied(Event, tag="pass_denied"):
    pass_id: str


class PassQueued(Event, tag="pass_queued"):
    """Joined the school's line: starting now would overfill a cap."""

    pass_id: str


class PassStarted(Event, tag="pass_started"):
    """The student left the room; a waiting pass leaves the line with this."""

    pass_id: str


class PassArrived(Event, tag="pass_arrived"):
    pass_id: str


class PassExtended(Event, tag="pass_extended"):
    pass_id: str
    minutes: int


class PassOvertime(Event, tag="pass_overtime"):
    pass_id: str


class PassEnded(Event, tag="pass_ended"):
    pass_id: str
    reason: EndReason = "returned"


class PassCancelled(Event, tag="pass_cancelled"):
    """Withdrawn before it started (a waiting pass leaves the line)."""

    pass_id: str
    reason: CancelReason = "student"


class PassExpired(Event, tag="pass_expired"):
    """A scheduled, pending or waiting pass that never started in time."""

    pass_id: str
    reason: ExpireReason = "not_started"


# --- requests from teachers ----------------------------------------------------


class RequestSent(Event, tag="request_sent"):
    """`actor` is the teacher who asks `student` to come to `destination`."""

    request_id: str
    student: str
    destination: str
    minutes: int
    start_at: datetime | None = None
    note: str = ""


class RequestAccepted(Event, tag="request_accepted"):
    """The student accepted; the pass's own events follow in the same append."""

    request_id: str
    pass_id: str


class RequestDeclined(Event, tag="request_declined"):
    request_id: str
    reason: str = ""


class RequestCancelled(Event, tag="request_cancelled"):
    request_id: str


class RequestExpired(Event, tag="request_expired"):
    request_id: str


# --- people --------------------------------------------------------------------


class StudentErased(Event, tag="student_erased"):
    """The student was deleted from the directory (`hallpass student delete`).
    Their passes and requests stay under an id that nothing maps to a person
    any more; folds forget what could still name them (notes, per-student
    counts). The directory and the audit log say who did it and when."""

    student: str


# --- retention -----------------------------------------------------------------


class HistoryTrimmed(Event, tag="history_trimmed"):
    """Retention (hallpass.retention): the passes and requests of school days
    before `before` that are over are forgotten, and the events up to version
    `through` leave the store once a snapshot holds the state without them.
    Reports keep those days' counts, without names."""

    before: date
    through: int


AnyEvent = (
    RoomAdded
    | RoomChanged
    | PoliciesSet
    | PassesPaused
    | PassesResumed
    | HallSwept
    | DayEnded
    | PassCreated
    | PassApproved
    | PassDenied
    | PassQueued
    | PassStarted
    | PassArrived
    | PassExtended
    | PassOvertime
    | PassEnded
    | PassCancelled
    | PassExpired
    | RequestSent
    | RequestAccepted
    | RequestDeclined
    | RequestCancelled
    | RequestExpired
    | StudentErased
    | HistoryTrimmed
)

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)


def encode(event: Event) -> bytes:
    return _encoder.encode(event)


def decode(data: bytes | str) -> AnyEvent:
    return _decoder.decode(data)
