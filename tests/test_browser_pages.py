"""The pages in a real browser: headless Chromium against a real server with
the demo school (API.md, "The demo school"; every password is `demo`).

Each test uses students of its own, so the tests share one server and never
see each other's passes. They wait for what a person would see (a row, a
sentence, a state), never for a fixed time.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from browser_kit import Relay, axe_violations, chromium, open_page, person
from playwright.async_api import Browser, BrowserContext, Locator, Page, Route, expect
from servers import Server, login, running_server

pytestmark = pytest.mark.browser

DEMO = {"HALLPASS_DEMO": "1"}


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    db = tmp_path_factory.mktemp("pages") / "hallpass.db"
    async with running_server(f"sqlite:///{db}", env=DEMO) as server:
        yield server


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as running:
        yield running


async def name_of(context: BrowserContext) -> str:
    me = await (await context.request.get("/api/me")).json()
    name: str = me["name"]
    return name


async def room_ids(base_url: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        await login(client, "demo", "admin", "demo")
        return {room["name"]: room["id"] for room in (await client.get("/api/rooms")).json()}


async def ask_for_pass(page: Page, origin: str, destination: str) -> None:
    """The student's create-pass form, as a person fills it in."""
    await page.goto("/student#new")
    await page.wait_for_selector(".live-status[data-state='live']")
    await page.get_by_label("From").select_option(label=origin)
    await page.get_by_role("radio", name=re.compile(destination)).check()
    async with page.expect_response(
        lambda r: r.url.endswith("/api/passes") and r.request.method == "POST"
    ) as answer:
        await page.get_by_role("button", name="Start pass").click()
    assert (await answer.value).status == 201, await (await answer.value).text()


async def choose(select: Locator, starting_with: str) -> None:
    """Picks the option whose words start with `starting_with` (staff see
    "Library (2 places free)")."""
    labels = await select.locator("option").all_inner_texts()
    await select.select_option(label=next(x for x in labels if x.startswith(starting_with)))


def assert_no_page_errors(*pages: Page) -> None:
    for page in pages:
        assert page.errors == [], page.errors  # type: ignore[attr-defined]


# --- live updates -----------------------------------------------------------------


async def test_a_new_pass_shows_on_the_teachers_board_within_a_second(
    demo: Server, browser: Browser
) -> None:
    teacher = await open_page(await person(browser, demo.url, "teacher1"), "/teacher")
    await teacher.evaluate("() => { window.sameDocument = true; }")
    student_context = await person(browser, demo.url, "student01")
    student = await student_context.new_page()
    name = await name_of(student_context)

    await ask_for_pass(student, "Room 101", "Water Fountain")

    row = teacher.locator("#out tr", has_text=name)
    await expect(row).to_be_visible(timeout=1000)
    await expect(row).to_contain_text("Water Fountain")
    assert await teacher.evaluate("() => window.sameDocument") is True  # no reload
    await expect(student.locator(".pass-hero")).to_contain_text("Water Fountain")
    await expect(student.locator("#hero-clock")).to_have_text(re.compile(r"^\d+:\d\d$"))

    # Ending it takes it off the board, live too.
    await student.get_by_role("button", name="End pass").click()
    await expect(row).to_have_count(0)
    await expect(student.get_by_text("You're in class")).to_be_visible()
    assert_no_page_errors(teacher, student)


async def test_a_teacher_approves_a_locked_room_pass_and_the_student_sees_it_start(
    demo: Server, browser: Browser
) -> None:
    teacher = await open_page(await person(browser, demo.url, "teacher2"), "/teacher")
    student_context = await person(browser, demo.url, "student02")
    student = await student_context.new_page()
    name = await name_of(student_context)

    await ask_for_pass(student, "Room 102", "Nurse")
    hero = student.locator(".pass-hero")
    await expect(hero).to_contain_text("Waiting for approval")

    await teacher.get_by_role("button", name=f"Approve the pass of {name}").click()

    await expect(hero).to_have_class(re.compile(r"\bis-active\b"))
    await expect(hero).to_contain_text("Out now")
    await expect(student.locator("#hero-clock")).to_be_visible()
    await expect(teacher.locator("#out tr", has_text=name)).to_be_visible()
    assert_no_page_errors(teacher, student)


