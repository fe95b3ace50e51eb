"""Exports over HTTP on a real server, on the SQLite store and on Redis: the
pass history and a student's record hold what the store and the directory
hold, under the data dictionary's columns; only admins get them, nothing of
another school; and every export is in the audit log, written before it went
out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime

import msgspec
import pytest
from api_kit import assert_error
from insight_kit import CLASSROOM, Insight, as_json, insight_server, read_csv

from hallpass.audit import EXPORT_PASSES, EXPORT_STUDENT
from hallpass.exports import (
    PASSES_TABLE,
    RECORD_TABLE,
    TABLES,
    PassFilter,
    StudentRecord,
    cell,
    pass_rows,
    record_rows,
    student_record,
)
from hallpass.projections.state import pass_day


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Insight]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('exports-api') / 'hallpass.db'}"
    async with insight_server(url) as insight:
        yield insight


async def expected_lines(site: Insight, chosen: PassFilter) -> list[list[str]]:
    state = await site.state()
    people = {u.id: u for u in await site.backend.directory.users(site.school.slug)}
    return [[cell(v) for v in line] for line in pass_rows(state, people, chosen)]


async def test_the_pass_history_holds_every_pass_of_the_period(site: Insight) -> None:
    admin = await site.client("admin")
    state = await site.state()
    days = sorted({pass_day(state, r) for r in state.passes.values()})
    first, last = days[0], days[-1]
    before = len(await site.audit())

    rows = read_csv(
        await admin.get("/api/exports/passes.csv", params={"from": str(first), "to": str(last)})
    )

    assert rows[0] == PASSES_TABLE.header
    assert rows[1:] == await expected_lines(site, PassFilter(first, last))
    assert len(rows) - 1 == sum(first <= pass_day(state, r) <= last for r in state.passes.values())
    # Names and numbers come from the directory.
    named = {row[2]: (row[3], row[4]) for row in rows[1:]}
    assert named["s3"] == ("Simulated Student 3", "SIM-003")
    (entry, *_) = await site.audit()
    assert len(await site.audit()) == before + 1
    assert (entry.action, entry.subject, entry.actor) == (
        EXPORT_PASSES,
        "school",
        site.school.users["admin"],
    )
    assert f"from={first} to={last}" in entry.detail


async def test_the_pass_history_of_a_room_or_a_student(site: Insight) -> None:
    admin = await site.client("admin")
    everything = {"from": "2000-01-01", "to": "2100-01-01"}

    by_room = read_csv(
        await admin.get("/api/exports/passes.csv", params={**everything, "room": CLASSROOM})
    )
    by_student = read_csv(
        await admin.get("/api/exports/passes.csv", params={**everything, "student": "s4"})
    )

    assert by_room[1:] == await expected_lines(
        site, PassFilter(date(2000, 1, 1), date(2100, 1, 1), room=CLASSROOM)
    )
    assert by_room[1:] and all(CLASSROOM in (row[5], row[7]) for row in by_room[1:])
    assert by_student[1:] == await expected_lines(
        site, PassFilter(date(2000, 1, 1), date(2100, 1, 1), student="s4")
    )
    assert by_student[1:] and {row[2] for row in by_student[1:]} == {"s4"}
    newest = await site.audit()
    assert [(e.action, e.subject) for e in newest[:2]] == [
        (EXPORT_PASSES, "s4"),
        (EXPORT_PASSES, CLASSROOM),
    ]


async def test_a_students_record_as_json_and_csv(site: Insight) -> None:
    admin = await site.client("admin")
    student = site.students["s5"]

    answer = await admin.get("/api/exports/students/s5/record.json")
    rows = read_csv(await admin.get("/api/exports/students/s5/record.csv"))

    assert answer.status_code == 200, answer.text
    shown = answer.json()
    school = await site.backend.directory.get_school(site.school.slug)
    assert school is not None
    people = {u.id: u for u in await site.backend.directory.users(site.school.slug)}
    exported_at = datetime.fromisoformat(shown["exported_at"])
    expected = student_record(await site.state(), school, student, people, exported_at)
    assert shown == as_json(expected)
    assert shown["student"]["number"] == "SIM-005"
    assert shown["passes"] and shown["passes"][0]["note"].startswith("note ")
    record = msgspec.json.decode(answer.content, type=StudentRecord)
    assert rows[0] == RECORD_TABLE.header
    lines = [[cell(v) for v in line] for line in record_rows(record)]
    assert [r for r in rows[1:] if r[0] != "student" or r[2] != "exported_at"] == lines
    audited = await site.audit()
    assert [(e.action, e.subject) for e in audited[:2]] == [
        (EXPORT_STUDENT, "s5"),
        (EXPORT_STUDENT, "s5"),
    ]
    assert {e.detail for e in audited[:2]} == {"as=json", "as=csv"}


async def test_exports_are_for_admins(site: Insight) -> None:
    before = len(await site.audit())
    for username in ("teacher1", "student1", "kiosk1"):
        client = await site.client(username)
        for path in (
            "/api/exports/passes.csv",
            "/api/exports/students/s5/record.json",
            "/api/exports/students/s5/record.csv",
        ):
            assert_error(await client.get(path), 403, "forbidden")
    assert len(await site.audit()) == before  # a refusal is no export


async def test_nothing_of_another_school_is_exported(site: Insight) -> None:
    admin = await site.client("admin")
    other_student = site.other.users["student1"]
    before = len(await site.audit())
    for path in (
        f"/api/exports/students/{other_student}/record.json",
        f"/api/exports/students/{other_student}/record.csv",
    ):
        assert_error(await admin.get(path), 404, "not_found")
    assert_error(
        await admin.get("/api/exports/passes.csv", params={"student": other_student}),
        404,
        "not_found",
    )
    assert_error(
        await admin.get("/api/exports/passes.csv", params={"room": site.other.rooms["Room 1"]}),
        404,
        "not_found",
    )
    # Staff are not students: no record of them here.
    teacher = site.school.users["teacher1"]
    assert_error(await admin.get(f"/api/exports/students/{teacher}/record.json"), 404, "not_found")
    assert len(await site.audit()) == before  # refused exports are not exports


async def test_the_dictionary_is_served_to_staff(site: Insight) -> None:
    teacher = await site.client("teacher1")
    answer = await teacher.get("/api/exports/dictionary")
    assert answer.status_code == 200
    assert answer.json() == as_json({"tables": TABLES})
    assert [t["name"] for t in answer.json()["tables"]][:2] == ["passes", "student_record"]
    student = await site.client("student1")
    assert_error(await student.get("/api/exports/dictionary"), 403, "forbidden")
