"""The report charts, exports and audit log of the admin and teacher pages, in
a real browser against a real server (the demo school, every password `demo`).

The school's passes are made through the API first: several students, several
destinations, a line at the Library. Every chart is then read back from the
page (its bars' values, its hidden data table) and compared with what the
API answers, and each CSV download with the chart it belongs to.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from browser_kit import axe_violations, chromium, open_page, person
from playwright.async_api import Browser, BrowserContext, Page, expect
from servers import Server, login, running_server

pytestmark = pytest.mark.browser

DEMO = {"HALLPASS_DEMO": "1"}
TEACHER_ROOM = "Room 102"


@dataclass
class School:
    server: Server
    rooms: dict[str, str]  # name -> id
    passes: int  # how many the seeding made


async def seed_passes(client: httpx.AsyncClient, rooms: dict[str, str]) -> int:
    """Passes written by the admin for students (origin, destination), ended
    at once, and three to the Library (capacity 2), so one waits in line."""
    made = 0

    async def write(number: str, origin: str, destination: str) -> dict[str, Any]:
        nonlocal made
        answer = await client.post(
            "/api/passes",
            json={
                "student_number": number,
                "origin": rooms[origin],
                "destination": rooms[destination],
            },
        )
        assert answer.status_code == 201, answer.text
        made += 1
        result: dict[str, Any] = answer.json()
        return result

    async def end(found: dict[str, Any]) -> None:
        answer = await client.post(f"/api/passes/{found['id']}/end")
        assert answer.status_code == 200, answer.text

    for number, origin, destination in [
        ("100004", "Room 101", "Restroom"),
        ("100005", "Room 102", "Restroom"),
        ("100006", "Room 103", "Restroom"),
        ("100007", "Room 102", "Water Fountain"),
        ("100008", "Room 101", "Water Fountain"),
        ("100004", "Room 101", "Water Fountain"),  # student04's second: the most passes
    ]:
        await end(await write(number, origin, destination))
    first = await write("100009", "Room 102", "Library")
    second = await write("100010", "Room 101", "Library")
    third = await write("100011", "Room 104", "Library")
    assert third["state"] == "waiting"  # the Library holds two
    await end(first)  # the third starts, after waiting in line
    await end(second)
    await end(third)
    return made


@pytest.fixture(scope="module")
async def school(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[School]:
    db = tmp_path_factory.mktemp("reports") / "hallpass.db"
    async with running_server(f"sqlite:///{db}", env=DEMO) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            await login(client, "demo", "admin", "demo")
            rooms = {r["name"]: r["id"] for r in (await client.get("/api/rooms")).json()}
            made = await seed_passes(client, rooms)
            teacher = (await client.get("/api/users?q=teacher1&role=teacher")).json()[0]
            answer = await client.patch(
                f"/api/users/{teacher['id']}", json={"room": rooms[TEACHER_ROOM]}
            )
            assert answer.status_code == 200, answer.text
        yield School(server, rooms, made)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


async def api(context: BrowserContext, path: str) -> Any:
    """What the API answers the signed-in person of `context`."""
    answer = await context.request.get(path)
    assert answer.ok, await answer.text()
    return await answer.json()


async def csv_rows(context: BrowserContext, href: str) -> list[dict[str, str]]:
    """A download fetched with the page's cookies, parsed (UTF-8 with a BOM)."""
    answer = await context.request.get(href)
    assert answer.ok, await answer.text()
    assert answer.headers["content-type"].startswith("text/csv")
    raw = await answer.body()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


async def open_reports(context: BrowserContext, path: str) -> Page:
    page = await open_page(context, path)
    await expect(page.locator("[data-report] svg").first).to_be_visible()
    await expect(page.locator("#reports-charts")).to_have_attribute("aria-busy", "false")
    return page


def card(page: Page, title: str) -> Any:
    return page.locator("section.chart-card", has=page.get_by_role("heading", name=title))