async def test_a_teachers_pin_typed_on_the_students_screen_approves(
    demo: Server, browser: Browser
) -> None:
    student = await (await person(browser, demo.url, "student03")).new_page()
    await ask_for_pass(student, "Room 103", "Main Office")
    hero = student.locator(".pass-hero")
    await expect(hero).to_contain_text("Waiting for approval")

    pin = student.get_by_label("Teacher's PIN")
    await pin.fill("9876")
    await student.get_by_role("button", name="Approve").click()
    await expect(student.get_by_role("alert")).to_contain_text("That PIN didn't work")
    await expect(hero).to_have_class(re.compile(r"\bis-pending\b"))

    await pin.fill("1111")  # teacher1's, in the demo school
    await student.get_by_role("button", name="Approve").click()
    await expect(hero).to_have_class(re.compile(r"\bis-active\b"))
    await expect(student.locator("#hero-clock")).to_be_visible()
    assert_no_page_errors(student)


async def test_every_command_carries_an_idempotency_key_and_a_retry_makes_no_second_pass(
    demo: Server, browser: Browser
) -> None:
    context = await person(browser, demo.url, "student07")
    student = await context.new_page()
    keys: list[str | None] = []

    async def lose_the_first_answer(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            # The server gets the request and acts; the answer never arrives.
            await route.fetch()
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await student.route(
        lambda url: url.endswith("/api/passes"),
        lambda route: (
            lose_the_first_answer(route) if route.request.method == "POST" else route.continue_()
        ),
    )
    await student.goto("/student#new")
    await student.wait_for_selector(".live-status[data-state='live']")
    await student.get_by_label("From").select_option(label="Room 104")
    await student.get_by_role("radio", name=re.compile("Library")).check()
    await student.get_by_role("button", name="Start pass").click()

    # The toast comes from the answer to the retry (the socket may show the pass sooner).
    await expect(student.get_by_text("Your pass to Library has started.").first).to_be_visible()
    await expect(student.locator(".pass-hero")).to_contain_text("Library")
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    passes = await (await context.request.get("/api/passes")).json()
    assert len(passes) == 1, passes
    assert_no_page_errors(student)


# --- the kiosk --------------------------------------------------------------------


async def kiosk_enter(kiosk: Page, number: str) -> None:
    """As a keyboard-wedge scanner does: the digits, then Enter."""
    field = kiosk.get_by_role("textbox", name="Type or scan your student number")
    await expect(field).to_be_focused()
    await kiosk.keyboard.type(number)
    await kiosk.keyboard.press("Enter")


async def test_a_kiosk_signs_a_student_out_by_number_and_back_in(
    demo: Server, browser: Browser
) -> None:
    kiosk = await open_page(await person(browser, demo.url, "kiosk1"), "/kiosk")
    student_name = await name_of(await person(browser, demo.url, "student04"))
    await expect(kiosk.locator("#room-name")).to_have_text("Room 101")
    assert await kiosk.locator("select, [role=listbox]").count() == 0  # never a roster

    await kiosk_enter(kiosk, "100004")
    await kiosk.get_by_role("button", name=re.compile("^Restroom")).click()
    first = student_name.split()[0]
    await expect(kiosk.locator("#done")).to_contain_text(f"{first}, you're signed out to Restroom")
    out = kiosk.locator("#out li", has_text=student_name)
    await expect(out).to_be_visible()
    await expect(out.locator("[data-timer]")).to_have_text(re.compile(r"^\d+:\d\d$"))

    # Signing back in needs the pass of a number: GET /api/passes?student_number=
    # (the kiosk asks the OpenAPI document whether the server takes it).
    doc = await (await kiosk.request.get("/openapi.json")).json()
    parameters = doc["paths"]["/api/passes"]["get"].get("parameters", [])
    assert "student_number" in {p["name"] for p in parameters}, (
        "the server must let a kiosk find a pass by student number "
        "(GET /api/passes?student_number=N) for a student to sign back in"
    )
    await kiosk.get_by_role("button", name="Done").click()
    await kiosk_enter(kiosk, "100004")
    await expect(kiosk.locator("#done")).to_contain_text(f"Welcome back, {first}")
    await expect(out).to_have_count(0)

    # A number nobody has: a kind sentence, and nothing changes.
    await kiosk.get_by_role("button", name="Done").click()
    await kiosk_enter(kiosk, "999999")
    await kiosk.get_by_role("button", name=re.compile("^Water Fountain")).click()
    await expect(kiosk.locator("#done")).to_contain_text("We don't know that number")
    assert_no_page_errors(kiosk)


# --- losing the connection --------------------------------------------------------


async def test_a_dropped_socket_recovers_by_itself_and_the_board_catches_up(
    demo: Server, browser: Browser
) -> None:
    relay = await Relay(int(demo.url.rsplit(":", 1)[1])).start()
    try:
        teacher = await open_page(await person(browser, relay.url, "teacher3"), "/teacher")
        await teacher.evaluate("() => { window.sameDocument = true; }")
        rooms = await room_ids(demo.url)

        relay.cut()
        await expect(teacher.locator("#live-status")).to_have_attribute("data-state", "offline")
        await expect(teacher.locator("body")).to_have_class(re.compile(r"\bis-stale\b"))
        await expect(teacher.locator("#stale-note")).to_contain_text("Reconnecting")

        # While the page is cut off, a student leaves.
        async with httpx.AsyncClient(base_url=demo.url) as client:
            student = await login(client, "demo", "student05", "demo")
            made = await client.post(
                "/api/passes",
                json={"origin": rooms["Room 105"], "destination": rooms["Restroom"]},
                headers={"Idempotency-Key": "browser-drop-1"},
            )
            assert made.status_code == 201, made.text

        relay.restore()
        await expect(teacher.locator("#live-status")).to_have_attribute("data-state", "live")
        await expect(teacher.locator("#out tr", has_text=student["name"])).to_be_visible()
        await expect(teacher.locator("body")).not_to_have_class(re.compile(r"\bis-stale\b"))
        await expect(teacher.locator("#stale-note")).to_be_hidden()
        assert await teacher.evaluate("() => window.sameDocument") is True
        assert_no_page_errors(teacher)
    finally:
        await relay.close()


async def test_a_kiosk_survives_a_server_restart_untouched(
    browser: Browser, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'hallpass.db'}"
    async with running_server(store, env=DEMO) as first:
        relay = await Relay(int(first.url.rsplit(":", 1)[1])).start()
        kiosk = await open_page(await person(browser, relay.url, "kiosk1"), "/kiosk")
        rooms = await room_ids(first.url)
    try:
        # The server is gone: the kiosk says so, discreetly, and keeps trying.
        relay.cut()
        await expect(kiosk.locator("#live-status")).to_have_attribute("data-state", "offline")
        async with running_server(store, env=DEMO) as second:
            async with httpx.AsyncClient(base_url=second.url) as client:
                student = await login(client, "demo", "student06", "demo")
                made = await client.post(
                    "/api/passes",
                    json={"origin": rooms["Room 101"], "destination": rooms["Library"]},
                    headers={"Idempotency-Key": "browser-restart-1"},
                )
                assert made.status_code == 201, made.text
            relay.restore(int(second.url.rsplit(":", 1)[1]))
            await expect(kiosk.locator("#live-status")).to_have_attribute("data-state", "live")
            await expect(kiosk.locator("#out li", has_text=student["name"])).to_be_visible()
            # Its session outlived the restart: it still signs students out.
            await kiosk_enter(kiosk, "100008")
            await kiosk.get_by_role("button", name=re.compile("^Restroom")).click()
            await expect(kiosk.locator("#done")).to_contain_text("signed out to Restroom")
            assert_no_page_errors(kiosk)
    finally:
        await relay.close()


# --- language and appearance --------------------------------------------------------


async def test_spanish_and_dark_mode_render_and_stay_chosen(demo: Server, browser: Browser) -> None:
    context = await person(browser, demo.url, "student09", color_scheme="light")
    page = await open_page(context, "/student#settings")
    await page.get_by_role("radio", name="Español").check()
    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.get_by_role("link", name="Inicio")).to_be_visible()
    await expect(page.get_by_role("heading", name="Ajustes")).to_be_visible()

    await page.get_by_role("radio", name="Oscura").check()
    await expect(page.locator("html")).to_have_attribute("data-appearance", "dark")
    await expect(page.get_by_text("Guardado.").first).to_be_visible()
    background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(14, 18, 23)"

    # The choice is the person's, kept by the server: a fresh page has it too.
    fresh = await open_page(context, "/student")
    await expect(fresh.locator("html")).to_have_attribute("lang", "es")
    await expect(fresh.locator("html")).to_have_attribute("data-appearance", "dark")
    await expect(fresh.get_by_role("heading", name="Tu pase")).to_be_visible()
    await expect(fresh.get_by_text("Estás en clase")).to_be_visible()
    assert_no_page_errors(page, fresh)


