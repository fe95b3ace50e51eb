"""Sign-in and PIN brute force, from the attacker's side: a real server, the
client address set by the trusted local proxy (X-Forwarded-For), as a
school's one public address would be.

tests/test_session.py shows the locks one by one (an account, a known device,
one address guessing many accounts). Here the attacker is cleverer: guesses
sent all at once, passwords sprayed over a school from the address every
student shares, a locked door asked whether the password was right, PINs
fired at an approval in parallel. Each time the attacker gets no more tries
than the limits allow, and the people they attack still get in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from servers import SeededSchool, Server, login, running_server, seed_school

ACCOUNT_LIMIT = 5  # HALLPASS_LOGIN_ACCOUNT_FAILURES's default
ADDRESS_LIMIT = 12  # small, so a spray reaches it in a test
LOCK_MAX = 900  # HALLPASS_LOGIN_LOCK_MAX_SECONDS's default
AT_ONCE = 30


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Server, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('login') / 'hallpass.db'}"
    env = {"HALLPASS_LOGIN_ADDRESS_FAILURES": str(ADDRESS_LIMIT)}
    async with running_server(url, env=env) as server:
        yield server, url


@pytest.fixture
async def school(site: tuple[Server, str]) -> SeededSchool:
    return await seed_school(site[1])


def address() -> str:
    """A client address of the test's own, so no two tests share a throttle."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def browser(server: Server, at: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers={"X-Forwarded-For": at}, timeout=60)


def credentials(school: SeededSchool, username: str, password: str | None = None) -> dict[str, str]:
    return {
        "school": school.slug,
        "username": username,
        "password": school.password if password is None else password,
    }


