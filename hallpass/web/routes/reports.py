"""Reports over HTTP: admins see the whole school's, a teacher their own room's.

Each report answers JSON at `/api/reports/<name>` and the same rows as CSV at
`/api/reports/<name>.csv` (what the admin page's charts draw and download).
All take `from` and `to` (school days, both included; by default the last 30
days) and `room` (passes from or to it). A teacher's reports are always of
the room set on their account; a teacher without one is refused.

The students report names students: each answer of it, JSON or CSV, is
written to the audit log before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hallpass.audit import REPORT_STUDENTS
from hallpass.exports import REPORT_TABLES, Table, csv_text
from hallpass.projections.clock import local_day
from hallpass.reports import queries
from hallpass.reports.aggregates import Aggregates
from hallpass.reports.live import REPORTS
from hallpass.reports.queries import Period, StudentsBy
from hallpass.service.views import Person
from hallpass.web.endpoint import Endpoint, Handler
from hallpass.web.errors import ApiError
from hallpass.web.json import json_response
from hallpass.web.routes.audit import note
from hallpass.web.routes.common import School, limit_param, open_school

STAFF_ROLES = ("teacher", "admin")
DEFAULT_DAYS = 30
STUDENTS_DEFAULT = 10
STUDENTS_MOST = 100

NO_SUCH_ROOM = ApiError(404, "not_found", "There is no such room.")
NO_ROOM_OF_YOUR_OWN = ApiError(
    403,
    "forbidden",
    "Reports show a teacher the passes of their own room, and no room is set for your "
    "account. Ask an admin to set it.",
)
NOT_YOUR_ROOM = ApiError(403, "forbidden", "A teacher sees the reports of their own room only.")


# --- the period and the room ---------------------------------------------------------


def _day(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise ApiError(422, "invalid", f"{name}: expected a school day such as 2025-01-31.")


def school_days(request: Request, today: date) -> tuple[date, date]:
    """The `from` and `to` parameters: school days, both included; by default
    the last DEFAULT_DAYS days up to `today`."""
    last = _day(request, "to") or today
    first = _day(request, "from")
    if first is None:
        try:
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        except OverflowError:  # a `to` in the first days of year 1
            first = date.min
    if first > last:
        raise ApiError(422, "invalid", "from: the first day comes after the last (`to`).")
    return first, last


async def report_scope(request: Request) -> tuple[School, Period]:
    """The caller's school and what they may see of it: a teacher, their room only."""
    school = await open_school(request, STAFF_ROLES)
    today = local_day(school.runtime.clock(), school.state.policies.timezone)
    first, last = school_days(request, today)
    room = request.query_params.get("room") or None
    if school.actor.role == "teacher":
        own = school.user.room
        if own is None:
            raise NO_ROOM_OF_YOUR_OWN
        if room not in (None, own):
            raise NOT_YOUR_ROOM
        room = own
    if room is not None and room not in school.state.rooms:
        raise NO_SUCH_ROOM
    return school, Period(first, last, room)


CSV_TYPE = "text/csv; charset=utf-8"