# --- accessibility ------------------------------------------------------------------

VIEWS = {
    "student10": ["/student#home", "/student#new", "/student#calendar", "/student#settings"],
    "teacher1": [
        "/teacher#board",
        "/teacher#write",
        "/teacher#request",
        "/teacher#today",
        "/teacher#settings",
    ],
    "kiosk1": ["/kiosk"],
    "admin": ["/admin#rooms", "/admin#policies", "/admin#hall", "/admin#users", "/admin#settings"],
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_axe_finds_no_serious_violation_on_any_page(
    demo: Server, browser: Browser, scheme: str
) -> None:
    rooms = await room_ids(demo.url)
    async with httpx.AsyncClient(base_url=demo.url) as client:
        await login(client, "demo", "student10", "demo")
        # Something on every screen: a pass out (and, for staff, one to approve).
        await client.post(
            "/api/passes",
            json={"origin": rooms["Room 106"], "destination": rooms["Restroom"]},
            headers={"Idempotency-Key": f"axe-{scheme}-1"},
        )
    async with httpx.AsyncClient(base_url=demo.url) as client:
        await login(client, "demo", "student11", "demo")
        await client.post(
            "/api/passes",
            json={"origin": rooms["Room 101"], "destination": rooms["Counselor"]},
            headers={"Idempotency-Key": f"axe-{scheme}-2"},
        )

    sign_in = await browser.new_context(base_url=demo.url, color_scheme=scheme)  # type: ignore[arg-type]
    page = await sign_in.new_page()
    await page.goto("/")
    await page.wait_for_selector("#username")
    found = {"/": await axe_violations(page)}

    for username, paths in VIEWS.items():
        context = await person(browser, demo.url, username, color_scheme=scheme)
        page = await open_page(context, paths[0])
        for path in paths:
            if path != paths[0]:
                await page.evaluate("hash => { location.hash = hash; }", path.split("#")[1])
            await page.wait_for_selector(
                f"[data-view='{path.split('#')[-1]}']:not([hidden])" if "#" in path else "#out li"
            )
            if path.endswith("#policies"):
                await page.wait_for_selector("#policy-daily_limit")
            found[path] = await axe_violations(page)
        assert_no_page_errors(page)
    problems = {path: v for path, v in found.items() if v}
    assert problems == {}, problems


# --- the teacher's other tools ------------------------------------------------------


async def test_a_teacher_writes_a_pass_and_sends_a_request_that_the_student_accepts(
    demo: Server, browser: Browser
) -> None:
    teacher = await open_page(await person(browser, demo.url, "teacher1"), "/teacher#write")
    written = await name_of(await person(browser, demo.url, "student12"))
    await teacher.get_by_role("combobox", name="Student").fill("100012")
    await teacher.get_by_label("From").select_option(label="Room 107")
    await choose(teacher.get_by_label("Where to?"), "Library")
    await expect(teacher.get_by_role("spinbutton", name="Minutes")).to_have_value("10")
    await teacher.get_by_role("button", name="Write pass").click()
    await expect(teacher.get_by_text(f"{written} is out to Library.")).to_be_visible()
    await teacher.evaluate("() => { location.hash = 'board'; }")
    await expect(teacher.locator("#out tr", has_text=written)).to_contain_text("Room 107")

    student_context = await person(browser, demo.url, "student13")
    student = await open_page(student_context, "/student")
    await teacher.evaluate("() => { location.hash = 'request'; }")
    await teacher.get_by_role("combobox", name="Student").fill("100013")
    await choose(teacher.get_by_label("Come to"), "Counselor")
    await teacher.get_by_role("textbox", name="Note (optional)").fill("Bring your planner")
    await teacher.get_by_role("button", name="Send request").click()
    await expect(teacher.locator("#sent")).to_contain_text("Bring your planner")

    request = student.locator("#upcoming li", has_text="asks you to come to Counselor")
    await expect(request).to_contain_text("Bring your planner")
    await request.get_by_role("button", name="Accept").click()
    dialog = student.get_by_role("dialog")
    await dialog.get_by_label("Which room are you in now?").select_option(label="Room 108")
    await dialog.get_by_role("button", name="Accept").click()
    await expect(student.locator(".pass-hero")).to_contain_text("Counselor")
    await expect(student.locator(".pass-hero")).to_have_class(re.compile(r"\bis-active\b"))
    await expect(teacher.locator("#sent")).not_to_contain_text("Bring your planner")
    assert_no_page_errors(teacher, student)


async def test_pausing_the_board_keeps_rows_in_place_until_resumed(
    demo: Server, browser: Browser
) -> None:
    teacher = await open_page(await person(browser, demo.url, "teacher2"), "/teacher")
    student_context = await person(browser, demo.url, "student14")
    student = await student_context.new_page()
    name = await name_of(student_context)
    await ask_for_pass(student, "Room 104", "Water Fountain")
    row = teacher.locator("#out tr", has_text=name)
    await expect(row).to_be_visible()

    pause = teacher.get_by_role("button", name="Pause order")
    await pause.click()
    await expect(teacher.get_by_role("button", name="Resume order")).to_have_attribute(
        "aria-pressed", "true"
    )
    await student.get_by_role("button", name="End pass").click()
    # Frozen: the row stays where it was, marked as back, while the teacher reads.
    await expect(row).to_have_class(re.compile(r"\bis-ended\b"))
    await expect(row).to_contain_text("Back")

    await teacher.get_by_role("button", name="Resume order").click()
    await expect(row).to_have_count(0)
    assert_no_page_errors(teacher, student)


# --- the admin ------------------------------------------------------------------------


async def test_an_admin_sees_and_keeps_the_history_settings(
    browser: Browser, tmp_path: Path
) -> None:
    """Retention and the school year's first month are policies too: saving
    the page keeps them as they are (unset stays unset), shows them, and
    checks them."""
    async with (
        running_server(f"sqlite:///{tmp_path / 'hallpass.db'}", env=DEMO) as server,
        httpx.AsyncClient(base_url=server.url, headers={"Origin": server.url}) as api,
    ):
        await login(api, "demo", "admin", "demo")
        admin = await open_page(await person(browser, server.url, "admin"), "/admin#policies")
        saved = admin.locator("#policies-status")
        keep = admin.get_by_label("Keep pass history for (days)")
        starts = admin.get_by_label("The school year starts in")
        await expect(keep).to_have_value("")
        await expect(starts).to_have_value("8")  # August, the default

        await admin.get_by_label("Passes per day").fill("4")
        await admin.get_by_role("button", name="Save policies").click()
        await expect(saved).to_have_text("Saved.")
        policies = (await api.get("/api/policies")).json()
        assert policies["daily_limit"] == 4
        assert "retention_days" not in policies and "school_year_starts" not in policies

        put = await api.put(
            "/api/policies", json={**policies, "retention_days": 400, "school_year_starts": 9}
        )
        assert put.status_code == 200, put.text
        await admin.reload()
        await expect(keep).to_have_value("400")
        await expect(starts).to_have_value("9")
        await admin.get_by_label("Passes per day").fill("5")
        await admin.get_by_role("button", name="Save policies").click()
        await expect(saved).to_have_text("Saved.")
        policies = (await api.get("/api/policies")).json()
        assert (policies["daily_limit"], policies["retention_days"]) == (5, 400)
        assert policies["school_year_starts"] == 9

        await keep.fill("10")
        await admin.get_by_role("button", name="Save policies").click()
        await expect(admin.locator("#policies-error")).to_have_text(
            "Keep history for 30 to 3,650 days, or leave it empty."
        )
        await expect(keep).to_be_focused()
        assert (await api.get("/api/policies")).json()["retention_days"] == 400

        await keep.fill("")
        await starts.select_option(label="September")
        await admin.get_by_role("button", name="Save policies").click()
        await expect(saved).to_have_text("Saved.")
        policies = (await api.get("/api/policies")).json()
        assert "retention_days" not in policies and policies["school_year_starts"] == 9
        assert_no_page_errors(admin)


async def test_an_admin_locks_a_room_sets_a_limit_and_sweeps_the_hall(
    browser: Browser, tmp_path: Path
) -> None:
    async with running_server(f"sqlite:///{tmp_path / 'hallpass.db'}", env=DEMO) as server:
        admin = await open_page(await person(browser, server.url, "admin"), "/admin#rooms")
        row = admin.locator("tr", has=admin.get_by_role("textbox", name="Name of Library"))
        await row.get_by_role("checkbox", name="Library is locked").check()
        await row.get_by_role("button", name="Save").click()
        await expect(admin.locator("tr", has_text="Saved.")).to_be_visible()

        await admin.evaluate("() => { location.hash = 'policies'; }")
        await admin.get_by_label("Passes per day").fill("3")
        await admin.get_by_role("button", name="Save policies").click()
        await expect(admin.locator("#policies-status")).to_have_text("Saved.")

        # A student sees the lock; a pass there waits for approval.
        student = await (await person(browser, server.url, "student20")).new_page()
        await student.goto("/student#new")
        await expect(
            student.get_by_role("radio", name=re.compile("Library.*Needs approval"))
        ).to_be_visible()
        await ask_for_pass(student, "Room 101", "Library")
        await expect(student.locator(".pass-hero")).to_contain_text("Waiting for approval")

        # The sweep ends it, and with the pause no new pass can start.
        await admin.evaluate("() => { location.hash = 'hall'; }")
        await admin.get_by_label("Also pause new passes until I resume them").check()
        await admin.get_by_role("button", name="Sweep the hall now").click()
        await admin.get_by_role("dialog").get_by_role("button", name="Sweep the hall now").click()
        await expect(admin.locator("#sweep-result")).to_have_text("Done: 1 pass ended.")
        await expect(admin.locator("#hall-state")).to_contain_text("paused")
        await expect(student.get_by_text("You're in class")).to_be_visible()

        await student.goto("/student#new")
        await expect(student.locator("#form-note")).to_contain_text("Passes are paused")
        await student.get_by_label("From").select_option(label="Room 101")
        await student.get_by_role("radio", name=re.compile("^Restroom")).check()
        await student.get_by_role("button", name="Start pass").click()
        await expect(student.locator("#pass-error")).to_have_text(
            "Passes are paused for the whole school right now. "
            "Please wait until they are turned back on."
        )

        await admin.get_by_role("button", name="Resume passes").click()
        await expect(admin.locator("#hall-state")).to_contain_text("Passes are open.")
        await student.get_by_role("button", name="Start pass").click()
        await expect(student.locator(".pass-hero")).to_contain_text("Restroom")
        assert_no_page_errors(admin, student)


async def test_signing_in_takes_each_person_to_their_page(demo: Server, browser: Browser) -> None:
    context = await browser.new_context(base_url=demo.url)
    page = await context.new_page()
    await page.goto("/")
    await page.get_by_label("School").fill("demo")
    await page.get_by_label("Username").fill("teacher3")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "That school, username and password don't match. Please check them and try again."
    )
    await page.get_by_label("Password").fill("demo")
    await page.get_by_label("Password").press("Enter")
    await page.wait_for_url("**/teacher")
    await expect(page.get_by_role("heading", name="Hall monitor")).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/")
    await expect(page.get_by_label("School")).to_have_value("demo")  # remembered
    await context.close()
