"""The current record of each room, pass and request, as folds keep them.

These are what the API shows, less the people's names (the directory adds
those at the edge: `student` and `teacher` here are ids)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from hallpass.events.types import PassKind

PassState = Literal[
    "scheduled", "pending", "waiting", "active", "ended", "denied", "cancelled", "expired"
]
LIVE_STATES: frozenset[str] = frozenset({"pending", "waiting", "active"})
RequestState = Literal["open", "accepted", "declined", "cancelled", "expired"]


class RoomRecord(msgspec.Struct, kw_only=True):
    id: str
    name: str
    locked: bool = False
    capacity: int | None = None
    minutes: int = 5
    enabled: bool = True


class PassRecord(msgspec.Struct, kw_only=True):
    id: str
    student: str
    origin: str
    destination: str
    minutes: int
    state: PassState
    created_at: datetime
    created_by: str
    start_at: datetime | None = None
    started_at: datetime | None = None
    arrived_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None
    overtime: bool = False
    note: str = ""
    kind: PassKind = "student"
    request: str | None = None


class RequestRecord(msgspec.Struct, kw_only=True):
    id: str
    student: str
    teacher: str
    destination: str
    minutes: int
    state: RequestState
    sent_at: datetime
    start_at: datetime | None = None
    note: str = ""
    pass_id: str | None = None