async def bars(page: Page, title: str) -> list[tuple[str, float | None]]:
    """Each bar of a chart: its label and value, in the order drawn."""
    found: list[tuple[str, str]] = (
        await card(page, title)
        .locator("rect.chart-bar")
        .evaluate_all("rects => rects.map(r => [r.dataset.label, r.dataset.value])")
    )
    return [(label, float(value) if value != "" else None) for label, value in found]


async def table(page: Page, title: str) -> list[list[str]]:
    """The chart's visually hidden data table, what a screen reader reads."""
    rows: list[list[str]] = (
        await card(page, title)
        .locator("table.chart-data tbody tr")
        .evaluate_all("rows => rows.map(r => [...r.children].map(c => c.textContent))")
    )
    return rows


def number(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)


def assert_no_page_errors(*pages: Page) -> None:
    for page in pages:
        assert page.errors == [], page.errors  # type: ignore[attr-defined]


# --- the charts -----------------------------------------------------------------------


async def test_each_chart_draws_the_numbers_the_api_reports(
    school: School, browser: Browser
) -> None:
    context = await person(browser, school.server.url, "admin")
    page = await open_reports(context, "/admin#reports")
    hours = await api(context, "/api/reports/hours")
    weekdays = await api(context, "/api/reports/weekdays")
    destinations = await api(context, "/api/reports/destinations")
    waits = await api(context, "/api/reports/waits")

    # Per hour: 24 bars; every pass seeded counts in the hour it started.
    drawn = await bars(page, "Passes per hour of the day")
    assert [label for label, _ in drawn] == [f"{h:02d}:00" for h in range(24)]
    assert [value for _, value in drawn] == [row["passes"] for row in hours["rows"]]
    assert sum(row["passes"] for row in hours["rows"]) == school.passes
    busy = [row for row in hours["rows"] if row["passes"]]
    assert 1 <= len(busy) <= 2  # the hour of the seeding (two if it crossed one)
    # Only the busy hours carry a written value, and it is the count.
    written = (
        await card(page, "Passes per hour of the day")
        .locator("text.chart-value")
        .all_text_contents()
    )
    assert written == [str(row["passes"]) for row in busy]
    assert [row[1] for row in await table(page, "Passes per hour of the day")] == [
        str(row["passes"]) for row in hours["rows"]
    ]
    svg = card(page, "Passes per hour of the day").locator("svg")
    await expect(svg).to_have_attribute("role", "img")
    await expect(svg).to_have_attribute("aria-label", "Passes per hour of the day")
    assert str(school.passes) in await svg.locator("desc").text_content()

    # Per weekday: 7 bars, Monday first.
    drawn = await bars(page, "Passes per weekday")
    assert [label for label, _ in drawn] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert [value for _, value in drawn] == [row["passes"] for row in weekdays["rows"]]

    # Top destinations: one bar per destination, the most first.
    drawn = await bars(page, "Top destinations")
    assert drawn == [(row["name"], row["passes"]) for row in destinations["rows"]]
    assert dict(drawn) == {"Restroom": 3, "Water Fountain": 3, "Library": 3}

    # Time out: average and longest, two bars per destination with ended passes.
    ended = [row for row in destinations["rows"] if row["ended"]]
    drawn = await bars(page, "Time out per destination")
    assert drawn == [
        pair
        for row in ended
        for pair in ((row["name"], row["average_minutes"]), (row["name"], row["longest_minutes"]))
    ]

    # Overtime rate: the share of ended passes over time, per destination.
    drawn = await bars(page, "Overtime rate per destination")
    assert drawn == [(row["name"], row["overtime_rate"]) for row in ended]
    assert [row[1] for row in await table(page, "Overtime rate per destination")] == [
        f"0% (0 of {row['ended']})" for row in ended
    ]

    # Waiting in line: the Library's line, where one student waited.
    drawn = await bars(page, "Waiting in line")
    assert drawn == [
        pair
        for row in waits["rows"]
        for pair in (
            (row["name"], row["average_wait_minutes"]),
            (row["name"], row["longest_wait_minutes"]),
        )
    ]
    assert [row["name"] for row in waits["rows"]] == ["Library"]
    assert waits["rows"][0]["waited"] == 1
    assert_no_page_errors(page)
    await context.close()


