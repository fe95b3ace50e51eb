"""Reports over HTTP on a real server, on the SQLite store and on Redis: each
answer equals the report computed from a fold of the stored events, each CSV
holds the JSON's rows under the data dictionary's columns, a teacher sees
their own room only, and the report that names students is audited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from api_kit import assert_error
from insight_kit import CLASSROOM, Insight, as_json, insight_server, read_csv

from hallpass.audit import REPORT_STUDENTS
from hallpass.exports import REPORT_TABLES, cell
from hallpass.reports import queries
from hallpass.reports.queries import Period

ANONYMOUS = ("hours", "weekdays", "destinations", "waits")


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Insight]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('reports-api') / 'hallpass.db'}"
    async with insight_server(url) as insight:
        yield insight


async def simulated_days(site: Insight) -> tuple[date, date]:
    days = sorted((await site.aggregates()).days)
    return days[0], days[-1]


def computed(name: str, aggregates: Any, period: Period) -> Any:
    return as_json(getattr(queries, name)(aggregates, period))


@pytest.mark.parametrize("name", ANONYMOUS)
async def test_each_report_equals_the_report_of_the_stored_events(site: Insight, name: str) -> None:
    admin = await site.client("admin")
    first, last = await simulated_days(site)
    aggregates = await site.aggregates()
    for period in (Period(first, last), Period(first, first), Period(first, last, CLASSROOM)):
        params = {"from": str(period.first), "to": str(period.last)}
        if period.room:
            params["room"] = period.room
        answer = await admin.get(f"/api/reports/{name}", params=params)
        assert answer.status_code == 200, answer.text
        assert answer.json() == computed(name, aggregates, period)
        assert any(row.get("passes") or row.get("waited") for row in answer.json()["rows"])


@pytest.mark.parametrize("name", ANONYMOUS)
async def test_each_csv_holds_the_rows_of_the_report(site: Insight, name: str) -> None:
    admin = await site.client("admin")
    first, last = await simulated_days(site)
    params = {"from": str(first), "to": str(last)}
    report = (await admin.get(f"/api/reports/{name}", params=params)).json()

    rows = read_csv(await admin.get(f"/api/reports/{name}.csv", params=params))

    header = [c.name for c in REPORT_TABLES[name].columns]
    assert rows[0] == header
    assert rows[1:] == [[cell(row[column]) for column in header] for row in report["rows"]]


async def test_the_students_report_names_them_and_is_audited(site: Insight) -> None:
    admin = await site.client("admin")
    first, last = await simulated_days(site)
    aggregates = await site.aggregates()
    before = len(await site.audit())
    params = {"from": str(first), "to": str(last), "by": "minutes", "limit": "5"}

    answer = await admin.get("/api/reports/students", params=params)
    rows = read_csv(await admin.get("/api/reports/students.csv", params=params))

    assert answer.status_code == 200, answer.text
    expected = queries.students(aggregates, Period(first, last), "minutes", 5).rows
    shown = answer.json()["rows"]
    assert [r["student"]["id"] for r in shown] == [r.student for r in expected]
    assert [(r["passes"], r["minutes_out"]) for r in shown] == [
        (r.passes, r.minutes_out) for r in expected
    ]
    for row in shown:
        student = site.students[row["student"]["id"]]
        assert (row["student"]["name"], row["number"]) == (student.name, student.number)
    assert rows[0] == [c.name for c in REPORT_TABLES["students"].columns]
    assert rows[1:] == [
        [
            r["student"]["id"],
            r["student"]["name"],
            r["number"],
            cell(r["passes"]),
            cell(r["minutes_out"]),
        ]
        for r in shown
    ]
    audited = (await site.audit())[: len(await site.audit()) - before]
    assert [e.action for e in audited] == [REPORT_STUDENTS, REPORT_STUDENTS]
    assert {e.actor for e in audited} == {site.school.users["admin"]}
    assert all(e.subject == "school" and f"from={first}" in e.detail for e in audited)
    assert {e.detail.split()[-1] for e in audited} == {"as=json", "as=csv"}


async def test_a_teacher_sees_the_reports_of_their_own_room(site: Insight) -> None:
    teacher = await site.client("teacher1")  # their room is the simulation's c1
    first, last = await simulated_days(site)
    aggregates = await site.aggregates()
    params = {"from": str(first), "to": str(last)}

    answer = await teacher.get("/api/reports/destinations", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json() == computed("destinations", aggregates, Period(first, last, CLASSROOM))
    assert answer.json()["room"] == CLASSROOM
    same = await teacher.get("/api/reports/hours", params={**params, "room": CLASSROOM})
    assert same.status_code == 200
    named = await teacher.get("/api/reports/students", params=params)
    assert named.status_code == 200
    assert (await site.audit())[0].subject == CLASSROOM

    message = assert_error(
        await teacher.get("/api/reports/hours", params={**params, "room": "c2"}), 403, "forbidden"
    )
    assert "own room" in message
    roomless = await site.client("teacher2")
    message = assert_error(await roomless.get("/api/reports/hours"), 403, "forbidden")
    assert "Ask an admin" in message


@pytest.mark.parametrize("username", ["student1", "kiosk1"])
async def test_students_and_kiosks_see_no_report(site: Insight, username: str) -> None:
    client = await site.client(username)
    for name in (*ANONYMOUS, "students"):
        assert_error(await client.get(f"/api/reports/{name}"), 403, "forbidden")
        assert_error(await client.get(f"/api/reports/{name}.csv"), 403, "forbidden")


async def test_another_schools_room_is_no_room_here(site: Insight) -> None:
    admin = await site.client("admin")
    elsewhere = site.other.rooms["Room 1"]
    assert_error(
        await admin.get("/api/reports/hours", params={"room": elsewhere}), 404, "not_found"
    )
    other_admin = await site.client("admin", other=True)
    answer = await other_admin.get("/api/reports/hours", params={"room": CLASSROOM})
    assert_error(answer, 404, "not_found")
    # The other school's own reports know nothing of this one's passes.
    answer = await other_admin.get("/api/reports/hours", params={"from": "2025-01-01"})
    assert answer.status_code == 200
    assert sum(row["passes"] for row in answer.json()["rows"]) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2025-01-31T08:00:00Z"}, "from"),
        ({"from": "2025-02-02", "to": "2025-02-01"}, "from"),
    ],
)
async def test_a_malformed_period_is_refused(
    site: Insight, params: dict[str, str], field: str
) -> None:
    admin = await site.client("admin")
    message = assert_error(await admin.get("/api/reports/hours", params=params), 422, "invalid")
    assert message.startswith(f"{field}:")


async def test_malformed_students_options_are_refused(site: Insight) -> None:
    admin = await site.client("admin")
    for params in ({"by": "height"}, {"limit": "0"}, {"limit": "101"}):
        assert_error(await admin.get("/api/reports/students", params=params), 422, "invalid")


async def test_by_default_a_report_covers_the_last_thirty_days(site: Insight) -> None:
    admin = await site.client("admin")
    answer = await admin.get("/api/reports/weekdays")
    assert answer.status_code == 200
    today = datetime.now(UTC).astimezone(ZoneInfo("Pacific/Auckland")).date()
    shown = answer.json()
    assert date.fromisoformat(shown["to"]) in (today, today - timedelta(days=1))
    assert date.fromisoformat(shown["to"]) - date.fromisoformat(shown["from"]) == timedelta(days=29)
    # The extreme days of the calendar are days like any other.
    extremes = await admin.get(
        "/api/reports/waits", params={"from": "0001-01-01", "to": "9999-12-31"}
    )
    assert extremes.status_code == 200
    start = await admin.get("/api/reports/waits", params={"to": "0001-01-05"})
    assert start.status_code == 200 and start.json()["from"] == "0001-01-01"


async def test_a_pass_made_now_shows_in_the_reports_at_once(site: Insight) -> None:
    teacher = await site.client("teacher1")
    admin = await site.client("admin")
    made = await teacher.post(
        "/api/passes",
        json={"origin": CLASSROOM, "destination": "water", "student": "s7", "note": "water"},
    )
    assert made.status_code == 201, made.text
    assert (await teacher.post(f"/api/passes/{made.json()['id']}/end")).status_code == 200
    started = datetime.fromisoformat(made.json()["started_at"]).astimezone(
        ZoneInfo("Pacific/Auckland")
    )
    day = str(started.date())

    answer = await admin.get("/api/reports/hours", params={"from": day, "to": day})

    assert answer.status_code == 200
    assert answer.json()["rows"][started.hour]["passes"] >= 1
    assert answer.json() == computed(
        "hours", await site.aggregates(), Period(started.date(), started.date())
    )
