"""Passes through HTTP (API.md, "Passes"): a real uvicorn with the demo school,
on the SQLite store and on Redis.

Tests share the module's server and school: each uses its own students and
leaves none of their passes live.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_kit import DemoApi, assert_error, number, serve_demo, store_url_for, student

from hallpass.passwords import hash_password_async
from hallpass.provision import add_room, add_school, add_user
from hallpass.service.ephemeral import ephemeral_key, open_ephemeral
from hallpass.service.runtime import SchoolRuntime

PASS_FIELDS = {
    "id",
    "student",
    "origin",
    "destination",
    "minutes",
    "state",
    "created_at",
    "created_by",
    "start_at",
    "started_at",
    "arrived_at",
    "ended_at",
    "ended_by",
    "overtime",
    "note",
}


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DemoApi]:
    url = await store_url_for(request, tmp_path_factory, "test_api_passes")
    async with serve_demo(url) as demo:
        yield demo


async def create(
    api: DemoApi, client: httpx.AsyncClient, origin: str, destination: str, **fields: Any
) -> dict[str, Any]:
    body = {"origin": api.rooms[origin], "destination": api.rooms[destination], **fields}
    answer = await client.post("/api/passes", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def act(client: httpx.AsyncClient, pass_id: str, action: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(f"/api/passes/{pass_id}/{action}", json=body or None)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def in_an_hour() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


# --- life cycles ---------------------------------------------------------------


async def test_a_student_makes_a_pass_and_ends_it(api: DemoApi) -> None:
    me = await api.client(student(1))
    my_id = await api.user_id(student(1))
    made = await create(api, me, "Room 101", "Water Fountain", note="Back soon")
    assert set(made) >= PASS_FIELDS
    assert made["state"] == "active"
    assert made["student"] == {"id": my_id, "name": api.users[student(1)]["name"]}
    assert made["origin"] == api.rooms["Room 101"]
    assert made["minutes"] == 3  # the Water Fountain's default
    assert made["created_by"] == my_id
    assert made["started_at"] is not None and made["ended_at"] is None
    assert made["note"] == "Back soon" and made["overtime"] is False
    assert made["created_at"].endswith("Z")

    seen = await me.get(f"/api/passes/{made['id']}")
    assert seen.status_code == 200 and seen.json() == made

    teacher = await api.client("teacher1")
    board = (await teacher.get("/api/board")).json()
    assert made["id"] in {p["id"] for p in board["passes"]}

    ended = await act(me, made["id"], "end")
    assert ended["state"] == "ended"
    assert ended["ended_by"] == my_id and ended["ended_at"] is not None
    board = (await teacher.get("/api/board")).json()
    assert made["id"] not in {p["id"] for p in board["passes"]}

    mine = (await me.get("/api/passes")).json()
    assert mine[0]["id"] == made["id"] and mine[0]["state"] == "ended"


async def test_a_locked_room_waits_for_a_teacher(api: DemoApi) -> None:
    me = await api.client(student(2))
    made = await create(api, me, "Room 102", "Nurse")
    assert made["state"] == "pending" and made["started_at"] is None

    teacher = await api.client("teacher1")
    board = (await teacher.get("/api/board")).json()
    assert {"id": made["id"], "state": "pending"}.items() <= next(
        p for p in board["passes"] if p["id"] == made["id"]
    ).items()

    approved = await act(teacher, made["id"], "approve")
    assert approved["state"] == "active" and approved["started_at"] is not None
    ended = await act(teacher, made["id"], "end")
    assert ended["state"] == "ended" and ended["ended_by"] == await api.user_id("teacher1")


async def test_a_staff_pass_to_a_locked_room_needs_no_approval(api: DemoApi) -> None:
    teacher = await api.client("teacher2")
    made = await create(
        api, teacher, "Room 103", "Counselor", student=await api.user_id(student(24))
    )
    assert made["state"] == "active"
    assert made["minutes"] == 15
    await act(teacher, made["id"], "end")


async def test_a_student_approves_with_a_teachers_pin(api: DemoApi) -> None:
    me = await api.client(student(3))
    made = await create(api, me, "Room 103", "Main Office")
    async with api.unchanged():
        assert_error(await me.post(f"/api/passes/{made['id']}/approve"), 403, "forbidden")
        wrong = await me.post(f"/api/passes/{made['id']}/approve", json={"pin": "9999"})
        assert_error(wrong, 403, "bad_pin")
        malformed = await me.post(f"/api/passes/{made['id']}/approve", json={"pin": "12"})
        assert "pin" in assert_error(malformed, 422, "invalid")
    approved = await act(me, made["id"], "approve", pin="2222")
    assert approved["state"] == "active"
    await act(me, made["id"], "end")


async def test_wrong_pins_are_throttled(api: DemoApi) -> None:
    me = await api.client(student(4))
    made = await create(api, me, "Room 104", "Nurse")
    attempts = []
    async with api.unchanged():
        for _ in range(8):
            answer = await me.post(f"/api/passes/{made['id']}/approve", json={"pin": "0000"})
            attempts.append(answer.status_code)
        # Once locked, even the right PIN is not tried.
        right = await me.post(f"/api/passes/{made['id']}/approve", json={"pin": "1111"})
    assert attempts[0] == 403 and attempts[-1] == 429
    assert_error(right, 429, "too_many_attempts")
    # Another student's PINs are not locked by these.
    other = await api.client(student(25))
    theirs = await create(api, other, "Room 104", "Nurse")
    assert (await act(other, theirs["id"], "approve", pin="1111"))["state"] == "active"
    await act(other, theirs["id"], "end")
    teacher = await api.client("teacher1")
    await act(teacher, made["id"], "deny")


async def test_a_teacher_denies_a_pending_pass(api: DemoApi) -> None:
    me = await api.client(student(5))
    made = await create(api, me, "Room 105", "Counselor")
    teacher = await api.client("teacher3")
    denied = await act(teacher, made["id"], "deny")
    assert denied["state"] == "denied" and denied["ended_by"] == await api.user_id("teacher3")
    async with api.unchanged():
        assert_error(await teacher.post(f"/api/passes/{made['id']}/deny"), 409, "invalid_state")
        assert_error(await me.post(f"/api/passes/{made['id']}/deny"), 403, "forbidden")


async def test_a_student_cancels_before_it_starts(api: DemoApi) -> None:
    me = await api.client(student(6))
    made = await create(api, me, "Room 106", "Nurse")
    cancelled = await act(me, made["id"], "cancel")
    assert cancelled["state"] == "cancelled"

    out = await create(api, me, "Room 106", "Restroom")
    async with api.unchanged():
        answer = await me.post(f"/api/passes/{out['id']}/cancel")
        assert_error(answer, 409, "invalid_state")
    await act(me, out["id"], "end")


async def test_a_pass_for_later_is_scheduled(api: DemoApi) -> None:
    me = await api.client(student(7))
    start_at = in_an_hour()
    made = await create(api, me, "Room 107", "Library", start_at=start_at)
    assert made["state"] == "scheduled" and made["started_at"] is None
    assert datetime.fromisoformat(made["start_at"]) == datetime.fromisoformat(start_at)
    listed = (await me.get("/api/passes", params={"state": "scheduled"})).json()
    assert [p["id"] for p in listed] == [made["id"]]
    assert (await act(me, made["id"], "cancel"))["state"] == "cancelled"


async def test_staff_extend_an_active_pass(api: DemoApi) -> None:
    teacher = await api.client("teacher1")
    made = await create(api, teacher, "Room 108", "Restroom", student=await api.user_id(student(8)))
    assert made["state"] == "active" and made["minutes"] == 5
    extended = await act(teacher, made["id"], "extend", minutes=10)
    assert extended["minutes"] == 15
    me = await api.client(student(8))
    async with api.unchanged():
        assert_error(
            await me.post(f"/api/passes/{made['id']}/extend", json={"minutes": 5}), 403, "forbidden"
        )
        too_long = await teacher.post(f"/api/passes/{made['id']}/extend", json={"minutes": 500})
        assert_error(too_long, 422, "invalid")
        no_minutes = await teacher.post(f"/api/passes/{made['id']}/extend", json={})
        assert "minutes" in assert_error(no_minutes, 422, "invalid")
    await act(me, made["id"], "end")


async def test_a_kiosk_records_arrival_at_its_room_and_ends(api: DemoApi) -> None:
    me = await api.client(student(9))
    made = await create(api, me, "Room 102", "Room 101")  # to the kiosk's room
    kiosk = await api.client("kiosk1")
    arrived = await act(kiosk, made["id"], "arrive")
    assert arrived["arrived_at"] is not None and arrived["state"] == "active"
    async with api.unchanged():
        again = await kiosk.post(f"/api/passes/{made['id']}/arrive")
        assert_error(again, 409, "invalid_state")
    ended = await act(kiosk, made["id"], "end")
    assert ended["state"] == "ended" and ended["ended_by"] == await api.user_id("kiosk1")

    leaving = await create(api, me, "Room 101", "Restroom")  # from the kiosk's room
    async with api.unchanged():
        elsewhere = await kiosk.post(f"/api/passes/{leaving['id']}/arrive")
        assert_error(elsewhere, 403, "forbidden")
    await act(kiosk, leaving["id"], "end")

    unrelated = await create(api, me, "Room 102", "Restroom")
    async with api.unchanged():
        assert_error(await kiosk.get(f"/api/passes/{unrelated['id']}"), 404, "not_found")
        assert_error(await kiosk.post(f"/api/passes/{unrelated['id']}/end"), 404, "not_found")
    await act(me, unrelated["id"], "end")


async def test_a_kiosk_makes_passes_by_student_number(api: DemoApi) -> None:
    kiosk = await api.client("kiosk1")
    made = await create(api, kiosk, "Room 101", "Restroom", student_number=number(10))
    assert made["state"] == "active"
    assert made["student"]["id"] == await api.user_id(student(10))
    assert made["student"]["name"] == api.users[student(10)]["name"]
    assert made["created_by"] == await api.user_id("kiosk1")
    async with api.unchanged():
        unknown = await kiosk.post(
            "/api/passes",
            json={
                "origin": api.rooms["Room 101"],
                "destination": api.rooms["Restroom"],
                "student_number": "999999",
            },
        )
        assert assert_error(unknown, 404, "not_found") == "No student with that number."
        elsewhere = await kiosk.post(
            "/api/passes",
            json={
                "origin": api.rooms["Room 102"],
                "destination": api.rooms["Restroom"],
                "student_number": number(26),
            },
        )
        assert_error(elsewhere, 403, "forbidden")
        nobody = await kiosk.post(
            "/api/passes",
            json={"origin": api.rooms["Room 101"], "destination": api.rooms["Restroom"]},
        )
        assert_error(nobody, 422, "invalid")
    assert (await act(kiosk, made["id"], "end"))["state"] == "ended"


async def test_a_full_room_makes_a_line_that_moves_up(api: DemoApi) -> None:
    # The Library holds 2.
    first, second, third = [await api.client(student(n)) for n in (11, 12, 13)]
    a = await create(api, first, "Room 101", "Library")
    b = await create(api, second, "Room 102", "Library")
    c = await create(api, third, "Room 103", "Library")
    assert [a["state"], b["state"], c["state"]] == ["active", "active", "waiting"]
    teacher = await api.client("teacher1")
    board = {p["id"]: p["state"] for p in (await teacher.get("/api/board")).json()["passes"]}
    assert board[c["id"]] == "waiting"

    await act(first, a["id"], "end")
    # Read-your-writes: the answer's step already moved the line up.
    moved = (await third.get(f"/api/passes/{c['id']}")).json()
    assert moved["state"] == "active" and moved["started_at"] is not None
    await act(second, b["id"], "end")
    await act(third, c["id"], "end")


# --- refusals ------------------------------------------------------------------


async def test_every_refusal_has_its_code_and_changes_nothing(api: DemoApi) -> None:
    me = await api.client(student(16))
    rooms = api.rooms
    out = await create(api, me, "Room 101", "Restroom")

    def body(**fields: Any) -> dict[str, Any]:
        return {"origin": rooms["Room 102"], "destination": rooms["Water Fountain"], **fields}

    other = await api.client(student(17))
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    async with api.unchanged():
        cases = [
            (body(destination="room_nope"), 422, "unknown_room"),
            (body(destination=rooms["Room 102"]), 422, "invalid"),
            (body(minutes=0), 422, "invalid"),
            (body(minutes=121), 422, "invalid"),
            (body(start_at=past), 422, "invalid"),
            (body(student=await api.user_id(student(18))), 422, "invalid"),
            (body(student_number=number(18)), 422, "invalid"),
        ]
        for sent, status, code in cases:
            assert_error(await other.post("/api/passes", json=sent), status, code)
        assert_error(await me.post("/api/passes", json=body()), 409, "already_out")
        elsewhere = {"Origin": "https://evil.example"}
        answer = await other.post("/api/passes", json=body(), headers=elsewhere)
        assert_error(answer, 403, "bad_origin")
        assert_error(await me.post("/api/passes/pass_nope/end"), 404, "not_found")
        assert_error(await me.post(f"/api/passes/{out['id']}/deny"), 403, "forbidden")
        assert_error(await me.post(f"/api/passes/{out['id']}/arrive"), 403, "forbidden")
        assert_error(await api.anonymous().post("/api/passes", json=body()), 401, "unauthenticated")
        assert_error(await api.anonymous().get("/api/passes"), 401, "unauthenticated")
    await act(me, out["id"], "end")
    async with api.unchanged():
        assert_error(await me.post(f"/api/passes/{out['id']}/end"), 409, "invalid_state")


async def test_malformed_bodies_name_the_field(api: DemoApi) -> None:
    me = await api.client(student(20))
    good = {"origin": api.rooms["Room 101"], "destination": api.rooms["Restroom"]}
    async with api.unchanged():
        answer = await me.post("/api/passes", json={**good, "minutes": "ten"})
        assert assert_error(answer, 422, "invalid").startswith("minutes")
        answer = await me.post("/api/passes", json={**good, "colour": "red"})
        assert "colour" in assert_error(answer, 422, "invalid")
        answer = await me.post("/api/passes", json={"destination": good["destination"]})
        assert assert_error(answer, 422, "invalid").startswith("origin")
        answer = await me.post("/api/passes", json={**good, "start_at": "tomorrow"})
        assert assert_error(answer, 422, "invalid").startswith("start_at")
        naive = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
        answer = await me.post("/api/passes", json={**good, "start_at": naive})
        assert assert_error(answer, 422, "invalid").startswith("start_at")
        answer = await me.post(
            "/api/passes", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_error(answer, 422, "invalid")
        answer = await me.post("/api/passes", json=[good])
        assert_error(answer, 422, "invalid")


async def test_another_students_pass_is_not_found(api: DemoApi) -> None:
    owner = await api.client(student(14))
    made = await create(api, owner, "Room 104", "Nurse")
    stranger = await api.client(student(15))
    async with api.unchanged():
        assert_error(await stranger.get(f"/api/passes/{made['id']}"), 404, "not_found")
        for action in ("end", "cancel", "approve"):
            answer = await stranger.post(f"/api/passes/{made['id']}/{action}", json={"pin": "1111"})
            assert_error(answer, 404, "not_found")
        assert_error(
            await stranger.get("/api/passes", params={"student": await api.user_id(student(14))}),
            404,
            "not_found",
        )
    assert made["id"] not in {p["id"] for p in (await stranger.get("/api/passes")).json()}
    await act(owner, made["id"], "cancel")


async def test_another_schools_ids_are_not_found(api: DemoApi) -> None:
    # A second school, made the way the command line makes one.
    slug = "other-high"
    if await api.backend.directory.get_school(slug) is None:
        school = await add_school(api.backend, slug, "Other High")
        runtime = await SchoolRuntime.load(api.backend.store, slug)
        try:
            await add_room(runtime, "Room A")
            await add_room(runtime, "Room B")
        finally:
            await runtime.close()
        await add_user(
            api.backend.directory,
            school,
            username="teacher",
            role="teacher",
            name="Other Teacher",
            password_hash=await hash_password_async("demo"),
        )
    theirs = await api.client("teacher", school=slug)
    their_rooms = {r["name"]: r["id"] for r in (await theirs.get("/api/rooms")).json()}
    assert set(their_rooms) == {"Room A", "Room B"}

    me = await api.client(student(18))
    made = await create(api, me, "Room 108", "Water Fountain")
    async with api.unchanged(), api.unchanged(slug):
        assert_error(await theirs.get(f"/api/passes/{made['id']}"), 404, "not_found")
        for action in ("end", "cancel", "approve", "deny", "arrive"):
            answer = await theirs.post(f"/api/passes/{made['id']}/{action}")
            assert_error(answer, 404, "not_found")
        # A demo student's id or number does not name anyone in the other school.
        for who in ({"student": await api.user_id(student(18))}, {"student_number": number(18)}):
            answer = await theirs.post(
                "/api/passes",
                json={"origin": their_rooms["Room A"], "destination": their_rooms["Room B"], **who},
            )
            assert_error(answer, 404, "not_found")
        # And the demo's teacher cannot use the other school's rooms.
        teacher = await api.client("teacher1")
        answer = await teacher.post(
            "/api/passes",
            json={
                "origin": their_rooms["Room A"],
                "destination": api.rooms["Library"],
                "student": await api.user_id(student(19)),
            },
        )
        assert_error(answer, 422, "unknown_room")
    assert made["id"] not in {p["id"] for p in (await theirs.get("/api/board")).json()["passes"]}
    await act(me, made["id"], "end")


async def test_an_idempotency_key_makes_one_pass(api: DemoApi) -> None:
    me = await api.client(student(19))
    body = {"origin": api.rooms["Room 105"], "destination": api.rooms["Water Fountain"]}
    headers = {"Idempotency-Key": "tap-1"}
    first = await me.post("/api/passes", json=body, headers=headers)
    assert first.status_code == 201
    async with api.unchanged():
        again = await me.post("/api/passes", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    mine = (await me.get("/api/passes")).json()
    assert [p["id"] for p in mine].count(first.json()["id"]) == 1 and len(mine) == 1

    end_key = {"Idempotency-Key": "end-1"}
    ended = await me.post(f"/api/passes/{first.json()['id']}/end", headers=end_key)
    async with api.unchanged():
        replay = await me.post(f"/api/passes/{first.json()['id']}/end", headers=end_key)
    assert replay.status_code == 200 and replay.json() == ended.json()
    async with api.unchanged():
        too_long = await me.post("/api/passes", json=body, headers={"Idempotency-Key": "k" * 101})
        assert "Idempotency-Key" in assert_error(too_long, 422, "invalid")


async def test_a_retry_after_an_unknown_outcome_finds_the_first_pass(api: DemoApi) -> None:
    # The first attempt's pass landed but its answer was lost and not
    # remembered (a 503 is not): the retry must find that pass, not make one.
    me = await api.client(student(28))
    body = {"origin": api.rooms["Room 106"], "destination": api.rooms["Water Fountain"]}
    key = "tap-after-503"
    first = await me.post("/api/passes", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    await forget_answer(api, await api.user_id(student(28)), key)
    async with api.unchanged():
        retry = await me.post("/api/passes", json=body, headers={"Idempotency-Key": key})
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert "Idempotent-Replayed" not in retry.headers  # it ran again, and found the pass
    assert len((await me.get("/api/passes")).json()) == 1
    await act(me, first.json()["id"], "end")


async def forget_answer(api: DemoApi, user_id: str, key: str) -> None:
    """Drop the remembered answer of (user, key), as a 5xx would have."""
    ephemeral = await open_ephemeral(api.backend.url)
    try:
        slot = ephemeral_key("demo", "idem", user_id, hashlib.sha256(key.encode()).hexdigest())
        assert await ephemeral.get(slot) is not None, "the idempotency record moved"
        await ephemeral.delete(slot)
    finally:
        await ephemeral.close()


# --- reading -------------------------------------------------------------------


async def test_listing_filters_and_scopes(api: DemoApi) -> None:
    me = await api.client(student(21))
    other = await api.client(student(22))
    mine = await create(api, me, "Room 101", "Water Fountain")
    await act(me, mine["id"], "end")
    later = await create(api, me, "Room 102", "Nurse")
    theirs = await create(api, other, "Room 103", "Restroom")

    listed = (await me.get("/api/passes")).json()
    assert [p["id"] for p in listed] == [later["id"], mine["id"]]  # newest first
    own = await me.get("/api/passes", params={"student": await api.user_id(student(21))})
    assert own.json() == listed
    ended = (await me.get("/api/passes", params={"state": "ended"})).json()
    assert [p["id"] for p in ended] == [mine["id"]]
    several = (await me.get("/api/passes", params={"state": "ended,pending"})).json()
    assert len(several) == 2
    assert len((await me.get("/api/passes", params={"limit": "1"})).json()) == 1

    today = datetime.now(UTC).date()
    days = {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
    }
    assert len((await me.get("/api/passes", params=days)).json()) == 2
    tomorrow = (today + timedelta(days=2)).isoformat()
    assert (await me.get("/api/passes", params={"from": tomorrow})).json() == []
    cut = datetime.fromisoformat(later["created_at"])
    before = (await me.get("/api/passes", params={"to": cut.isoformat()})).json()
    assert [p["id"] for p in before] == [mine["id"]]

    teacher = await api.client("teacher2")
    theirs_only = await teacher.get(
        "/api/passes", params={"student": await api.user_id(student(22))}
    )
    assert [p["id"] for p in theirs_only.json()] == [theirs["id"]]
    school = {p["id"] for p in (await teacher.get("/api/passes", params={"limit": "500"})).json()}
    assert {mine["id"], later["id"], theirs["id"]} <= school

    kiosk = await api.client("kiosk1")  # Room 101
    seen = (await kiosk.get("/api/passes", params={"limit": "500"})).json()
    assert mine["id"] in {p["id"] for p in seen}
    assert all(api.rooms["Room 101"] in (p["origin"], p["destination"]) for p in seen)

    for params, name in (
        ({"state": "gone"}, "state"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2025-13-40"}, "to"),
        ({"to": "9999-12-31"}, "to"),
        ({"from": "2025-01-01T08:00:00"}, "from"),  # no offset
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
    ):
        assert assert_error(await me.get("/api/passes", params=params), 422, "invalid").startswith(
            name
        )

    await act(me, later["id"], "cancel")
    await act(other, theirs["id"], "end")


async def test_the_board_by_role(api: DemoApi) -> None:
    kiosk_room = await create(api, await api.client(student(23)), "Room 101", "Restroom")
    elsewhere = await create(api, await api.client(student(27)), "Room 104", "Restroom")
    teacher = await api.client("teacher1")
    board = (await teacher.get("/api/board")).json()
    assert set(board) == {"position", "passes"}
    assert board["position"] == str(await api.version())
    ids = {p["id"] for p in board["passes"]}
    assert {kiosk_room["id"], elsewhere["id"]} <= ids
    assert all(p["state"] in ("active", "pending", "waiting") for p in board["passes"])

    kiosk = (await (await api.client("kiosk1")).get("/api/board")).json()
    kiosk_ids = {p["id"] for p in kiosk["passes"]}
    assert kiosk_room["id"] in kiosk_ids and elsewhere["id"] not in kiosk_ids

    student_board = await (await api.client(student(23))).get("/api/board")
    assert_error(student_board, 403, "forbidden")

    await act(teacher, kiosk_room["id"], "end")
    await act(teacher, elsewhere["id"], "end")
    after = (await teacher.get("/api/board")).json()
    assert int(after["position"]) > int(board["position"])