async def test_each_csv_download_holds_the_rows_its_chart_shows(
    school: School, browser: Browser
) -> None:
    context = await person(browser, school.server.url, "admin")
    page = await open_reports(context, "/admin#reports")
    links = page.locator("a[data-csv]")
    hrefs: dict[str, str] = {}
    for link in await links.all():
        hrefs[await link.get_attribute("data-csv") or ""] = await link.get_attribute("href") or ""
    assert set(hrefs) == {"hours", "weekdays", "destinations", "waits", "students"}

    # A real download, as a person clicks it.
    async with page.expect_download() as waiting:
        await (
            card(page, "Passes per hour of the day")
            .get_by_role("link", name="Download CSV")
            .click()
        )
    download = await waiting.value
    assert download.suggested_filename.startswith("demo-hours-")
    saved = await download.path()
    text = saved.read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    drawn = await bars(page, "Passes per hour of the day")
    assert [(f"{int(r['hour']):02d}:00", float(r["passes"])) for r in rows] == drawn

    rows = await csv_rows(context, hrefs["weekdays"])
    drawn = await bars(page, "Passes per weekday")
    assert [float(r["passes"]) for r in rows] == [value for _, value in drawn]
    assert [r["weekday"] for r in rows] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    rows = await csv_rows(context, hrefs["destinations"])
    assert [(r["name"], float(r["passes"])) for r in rows] == await bars(page, "Top destinations")
    ended = [r for r in rows if int(r["ended"])]
    assert [
        pair
        for r in ended
        for pair in (
            (r["name"], number(r["average_minutes"])),
            (r["name"], number(r["longest_minutes"])),
        )
    ] == await bars(page, "Time out per destination")
    assert [(r["name"], number(r["overtime_rate"])) for r in ended] == await bars(
        page, "Overtime rate per destination"
    )

    rows = await csv_rows(context, hrefs["waits"])
    assert [
        pair
        for r in rows
        for pair in (
            (r["name"], number(r["average_wait_minutes"])),
            (r["name"], number(r["longest_wait_minutes"])),
        )
    ] == await bars(page, "Waiting in line")
    assert_no_page_errors(page)
    await context.close()


async def test_a_chosen_room_narrows_every_chart_and_download(
    school: School, browser: Browser
) -> None:
    context = await person(browser, school.server.url, "admin")
    page = await open_reports(context, "/admin#reports")
    library = school.rooms["Library"]
    await (
        page.locator("[data-view=reports]")
        .get_by_label("Room", exact=True)
        .select_option(label="Library")
    )
    await expect(page.locator("#reports-scope")).to_contain_text("Library, from")
    await expect(card(page, "Top destinations").locator("rect.chart-bar")).to_have_count(1)
    expected = await api(context, f"/api/reports/destinations?room={library}")
    assert await bars(page, "Top destinations") == [("Library", 3.0)]
    assert [(r["name"], r["passes"]) for r in expected["rows"]] == [("Library", 3)]
    href = await card(page, "Top destinations").locator("a[data-csv]").get_attribute("href")
    assert f"room={library}" in (href or "")
    rows = await csv_rows(context, href or "")
    assert [(r["name"], int(r["passes"])) for r in rows] == [("Library", 3)]
    assert_no_page_errors(page)
    await context.close()


