"""Exports without a server: the data dictionary, the pass history's lines and
one student's record, from a school made by the real rules (reports_kit)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import get_args

import msgspec
import pytest
from reports_kit import simulate

from hallpass.directory.model import School, Settings, User
from hallpass.events.types import Event, Policies, PoliciesSet, StudentErased
from hallpass.exports import (
    BOM,
    PASS_COLUMNS,
    PASSES_TABLE,
    RECORD_TABLE,
    REPORT_TABLES,
    TABLES,
    ColumnType,
    PassFilter,
    cell,
    csv_text,
    dictionary_markdown,
    pass_rows,
    record_rows,
    student_record,
)
from hallpass.projections.state import SchoolState, pass_day, replay
from hallpass.reports import queries

DOCS = Path(__file__).resolve().parent.parent / "docs" / "data-dictionary.md"
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def school() -> SchoolState:
    return replay(simulate(31, days=3))


def people(state: SchoolState) -> dict[str, User]:
    students = {r.student for r in state.passes.values()}
    found = {
        s: User(
            id=s, school="x", username=f"u-{s}", name=f"Name {s}", role="student", number=f"N-{s}"
        )
        for s in students
    }
    found["t1"] = User(id="t1", school="x", username="t1", name="Teacher One", role="teacher")
    return found


def test_the_docs_hold_the_dictionary_the_code_serves() -> None:
    assert DOCS.read_text() == dictionary_markdown(), (
        "run: python -m hallpass.exports > docs/data-dictionary.md"
    )


def test_every_column_is_described_once() -> None:
    kinds = set(get_args(ColumnType))
    for table in TABLES:
        names = [c.name for c in table.columns]
        assert len(names) == len(set(names)), table.name
        for column in table.columns:
            assert column.type in kinds
            assert column.description.endswith(".") and len(column.description) > 5
            assert f"`{column.name}`" in dictionary_markdown()


def test_the_report_tables_are_the_rows_of_the_reports() -> None:
    """Each report CSV's columns are its JSON rows' fields, in order."""
    rows = {
        "hours": queries.HourRow,
        "weekdays": queries.WeekdayRow,
        "destinations": queries.DestinationRow,
        "waits": queries.WaitRow,
    }
    for name, row in rows.items():
        assert REPORT_TABLES[name].header == list(row.__struct_fields__)


def test_a_cell_is_plain_text_a_spreadsheet_will_not_run() -> None:
    assert cell(None) == ""
    assert (cell(True), cell(False)) == ("true", "false")
    assert cell(datetime(2025, 9, 2, 14, 5, 31, tzinfo=UTC)) == "2025-09-02T14:05:31Z"
    assert cell(date(2025, 9, 2)) == "2025-09-02"
    assert cell(["a", "b"]) == "a;b"
    assert (cell(3), cell(2.5)) == ("3", "2.5")
    for formula in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx"):
        assert cell(formula) == "'" + formula
    assert cell("Room 101") == "Room 101"


def test_the_pass_history_has_a_line_per_pass_of_the_period(school: SchoolState) -> None:
    found = people(school)
    days = sorted({pass_day(school, r) for r in school.passes.values()})
    chosen = PassFilter(days[1], days[1])
    lines = list(pass_rows(school, found, chosen))
    expected = [r for r in school.passes.values() if pass_day(school, r) == days[1]]
    assert [line[0] for line in lines] == [r.id for r in expected]  # oldest first
    for line, record in zip(lines, expected, strict=True):
        row = dict(zip(PASSES_TABLE.header, line, strict=True))
        assert row["student_id"] == record.student
        assert row["student_name"] == f"Name {record.student}"
        assert row["student_number"] == f"N-{record.student}"
        assert row["origin"] == school.rooms[record.origin].name
        assert (row["state"], row["minutes"], row["overtime"]) == (
            record.state,
            record.minutes,
            record.overtime,
        )
        assert row["note"] == record.note != ""
        if record.state == "ended":
            assert record.started_at and record.ended_at
            out = (record.ended_at - record.started_at).total_seconds() / 60
            assert row["minutes_out"] == round(out, 1)
        else:
            assert row["minutes_out"] is None
        assert row["created_by_name"] == (
            found[record.created_by].name if record.created_by in found else ""
        )


def test_the_pass_history_filters_by_room_and_student(school: SchoolState) -> None:
    found = people(school)
    everything = PassFilter(date.min, date.max)
    assert len(list(pass_rows(school, found, everything))) == len(school.passes)
    by_room = list(pass_rows(school, found, PassFilter(date.min, date.max, room="lib")))
    assert by_room and all("lib" in (line[5], line[7]) for line in by_room)
    assert len(by_room) == sum("lib" in (r.origin, r.destination) for r in school.passes.values())
    student = next(iter(school.passes.values())).student
    mine = list(pass_rows(school, found, PassFilter(date.min, date.max, student=student)))
    assert [line[0] for line in mine] == school.passes_by_student[student]
    both = list(pass_rows(school, found, PassFilter(date.min, date.max, "lib", student)))
    assert {line[0] for line in both} == {line[0] for line in mine} & {line[0] for line in by_room}


def test_a_csv_is_utf8_with_a_mark_and_one_line_per_row(school: SchoolState) -> None:
    found = people(school)
    found["s1"] = msgspec.structs.replace(found["s1"], name='José Ñúñez, "Pepe"')
    lines = list(pass_rows(school, found, PassFilter(date.min, date.max, student="s1")))
    text = csv_text(PASSES_TABLE, lines)
    assert text.startswith(BOM)
    parsed = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert parsed[0] == [c.name for c in PASS_COLUMNS]
    assert parsed[1:] == [[cell(v) for v in line] for line in lines]
    assert {row[3] for row in parsed[1:]} == {'José Ñúñez, "Pepe"'}
    with pytest.raises(ValueError):
        csv_text(PASSES_TABLE, [["too", "short"]])


def test_a_students_record_holds_everything_about_them(school: SchoolState) -> None:
    found = people(school)
    student = msgspec.structs.replace(
        found["s2"], email="s2@example.org", settings=Settings(language="es", favorites=["lib"])
    )
    place = School(slug="x", name="X High")
    record = student_record(school, place, student, found, NOW)

    assert record.student.name == student.name and record.student.email == "s2@example.org"
    assert record.student.settings.language == "es"
    assert "password_hash" not in msgspec.json.encode(record).decode()
    assert [p.pass_id for p in record.passes] == school.passes_by_student["s2"]
    assert [r.request_id for r in record.requests] == school.requests_by_student.get("s2", [])
    assert record.exported_at == NOW
    # The CSV says the same, one fact a line.
    lines = list(record_rows(record))
    assert all(len(line) == len(RECORD_TABLE.columns) for line in lines)
    facts = {(s, i, f): v for s, i, f, v in lines}
    assert facts[("student", "", "number")] == student.number
    assert facts[("student", "", "settings.favorites")] == ["lib"]
    first = record.passes[0]
    assert facts[("pass", first.pass_id, "destination")] == first.destination
    assert sum(1 for s, _, _, _ in lines if s == "pass") == len(record.passes) * len(
        msgspec.structs.fields(first)
    )


def test_a_student_kept_apart_or_exempt_is_told_so_without_the_others_names() -> None:
    events = [s.event for s in simulate(32, days=1)] + [
        PoliciesSet(
            at=NOW,
            actor="admin",
            policies=Policies(
                exempt=["s3"], keep_apart=[["s4", "s5"]], timezone="Pacific/Auckland"
            ),
        )
    ]
    state = replay(list[Event](events))
    place = School(slug="x", name="X")
    found = people(state)
    for student, exempt, apart in (("s3", True, False), ("s4", False, True), ("s6", False, False)):
        record = student_record(state, place, found[student], found, NOW)
        assert (record.policies.exempt, record.policies.kept_apart) == (exempt, apart)
        assert "s5" not in msgspec.json.encode(record.policies).decode()


def test_no_export_shows_the_notes_of_a_deleted_student() -> None:
    events = simulate(31, days=3)
    erased = StudentErased(at=NOW + timedelta(days=1), actor="op", student="s1")
    state = replay(list[Event]([*(s.event for s in events), erased]))
    found = people(state)
    del found["s1"]
    lines = list(pass_rows(state, found, PassFilter(date.min, date.max)))
    for line in lines:
        row = dict(zip(PASSES_TABLE.header, line, strict=True))
        if row["student_id"] == "s1":
            assert (row["note"], row["student_name"], row["student_number"]) == ("", "", "")
        else:
            assert row["note"] != ""
