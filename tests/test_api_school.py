"""Rooms and the school's controls through HTTP (API.md, "Rooms" and "School
controls"), and the refusals that the policies cause: a real uvicorn with the
demo school, on the SQLite store and on Redis.

Each test leaves the school as the demo made it: the fixture `reset` puts the
demo policies back, sweeps the hall and lifts any pause afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from api_kit import DemoApi, assert_error, serve_demo, store_url_for, student

DEMO_POLICIES = {
    "daily_limit": None,
    "weekly_limit": None,
    "cooldown_minutes": 0,
    "hallway_cap": None,
    "classroom_cap": None,
    "blackouts": [],
    "exempt": [],
    "keep_apart": [],
    "overtime_end_minutes": 15,
    "timezone": "America/Chicago",
    "day_ends_at": "16:00",
}


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DemoApi]:
    url = await store_url_for(request, tmp_path_factory, "test_api_school")
    async with serve_demo(url) as demo:
        yield demo


@pytest.fixture(autouse=True)
async def reset(api: DemoApi) -> AsyncIterator[None]:
    yield
    admin = await api.client("admin")
    assert (await admin.put("/api/policies", json=DEMO_POLICIES)).status_code == 200
    assert (await admin.post("/api/hall/sweep", json={"pause": False})).status_code == 200
    assert (await admin.delete("/api/hall/pause")).status_code == 204


async def make(
    api: DemoApi, client: httpx.AsyncClient, origin: str, destination: str, **fields: Any
) -> httpx.Response:
    body = {"origin": api.rooms[origin], "destination": api.rooms[destination], **fields}
    return await client.post("/api/passes", json=body)


async def made(
    api: DemoApi, client: httpx.AsyncClient, origin: str, destination: str, **fields: Any
) -> dict[str, Any]:
    answer = await make(api, client, origin, destination, **fields)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def put_policies(api: DemoApi, **changes: Any) -> dict[str, Any]:
    admin = await api.client("admin")
    answer = await admin.put("/api/policies", json={**DEMO_POLICIES, **changes})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def end(client: httpx.AsyncClient, pass_id: str) -> None:
    answer = await client.post(f"/api/passes/{pass_id}/end")
    assert answer.status_code == 200, answer.text


# --- rooms ---------------------------------------------------------------------


async def test_everyone_signed_in_reads_the_rooms(api: DemoApi) -> None:
    for username in ("admin", "teacher1", student(1), "kiosk1"):
        rooms = (await (await api.client(username)).get("/api/rooms")).json()
        by_name = {r["name"]: r for r in rooms}
        assert len(by_name) >= 14
        assert by_name["Library"] == {
            "id": api.rooms["Library"],
            "name": "Library",
            "locked": False,
            "capacity": 2,
            "minutes": 10,
            "enabled": True,
            "out": 0,  # nobody out there now (docs/api.md, "Rooms")
            "waiting": 0,
        }
        assert by_name["Nurse"]["locked"] is True
    assert_error(await api.anonymous().get("/api/rooms"), 401, "unauthenticated")


async def test_an_admin_adds_and_changes_rooms(api: DemoApi) -> None:
    admin = await api.client("admin")
    answer = await admin.post("/api/rooms", json={"name": "Gym", "capacity": 1, "minutes": 8})
    assert answer.status_code == 201, answer.text
    gym = answer.json()
    assert gym == {
        "id": gym["id"],
        "name": "Gym",
        "locked": False,
        "capacity": 1,
        "minutes": 8,
        "enabled": True,
        "out": 0,
        "waiting": 0,
    }
    assert gym in (await admin.get("/api/rooms")).json()

    locked = await admin.patch(f"/api/rooms/{gym['id']}", json={"locked": True, "name": "Big Gym"})
    assert locked.json() == {**gym, "locked": True, "name": "Big Gym"}
    cleared = await admin.patch(f"/api/rooms/{gym['id']}", json={"capacity": None})
    assert cleared.json() == {**gym, "locked": True, "name": "Big Gym", "capacity": None}
    async with api.unchanged():
        same = await admin.patch(f"/api/rooms/{gym['id']}", json={"locked": True})
    assert same.status_code == 200 and same.json() == cleared.json()

    async with api.unchanged():
        teacher = await api.client("teacher1")
        assert_error(await teacher.post("/api/rooms", json={"name": "Mine"}), 403, "forbidden")
        assert_error(await teacher.patch(f"/api/rooms/{gym['id']}", json={}), 403, "forbidden")
        assert_error(await admin.post("/api/rooms", json={"name": "Library"}), 422, "invalid")
        assert_error(
            await admin.post("/api/rooms", json={"name": "Zero", "capacity": 0}), 422, "invalid"
        )
        assert_error(
            await admin.post("/api/rooms", json={"name": "Long", "minutes": 500}), 422, "invalid"
        )
        missing = await admin.post("/api/rooms", json={"locked": True})
        assert assert_error(missing, 422, "invalid").startswith("name")
        unknown = await admin.patch(f"/api/rooms/{gym['id']}", json={"colour": "red"})
        assert "colour" in assert_error(unknown, 422, "invalid")
        nowhere = await admin.patch("/api/rooms/room_nope", json={"locked": True})
        assert_error(nowhere, 404, "not_found")
        taken = await admin.patch(f"/api/rooms/{gym['id']}", json={"name": "Nurse"})
        assert_error(taken, 422, "invalid")

    key = {"Idempotency-Key": "add-pool"}
    pool = await admin.post("/api/rooms", json={"name": "Pool"}, headers=key)
    async with api.unchanged():
        again = await admin.post("/api/rooms", json={"name": "Pool"}, headers=key)
    assert pool.status_code == again.status_code == 201 and pool.json() == again.json()


async def test_a_closed_room_takes_no_passes_and_more_room_moves_the_line(api: DemoApi) -> None:
    admin = await api.client("admin")
    answer = await admin.post("/api/rooms", json={"name": "Art Room", "capacity": 1})
    assert answer.status_code == 201, answer.text
    art = answer.json()
    api.rooms["Art Room"] = art["id"]
    first, second = await api.client(student(2)), await api.client(student(3))
    a = await made(api, first, "Room 101", "Art Room")
    b = await made(api, second, "Room 102", "Art Room")
    assert (a["state"], b["state"]) == ("active", "waiting")

    wider = await admin.patch(f"/api/rooms/{art['id']}", json={"capacity": 2})
    assert wider.status_code == 200
    assert (await second.get(f"/api/passes/{b['id']}")).json()["state"] == "active"

    await admin.patch(f"/api/rooms/{art['id']}", json={"enabled": False})
    third = await api.client(student(4))
    async with api.unchanged():
        assert_error(await make(api, third, "Room 103", "Art Room"), 422, "unknown_room")


# --- policies ------------------------------------------------------------------


async def test_admins_read_and_replace_the_policies(api: DemoApi) -> None:
    admin = await api.client("admin")
    assert (await admin.get("/api/policies")).json() == DEMO_POLICIES
    exempt = [await api.user_id(student(5))]
    blackout = {"days": ["mon", "tue"], "from": "08:00", "to": "08:10"}
    changed = await put_policies(api, daily_limit=3, exempt=exempt, blackouts=[blackout])
    assert changed == {**DEMO_POLICIES, "daily_limit": 3, "exempt": exempt, "blackouts": [blackout]}
    assert (await admin.get("/api/policies")).json() == changed

    async with api.unchanged():
        teacher = await api.client("teacher1")
        assert_error(await teacher.get("/api/policies"), 403, "forbidden")
        assert_error(await teacher.put("/api/policies", json=DEMO_POLICIES), 403, "forbidden")
        for wrong in (
            {"timezone": "Mars/Olympus"},
            {"day_ends_at": "25:00"},
            {"daily_limit": 0},
            {"blackouts": [{"days": ["mon"], "from": "09:00", "to": "08:00"}]},
        ):
            answer = await admin.put("/api/policies", json={**DEMO_POLICIES, **wrong})
            assert_error(answer, 422, "invalid")
        for malformed, field in (
            ({"daily_limit": "three"}, "daily_limit"),
            ({"blackouts": [{"days": ["someday"], "from": "08:00", "to": "09:00"}]}, "blackouts"),
            ({"holidays": []}, "holidays"),
        ):
            answer = await admin.put("/api/policies", json={**DEMO_POLICIES, **malformed})
            assert field in assert_error(answer, 422, "invalid")
    assert (await admin.get("/api/policies")).json() == changed


async def test_cooldown_and_exempt_students(api: DemoApi) -> None:
    me, exempt = await api.client(student(6)), await api.client(student(7))
    await put_policies(api, cooldown_minutes=30, exempt=[await api.user_id(student(7))])
    for client in (me, exempt):
        await end(client, (await made(api, client, "Room 101", "Water Fountain"))["id"])
    async with api.unchanged():
        message = assert_error(await make(api, me, "Room 101", "Water Fountain"), 409, "cooldown")
    assert "minute" in message
    assert (await made(api, exempt, "Room 101", "Water Fountain"))["state"] == "active"
    # Staff may still send the student out.
    teacher = await api.client("teacher1")
    staff = await made(api, teacher, "Room 101", "Nurse", student=await api.user_id(student(6)))
    assert staff["state"] == "active"


async def test_the_daily_limit(api: DemoApi) -> None:
    me = await api.client(student(8))
    await put_policies(api, daily_limit=1)
    await end(me, (await made(api, me, "Room 102", "Restroom"))["id"])
    async with api.unchanged():
        assert_error(await make(api, me, "Room 102", "Restroom"), 409, "pass_limit")


async def test_a_blackout(api: DemoApi) -> None:
    wall = datetime.now(UTC).astimezone(ZoneInfo("America/Chicago"))
    minute = wall.hour * 60 + wall.minute
    if minute >= 23 * 60 + 58:
        pytest.skip("no blackout window can hold the last minute of the day")
    begin, finish = max(0, minute - 30), min(23 * 60 + 59, minute + 30)
    window = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": f"{begin // 60:02d}:{begin % 60:02d}",
        "to": f"{finish // 60:02d}:{finish % 60:02d}",
    }
    await put_policies(api, blackouts=[window])
    me = await api.client(student(9))
    async with api.unchanged():
        assert_error(await make(api, me, "Room 103", "Restroom"), 409, "blackout")


async def test_students_kept_apart(api: DemoApi) -> None:
    one, two = await api.client(student(10)), await api.client(student(11))
    names = {api.users[student(10)]["name"], api.users[student(11)]["name"]}
    await put_policies(
        api, keep_apart=[[await api.user_id(student(10)), await api.user_id(student(11))]]
    )
    await made(api, one, "Room 104", "Restroom")
    async with api.unchanged():
        message = assert_error(await make(api, two, "Room 105", "Library"), 409, "unavailable")
    assert not any(part in message for name in names for part in name.split())


async def test_hallway_and_classroom_caps_make_a_line(api: DemoApi) -> None:
    await put_policies(api, classroom_cap=1)
    a, b = await api.client(student(12)), await api.client(student(13))
    first = await made(api, a, "Room 106", "Restroom")
    second = await made(api, b, "Room 106", "Water Fountain")
    assert (first["state"], second["state"]) == ("active", "waiting")
    # Another cap that still holds keeps the line; ending the pass moves it.
    await put_policies(api, hallway_cap=1)
    assert (await b.get(f"/api/passes/{second['id']}")).json()["state"] == "waiting"
    await end(a, first["id"])
    assert (await b.get(f"/api/passes/{second['id']}")).json()["state"] == "active"


# --- the hall ------------------------------------------------------------------


async def test_a_sweep_with_pause_then_resume(api: DemoApi) -> None:
    admin = await api.client("admin")
    out = await made(api, await api.client(student(14)), "Room 101", "Restroom")
    pending = await made(api, await api.client(student(15)), "Room 102", "Nurse")
    later = await made(
        api,
        await api.client(student(16)),
        "Room 103",
        "Library",
        start_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )
    assert (out["state"], pending["state"], later["state"]) == ("active", "pending", "scheduled")

    async with api.unchanged():
        teacher = await api.client("teacher1")
        assert_error(await teacher.post("/api/hall/sweep", json={"pause": True}), 403, "forbidden")
        assert_error(await teacher.delete("/api/hall/pause"), 403, "forbidden")
        bad = await admin.post("/api/hall/sweep", json={"pause": "yes"})
        assert bad.json()["error"]["message"].startswith("pause")

    swept = await admin.post("/api/hall/sweep", json={"pause": True})
    assert swept.status_code == 200 and swept.json() == {"ended": 2}
    me = await api.client(student(14))
    assert (await me.get(f"/api/passes/{out['id']}")).json()["state"] == "ended"
    states = (await admin.get(f"/api/passes/{pending['id']}")).json()["state"]
    assert states == "cancelled"
    assert (await admin.get(f"/api/passes/{later['id']}")).json()["state"] == "scheduled"
    assert (await me.get("/api/hall")).json() == {"paused": True}

    async with api.unchanged():
        assert_error(await make(api, me, "Room 101", "Restroom"), 409, "passes_paused")
        teacher_pass = await make(
            api, teacher, "Room 101", "Restroom", student=await api.user_id(student(17))
        )
        assert_error(teacher_pass, 409, "passes_paused")

    resumed = await admin.delete("/api/hall/pause")
    assert resumed.status_code == 204 and resumed.content == b""
    assert (await me.get("/api/hall")).json() == {"paused": False}
    assert (await made(api, me, "Room 101", "Restroom"))["state"] == "active"
    # Resuming again changes nothing and still answers 204.
    async with api.unchanged():
        assert (await admin.delete("/api/hall/pause")).status_code == 204
    assert (await admin.post("/api/hall/sweep")).json() == {"ended": 1}
    await admin.post(f"/api/passes/{later['id']}/cancel")
