"""Screenshots of the pages for the README, in light and dark: docs/screenshots/.

Run with `scripts/screenshots` (or `scripts/screenshots NAME...` for only
some, e.g. `admin-reports`). It makes a throwaway demo school with a week
of history (written with a clock set in the past, as if the week had
happened), starts a real server on it, and photographs each page in headless
Chromium (Debian's, as the browser tests use it).
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from browser_kit import chromium, open_page, person  # noqa: E402
from servers import login, running_server  # noqa: E402

from hallpass.backend import open_backend  # noqa: E402
from hallpass.demo import TIMEZONE, ensure_demo  # noqa: E402
from hallpass.events.types import Policies  # noqa: E402
from hallpass.ids import new_id  # noqa: E402
from hallpass.rules.commands import (  # noqa: E402
    Actor,
    AnyCommand,
    CreatePass,
    EndPass,
    Rejection,
    SendRequest,
    SetPolicies,
)
from hallpass.service.runtime import SchoolRuntime  # noqa: E402

OUT = REPO / "docs" / "screenshots"
SCHOOL = ZoneInfo(TIMEZONE)
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class Seeder:
    """Writes passes through the rules, with the clock set where we say."""

    def __init__(self, runtime: SchoolRuntime, clock: list[datetime]) -> None:
        self.runtime = runtime
        self.clock = clock

    async def run(self, at: datetime, command: AnyCommand) -> None:
        self.clock[0] = at
        result = await self.runtime.execute(command)
        if isinstance(result, Rejection):
            raise RuntimeError(f"seeding refused: {result}")

    async def tick(self, at: datetime) -> None:
        self.clock[0] = at
        await self.runtime.run_tick()


async def seed(store_url: str) -> None:
    backend = await open_backend(store_url)
    try:
        await ensure_demo(backend)
        directory = backend.directory
        ids: dict[str, str] = {}
        for username in [f"student{n:02d}" for n in range(1, 17)] + ["teacher2"]:
            user = await directory.user_by_username("demo", username)
            assert user is not None
            ids[username] = user.id
        clock = [datetime.now(UTC)]
        runtime = await SchoolRuntime.load(backend.store, "demo", clock=lambda: clock[0])
        rooms = {room.name: room.id for room in runtime.state.rooms.values()}
        seeder = Seeder(runtime, clock)
        try:
            await history(seeder, ids["student01"], rooms)
            await live_now(seeder, ids, rooms)
        finally:
            await runtime.close()
    finally:
        await backend.close()


def school_time(day: datetime, hour: int, minute: int) -> datetime:
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0).astimezone(UTC)


async def history(seeder: Seeder, student: str, rooms: dict[str, str]) -> None:
    """A week of one student's passes, Monday to yesterday."""
    me = Actor(id=student, role="student")
    today = datetime.now(SCHOOL)
    monday = today - timedelta(days=today.weekday())
    week = [
        (0, 9, 12, "Room 101", "Restroom", 5, 4),
        (0, 13, 40, "Room 104", "Library", 10, 9),
        (1, 10, 5, "Room 102", "Water Fountain", 3, 2),
        (2, 9, 30, "Room 101", "Restroom", 5, 7),  # two minutes over
        (3, 11, 20, "Room 103", "Library", 10, 8),
        (3, 14, 2, "Room 101", "Water Fountain", 3, 3),
        (4, 10, 45, "Room 102", "Restroom", 5, 5),
    ]
    for offset, hour, minute, origin, destination, allowed, took in week:
        day = monday + timedelta(days=offset)
        if day.date() >= today.date():
            continue
        start = school_time(day, hour, minute)
        pass_id = new_id("pass")
        await seeder.run(
            start,
            CreatePass(
                actor=me,
                pass_id=pass_id,
                student=student,
                origin=rooms[origin],
                destination=rooms[destination],
                minutes=allowed,
            ),
        )
        if took > allowed:
            await seeder.tick(start + timedelta(minutes=allowed, seconds=30))
        await seeder.run(start + timedelta(minutes=took), EndPass(actor=me, pass_id=pass_id))


