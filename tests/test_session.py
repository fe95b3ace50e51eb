"""Signing in and out, the session cookie, throttling and device cookies, and
one's own settings: a real uvicorn over TCP, on SQLite and on the real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from servers import SeededSchool, Server, login, running_server, seed_school

from hallpass.backend import open_backend
from hallpass.passwords import pin_key

# Small enough to reach in a test, large enough that the account lock (5)
# trips first when one address guesses one account.
ADDRESS_LIMIT = 8
MODULE_ENV = {"HALLPASS_LOGIN_ADDRESS_FAILURES": str(ADDRESS_LIMIT)}


class Site:
    def __init__(self, server: Server, store_url: str) -> None:
        self.server = server
        self.store_url = store_url

    def client(self, address: str | None = None) -> httpx.AsyncClient:
        """A browser of its own; `address` is its client address as the
        trusted local proxy reports it (X-Forwarded-For), so each test's
        address throttle is its own."""
        address = address or f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
        return httpx.AsyncClient(
            base_url=self.server.url, headers={"X-Forwarded-For": address}, timeout=30
        )


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('session') / 'hallpass.db'}"
    async with running_server(url, env=MODULE_ENV) as server:
        yield Site(server, url)


@pytest.fixture
async def school(site: Site) -> SeededSchool:
    return await seed_school(site.store_url)


def body_of(school: SeededSchool, username: str, password: str | None = None) -> dict[str, str]:
    return {
        "school": school.slug,
        "username": username,
        "password": school.password if password is None else password,
    }


def cookie_header(response: httpx.Response, name: str) -> str:
    for value in response.headers.get_list("set-cookie"):
        if value.startswith(f"{name}="):
            return value
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


def attributes(set_cookie: str) -> set[str]:
    return {part.strip().lower() for part in set_cookie.split(";")[1:]}


# --- signing in ------------------------------------------------------------------


async def test_sign_in_answers_the_user_and_sets_a_safe_cookie(
    site: Site, school: SeededSchool
) -> None:
    async with site.client() as client:
        response = await client.post("/api/session", json=body_of(school, "student1"))
        assert response.status_code == 200
        user = response.json()["user"]
        assert user == {
            "id": school.users["student1"],
            "name": "Student1",
            "role": "student",
            "school": school.slug,
            "number": "1001",
            "room": None,
            "settings": {"language": "en", "appearance": "system", "favorites": []},
        }
        cookie = cookie_header(response, "hallpass_session")
        token = cookie.split(";")[0].split("=", 1)[1]
        assert len(token) >= 43  # 32 random bytes, URL-safe base64
        flags = attributes(cookie)
        assert {"httponly", "samesite=lax", "path=/"} <= flags
        assert "secure" not in flags  # served over plain http here
        me = await client.get("/api/me")
        assert me.status_code == 200
        assert me.json() == user


async def test_the_cookie_is_secure_behind_an_https_proxy(site: Site, school: SeededSchool) -> None:
    async with site.client() as client:
        response = await client.post(
            "/api/session",
            json=body_of(school, "student1"),
            headers={"X-Forwarded-Proto": "https"},
        )
        assert response.status_code == 200
        assert "secure" in attributes(cookie_header(response, "hallpass_session"))
        assert "secure" in attributes(cookie_header(response, "hallpass_device"))


async def test_a_kiosk_signs_in_with_its_room(site: Site, school: SeededSchool) -> None:
    async with site.client() as client:
        user = await login(client, school.slug, "kiosk1", school.password)
        assert user["role"] == "kiosk"
        assert user["room"] == school.rooms["Room 1"]
        assert user["number"] is None


async def test_every_wrong_sign_in_gets_the_same_answer(site: Site, school: SeededSchool) -> None:
    attempts = [
        {**body_of(school, "student1"), "school": "no-such-school"},
        body_of(school, "nobody"),
        body_of(school, "student1", "wrong password"),
        body_of(school, "gone"),  # the right password of an inactive account
    ]
    answers = []
    async with site.client() as client:
        for attempt in attempts:
            response = await client.post("/api/session", json=attempt)
            answers.append((response.status_code, response.json()))
            assert "hallpass_session" not in response.headers.get("set-cookie", "")
    assert answers[0][0] == 401
    assert answers[0][1]["error"]["code"] == "bad_credentials"
    assert all(answer == answers[0] for answer in answers)


async def test_a_sign_in_body_is_checked(site: Site, school: SeededSchool) -> None:
    async with site.client() as client:
        missing = await client.post("/api/session", json={"school": school.slug})
        assert missing.status_code == 422
        assert missing.json()["error"] == {
            "code": "invalid",
            "message": "username: this field is required.",
        }
        wrong = await client.post(
            "/api/session", json={**body_of(school, "student1"), "password": 5}
        )
        assert wrong.status_code == 422
        assert wrong.json()["error"]["message"].startswith("password: expected a string")


# --- the session -----------------------------------------------------------------


async def test_signing_in_again_replaces_the_session(site: Site, school: SeededSchool) -> None:
    async with site.client() as client:
        await login(client, school.slug, "student1", school.password)
        first = client.cookies["hallpass_session"]
        await login(client, school.slug, "student1", school.password)
        second = client.cookies["hallpass_session"]
    assert first != second
    async with site.client() as old, site.client() as new:
        old.cookies.set("hallpass_session", first)
        new.cookies.set("hallpass_session", second)
        assert (await old.get("/api/me")).status_code == 401
        assert (await new.get("/api/me")).status_code == 200


async def test_signing_out_ends_the_session(site: Site, school: SeededSchool) -> None:
    async with site.client() as client:
        await login(client, school.slug, "teacher1", school.password)
        token = client.cookies["hallpass_session"]
        response = await client.delete("/api/session")
        assert response.status_code == 204
        cleared = cookie_header(response, "hallpass_session")
        assert "max-age=0" in attributes(cleared)
        me = await client.get("/api/me")
        assert me.status_code == 401
        assert me.json()["error"]["code"] == "unauthenticated"
    async with site.client() as replay:
        replay.cookies.set("hallpass_session", token)
        assert (await replay.get("/api/me")).status_code == 401


async def test_me_needs_a_session(site: Site) -> None:
    async with site.client() as client:
        response = await client.get("/api/me")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
        client.cookies.set("hallpass_session", "made-up-token")
        assert (await client.get("/api/me")).status_code == 401


# --- throttling --------------------------------------------------------------------


async def test_an_attacker_cannot_lock_a_person_out_of_their_own_device(
    site: Site, school: SeededSchool
) -> None:
    async with site.client() as device:
        await login(device, school.slug, "student2", school.password)
        assert (await device.delete("/api/session")).status_code == 204
        real_device_cookie = device.cookies["hallpass_device"]

        async with site.client() as attacker:
            for _ in range(5):
                wrong = await attacker.post(
                    "/api/session", json=body_of(school, "student2", "guess")
                )
                assert wrong.status_code == 401
            locked = await attacker.post("/api/session", json=body_of(school, "student2"))
            assert locked.status_code == 429
            assert locked.json()["error"]["code"] == "too_many_attempts"
            assert int(locked.headers["retry-after"]) > 0

        # Locked for every other browser, even one with a forged device cookie ...
        async with site.client() as other:
            forged = real_device_cookie[:-4] + (
                "AAAA" if not real_device_cookie.endswith("AAAA") else "BBBB"
            )
            other.cookies.set("hallpass_device", forged, path="/api/session")
            assert (
                await other.post("/api/session", json=body_of(school, "student2"))
            ).status_code == 429

        # ... but not for the device the person signed in on before.
        back = await device.post("/api/session", json=body_of(school, "student2"))
        assert back.status_code == 200
        assert (await device.get("/api/me")).json()["id"] == school.users["student2"]


async def test_a_known_device_has_a_lock_of_its_own(site: Site, school: SeededSchool) -> None:
    async with site.client() as device:
        await login(device, school.slug, "student3", school.password)
        for _ in range(5):
            wrong = await device.post("/api/session", json=body_of(school, "student3", "oops"))
            assert wrong.status_code == 401
        assert (
            await device.post("/api/session", json=body_of(school, "student3"))
        ).status_code == 429
    # The device's own failures did not lock the account for other browsers.
    async with site.client() as elsewhere:
        await login(elsewhere, school.slug, "student3", school.password)


async def test_one_address_guessing_many_accounts_is_stopped(
    site: Site, school: SeededSchool
) -> None:
    async with site.client("10.200.0.1") as guesser:
        for n in range(ADDRESS_LIMIT):
            wrong = await guesser.post("/api/session", json=body_of(school, f"user{n}", "guess"))
            assert wrong.status_code == 401
        stopped = await guesser.post("/api/session", json=body_of(school, "teacher2"))
        assert stopped.status_code == 429
        assert stopped.json()["error"]["code"] == "too_many_attempts"
    async with site.client("10.200.0.2") as neighbour:
        await login(neighbour, school.slug, "teacher2", school.password)


# --- settings --------------------------------------------------------------------


async def test_settings_change_and_stay_changed(site: Site, school: SeededSchool) -> None:
    library, room1 = school.rooms["Library"], school.rooms["Room 1"]
    async with site.client() as client:
        await login(client, school.slug, "student1", school.password)
        response = await client.patch(
            "/api/me/settings",
            json={"language": "es", "appearance": "dark", "favorites": [library, room1, library]},
        )
        assert response.status_code == 200
        expected = {"language": "es", "appearance": "dark", "favorites": [library, room1]}
        assert response.json()["settings"] == expected
        only_one = await client.patch("/api/me/settings", json={"appearance": "light"})
        assert only_one.json()["settings"] == {**expected, "appearance": "light"}
        assert (await client.get("/api/me")).json()["settings"] == {
            **expected,
            "appearance": "light",
        }


@pytest.mark.parametrize(
    ("body", "code", "starts"),
    [
        ({"language": "fr"}, "invalid", "language: must be one of 'en', 'es'"),
        ({"appearance": 3}, "invalid", "appearance: expected a string"),
        ({"favorites": "Library"}, "invalid", "favorites: expected a list"),
        ({"colour": "red"}, "invalid", "colour: there is no such field"),
        ({"favorites": [f"room_{n}" for n in range(21)]}, "invalid", "favorites: at most 20"),
        ({"language": "es", "favorites": ["room_nope"]}, "unknown_room", "favorites:"),
    ],
)
async def test_bad_settings_are_refused_and_change_nothing(
    site: Site, school: SeededSchool, body: dict[str, Any], code: str, starts: str
) -> None:
    async with site.client() as client:
        before = await login(client, school.slug, "student1", school.password)
        response = await client.patch("/api/me/settings", json=body)
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == code
        assert error["message"].startswith(starts)
        assert (await client.get("/api/me")).json() == before


async def test_bodies_that_are_not_json_or_too_large_are_refused(
    site: Site, school: SeededSchool
) -> None:
    async with site.client() as client:
        before = await login(client, school.slug, "student1", school.password)
        garbled = await client.patch(
            "/api/me/settings", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert garbled.status_code == 422
        assert garbled.json()["error"]["code"] == "invalid"

        huge = {"language": "es", "favorites": ["x" * 90] * 800}  # about 75 KB
        too_large = await client.patch("/api/me/settings", json=huge)
        assert too_large.status_code == 413
        assert too_large.json()["error"]["code"] == "payload_too_large"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"language": "es", "favorites": ['
            for _ in range(800):
                yield b'"' + b"x" * 90 + b'",'
            yield b'"x"]}'

        streamed = await client.patch("/api/me/settings", content=chunks())
        assert streamed.status_code == 413
        assert (await client.get("/api/me")).json() == before


async def test_a_teacher_sets_a_unique_pin(site: Site, school: SeededSchool) -> None:
    async with site.client() as teacher1, site.client() as teacher2, site.client() as student:
        await login(teacher1, school.slug, "teacher1", school.password)
        await login(teacher2, school.slug, "teacher2", school.password)
        await login(student, school.slug, "student1", school.password)

        set_pin = await teacher1.patch("/api/me/settings", json={"pin": "4321"})
        assert set_pin.status_code == 200
        assert "pin" not in set_pin.text
        again = await teacher1.patch("/api/me/settings", json={"pin": "4321"})
        assert again.status_code == 200  # one's own PIN is not "taken"

        taken = await teacher2.patch("/api/me/settings", json={"pin": "4321", "language": "es"})
        assert taken.status_code == 409
        assert taken.json()["error"]["code"] == "pin_taken"
        assert (await teacher2.get("/api/me")).json()["settings"]["language"] == "en"

        malformed = await teacher2.patch("/api/me/settings", json={"pin": "12a4"})
        assert malformed.status_code == 422
        assert malformed.json()["error"]["message"].startswith("pin:")

        not_a_teacher = await student.patch("/api/me/settings", json={"pin": "9876"})
        assert not_a_teacher.status_code == 403
        assert not_a_teacher.json()["error"]["code"] == "forbidden"

    backend = await open_backend(site.store_url)
    try:
        stored = await backend.directory.get_school(school.slug)
        assert stored is not None
        owner = await backend.directory.user_by_pin_key(school.slug, pin_key(stored.secret, "4321"))
        assert owner is not None and owner.id == school.users["teacher1"]
    finally:
        await backend.close()


# --- timeouts (a server of their own, with tiny limits) ----------------------------

IDLE = 1.5
LIFETIME = 3.0


@pytest.fixture(scope="module")
async def short_site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('short') / 'hallpass.db'}"
    env = {
        "HALLPASS_SESSION_IDLE_SECONDS": str(IDLE),
        "HALLPASS_SESSION_LIFETIME_SECONDS": str(LIFETIME),
    }
    async with running_server(url, env=env) as server:
        yield Site(server, url)


async def test_a_session_ends_when_left_idle(short_site: Site) -> None:
    school = await seed_school(short_site.store_url)
    async with short_site.client() as client:
        await login(client, school.slug, "student1", school.password)
        assert (await client.get("/api/me")).status_code == 200
        await asyncio.sleep(IDLE + 0.5)
        assert (await client.get("/api/me")).status_code == 401


async def test_a_session_ends_after_its_lifetime_however_busy(short_site: Site) -> None:
    school = await seed_school(short_site.store_url)
    async with short_site.client() as client:
        await login(client, school.slug, "student1", school.password)
        signed_in = time.monotonic()
        answers: list[tuple[float, int]] = []
        while time.monotonic() - signed_in < LIFETIME + 0.5:
            response = await client.get("/api/me")
            answers.append((time.monotonic() - signed_in, response.status_code))
            await asyncio.sleep(0.25)
    # Use kept it alive past the idle limit, and still it ended.
    assert any(at > IDLE + 0.2 and status == 200 for at, status in answers)
    assert answers[-1][1] == 401
