"""Teachers' requests through HTTP (API.md, "Pass requests"): a real uvicorn with
the demo school, on the SQLite store and on Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_kit import DemoApi, assert_error, number, serve_demo, store_url_for, student

REQUEST_FIELDS = {
    "id",
    "student",
    "teacher",
    "destination",
    "start_at",
    "minutes",
    "note",
    "state",
    "pass",
}


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DemoApi]:
    url = await store_url_for(request, tmp_path_factory, "test_api_requests")
    async with serve_demo(url) as demo:
        yield demo


async def send(
    api: DemoApi, teacher: httpx.AsyncClient, n: int, destination: str, **fields: Any
) -> dict[str, Any]:
    body = {"student": await api.user_id(student(n)), "destination": api.rooms[destination]}
    answer = await teacher.post("/api/requests", json={**body, **fields})
    assert answer.status_code == 201, answer.text
    sent: dict[str, Any] = answer.json()
    return sent


async def post(client: httpx.AsyncClient, path: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(path, json=body or None)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_a_student_accepts_a_teachers_request(api: DemoApi) -> None:
    teacher = await api.client("teacher1")
    sent = await send(api, teacher, 1, "Library", note="Bring your book")
    assert set(sent) >= REQUEST_FIELDS
    assert sent["state"] == "open" and sent["pass"] is None
    assert sent["minutes"] == 10 and sent["note"] == "Bring your book"
    assert sent["teacher"] == {
        "id": await api.user_id("teacher1"),
        "name": api.users["teacher1"]["name"],
    }
    assert sent["student"]["id"] == await api.user_id(student(1))

    me = await api.client(student(1))
    mine = (await me.get("/api/requests")).json()
    assert [r["id"] for r in mine] == [sent["id"]]
    assert (await me.get(f"/api/requests/{sent['id']}")).json() == sent

    accepted = await post(me, f"/api/requests/{sent['id']}/accept", origin=api.rooms["Room 101"])
    assert set(accepted) == {"request", "pass"}
    request, made = accepted["request"], accepted["pass"]
    assert request["state"] == "accepted" and request["pass"] == made["id"]
    assert made["state"] == "active" and made["destination"] == api.rooms["Library"]
    assert made["origin"] == api.rooms["Room 101"] and made["note"] == "Bring your book"
    assert (await me.get(f"/api/passes/{made['id']}")).json()["state"] == "active"

    async with api.unchanged():
        again = await me.post(
            f"/api/requests/{sent['id']}/accept", json={"origin": api.rooms["Room 101"]}
        )
        assert_error(again, 409, "invalid_state")
    await post(me, f"/api/passes/{made['id']}/end")


async def test_a_request_to_a_locked_room_needs_no_approval(api: DemoApi) -> None:
    teacher = await api.client("teacher2")
    sent = await send(api, teacher, 2, "Counselor")
    me = await api.client(student(2))
    accepted = await post(me, f"/api/requests/{sent['id']}/accept", origin=api.rooms["Room 102"])
    assert accepted["pass"]["state"] == "active"
    await post(me, f"/api/passes/{accepted['pass']['id']}/end")


async def test_a_request_for_later_makes_a_scheduled_pass(api: DemoApi) -> None:
    teacher = await api.client("teacher1")
    start_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    sent = await send(api, teacher, 3, "Main Office", start_at=start_at, minutes=7)
    assert datetime.fromisoformat(sent["start_at"]) == datetime.fromisoformat(start_at)
    assert sent["minutes"] == 7
    me = await api.client(student(3))
    accepted = await post(me, f"/api/requests/{sent['id']}/accept", origin=api.rooms["Room 103"])
    assert accepted["pass"]["state"] == "scheduled" and accepted["pass"]["minutes"] == 7
    await post(me, f"/api/passes/{accepted['pass']['id']}/cancel")


async def test_a_request_by_student_number(api: DemoApi) -> None:
    teacher = await api.client("teacher1")
    answer = await teacher.post(
        "/api/requests",
        json={"student_number": number(4), "destination": api.rooms["Restroom"]},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["student"]["id"] == await api.user_id(student(4))
    await post(teacher, f"/api/requests/{answer.json()['id']}/cancel")


async def test_a_student_declines(api: DemoApi) -> None:
    teacher = await api.client("teacher3")
    me = await api.client(student(5))
    sent = await send(api, teacher, 5, "Nurse")
    declined = await post(me, f"/api/requests/{sent['id']}/decline", reason="I have a test")
    assert declined["state"] == "declined" and declined["pass"] is None
    bare = await send(api, teacher, 5, "Nurse")
    assert (await post(me, f"/api/requests/{bare['id']}/decline"))["state"] == "declined"
    async with api.unchanged():
        again = await me.post(f"/api/requests/{sent['id']}/decline")
        assert_error(again, 409, "invalid_state")
        long = await me.post(f"/api/requests/{sent['id']}/decline", json={"reason": "x" * 501})
        assert assert_error(long, 422, "invalid").startswith("reason")


async def test_only_its_teacher_or_an_admin_cancels(api: DemoApi) -> None:
    teacher, colleague, admin = [await api.client(u) for u in ("teacher1", "teacher2", "admin")]
    sent = await send(api, teacher, 6, "Restroom")
    async with api.unchanged():
        assert_error(await colleague.post(f"/api/requests/{sent['id']}/cancel"), 403, "forbidden")
        me = await api.client(student(6))
        assert_error(await me.post(f"/api/requests/{sent['id']}/cancel"), 403, "forbidden")
    assert (await post(teacher, f"/api/requests/{sent['id']}/cancel"))["state"] == "cancelled"
    other = await send(api, teacher, 6, "Restroom")
    assert (await post(admin, f"/api/requests/{other['id']}/cancel"))["state"] == "cancelled"
    async with api.unchanged():
        answer = await teacher.post(f"/api/requests/{other['id']}/cancel")
        assert_error(answer, 409, "invalid_state")


async def test_refusals_change_nothing(api: DemoApi) -> None:
    teacher = await api.client("teacher1")
    me = await api.client(student(7))
    stranger = await api.client(student(8))
    kiosk = await api.client("kiosk1")
    sent = await send(api, teacher, 7, "Library")
    made = await me.post(
        "/api/passes",
        json={"origin": api.rooms["Room 104"], "destination": api.rooms["Water Fountain"]},
    )
    assert made.status_code == 201, made.text
    out = made.json()
    async with api.unchanged():
        body = {"student": await api.user_id(student(7)), "destination": api.rooms["Library"]}
        assert_error(await me.post("/api/requests", json=body), 403, "forbidden")
        assert_error(await kiosk.post("/api/requests", json=body), 403, "forbidden")
        assert_error(await kiosk.get("/api/requests"), 403, "forbidden")
        unknown = await teacher.post("/api/requests", json={**body, "student": "user_nobody"})
        assert_error(unknown, 404, "not_found")
        not_a_student = await teacher.post(
            "/api/requests", json={**body, "student": await api.user_id("teacher2")}
        )
        assert_error(not_a_student, 404, "not_found")
        nobody = await teacher.post("/api/requests", json={"destination": api.rooms["Library"]})
        assert_error(nobody, 422, "invalid")
        both = await teacher.post("/api/requests", json={**body, "student_number": number(7)})
        assert_error(both, 422, "invalid")
        room = await teacher.post("/api/requests", json={**body, "destination": "room_nope"})
        assert_error(room, 422, "unknown_room")
        minutes = await teacher.post("/api/requests", json={**body, "minutes": 0})
        assert_error(minutes, 422, "invalid")
        extra = await teacher.post("/api/requests", json={**body, "room": "x"})
        assert "room" in assert_error(extra, 422, "invalid")

        accept = f"/api/requests/{sent['id']}/accept"
        theirs = await stranger.post(accept, json={"origin": api.rooms["Room 101"]})
        assert_error(theirs, 404, "not_found")
        assert_error(await stranger.get(f"/api/requests/{sent['id']}"), 404, "not_found")
        assert_error(
            await teacher.post(accept, json={"origin": api.rooms["Room 101"]}), 403, "forbidden"
        )
        assert "origin" in assert_error(await me.post(accept, json={}), 422, "invalid")
        same = await me.post(accept, json={"origin": api.rooms["Library"]})
        assert_error(same, 422, "invalid")
        assert_error(
            await me.post(accept, json={"origin": api.rooms["Room 101"]}), 409, "already_out"
        )
        missing = await me.post(
            "/api/requests/request_nope/accept", json={"origin": api.rooms["Room 101"]}
        )
        assert_error(missing, 404, "not_found")
        assert_error(await api.anonymous().get("/api/requests"), 401, "unauthenticated")
    await post(me, f"/api/passes/{out['id']}/end")
    await post(teacher, f"/api/requests/{sent['id']}/cancel")


async def test_listing_scopes_and_filters(api: DemoApi) -> None:
    teacher = await api.client("teacher2")
    first = await send(api, teacher, 9, "Restroom")
    second = await send(api, teacher, 9, "Library")
    other = await send(api, teacher, 10, "Library")
    me = await api.client(student(9))
    mine = (await me.get("/api/requests")).json()
    assert [r["id"] for r in mine][:2] == [second["id"], first["id"]]  # newest first
    assert other["id"] not in {r["id"] for r in mine}
    await post(teacher, f"/api/requests/{first['id']}/cancel")
    still_open = (await me.get("/api/requests", params={"state": "open"})).json()
    assert [r["id"] for r in still_open] == [second["id"]]
    cancelled = (await me.get("/api/requests", params={"state": "cancelled"})).json()
    assert [r["id"] for r in cancelled] == [first["id"]]
    assert len((await me.get("/api/requests", params={"limit": "1"})).json()) == 1

    everyone = {r["id"] for r in (await teacher.get("/api/requests")).json()}
    assert {first["id"], second["id"], other["id"]} <= everyone
    theirs = await teacher.get("/api/requests", params={"student": await api.user_id(student(10))})
    assert [r["id"] for r in theirs.json()] == [other["id"]]

    someone_else = await me.get("/api/requests", params={"student": await api.user_id(student(10))})
    assert_error(someone_else, 404, "not_found")
    assert assert_error(
        await me.get("/api/requests", params={"state": "maybe"}), 422, "invalid"
    ).startswith("state")
    await post(teacher, f"/api/requests/{second['id']}/cancel")
    await post(teacher, f"/api/requests/{other['id']}/cancel")


async def test_an_idempotency_key_accepts_once(api: DemoApi) -> None:
    teacher = await api.client("teacher1")
    headers = {"Idempotency-Key": "send-11"}
    body = {"student": await api.user_id(student(11)), "destination": api.rooms["Restroom"]}
    first = await teacher.post("/api/requests", json=body, headers=headers)
    async with api.unchanged():
        again = await teacher.post("/api/requests", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()

    me = await api.client(student(11))
    path = f"/api/requests/{first.json()['id']}/accept"
    accept = {"origin": api.rooms["Room 105"]}
    accepted = await me.post(path, json=accept, headers={"Idempotency-Key": "accept-11"})
    assert accepted.status_code == 200
    async with api.unchanged():
        replay = await me.post(path, json=accept, headers={"Idempotency-Key": "accept-11"})
    assert replay.status_code == 200 and replay.json() == accepted.json()
    await post(me, f"/api/passes/{accepted.json()['pass']['id']}/end")