async def test_chosen_days_narrow_the_charts_and_a_backwards_period_is_refused(
    school: School, browser: Browser
) -> None:
    context = await person(browser, school.server.url, "admin")
    page = await open_reports(context, "/admin#reports")
    today = date.fromisoformat((await api(context, "/api/reports/hours"))["to"])
    yesterday = (today - timedelta(days=1)).isoformat()
    await page.get_by_label("Period").select_option(label="Choose the days")
    await page.get_by_label("First day").fill(today.isoformat())
    await page.get_by_label("Last day").fill(yesterday)
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(page.get_by_role("alert").filter(has_text="first day")).to_be_visible()

    await page.get_by_label("First day").fill(yesterday)
    await page.get_by_role("button", name="Show", exact=True).click()
    link = card(page, "Passes per hour of the day").locator("a[data-csv]")
    await expect(link).to_have_attribute("href", re.compile(f"from={yesterday}&to={yesterday}"))
    # Every pass was made today: the day before has none, drawn and downloaded.
    expected = await api(context, f"/api/reports/hours?from={yesterday}&to={yesterday}")
    assert sum(row["passes"] for row in expected["rows"]) == 0
    assert {value for _, value in await bars(page, "Passes per hour of the day")} == {0}
    rows = await csv_rows(context, await link.get_attribute("href") or "")
    assert [int(r["passes"]) for r in rows] == [0] * 24
    await expect(card(page, "Top destinations")).to_contain_text("No passes in this period.")
    assert_no_page_errors(page)
    await context.close()


async def test_a_teacher_sees_the_reports_of_their_own_room_only(
    school: School, browser: Browser
) -> None:
    teacher = await person(browser, school.server.url, "teacher1")
    page = await open_reports(teacher, "/teacher#reports")
    await expect(page.locator("#reports-room")).to_have_count(0)  # no room to choose
    await expect(page.locator("#reports-scope")).to_contain_text(f"{TEACHER_ROOM}, from")

    admin = await person(browser, school.server.url, "admin")
    mine = await api(admin, f"/api/reports/destinations?room={school.rooms[TEACHER_ROOM]}")
    everyone = await api(admin, "/api/reports/destinations")
    assert mine["total"]["passes"] < everyone["total"]["passes"]
    drawn = await bars(page, "Top destinations")
    assert drawn == [(r["name"], r["passes"]) for r in mine["rows"]]
    assert (
        sum(value or 0 for _, value in await bars(page, "Passes per hour of the day"))
        == (mine["total"]["passes"])
    )
    # Its download, asked for with the teacher's cookies, is their room's too.
    href = await card(page, "Top destinations").locator("a[data-csv]").get_attribute("href")
    rows = await csv_rows(teacher, href or "")
    assert [(r["name"], float(r["passes"])) for r in rows] == drawn
    # Another room's report is refused them.
    other = await teacher.request.get(f"/api/reports/hours?room={school.rooms['Room 101']}")
    assert other.status == 403
    assert_no_page_errors(page)
    await teacher.close()
    await admin.close()


# --- the students with the most, and the audit log ----------------------------------------


async def test_the_students_list_is_shown_on_request_and_the_audit_log_records_it(
    school: School, browser: Browser
) -> None:
    context = await person(browser, school.server.url, "admin")
    page = await open_reports(context, "/admin#reports")
    students = page.locator("#reports-students")
    await expect(students).to_contain_text("audit log")
    await expect(students.locator("table")).to_have_count(0)  # no names until asked for

    async with page.expect_response(lambda r: "/api/reports/students?" in r.url) as answer:
        await page.get_by_role("button", name="Show the students").click()
    shown = await (await answer.value).json()
    rows = students.locator("tbody tr")
    await expect(rows).to_have_count(len(shown["rows"]))
    names = await students.locator("tbody td.student").all_text_contents()
    assert names == [row["student"]["name"] for row in shown["rows"]]
    counts = await students.locator("tbody td:nth-child(4)").all_text_contents()
    assert counts == [str(row["passes"]) for row in shown["rows"]]
    assert shown["rows"][0]["number"] == "100004"  # two passes: the most
    assert shown["rows"][0]["passes"] == 2

    await page.get_by_role("link", name="Audit").click()
    first = page.locator("#audit-rows tr").first
    await expect(first).to_contain_text("Viewed the students with the most passes")
    await expect(first).to_contain_text("The whole school")
    await expect(first.locator("td").nth(1)).to_have_text((await api(context, "/api/me"))["name"])
    entry = (await api(context, "/api/audit?limit=1"))["entries"][0]
    assert entry["action"] == "report.students"
    await expect(first.locator(".audit-detail")).to_have_text(entry["detail"])
    assert_no_page_errors(page)
    await context.close()


