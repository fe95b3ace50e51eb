"""What the pages asked the API for (docs/api.md): a kiosk finding a pass by
student number, the school's facts for every signed-in page, and how full
each room is. A real uvicorn on the SQLite store and on Redis, each test
with a school of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from people_kit import Site, error_of, serve, store_url_of
from servers import SeededSchool


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    async with serve(store_url_of(request, tmp_path_factory)) as running:
        yield running


@pytest.fixture
async def home(site: Site) -> SeededSchool:
    return await site.school()


async def make_pass(
    client: httpx.AsyncClient, school: SeededSchool, origin: str, destination: str, **who: str
) -> dict[str, Any]:
    body = {"origin": school.rooms[origin], "destination": school.rooms[destination], **who}
    answer = await client.post("/api/passes", json=body)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


async def passes_of(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/passes", params=params)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


# --- a kiosk finds a pass by student number ----------------------------------------


async def test_a_kiosk_finds_the_pass_of_a_number_to_sign_it_back_in(
    site: Site, home: SeededSchool
) -> None:
    kiosk = await site.client(home, "kiosk1")  # in Room 1
    out = await make_pass(kiosk, home, "Room 1", "Library", student_number="1001")
    found = await passes_of(kiosk, student_number="1001", state="active,pending,waiting")
    assert [p["id"] for p in found] == [out["id"]]
    assert found[0]["student"] == {"id": home.users["student1"], "name": "Student1"}
    ended = await kiosk.post(f"/api/passes/{out['id']}/end")
    assert ended.status_code == 200
    assert await passes_of(kiosk, student_number="1001", state="active") == []
    assert [p["state"] for p in await passes_of(kiosk, student_number="1001")] == ["ended"]


async def test_a_kiosk_sees_only_its_rooms_passes_of_a_number(
    site: Site, home: SeededSchool
) -> None:
    teacher = await site.client(home, "teacher1")
    elsewhere = await make_pass(teacher, home, "Room 2", "Library", student=home.users["student2"])
    kiosk = await site.client(home, "kiosk1")
    assert await passes_of(kiosk, student_number="1002") == []
    # Staff see every pass of the number; the student, their own.
    assert [p["id"] for p in await passes_of(teacher, student_number="1002")] == [elsewhere["id"]]
    student = await site.client(home, "student2")
    mine = await passes_of(student, student_number="1002")
    assert [p["id"] for p in mine] == [elsewhere["id"]]
    await teacher.post(f"/api/passes/{elsewhere['id']}/end")


async def test_an_unknown_or_foreign_number_is_not_found(site: Site, home: SeededSchool) -> None:
    other = await site.school()
    theirs = await make_pass(
        await site.client(other, "teacher1"), other, "Room 1", "Room 2", student_number="1003"
    )
    for username in ("kiosk1", "teacher1", "admin"):
        client = await site.client(home, username)
        for number in ("424242", "1099"):  # nobody's; an inactive student's
            answer = await client.get("/api/passes", params={"student_number": number})
            assert error_of(answer, 404, "not_found") == "No student with that number."
        # Another school's student 1003 is not this school's student 1003.
        assert theirs["id"] not in {p["id"] for p in await passes_of(client, student_number="1003")}
    answer = await (await site.client(home, "kiosk1")).get(
        "/api/passes", params={"student_number": "9" * 33}
    )
    assert error_of(answer, 422, "invalid").startswith("student_number:")


async def test_a_student_may_name_only_their_own_number(site: Site, home: SeededSchool) -> None:
    student = await site.client(home, "student1")
    assert await passes_of(student, student_number="1001") == []
    for number in ("1002", "424242"):  # another's, nobody's: the same answer
        answer = await student.get("/api/passes", params={"student_number": number})
        assert error_of(answer, 404, "not_found") == "No student with that number."
    both = {"student_number": "1001", "student": home.users["student1"]}
    answer = await student.get("/api/passes", params=both)
    assert error_of(answer, 422, "invalid").startswith("student_number:")


async def test_the_document_offers_student_number(site: Site) -> None:
    doc = (await site.anonymous().get("/openapi.json")).json()
    names = {p["name"] for p in doc["paths"]["/api/passes"]["get"]["parameters"]}
    assert {"student", "student_number", "state", "limit"} <= names
    assert set(doc["paths"]["/api/users"]) == {"get", "post"}
    assert set(doc["paths"]["/api/users/{id}"]) == {"patch"}
    assert set(doc["paths"]["/api/school"]) == {"get"}
    users = {p["name"] for p in doc["paths"]["/api/users"]["get"]["parameters"]}
    assert users == {"q", "role", "ids", "active", "limit"}
    room = doc["components"]["schemas"]["Room"]["properties"]
    assert room["out"]["type"] == room["waiting"]["type"] == "integer"


# --- the school's facts ---------------------------------------------------------------


async def test_everyone_signed_in_reads_the_schools_facts(site: Site, home: SeededSchool) -> None:
    expected = {
        "slug": home.slug,
        "name": f"School {home.slug}",
        "timezone": "America/Chicago",
        "paused": False,
    }
    for username in ("student1", "teacher1", "admin", "kiosk1"):
        answer = await (await site.client(home, username)).get("/api/school")
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
    error_of(await site.anonymous().get("/api/school"), 401, "unauthenticated")


async def test_the_timezone_and_pause_follow_the_rules(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    student = await site.client(home, "student1")
    policies = (await admin.get("/api/policies")).json()
    answer = await admin.put("/api/policies", json=policies | {"timezone": "Europe/Madrid"})
    assert answer.status_code == 200, answer.text
    assert (await admin.post("/api/hall/sweep", json={"pause": True})).status_code == 200
    facts = (await student.get("/api/school")).json()
    assert facts["timezone"] == "Europe/Madrid" and facts["paused"] is True
    assert (await admin.delete("/api/hall/pause")).status_code == 204
    assert (await student.get("/api/school")).json()["paused"] is False


# --- how full each room is ---------------------------------------------------------------


def counts(rooms: list[dict[str, Any]], room_id: str) -> tuple[int, int]:
    room = next(r for r in rooms if r["id"] == room_id)
    return room["out"], room["waiting"]


async def test_rooms_show_who_is_out_there_and_who_waits(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    library = home.rooms["Library"]
    changed = await admin.patch(f"/api/rooms/{library}", json={"capacity": 1})
    assert changed.status_code == 200 and (changed.json()["out"], changed.json()["waiting"]) == (
        0,
        0,
    )
    first = await site.client(home, "student1")
    second = await site.client(home, "student2")
    out = await make_pass(first, home, "Room 1", "Library")
    waits = await make_pass(second, home, "Room 2", "Library")
    assert (out["state"], waits["state"]) == ("active", "waiting")

    # A student sees the room full with one in line, though not whose passes.
    third = await site.client(home, "student3")
    rooms = (await third.get("/api/rooms")).json()
    assert counts(rooms, library) == (1, 1)
    assert counts(rooms, home.rooms["Room 2"]) == (0, 0)  # where they left from
    assert {"id", "name", "locked", "capacity", "minutes", "enabled", "out", "waiting"} == set(
        rooms[0]
    )
    same = (await admin.patch(f"/api/rooms/{library}", json={})).json()
    assert (same["out"], same["waiting"]) == (1, 1)

    # The first comes back: the line moves up.
    assert (await first.post(f"/api/passes/{out['id']}/end")).status_code == 200
    assert counts((await third.get("/api/rooms")).json(), library) == (1, 0)
    assert (await second.post(f"/api/passes/{waits['id']}/end")).status_code == 200
    assert counts((await third.get("/api/rooms")).json(), library) == (0, 0)
    added = await admin.post("/api/rooms", json={"name": "Gym"})
    assert added.status_code == 201 and (added.json()["out"], added.json()["waiting"]) == (0, 0)