async def live_now(seeder: Seeder, ids: dict[str, str], rooms: dict[str, str]) -> None:
    """Students out right now (one overtime), one to approve, one in line,
    and, for student01, a scheduled pass and a teacher's request."""
    now = datetime.now(UTC)
    tomorrow = datetime.now(SCHOOL) + timedelta(days=1)
    if datetime.now(SCHOOL).hour >= 15:
        # Photographed after school: keep the day open, or its end would
        # send everyone back before the pictures are taken.
        admin = Actor(id="system", role="admin")
        policies = Policies(timezone=TIMEZONE, day_ends_at="23:59")
        await seeder.run(now - timedelta(minutes=30), SetPolicies(actor=admin, policies=policies))

    async def out(username: str, origin: str, destination: str, minutes: int, ago: int) -> None:
        actor = Actor(id=ids[username], role="student")
        await seeder.run(
            now - timedelta(seconds=ago),
            CreatePass(
                actor=actor,
                pass_id=new_id("pass"),
                student=ids[username],
                origin=rooms[origin],
                destination=rooms[destination],
                minutes=minutes,
            ),
        )

    me = Actor(id=ids["student01"], role="student")
    await seeder.run(
        now - timedelta(minutes=20),
        CreatePass(
            actor=me,
            pass_id=new_id("pass"),
            student=ids["student01"],
            origin=rooms["Room 101"],
            destination=rooms["Library"],
            minutes=10,
            start_at=school_time(tomorrow, 10, 30),
        ),
    )
    await seeder.run(
        now - timedelta(minutes=15),
        SendRequest(
            actor=Actor(id=ids["teacher2"], role="teacher"),
            request_id=new_id("request"),
            student=ids["student01"],
            destination=rooms["Counselor"],
            minutes=15,
            start_at=school_time(tomorrow, 13, 0),
            note="Schedule check-in",
        ),
    )
    await out("student02", "Room 101", "Restroom", 5, 7 * 60 + 12)  # overtime
    await out("student12", "Room 103", "Library", 10, 6 * 60 + 40)
    await out("student05", "Room 102", "Water Fountain", 3, 3 * 60 + 31)
    await out("student14", "Room 104", "Library", 10, 2 * 60 + 5)
    await out("student01", "Room 101", "Restroom", 5, 2 * 60 + 10)
    await out("student03", "Room 101", "Water Fountain", 3, 48)
    await out("student15", "Room 105", "Library", 10, 30)  # Library is full: in line
    await out("student13", "Room 106", "Nurse", 10, 75)  # locked: to approve
    await seeder.tick(datetime.now(UTC))


async def photograph(base_url: str, only: set[str]) -> list[Path]:
    shots: list[Path] = []
    async with chromium() as browser:
        for scheme in ("light", "dark"):

            async def shot(
                username: str,
                path: str,
                name: str,
                scheme: str = scheme,
                viewport: dict[str, int] = VIEWPORT,
            ) -> None:
                if only and name not in only:
                    return
                context = await person(
                    browser,
                    base_url,
                    username,
                    color_scheme=scheme,
                    viewport=viewport,
                    timezone=TIMEZONE,  # a device at the school
                )
                page = await open_page(context, path)
                await page.wait_for_timeout(600)  # let the timers and fonts settle
                if path.endswith("#new"):
                    await page.get_by_label("From").select_option(label="Room 101")
                    await page.get_by_role("radio", name=re.compile("Library")).check()
                if path.endswith("#calendar"):
                    await page.wait_for_selector(".day")
                if path.endswith("#reports"):
                    await page.wait_for_selector("#reports-charts[aria-busy='false'] svg")
                    await page.get_by_role("button", name="Show the students").click()
                    await page.wait_for_selector("#reports-students tbody tr")
                    await page.evaluate("window.scrollTo(0, 0)")
                target = OUT / f"{name}-{scheme}.png"
                await page.screenshot(path=str(target), full_page=True)
                shots.append(target)
                await context.close()

            await shot("student01", "/student#home", "student-home")
            await shot("student01", "/student#home", "student-home-phone", viewport=PHONE)
            await shot("student01", "/student#new", "student-new-pass")
            await shot("student01", "/student#calendar", "student-calendar")
            await shot("teacher1", "/teacher#board", "teacher-hall-monitor")
            await shot("kiosk1", "/kiosk", "kiosk")
            await shot("admin", "/admin#rooms", "admin-rooms")
            await shot("admin", "/admin#policies", "admin-policies")
            await shot("admin", "/admin#reports", "admin-reports")
    return shots


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hallpass-screens-") as folder:
        store_url = f"sqlite:///{Path(folder) / 'hallpass.db'}"
        await seed(store_url)
        async with running_server(store_url) as server:
            # student01's favorites, so the new-pass screen shows them first.
            async with httpx.AsyncClient(base_url=server.url) as client:
                await login(client, "demo", "student01", "demo")
                favorites = [
                    r["id"]
                    for r in (await client.get("/api/rooms")).json()
                    if r["name"] in ("Restroom", "Library")
                ]
                await client.patch("/api/me/settings", json={"favorites": favorites})
            shots = await photograph(server.url, set(sys.argv[1:]))
    for path in shots:
        print(path.relative_to(REPO))


if __name__ == "__main__":
    asyncio.run(main())