async def test_the_audit_log_pages_back_through_older_entries(
    school: School, browser: Browser
) -> None:
    context = await person(browser, school.server.url, "admin")
    for _ in range(51):  # one more than a page
        answer = await context.request.get("/api/reports/students?limit=1")
        assert answer.ok
    page = await open_page(context, "/admin#audit")
    rows = page.locator("#audit-rows tr")
    await expect(rows).to_have_count(50)
    total = len((await api(context, "/api/audit?limit=500"))["entries"])
    await page.get_by_role("button", name="Show older entries").click()
    await expect(rows).to_have_count(min(total, 100))
    assert_no_page_errors(page)
    await context.close()


# --- exports -----------------------------------------------------------------------------


async def test_an_admin_downloads_the_pass_history_and_a_students_record(
    school: School, browser: Browser
) -> None:
    context = await person(browser, school.server.url, "admin")
    page = await open_reports(context, "/admin#reports")

    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download pass history (CSV)").click()
    download = await waiting.value
    text = (await download.path()).read_bytes().decode("utf-8-sig")
    history = list(csv.DictReader(io.StringIO(text)))
    assert len(history) == school.passes

    # One student's pass history: found by name in the picker.
    picker = page.get_by_role("combobox", name="Only this student (optional)")
    await picker.fill("student04")
    await page.locator("#reports-export-student-list [role=option]").first.click()
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download pass history (CSV)").click()
    text = (await (await waiting.value).path()).read_bytes().decode("utf-8-sig")
    mine = list(csv.DictReader(io.StringIO(text)))
    assert len(mine) == 2
    assert {row["student_name"] for row in mine} == {history_name(history, "100004")}

    # A record by the student's number, typed in full.
    await page.get_by_role("combobox", name="Student", exact=True).fill("100004")
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Download record (JSON)").click()
    record = json.loads((await (await waiting.value).path()).read_text())
    assert record["student"]["number"] == "100004"
    assert len(record["passes"]) == 2

    audit = (await api(context, "/api/audit?limit=3"))["entries"]
    assert [e["action"] for e in audit] == ["export.student", "export.passes", "export.passes"]
    assert_no_page_errors(page)
    await context.close()


def history_name(rows: list[dict[str, str]], number: str) -> str:
    return next(row["student_name"] for row in rows if row["student_number"] == number)


# --- accessibility and languages ------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_no_serious_violation_on_the_reports_and_audit(
    school: School, browser: Browser, scheme: str
) -> None:
    context = await person(browser, school.server.url, "admin", color_scheme=scheme)
    page = await open_reports(context, "/admin#reports")
    await page.get_by_role("button", name="Show the students").click()
    await expect(page.locator("#reports-students tbody tr").first).to_be_visible()
    found = {"reports": await axe_violations(page)}
    await page.get_by_role("link", name="Audit").click()
    await expect(page.locator("#audit-rows tr").first).to_be_visible()
    found["audit"] = await axe_violations(page)
    teacher = await person(browser, school.server.url, "teacher1", color_scheme=scheme)
    teacher_page = await open_reports(teacher, "/teacher#reports")
    found["teacher"] = await axe_violations(teacher_page)
    assert found == {"reports": [], "audit": [], "teacher": []}
    assert_no_page_errors(page, teacher_page)
    await context.close()
    await teacher.close()


async def test_the_reports_speak_spanish(school: School, browser: Browser) -> None:
    teacher = await person(browser, school.server.url, "teacher1")
    answer = await teacher.request.patch("/api/me/settings", data={"language": "es"})
    assert answer.ok
    try:
        page = await open_reports(teacher, "/teacher#reports")
        await expect(page.get_by_role("heading", name="Pases por hora del día")).to_be_visible()
        await expect(page.locator("a[data-csv]").first).to_contain_text("Descargar CSV")
        await expect(page.get_by_label("Período")).to_be_visible()
        assert_no_page_errors(page)
    finally:
        await teacher.request.patch("/api/me/settings", data={"language": "en"})
        await teacher.close()
