"""What the API shows of passes and requests: the records with people's names.

Names come from the directory at the edge; the fold knows people by id only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import msgspec

from hallpass.projections.records import PassRecord, PassState, RequestRecord, RequestState

UNKNOWN_NAME = "Unknown"


class Person(msgspec.Struct, frozen=True):
    id: str
    name: str


class PassView(msgspec.Struct, kw_only=True):
    id: str
    student: Person
    origin: str
    destination: str
    minutes: int
    state: PassState
    created_at: datetime
    created_by: str
    start_at: datetime | None
    started_at: datetime | None
    arrived_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    overtime: bool
    note: str
    kind: str
    request: str | None


class RequestView(msgspec.Struct, kw_only=True):
    id: str
    student: Person
    teacher: Person
    destination: str
    start_at: datetime | None
    minutes: int
    note: str
    state: RequestState
    pass_id: str | None = msgspec.field(name="pass")
    sent_at: datetime


def person(user_id: str, names: Mapping[str, str]) -> Person:
    return Person(user_id, names.get(user_id, UNKNOWN_NAME))


def pass_view(record: PassRecord, names: Mapping[str, str]) -> PassView:
    return PassView(
        id=record.id,
        student=person(record.student, names),
        origin=record.origin,
        destination=record.destination,
        minutes=record.minutes,
        state=record.state,
        created_at=record.created_at,
        created_by=record.created_by,
        start_at=record.start_at,
        started_at=record.started_at,
        arrived_at=record.arrived_at,
        ended_at=record.ended_at,
        ended_by=record.ended_by,
        overtime=record.overtime,
        note=record.note,
        kind=record.kind,
        request=record.request,
    )


def request_view(record: RequestRecord, names: Mapping[str, str]) -> RequestView:
    return RequestView(
        id=record.id,
        student=person(record.student, names),
        teacher=person(record.teacher, names),
        destination=record.destination,
        start_at=record.start_at,
        minutes=record.minutes,
        note=record.note,
        state=record.state,
        pass_id=record.pass_id,
        sent_at=record.sent_at,
    )
