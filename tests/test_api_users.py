"""Finding and managing people through HTTP (docs/api.md, "People"): a real
uvicorn on the SQLite store and on Redis, each test with schools of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from people_kit import Site, error_of, serve, store_url_of
from servers import SeededSchool

from hallpass.backend import open_backend

# What a person looks like in these answers: never a hash, a PIN key or an email.
ACCOUNT_FIELDS = {"id", "name", "username", "number", "role", "room", "active"}


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    async with serve(store_url_of(request, tmp_path_factory)) as running:
        yield running


@pytest.fixture
async def home(site: Site) -> SeededSchool:
    return await site.school()


async def add(admin: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    answer = await admin.post("/api/users", json=fields)
    assert answer.status_code == 201, answer.text
    user: dict[str, Any] = answer.json()
    return user


async def find(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/users", params=params)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def signs_in(site: Site, school: SeededSchool, username: str, password: str) -> int:
    answer = await site.anonymous().post(
        "/api/session", json={"school": school.slug, "username": username, "password": password}
    )
    return answer.status_code


# --- finding people ------------------------------------------------------------------


async def test_staff_find_people_by_name_username_or_number(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    await add(admin, username="wren", name="Avery Wren", role="student", number="55012")
    await add(admin, username="park", name="Jordan Parker", role="student", number="55120")
    teacher = await site.client(home, "teacher1")

    by_name = await find(teacher, q="wREN")  # any part, any case
    assert [u["username"] for u in by_name] == ["wren"]
    assert set(by_name[0]) == ACCOUNT_FIELDS
    assert by_name[0] | {"id": None} == {
        "id": None,
        "name": "Avery Wren",
        "username": "wren",
        "number": "55012",
        "role": "student",
        "room": None,
        "active": True,
    }
    assert [u["username"] for u in await find(teacher, q="par")] == ["park"]
    # A number matches from its start only; an exact number comes first.
    assert [u["username"] for u in await find(teacher, q="551")] == ["park"]
    assert [u["username"] for u in await find(teacher, q="5501")] == ["wren"]
    assert await find(teacher, q="012") == []
    assert [u["username"] for u in await find(teacher, q="55")] == ["wren", "park"]

    students = await find(teacher, role="student")
    assert {u["username"] for u in students} == {"student1", "student2", "student3", "gone"} | {
        "wren",
        "park",
    }
    assert all(u["role"] == "student" for u in students)
    assert [u["username"] for u in await find(teacher, role="kiosk")] == ["kiosk1"]
    # Only active people (what pickers ask for), and the inactive ones.
    active = {u["username"] for u in await find(teacher, role="student", active="true")}
    assert "gone" not in active and "student1" in active
    assert [u["username"] for u in await find(teacher, active="false")] == ["gone"]
    # By id: the admin page names the students of its policies.
    ids = ",".join([home.users["student2"], home.users["teacher2"]])
    assert {u["username"] for u in await find(teacher, ids=ids)} == {"student2", "teacher2"}
    named = await find(teacher, ids=ids, role="student")
    assert [u["username"] for u in named] == ["student2"]


async def test_a_list_holds_20_by_default_and_100_at_most(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    for n in range(24):
        await add(admin, username=f"many{n:02d}", name=f"Many {n:02d}", role="student",
                  number=f"77{n:02d}")  # fmt: skip
    assert len(await find(admin, q="many")) == 20
    assert len(await find(admin, q="many", limit="24")) == 24
    assert len(await find(admin, q="many", limit="100")) == 24
    # Asking by id gets every one asked for, past the default.
    every = await find(admin, q="many", limit="100")
    assert len(await find(admin, ids=",".join(u["id"] for u in every))) == 24
    for bad in ("0", "101", "ten", "-1"):
        message = error_of(await admin.get("/api/users", params={"limit": bad}), 422, "invalid")
        assert message.startswith("limit:")


async def test_bad_search_parameters_name_the_parameter(site: Site, home: SeededSchool) -> None:
    teacher = await site.client(home, "teacher1")
    cases = {
        "role": "janitor",
        "active": "maybe",
        "q": "x" * 101,
        "ids": ",".join(f"user_{n}" for n in range(101)),
    }
    for name, value in cases.items():
        answer = await teacher.get("/api/users", params={name: value})
        assert error_of(answer, 422, "invalid").startswith(f"{name}:")


async def test_students_and_kiosks_may_not_list_or_change_people(
    site: Site, home: SeededSchool
) -> None:
    target = home.users["student2"]
    for username in ("student1", "kiosk1"):
        client = await site.client(home, username)
        error_of(await client.get("/api/users", params={"q": "stu"}), 403, "forbidden")
        answer = await client.post(
            "/api/users", json={"username": "x", "name": "X", "role": "admin", "password": "pw"}
        )
        error_of(answer, 403, "forbidden")
        error_of(await client.patch(f"/api/users/{target}", json={"name": "X"}), 403, "forbidden")
    teacher = await site.client(home, "teacher1")
    answer = await teacher.post(
        "/api/users", json={"username": "x", "name": "X", "role": "admin", "password": "pw"}
    )
    error_of(answer, 403, "forbidden")
    error_of(await teacher.patch(f"/api/users/{target}", json={"name": "X"}), 403, "forbidden")
    anonymous = site.anonymous()
    error_of(await anonymous.get("/api/users"), 401, "unauthenticated")
    # Nothing was added or renamed.
    admin = await site.client(home, "admin")
    assert await find(admin, q="x") == []
    assert (await find(admin, ids=target))[0]["name"] == "Student2"


async def test_another_schools_people_do_not_exist_here(site: Site, home: SeededSchool) -> None:
    other = await site.school()
    admin = await site.client(home, "admin")
    theirs = other.users["student1"]
    assert await find(admin, ids=theirs) == []
    assert {u["id"] for u in await find(admin, q="student")}.isdisjoint(other.users.values())
    for body in ({"name": "Taken Over"}, {"active": False}, {"password": "mine now"}):
        error_of(await admin.patch(f"/api/users/{theirs}", json=body), 404, "not_found")
    error_of(await admin.patch("/api/users/user_nobody", json={}), 404, "not_found")
    # Still theirs, unchanged, and still able to sign in.
    their_admin = await site.client(other, "admin")
    assert (await find(their_admin, ids=theirs))[0]["name"] == "Student1"
    assert await signs_in(site, other, "student1", other.password) == 200


# --- adding people ------------------------------------------------------------------------


async def test_an_admin_adds_a_student_who_can_sign_in(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    made = await add(
        admin, username="newkid", name="  Robin New ", role="student", number="4242",
        password="first day",
    )  # fmt: skip
    assert set(made) == ACCOUNT_FIELDS
    assert made["name"] == "Robin New"
    assert made["number"] == "4242" and made["active"] is True and made["room"] is None
    assert await signs_in(site, home, "newkid", "first day") == 200
    assert await signs_in(site, home, "newkid", "wrong") == 401
    # The kiosk knows the new number at once.
    kiosk = await site.client(home, "kiosk1")
    answer = await kiosk.post(
        "/api/passes",
        json={"student_number": "4242", "origin": home.rooms["Room 1"],
              "destination": home.rooms["Library"]},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert answer.json()["student"] == {"id": made["id"], "name": "Robin New"}
    # The store keeps a hash, never the password.
    backend = await open_backend(site.store_url)
    try:
        stored = await backend.directory.get_user(home.slug, made["id"])
    finally:
        await backend.close()
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$") and "first day" not in stored.password_hash


async def test_teachers_kiosks_and_password_less_people(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    teacher = await add(
        admin, username="mrsroom", name="Mrs Room", role="teacher", room=home.rooms["Room 2"],
        password="chalk",
    )  # fmt: skip
    assert teacher["room"] == home.rooms["Room 2"]
    signed_in = await site.client(home, "mrsroom", "chalk")
    assert (await signed_in.get("/api/me")).json()["room"] == home.rooms["Room 2"]
    kiosk = await add(
        admin, username="k2", name="Hall Kiosk", role="kiosk", room=home.rooms["Library"],
        password="kiosk pw",
    )  # fmt: skip
    assert kiosk["room"] == home.rooms["Library"]
    # No password: nobody can sign in with one until an admin sets it.
    sso_only = await add(admin, username="ssoonly", name="Sam Sso", role="teacher")
    assert sso_only["active"] is True
    for guess in ("", "password", "ssoonly"):
        assert await signs_in(site, home, "ssoonly", guess) in (401, 422)


async def test_adding_checks_each_field_and_names_it(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    base = {"username": "someone", "name": "Some One", "role": "student", "number": "9001"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"number": None}, "number:"),  # a student needs a number
        ({"role": "teacher"}, "number:"),  # only students have one
        ({"number": "90 01"}, "number:"),
        ({"username": "some one"}, "username:"),
        ({"username": ""}, "username:"),
        ({"name": "   "}, "name:"),
        ({"role": "janitor"}, "role:"),
        ({"room": home.rooms["Room 1"]}, "room:"),  # a student has no room
        ({"role": "kiosk", "number": None}, "room:"),  # a kiosk needs one
        ({"role": "admin", "number": None, "room": home.rooms["Room 1"]}, "room:"),
        ({"password": ""}, "password:"),
        ({"pin": "1234"}, "pin"),  # unknown field
        ({"username": None}, "username:"),
    ]
    for change, field in cases:
        body = {k: v for k, v in (base | change).items() if v is not None or k == "username"}
        answer = await admin.post("/api/users", json=body)
        message = error_of(answer, 422, "invalid")
        assert message.startswith(field) or field in message, (change, message)
    missing = {k: v for k, v in base.items() if k != "role"}
    assert error_of(await admin.post("/api/users", json=missing), 422, "invalid").startswith("role")
    kiosk = {"username": "someone", "name": "Some One", "role": "kiosk", "room": "room_none"}
    answer = await admin.post("/api/users", json=kiosk)
    assert "room" in error_of(answer, 422, "unknown_room")
    assert await find(admin, q="someone") == []  # nothing was added


async def test_a_taken_username_or_number_is_a_conflict(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    taken_username = {"username": "student1", "name": "Twin", "role": "student", "number": "8"}
    assert "student1" in error_of(await admin.post("/api/users", json=taken_username), 409,
                                  "duplicate")  # fmt: skip
    taken_number = {"username": "fresh", "name": "Twin", "role": "student", "number": "1001"}
    assert "1001" in error_of(await admin.post("/api/users", json=taken_number), 409, "duplicate")
    # Another school's usernames and numbers are theirs alone.
    other = await site.school()
    their_admin = await site.client(other, "admin")
    await add(their_admin, username="fresh", name="Fresh", role="student", number="1")
    await add(admin, username="fresh", name="Fresh", role="student", number="1")


async def test_a_retried_add_adds_one_person(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    body = {"username": "retry", "name": "Re Try", "role": "student", "number": "3131"}
    headers = {"Idempotency-Key": "add-retry-1"}
    first = await admin.post("/api/users", json=body, headers=headers)
    again = await admin.post("/api/users", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(await find(admin, q="retry")) == 1


# --- changing people ----------------------------------------------------------------------


async def test_a_new_name_shows_at_once_on_passes(site: Site, home: SeededSchool) -> None:
    teacher = await site.client(home, "teacher1")
    made = await teacher.post(
        "/api/passes",
        json={"student": home.users["student3"], "origin": home.rooms["Room 1"],
              "destination": home.rooms["Room 2"]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["student"]["name"] == "Student3"
    admin = await site.client(home, "admin")
    answer = await admin.patch(f"/api/users/{home.users['student3']}", json={"name": "Cass Third"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "Cass Third"
    # The server's names cache learnt it: no stale name, no wait.
    shown = await teacher.get(f"/api/passes/{made.json()['id']}")
    assert shown.json()["student"]["name"] == "Cass Third"
    board = (await teacher.get("/api/board")).json()["passes"]
    assert [p["student"]["name"] for p in board] == ["Cass Third"]


async def test_an_admin_changes_numbers_rooms_and_passwords(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    student = home.users["student2"]
    answer = await admin.patch(f"/api/users/{student}", json={"number": "2002"})
    assert answer.json()["number"] == "2002"
    kiosk = await site.client(home, "kiosk1")
    assert (await kiosk.get("/api/passes", params={"student_number": "2002"})).status_code == 200
    error_of(await kiosk.get("/api/passes", params={"student_number": "1002"}), 404, "not_found")
    # Taken by another student: refused, and nothing changed.
    taken = await admin.patch(f"/api/users/{student}", json={"number": "1001"})
    assert "1001" in error_of(taken, 409, "duplicate")
    assert (await find(admin, ids=student))[0]["number"] == "2002"
    error_of(await admin.patch(f"/api/users/{student}", json={"number": None}), 422, "invalid")

    teacher = home.users["teacher2"]
    moved = await admin.patch(f"/api/users/{teacher}", json={"room": home.rooms["Library"]})
    assert moved.json()["room"] == home.rooms["Library"]
    cleared = await admin.patch(f"/api/users/{teacher}", json={"room": None})
    assert cleared.json()["room"] is None
    answer = await admin.patch(f"/api/users/{teacher}", json={"room": "room_nowhere"})
    assert error_of(answer, 422, "unknown_room").startswith("room:")
    answer = await admin.patch(f"/api/users/{home.users['kiosk1']}", json={"room": None})
    assert error_of(answer, 422, "invalid").startswith("room:")
    answer = await admin.patch(f"/api/users/{student}", json={"room": home.rooms["Room 1"]})
    assert error_of(answer, 422, "invalid").startswith("room:")
    answer = await admin.patch(f"/api/users/{student}", json={"name": ""})
    assert error_of(answer, 422, "invalid").startswith("name:")
    answer = await admin.patch(f"/api/users/{student}", json={"username": "renamed"})
    assert "username" in error_of(answer, 422, "invalid")

    answer = await admin.patch(f"/api/users/{teacher}", json={"password": "new chalk"})
    assert answer.status_code == 200
    assert await signs_in(site, home, "teacher2", "new chalk") == 200
    assert await signs_in(site, home, "teacher2", home.password) == 401
    # An empty change changes nothing and says how the person is.
    same = await admin.patch(f"/api/users/{teacher}", json={})
    assert same.status_code == 200 and same.json()["username"] == "teacher2"


async def test_deactivating_signs_a_person_out_until_reactivated(
    site: Site, home: SeededSchool
) -> None:
    admin = await site.client(home, "admin")
    student = await site.client(home, "student1")
    assert (await student.get("/api/me")).status_code == 200
    answer = await admin.patch(f"/api/users/{home.users['student1']}", json={"active": False})
    assert answer.json()["active"] is False
    # Their session ended: the next request is refused, and signing in too.
    error_of(await student.get("/api/me"), 401, "unauthenticated")
    assert await signs_in(site, home, "student1", home.password) == 401
    # Nobody can make a pass for them meanwhile.
    teacher = await site.client(home, "teacher1")
    answer = await teacher.post(
        "/api/passes",
        json={"student_number": "1001", "origin": home.rooms["Room 1"],
              "destination": home.rooms["Room 2"]},
    )  # fmt: skip
    error_of(answer, 404, "not_found")

    answer = await admin.patch(f"/api/users/{home.users['student1']}", json={"active": True})
    assert answer.json()["active"] is True
    assert await signs_in(site, home, "student1", home.password) == 200


async def test_an_admin_cannot_deactivate_themselves(site: Site, home: SeededSchool) -> None:
    admin = await site.client(home, "admin")
    answer = await admin.patch(f"/api/users/{home.users['admin']}", json={"active": False})
    assert error_of(answer, 422, "invalid").startswith("active:")
    assert (await admin.get("/api/me")).status_code == 200
    renamed = await admin.patch(f"/api/users/{home.users['admin']}", json={"name": "Head Admin"})
    assert renamed.json()["name"] == "Head Admin"
