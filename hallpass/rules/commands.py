"""What people ask the school to do, after the edge has checked who they are.

The HTTP layer (or the command line) authenticates the caller, resolves a
student number or a teacher's PIN through the directory, makes new ids, and
hands `decide` one of these. Everything else is checked by `decide`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from hallpass.events.types import Policies

Role = Literal["student", "teacher", "admin", "kiosk"]
STAFF: frozenset[str] = frozenset({"teacher", "admin"})


class Actor(msgspec.Struct, frozen=True):
    id: str
    role: Role
    room: str | None = None  # a kiosk's room


class Command(msgspec.Struct, kw_only=True):
    actor: Actor


# --- passes --------------------------------------------------------------------


class CreatePass(Command):
    pass_id: str
    student: str  # the student's id: the actor's own for a student
    origin: str
    destination: str
    minutes: int | None = None  # None: the destination's default
    start_at: datetime | None = None
    note: str = ""
    # A student's request that names another student is invalid; the edge
    # sets this when the body carried `student` or `student_number`.
    named_student: bool = False


class EndPass(Command):
    pass_id: str


class ApprovePass(Command):
    pass_id: str
    # When a student's screen carries a teacher's PIN, the edge resolves the
    # PIN to that teacher and puts the teacher here.
    approver: Actor | None = None


class DenyPass(Command):
    pass_id: str


class CancelPass(Command):
    pass_id: str


class ExtendPass(Command):
    pass_id: str
    minutes: int


class ArrivePass(Command):
    pass_id: str


# --- requests ------------------------------------------------------------------


class SendRequest(Command):
    request_id: str
    student: str
    destination: str
    minutes: int | None = None
    start_at: datetime | None = None
    note: str = ""


class AcceptRequest(Command):
    request_id: str
    pass_id: str  # the id of the pass that accepting creates
    origin: str


class DeclineRequest(Command):
    request_id: str
    reason: str = ""


class CancelRequest(Command):
    request_id: str


# --- school controls -----------------------------------------------------------


class AddRoom(Command):
    room_id: str
    name: str
    locked: bool = False
    capacity: int | None = None
    minutes: int = 5
    enabled: bool = True


class ChangeRoom(Command):
    """The room's whole record after the change (the edge merges a PATCH)."""

    room_id: str
    name: str
    locked: bool
    capacity: int | None
    minutes: int
    enabled: bool


class SetPolicies(Command):
    policies: Policies


class SweepHall(Command):
    pause: bool = False


class ResumePasses(Command):
    pass


AnyCommand = (
    CreatePass
    | EndPass
    | ApprovePass
    | DenyPass
    | CancelPass
    | ExtendPass
    | ArrivePass
    | SendRequest
    | AcceptRequest
    | DeclineRequest
    | CancelRequest
    | AddRoom
    | ChangeRoom
    | SetPolicies
    | SweepHall
    | ResumePasses
)


class Rejection(msgspec.Struct, frozen=True):
    """A command refused: API.md's stable code, a sentence, the HTTP status."""

    code: str
    message: str
    status: int = 409