def assert_locked(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(answer.headers["retry-after"]) <= LOCK_MAX


async def own_device(
    server: Server, school: SeededSchool, username: str, at: str
) -> httpx.AsyncClient:
    """A device the person signed in on before (and signed out of): it keeps
    its `hallpass_device` cookie."""
    device = browser(server, at)
    await login(device, school.slug, username, school.password)
    assert (await device.delete("/api/session")).status_code == 204
    assert "hallpass_device" in device.cookies
    return device


async def test_guesses_sent_at_once_get_no_more_tries_than_guesses_one_by_one(
    site: tuple[Server, str], school: SeededSchool
) -> None:
    server, _ = site
    at = address()
    device = await own_device(server, school, "student2", at)
    async with browser(server, at) as attacker:
        guesses = [
            attacker.post("/api/session", json=credentials(school, "student2", f"guess {n}"))
            for n in range(AT_ONCE)
        ]
        answers = await asyncio.gather(*guesses)
        statuses = Counter(a.status_code for a in answers)
        # Each password actually tried is a 401; the others never were.
        assert 1 <= statuses[401] <= ACCOUNT_LIMIT, statuses
        assert statuses[401] + statuses[429] == AT_ONCE, statuses
        for answer in answers:
            if answer.status_code == 429:
                assert_locked(answer)
        # Keep guessing one by one: the account locks after the limit.
        for n in range(ACCOUNT_LIMIT - statuses[401]):
            wrong = await attacker.post(
                "/api/session", json=credentials(school, "student2", f"more {n}")
            )
            assert wrong.status_code == 401, wrong.text
        assert_locked(await attacker.post("/api/session", json=credentials(school, "student2")))
    # The student, on their own device at the same address, still gets in ...
    try:
        back = await device.post("/api/session", json=credentials(school, "student2"))
        assert back.status_code == 200, back.text
        assert (await device.get("/api/me")).json()["id"] == school.users["student2"]
    finally:
        await device.aclose()
    # ... and another account, from another address, never noticed.
    async with browser(server, address()) as elsewhere:
        await login(elsewhere, school.slug, "student3", school.password)


async def test_spraying_a_school_from_its_one_address_stops_the_sprayer_not_the_students(
    site: tuple[Server, str], school: SeededSchool
) -> None:
    server, _ = site
    school_network = address()
    chromebook = await own_device(server, school, "student1", school_network)
    async with browser(server, school_network) as sprayer:
        # One common password over every name the attacker can think of,
        # real or not: each account is tried once, far below its own limit.
        names = [*school.users, *(f"user{n}" for n in range(ADDRESS_LIMIT))]
        answers = [
            await sprayer.post("/api/session", json=credentials(school, name, "Winter2026!"))
            for name in names[:ADDRESS_LIMIT]
        ]
        assert [a.status_code for a in answers] == [401] * ADDRESS_LIMIT
        # The address is locked: every further try, right password or not, is
        # the same 429, so the lock tells the sprayer nothing.
        for name, password in (("teacher1", None), ("teacher1", "nope"), ("nobody", "x")):
            assert_locked(
                await sprayer.post("/api/session", json=credentials(school, name, password))
            )
    # A new browser on the school's network is turned away too ...
    async with browser(server, school_network) as new_browser:
        assert_locked(await new_browser.post("/api/session", json=credentials(school, "student3")))
    # ... but a student's own Chromebook there signs in as always,
    try:
        back = await chromebook.post("/api/session", json=credentials(school, "student1"))
        assert back.status_code == 200, back.text
        # and only as its own person: another account from it is still locked.
        assert_locked(await chromebook.post("/api/session", json=credentials(school, "student3")))
    finally:
        await chromebook.aclose()
    # Another address is not touched.
    async with browser(server, address()) as elsewhere:
        await login(elsewhere, school.slug, "teacher1", school.password)


async def test_a_locked_account_answers_the_same_whether_the_guess_was_right(
    site: tuple[Server, str], school: SeededSchool
) -> None:
    server, _ = site
    async with browser(server, address()) as attacker:
        for username in ("teacher2", "no-such-person"):  # real or not, the same
            for n in range(ACCOUNT_LIMIT):
                wrong = await attacker.post(
                    "/api/session", json=credentials(school, username, f"try {n}")
                )
                assert wrong.status_code == 401
                assert wrong.json()["error"]["code"] == "bad_credentials"
            right = await attacker.post("/api/session", json=credentials(school, username))
            wrong = await attacker.post("/api/session", json=credentials(school, username, "x"))
            for answer in (right, wrong):
                assert_locked(answer)
            assert right.json() == wrong.json()
            assert "hallpass_session" not in right.cookies


async def test_pins_fired_at_an_approval_all_at_once_get_the_limit_and_no_more(
    site: tuple[Server, str], school: SeededSchool
) -> None:
    server, _ = site
    async with (
        browser(server, address()) as admin,
        browser(server, address()) as teacher,
        browser(server, address()) as student,
    ):
        await login(admin, school.slug, "admin", school.password)
        await login(teacher, school.slug, "teacher1", school.password)
        await login(student, school.slug, "student3", school.password)
        assert (await teacher.patch("/api/me/settings", json={"pin": "4321"})).status_code == 200
        locked = await admin.post("/api/rooms", json={"name": "Nurse", "locked": True})
        assert locked.status_code == 201, locked.text
        pending = await student.post(
            "/api/passes",
            json={"origin": school.rooms["Room 1"], "destination": locked.json()["id"]},
        )
        assert pending.json()["state"] == "pending", pending.text
        approve = f"/api/passes/{pending.json()['id']}/approve"

        pins = [f"{n:04d}" for n in range(AT_ONCE)]  # 4321 is not among them
        answers = await asyncio.gather(*(student.post(approve, json={"pin": p}) for p in pins))
        statuses = Counter(a.status_code for a in answers)
        assert 1 <= statuses[403] <= ACCOUNT_LIMIT, statuses
        assert statuses[403] + statuses[429] == AT_ONCE, statuses
        assert all(a.json()["error"]["code"] == "bad_pin" for a in answers if a.status_code == 403)
        # The pass is still waiting, and a teacher approves it as ever.
        assert (await student.get(f"/api/passes/{pending.json()['id']}")).json()["state"] == (
            "pending"
        )
        approved = await teacher.post(approve, json={})
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "active"
