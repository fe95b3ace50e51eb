"""Who may see what: one place, used by the HTTP answers and the hub alike."""

from __future__ import annotations

from hallpass.projections.records import PassRecord, RequestRecord
from hallpass.rules.commands import STAFF, Actor


def may_see_pass(viewer: Actor, record: PassRecord) -> bool:
    if viewer.role in STAFF:
        return True
    if viewer.role == "student":
        return record.student == viewer.id
    if viewer.role == "kiosk":
        return viewer.room is not None and viewer.room in (record.origin, record.destination)
    return False


def may_see_request(viewer: Actor, record: RequestRecord) -> bool:
    if viewer.role in STAFF:
        return True
    return viewer.role == "student" and record.student == viewer.id
