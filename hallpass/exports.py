"""What leaves the school as files: pass history as CSV, one student's record
(JSON and CSV), the reports' CSV downloads, and the data dictionary that
describes every column of them.

The dictionary (`TABLES`) is the one source: each CSV's header is read from
it, the API serves it (GET /api/exports/dictionary) and docs/data-dictionary.md
is written from it (`python -m hallpass.exports > docs/data-dictionary.md`), so
a column cannot be added without being described.

Everything here is pure: the caller reads the state and the directory and
writes the audit entry; these functions only shape what they were given.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

import msgspec

from hallpass.directory.model import School, User
from hallpass.projections.records import PassRecord, RequestRecord
from hallpass.projections.state import SchoolState, pass_day

ColumnType = Literal["text", "integer", "number", "boolean", "date", "time"]

# Excel reads a CSV as UTF-8 (accents in names intact) only with this mark first.
BOM = "\ufeff"
# A cell starting with one of these is a formula to a spreadsheet; such text
# is written with a leading apostrophe so that opening the file runs nothing.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Column(msgspec.Struct, frozen=True):
    name: str
    type: ColumnType
    description: str


class Table(msgspec.Struct, frozen=True):
    name: str  # how the API and the docs call it
    title: str
    where: str  # the address it is downloaded from
    description: str
    columns: list[Column]

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]


def _col(name: str, kind: ColumnType, description: str) -> Column:
    return Column(name, kind, description)


_PERIOD = (
    "`from` and `to` are school days (YYYY-MM-DD, the school's time zone, both included; "
    "by default the last 30 days); `room` a room's id (passes from or to it)."
)

PASS_COLUMNS: list[Column] = [
    _col("pass_id", "text", "The pass's id in Hallpass."),
    _col(
        "school_day",
        "date",
        "The school day the pass belongs to: the day it was to start, else the day it was made (school time).",
    ),
    _col("student_id", "text", "The student's id in Hallpass (random; it names no one by itself)."),
    _col("student_name", "text", "The student's name; empty once the student was deleted."),
    _col(
        "student_number",
        "text",
        "The student's number (ID card); empty once the student was deleted.",
    ),
    _col("origin_id", "text", "The id of the room the student left from."),
    _col("origin", "text", "That room's name."),
    _col("destination_id", "text", "The id of the room the student went to."),
    _col("destination", "text", "That room's name."),
    _col(
        "kind",
        "text",
        "Who asked: `student` (on their device), `kiosk`, `staff` (a teacher or admin wrote it) or `request` (a teacher's request the student accepted).",
    ),
    _col(
        "state", "text", "scheduled, pending, waiting, active, ended, denied, cancelled or expired."
    ),
    _col("minutes", "integer", "Minutes allowed, extensions included."),
    _col("created_at", "time", "When the pass was made (ISO 8601, UTC)."),
    _col("created_by", "text", "Who made it: a user id, or `system`."),
    _col("created_by_name", "text", "That person's name (empty if unknown)."),
    _col("start_at", "time", "When a scheduled pass was to start; empty for a pass asked for now."),
    _col("started_at", "time", "When the student left; empty if the pass never started."),
    _col(
        "arrived_at", "time", "When a kiosk or teacher recorded the arrival; empty if not recorded."
    ),
    _col("ended_at", "time", "When the pass ended, or was denied, cancelled or expired."),
    _col("ended_by", "text", "Who ended it: a user id, or `system` when the school's rules did."),
    _col("ended_by_name", "text", "That person's name (empty if unknown)."),
    _col(
        "minutes_out",
        "number",
        "Minutes between leaving and the end, for ended passes (one decimal).",
    ),
    _col(
        "overtime", "boolean", "`true` when the pass ran past its minutes and was still out then."
    ),
    _col("request_id", "text", "The teacher's request this pass answered, if any."),
    _col("note", "text", "The note written on the pass; empty once its student was deleted."),
]

RECORD_COLUMNS: list[Column] = [
    _col(
        "section", "text", "`student`, `policies`, `pass` or `request`: which part of the record."
    ),
    _col("item", "text", "The pass's or request's id (empty for the student and policies)."),
    _col(
        "field",
        "text",
        "The field: for passes the columns of the pass history; see the JSON record below.",
    ),
    _col("value", "text", "Its value, as text (times in ISO 8601 UTC, lists separated by `;`)."),
]

_REPORT_BASE = "/api/reports/"
_REPORT_COLUMNS: dict[str, tuple[str, str, list[Column]]] = {
    "hours": (
        "Passes per hour of the day",
        "Passes that started in each hour of the day (school time), all 24 hours.",
        [
            _col("hour", "integer", "The hour of the day, 0 to 23 (9 is 09:00 to 09:59)."),
            _col("passes", "integer", "Passes that started in that hour."),
        ],
    ),
    "weekdays": (
        "Passes per weekday",
        "Passes that started on each day of the week, Monday first.",
        [
            _col("weekday", "text", "mon, tue, wed, thu, fri, sat or sun."),
            _col("passes", "integer", "Passes that started on that weekday."),
        ],
    ),
    "destinations": (
        "Destinations: how often, how long, overtime",
        "One row per destination, the most passes first.",
        [
            _col("room", "text", "The destination's room id."),
            _col("name", "text", "Its name."),
            _col("passes", "integer", "Passes to it that started."),
            _col("ended", "integer", "Of those, the ones that have ended."),
            _col(
                "average_minutes",
                "number",
                "Average minutes out of the ended passes; empty when none ended.",
            ),
            _col("longest_minutes", "number", "The longest time out among them."),
            _col("overtime", "integer", "Ended passes that ran past their minutes."),
            _col("overtime_rate", "number", "overtime / ended, from 0 to 1."),
        ],
    ),
    "waits": (
        "Waiting in line",
        "One row per destination whose line anyone waited in, the most waits first.",
        [
            _col("room", "text", "The destination's room id (the line is for it)."),
            _col("name", "text", "Its name."),
            _col("waited", "integer", "Passes that started after waiting in line."),
            _col("average_wait_minutes", "number", "Their average wait in minutes."),
            _col("longest_wait_minutes", "number", "The longest wait."),
            _col(
                "gave_up",
                "integer",
                "Passes that left the line without starting (cancelled, denied, expired).",
            ),
        ],
    ),
    "students": (
        "Students with the most passes or time out",
        "The students with the most passes (`by=passes`) or minutes out (`by=minutes`); "
        "names students, so every download is in the audit log.",
        [
            _col("student_id", "text", "The student's id in Hallpass."),
            _col("student_name", "text", "The student's name."),
            _col("student_number", "text", "The student's number."),
            _col("passes", "integer", "Passes that started in the period."),
            _col("minutes_out", "number", "Minutes out over the ended ones."),
        ],
    ),
}

REPORT_TABLES: dict[str, Table] = {
    name: Table(
        name=f"report_{name}",
        title=title,
        where=f"GET {_REPORT_BASE}{name}.csv",
        description=f"{description} {_PERIOD}",
        columns=columns,
    )
    for name, (title, description, columns) in _REPORT_COLUMNS.items()
}

PASSES_TABLE = Table(
    name="passes",
    title="Pass history",
    where="GET /api/exports/passes.csv",
    description=(
        "Every pass of a period, oldest first, optionally of one room (from or to it) "
        "or one student (`student`: their id). `from` and `to` are school days "
        "(YYYY-MM-DD, both included; by default the last 30 days)."
    ),
    columns=PASS_COLUMNS,
)

RECORD_TABLE = Table(
    name="student_record",
    title="One student's record (CSV)",
    where="GET /api/exports/students/{id}/record.csv",
    description=(
        "Everything the school holds about one student, one fact per line: the same "
        "content as the JSON record at GET /api/exports/students/{id}/record.json."
    ),
    columns=RECORD_COLUMNS,
)

TABLES: list[Table] = [PASSES_TABLE, RECORD_TABLE, *REPORT_TABLES.values()]


# --- writing CSV ---------------------------------------------------------------------


def cell(value: Any) -> str:
    """One value as the CSV shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return msgspec.json.encode(value).decode().strip('"')
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ";".join(cell(v) for v in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _lines(rows: Iterable[Sequence[Any]], width: int, name: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"{name}: a row of {len(row)} values for {width} columns")
        writer.writerow([cell(v) for v in row])
    return buffer.getvalue()


def csv_head(table: Table) -> str:
    """The start of the table's CSV: the byte order mark and the header line."""
    return BOM + _lines([table.header], len(table.columns), table.name)


def csv_lines(table: Table, rows: Iterable[Sequence[Any]]) -> str:
    """Rows of the table's CSV (CRLF lines), to follow its head."""
    return _lines(rows, len(table.columns), table.name)


def csv_text(table: Table, rows: Iterable[Sequence[Any]]) -> str:
    """The whole CSV of a table: UTF-8 text with a byte order mark."""
    return csv_head(table) + csv_lines(table, rows)


# --- pass history ---------------------------------------------------------------------


class PassFilter(msgspec.Struct, frozen=True):
    first: date
    last: date
    room: str | None = None
    student: str | None = None


def _minutes_out(record: PassRecord) -> float | None:
    if record.state != "ended" or record.started_at is None or record.ended_at is None:
        return None
    return round((record.ended_at - record.started_at).total_seconds() / 60, 1)


def _name(people: Mapping[str, User], user_id: str | None) -> str:
    if user_id is None:
        return ""
    user = people.get(user_id)
    return user.name if user is not None else ""


def candidates(state: SchoolState, chosen: PassFilter) -> list[PassRecord]:
    """The passes `chosen` may select: one student's, or the whole school's
    (a list, so the caller may go through it while the state moves on)."""
    if chosen.student is None:
        return list(state.passes.values())
    ids = state.passes_by_student.get(chosen.student, ())
    return [state.passes[i] for i in ids if i in state.passes]


def selected(state: SchoolState, chosen: PassFilter, record: PassRecord) -> bool:
    """Whether the pass is in the period (by its school day) and the room."""
    if chosen.room is not None and chosen.room not in (record.origin, record.destination):
        return False
    if chosen.student is not None and record.student != chosen.student:
        return False
    return chosen.first <= pass_day(state, record) <= chosen.last


def pass_row(state: SchoolState, people: Mapping[str, User], record: PassRecord) -> list[Any]:
    """One line of the pass history, in PASS_COLUMNS' order."""
    student = people.get(record.student)
    rooms = state.rooms
    origin = rooms.get(record.origin)
    destination = rooms.get(record.destination)
    return [
        record.id,
        pass_day(state, record),
        record.student,
        student.name if student is not None else "",
        (student.number or "") if student is not None else "",
        record.origin,
        origin.name if origin is not None else "",
        record.destination,
        destination.name if destination is not None else "",
        record.kind,
        record.state,
        record.minutes,
        record.created_at,
        record.created_by,
        _name(people, record.created_by),
        record.start_at,
        record.started_at,
        record.arrived_at,
        record.ended_at,
        record.ended_by,
        _name(people, record.ended_by),
        _minutes_out(record),
        record.overtime,
        record.request,
        record.note,
    ]


def pass_rows(
    state: SchoolState, people: Mapping[str, User], chosen: PassFilter
) -> Iterator[list[Any]]:
    """The pass history's lines, oldest first."""
    for record in candidates(state, chosen):
        if selected(state, chosen, record):
            yield pass_row(state, people, record)


# --- one student's record ----------------------------------------------------------------


class RecordSchool(msgspec.Struct):
    slug: str
    name: str


class RecordSettings(msgspec.Struct):
    language: str
    appearance: str
    favorites: list[str]


class RecordStudent(msgspec.Struct, kw_only=True):
    id: str
    username: str
    name: str
    number: str | None
    email: str | None
    active: bool
    roster_id: str | None  # the school information system's id (OneRoster sourcedId)
    sign_in: list[str]  # how they sign in: "password", "single sign-on"
    settings: RecordSettings


class RecordPolicies(msgspec.Struct, kw_only=True):
    exempt: bool  # from the daily and weekly limits and the cooldown
    kept_apart: bool  # from at least one other student (who is never named)


class RecordPass(msgspec.Struct, kw_only=True):
    """A pass as the pass history shows it, less the student's own columns."""

    pass_id: str
    school_day: date
    origin_id: str
    origin: str
    destination_id: str
    destination: str
    kind: str
    state: str
    minutes: int
    created_at: datetime
    created_by: str
    created_by_name: str
    start_at: datetime | None
    started_at: datetime | None
    arrived_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    ended_by_name: str
    minutes_out: float | None
    overtime: bool
    request_id: str | None
    note: str


class RecordRequest(msgspec.Struct, kw_only=True):
    request_id: str
    teacher_id: str
    teacher_name: str
    destination_id: str
    destination: str
    minutes: int
    state: str
    sent_at: datetime
    start_at: datetime | None
    note: str
    pass_id: str | None


class StudentRecord(msgspec.Struct, kw_only=True):
    exported_at: datetime
    school: RecordSchool
    student: RecordStudent
    policies: RecordPolicies
    passes: list[RecordPass]  # oldest first
    requests: list[RecordRequest]  # oldest first


_STUDENT_OWN = {"student_id", "student_name", "student_number"}
_RECORD_PASS_FIELDS = [c.name for c in PASS_COLUMNS if c.name not in _STUDENT_OWN]


def _request(state: SchoolState, people: Mapping[str, User], r: RequestRecord) -> RecordRequest:
    room = state.rooms.get(r.destination)
    return RecordRequest(
        request_id=r.id,
        teacher_id=r.teacher,
        teacher_name=_name(people, r.teacher),
        destination_id=r.destination,
        destination=room.name if room is not None else "",
        minutes=r.minutes,
        state=r.state,
        sent_at=r.sent_at,
        start_at=r.start_at,
        note=r.note,
        pass_id=r.pass_id,
    )


def student_record(
    state: SchoolState,
    school: School,
    student: User,
    people: Mapping[str, User],
    now: datetime,
) -> StudentRecord:
    """Everything the school holds about `student`. Passwords and PINs are
    never part of it: only a one-way hash of them is kept."""
    sign_in = (["password"] if student.password_hash else []) + (
        ["single sign-on"] if school.sso is not None else []
    )
    passes = []
    for pid in state.passes_by_student.get(student.id, ()):
        record = state.passes.get(pid)
        if record is None:
            continue
        row = dict(
            zip([c.name for c in PASS_COLUMNS], pass_row(state, people, record), strict=True)
        )
        passes.append(RecordPass(**{k: row[k] for k in _RECORD_PASS_FIELDS}))
    requests = [
        _request(state, people, state.requests[rid])
        for rid in state.requests_by_student.get(student.id, ())
        if rid in state.requests
    ]
    return StudentRecord(
        exported_at=now,
        school=RecordSchool(school.slug, school.name),
        student=RecordStudent(
            id=student.id,
            username=student.username,
            name=student.name,
            number=student.number,
            email=student.email,
            active=student.active,
            roster_id=student.source_id,
            sign_in=sign_in,
            settings=RecordSettings(
                student.settings.language,
                student.settings.appearance,
                list(student.settings.favorites),
            ),
        ),
        policies=RecordPolicies(
            exempt=student.id in state.exempt, kept_apart=student.id in state.apart
        ),
        passes=passes,
        requests=requests,
    )


def record_rows(record: StudentRecord) -> Iterator[list[Any]]:
    """The record as RECORD_COLUMNS' lines: section, item, field, value."""
    for name, value in msgspec.structs.asdict(record.student).items():
        if isinstance(value, RecordSettings):
            for setting, chosen in msgspec.structs.asdict(value).items():
                yield ["student", "", f"settings.{setting}", chosen]
        else:
            yield ["student", "", name, value]
    for name, value in msgspec.structs.asdict(record.policies).items():
        yield ["policies", "", name, value]
    for p in record.passes:
        for name, value in msgspec.structs.asdict(p).items():
            yield ["pass", p.pass_id, name, value]
    for r in record.requests:
        for name, value in msgspec.structs.asdict(r).items():
            yield ["request", r.request_id, name, value]


# --- the data dictionary, for the docs ---------------------------------------------------

_TYPE_WORDS = {
    "text": "text",
    "integer": "whole number",
    "number": "number (one decimal, or a rate with four)",
    "boolean": "`true` or `false`",
    "date": "date, YYYY-MM-DD (school time)",
    "time": "time, ISO 8601 in UTC (`2025-09-02T14:05:31Z`)",
}

_INTRO = """\
# Data dictionary

<!-- Written by `python -m hallpass.exports > docs/data-dictionary.md`, from
hallpass/exports.py; tests/test_exports.py checks that the two agree. -->

Every file Hallpass lets an admin (or a teacher, for the reports of their
room) download, and every column in it. The same dictionary is served as JSON
at `GET /api/exports/dictionary`.

All CSV files are UTF-8 with a byte order mark (so Excel shows accented names
right), comma-separated, with a header line. Empty means "none" or "not yet".
A text that starts with `=`, `+`, `-` or `@` is written with a leading `'`, so
a spreadsheet never runs it as a formula. Every download that names students
(the pass history, a student's record, the students report) is written to the
school's audit log with who asked and when.
"""

_RECORD_JSON = """\
### The JSON record: `GET /api/exports/students/{id}/record.json`

`{"exported_at", "school": {"slug", "name"}, "student": {...}, "policies": {...},
"passes": [...], "requests": [...]}`:

- `student`: `id`, `username`, `name`, `number`, `email`, `active`, `roster_id`
  (the school information system's id, if the roster came from one), `sign_in`
  (`password`, `single sign-on`), `settings` (`language`, `appearance`,
  `favorites`: room ids).
- `policies`: `exempt` (from limits and the cooldown), `kept_apart` (from at
  least one other student, who is never named).
- `passes`: one object per pass with the pass history's columns, less the
  three `student_*` ones.
- `requests`: `request_id`, `teacher_id`, `teacher_name`, `destination_id`,
  `destination`, `minutes`, `state`, `sent_at`, `start_at`, `note`, `pass_id`.

Passwords and PINs are never exported: Hallpass keeps only a one-way hash of them.
"""


def dictionary_markdown() -> str:
    parts = [_INTRO]
    for table in TABLES:
        parts.append(
            f"\n## {table.title} (`{table.name}`)\n\n`{table.where}`. {table.description}\n"
        )
        parts.append("\n| column | type | what it holds |\n| --- | --- | --- |\n")
        for column in table.columns:
            parts.append(
                f"| `{column.name}` | {_TYPE_WORDS[column.type]} | {column.description} |\n"
            )
        if table is RECORD_TABLE:
            parts.append("\n" + _RECORD_JSON)
    return "".join(parts)


if __name__ == "__main__":
    print(dictionary_markdown(), end="")