def attachment(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def csv_response(table: Table, rows: Iterable[Sequence[Any]], filename: str) -> Response:
    """A small CSV (a report's rows) as one answer."""
    return Response(csv_text(table, rows), media_type=CSV_TYPE, headers=attachment(filename))


def _filename(school: School, name: str, period: Period) -> str:
    room = f"-{period.room}" if period.room else ""
    return f"{school.slug}-{name}{room}-{period.first}-to-{period.last}.csv"


# --- the anonymous reports -----------------------------------------------------------

Compute = Callable[[Aggregates, Period], Any]


def _anonymous(name: str, compute: Compute) -> tuple[Handler, Handler]:
    """The JSON and CSV handlers of a report that names no one."""
    table = REPORT_TABLES[name]

    async def as_json(request: Request) -> Response:
        school, period = await report_scope(request)
        return json_response(compute(await REPORTS.of(school.runtime), period))

    async def as_csv(request: Request) -> Response:
        school, period = await report_scope(request)
        report = compute(await REPORTS.of(school.runtime), period)
        rows = (msgspec.structs.astuple(row) for row in report.rows)
        return csv_response(table, rows, _filename(school, name, period))

    as_json.__name__ = f"report_{name}"
    as_csv.__name__ = f"report_{name}_csv"
    return as_json, as_csv


hours_json, hours_csv = _anonymous("hours", queries.hours)
weekdays_json, weekdays_csv = _anonymous("weekdays", queries.weekdays)
destinations_json, destinations_csv = _anonymous("destinations", queries.destinations)
waits_json, waits_csv = _anonymous("waits", queries.waits)


# --- the students with the most ----------------------------------------------------------


class StudentRowView(msgspec.Struct, kw_only=True):
    student: Person
    number: str | None
    passes: int
    minutes_out: float


class StudentsView(msgspec.Struct, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    room: str | None
    by: StudentsBy
    rows: list[StudentRowView]  # the most first
    # Per-student counts of days before this were dropped by retention.
    students_from: date | None


def _by(request: Request) -> StudentsBy:
    raw = request.query_params.get("by") or "passes"
    if raw == "passes":
        return "passes"
    if raw == "minutes":
        return "minutes"
    raise ApiError(422, "invalid", "by: expected passes or minutes.")


async def _students(request: Request, kind: str) -> tuple[School, Period, StudentsView]:
    school, period = await report_scope(request)
    by = _by(request)
    limit = limit_param(request, STUDENTS_DEFAULT, STUDENTS_MOST)
    report = queries.students(await REPORTS.of(school.runtime), period, by, limit)
    directory = school.services.backend.directory
    rows = []
    for row in report.rows:
        user = await directory.get_user(school.slug, row.student)
        # A student deleted meanwhile has no name to show; their counts went with them.
        if user is None:
            continue
        rows.append(
            StudentRowView(
                student=Person(user.id, user.name),
                number=user.number,
                passes=row.passes,
                minutes_out=row.minutes_out,
            )
        )
    detail = f"from={period.first} to={period.last} by={by} limit={limit} as={kind}"
    await note(school, REPORT_STUDENTS, period.room or "school", detail)
    view = StudentsView(
        from_=period.first,
        to=period.last,
        room=period.room,
        by=by,
        rows=rows,
        students_from=report.students_from,
    )
    return school, period, view


async def students_json(request: Request) -> Response:
    _, _, view = await _students(request, "json")
    return json_response(view)


async def students_csv(request: Request) -> Response:
    school, period, view = await _students(request, "csv")
    rows = ((r.student.id, r.student.name, r.number, r.passes, r.minutes_out) for r in view.rows)
    return csv_response(REPORT_TABLES["students"], rows, _filename(school, "students", period))


# --- the table -----------------------------------------------------------------------------

_PERIOD = (
    "`from`/`to`: school days (YYYY-MM-DD, school time, both included; by default the last "
    f"{DEFAULT_DAYS} days); `room`: passes from or to that room. Admins: the whole school or "
    "any room; a teacher: the room set on their account (403 without one)."
)
_ERRORS = ("unauthenticated", "forbidden", "invalid", "not_found")
_QUERY = ("from", "to", "room")


def _pair(
    name: str,
    what: str,
    json_handler: Handler,
    csv_handler: Handler,
    response: Any,
    query: tuple[str, ...] = _QUERY,
) -> list[Endpoint]:
    return [
        Endpoint(
            method="GET",
            path=f"/api/reports/{name}",
            handler=json_handler,
            summary=f"{what} {_PERIOD}",
            roles=STAFF_ROLES,
            response=response,
            query=query,
            errors=_ERRORS,
        ),
        Endpoint(
            method="GET",
            path=f"/api/reports/{name}.csv",
            handler=csv_handler,
            summary=(
                f"The rows of GET /api/reports/{name} as a CSV download (text/csv; columns in "
                "docs/data-dictionary.md)."
            ),
            roles=STAFF_ROLES,
            query=query,
            errors=_ERRORS,
        ),
    ]


endpoints: list[Endpoint] = [
    *_pair(
        "hours",
        "Passes per hour of the day (the hour each started, school time; all 24 hours).",
        hours_json,
        hours_csv,
        queries.HoursReport,
    ),
    *_pair(
        "weekdays",
        "Passes per weekday, Monday first.",
        weekdays_json,
        weekdays_csv,
        queries.WeekdaysReport,
    ),
    *_pair(
        "destinations",
        "Per destination, the most passes first: passes, average and longest minutes out, "
        "overtime and its rate; `total` for all of them.",
        destinations_json,
        destinations_csv,
        queries.DestinationsReport,
    ),
    *_pair(
        "waits",
        "Waiting in line per destination: passes that waited, average and longest wait, "
        "passes that gave up; `total` for all of them.",
        waits_json,
        waits_csv,
        queries.WaitsReport,
    ),
    *_pair(
        "students",
        f"The students with the most passes (`by=passes`) or minutes out (`by=minutes`); "
        f"`limit` 1 to {STUDENTS_MOST}, default {STUDENTS_DEFAULT}. Names students: each answer "
        "is written to the audit log.",
        students_json,
        students_csv,
        StudentsView,
        (*_QUERY, "by", "limit"),
    ),
]
