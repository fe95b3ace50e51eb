"""Exports over HTTP (admins): pass history as CSV, one student's record as
JSON and CSV, and the data dictionary of every downloadable file.

Each export is written to the audit log before its first byte goes out: an
export that cannot be noted is not sent. The pass history of a year is
hundreds of thousands of lines, so it is streamed, a slice of passes at a
time, letting the process serve others in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hallpass.audit import EXPORT_PASSES, EXPORT_STUDENT
from hallpass.directory.model import User
from hallpass.exports import (
    PASSES_TABLE,
    RECORD_TABLE,
    TABLES,
    PassFilter,
    StudentRecord,
    Table,
    candidates,
    csv_head,
    csv_lines,
    csv_text,
    pass_row,
    record_rows,
    selected,
    student_record,
)
from hallpass.projections.clock import local_day
from hallpass.web.endpoint import Endpoint
from hallpass.web.errors import ApiError
from hallpass.web.json import json_response
from hallpass.web.routes.audit import note
from hallpass.web.routes.common import School, open_school, path_id
from hallpass.web.routes.reports import (
    CSV_TYPE,
    DEFAULT_DAYS,
    NO_SUCH_ROOM,
    attachment,
    school_days,
)

ADMIN = ("admin",)
STAFF_ROLES = ("teacher", "admin")
# Passes turned into CSV between two turns of the event loop.
SLICE = 1000

NO_SUCH_STUDENT = ApiError(404, "not_found", "There is no such student.")


async def _student(school: School, student_id: str) -> User:
    """A student of the caller's school (another school's ids do not exist here)."""
    user = await school.services.backend.directory.get_user(school.slug, student_id)
    if user is None or user.school != school.slug or user.role != "student":
        raise NO_SUCH_STUDENT
    return user


async def _people(school: School) -> dict[str, User]:
    return {u.id: u for u in await school.services.backend.directory.users(school.slug)}


# --- pass history ------------------------------------------------------------------------


async def export_passes(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    state = school.state
    first, last = school_days(request, local_day(school.runtime.clock(), state.policies.timezone))
    room = request.query_params.get("room") or None
    if room is not None and room not in state.rooms:
        raise NO_SUCH_ROOM
    student = request.query_params.get("student") or None
    if student is not None:
        await _student(school, student)
    chosen = PassFilter(first, last, room, student)
    people = await _people(school)
    passes = candidates(state, chosen)
    detail = f"from={first} to={last} room={room or ''} student={student or ''}"
    await note(school, EXPORT_PASSES, student or room or "school", detail)

    async def body() -> AsyncIterator[str]:
        yield csv_head(PASSES_TABLE)
        for start in range(0, len(passes), SLICE):
            rows = [
                pass_row(state, people, record)
                for record in passes[start : start + SLICE]
                if selected(state, chosen, record)
            ]
            if rows:
                yield csv_lines(PASSES_TABLE, rows)
            await asyncio.sleep(0)

    scope = f"-{student or room}" if student or room else ""
    filename = f"{school.slug}-passes{scope}-{first}-to-{last}.csv"
    return StreamingResponse(body(), media_type=CSV_TYPE, headers=attachment(filename))


# --- one student's record ----------------------------------------------------------------


async def _record(request: Request, kind: str) -> tuple[School, StudentRecord]:
    school = await open_school(request, ADMIN)
    student = await _student(school, path_id(request))
    found = await school.services.backend.directory.get_school(school.slug)
    if found is None:
        raise NO_SUCH_STUDENT
    record = student_record(
        school.state, found, student, await _people(school), school.runtime.clock()
    )
    await note(school, EXPORT_STUDENT, student.id, f"as={kind}")
    return school, record


async def record_json(request: Request) -> Response:
    _, record = await _record(request, "json")
    return json_response(record)


async def record_csv(request: Request) -> Response:
    school, record = await _record(request, "csv")
    filename = f"{school.slug}-student-{record.student.id}.csv"
    return Response(
        csv_text(RECORD_TABLE, record_rows(record)),
        media_type=CSV_TYPE,
        headers=attachment(filename),
    )


# --- the data dictionary -----------------------------------------------------------------


class Dictionary(msgspec.Struct):
    tables: list[Table]


async def dictionary(request: Request) -> Response:
    await open_school(request, STAFF_ROLES)
    return json_response(Dictionary(TABLES))


endpoints: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/api/exports/passes.csv",
        handler=export_passes,
        summary=(
            "Pass history as CSV (text/csv), oldest first: the passes whose school day is in "
            "`from`..`to` (YYYY-MM-DD, both included; by default the last "
            f"{DEFAULT_DAYS} days), of one `room` (from or to it) or one `student` (id) if "
            "given. Columns in docs/data-dictionary.md. Written to the audit log."
        ),
        roles=ADMIN,
        query=("from", "to", "room", "student"),
        errors=("unauthenticated", "forbidden", "invalid", "not_found"),
    ),
    Endpoint(
        method="GET",
        path="/api/exports/students/{id}/record.json",
        handler=record_json,
        summary=(
            "Everything the school holds about one student (what a family may ask to see): "
            "the directory entry without password or PIN, policies that concern them, every "
            "pass and request. Written to the audit log."
        ),
        roles=ADMIN,
        response=StudentRecord,
        errors=("unauthenticated", "forbidden", "not_found"),
    ),
    Endpoint(
        method="GET",
        path="/api/exports/students/{id}/record.csv",
        handler=record_csv,
        summary=(
            "The same record as CSV (text/csv), one fact per line: section, item, field, "
            "value. Written to the audit log."
        ),
        roles=ADMIN,
        errors=("unauthenticated", "forbidden", "not_found"),
    ),
    Endpoint(
        method="GET",
        path="/api/exports/dictionary",
        handler=dictionary,
        summary="The data dictionary: every downloadable file and each of its columns.",
        roles=STAFF_ROLES,
        response=Dictionary,
        errors=("unauthenticated", "forbidden"),
    ),
]
