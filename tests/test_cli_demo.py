"""`hallpass demo` makes API.md's demo school, once, on either store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import redis
from test_cli import hallpass, succeeded

from hallpass.backend import Backend, open_backend
from hallpass.events.types import Policies
from hallpass.passwords import pin_key, verify_password
from hallpass.service.runtime import SchoolRuntime

# API.md's demo school, written out here rather than read from hallpass.demo.
ROOMS = {
    **{f"Room {n}": (False, None, 5) for n in range(101, 109)},
    "Restroom": (False, 3, 5),
    "Water Fountain": (False, None, 3),
    "Library": (False, 2, 10),
    "Nurse": (True, None, 10),
    "Main Office": (True, None, 10),
    "Counselor": (True, None, 15),
}
STUDENTS = {f"student{n:02d}": str(100000 + n) for n in range(1, 41)}
Entries = list[tuple[bytes, dict[bytes, bytes]]]  # what XRANGE answers
TEACHER_PINS = {"teacher1": "1111", "teacher2": "2222", "teacher3": "3333"}


async def check_demo(backend: Backend) -> None:
    school = await backend.directory.get_school("demo")
    assert school is not None
    assert (school.name, school.timezone) == ("Demo High School", "America/Chicago")

    runtime = await SchoolRuntime.load(backend.store, "demo")
    await runtime.close()
    rooms = {r.name: r for r in runtime.state.rooms.values()}
    assert {n: (r.locked, r.capacity, r.minutes) for n, r in rooms.items()} == ROOMS
    assert all(r.enabled for r in rooms.values())
    assert runtime.state.policies == Policies(timezone="America/Chicago", day_ends_at="16:00")

    users = {u.username: u for u in await backend.directory.users("demo")}
    assert set(users) == {"admin", "kiosk1", *TEACHER_PINS, *STUDENTS}
    assert len(users) == 45
    assert users["admin"].role == "admin"
    assert users["kiosk1"].role == "kiosk"
    assert users["kiosk1"].room == rooms["Room 101"].id
    for username, pin in TEACHER_PINS.items():
        assert users[username].role == "teacher"
        assert (
            await backend.directory.user_by_pin_key("demo", pin_key(school.secret, pin))
            == (users[username])
        )
    for username, number in STUDENTS.items():
        assert users[username].role == "student"
        assert await backend.directory.user_by_number("demo", number) == users[username]
    student_names = [users[u].name for u in STUDENTS]
    assert len(set(student_names)) == 40
    assert all(len(name.split()) >= 2 for name in student_names)  # first and last names
    for username in ("admin", "teacher2", "student40", "kiosk1"):
        assert verify_password(users[username].password_hash, "demo")
    assert not verify_password(users["admin"].password_hash, "Demo")


async def test_demo_on_sqlite_is_made_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hallpass.db'}"
    assert "Added the demo school" in succeeded(hallpass("demo", "--store", url))
    async with await open_backend(url) as backend:
        await check_demo(backend)
        version = await backend.store.version("demo")
        users = await backend.directory.users("demo")

    assert "nothing changed" in succeeded(hallpass("demo", "--store", url))
    async with await open_backend(url) as backend:
        assert await backend.store.version("demo") == version
        assert await backend.directory.users("demo") == users


async def test_demo_on_redis_writes_events_a_plain_client_can_read(
    redis_server: Callable[..., Any],
) -> None:
    # A server of its own: the demo's slug is fixed, so it must start empty.
    url = redis_server().url
    assert "Added the demo school" in succeeded(hallpass("demo", "--store", url))

    client = redis.Redis.from_url(url)
    try:
        entries = cast(Entries, client.xrange("hallpass:{demo}:events"))
        events = [json.loads(fields[b"e"]) for _, fields in entries]
        assert [e["type"] for e in events] == ["policies_set"] + ["room_added"] * 14
        assert events[0]["policies"]["timezone"] == "America/Chicago"
        assert events[0]["policies"]["day_ends_at"] == "16:00"
        added = {e["name"]: e for e in events[1:]}
        assert set(added) == set(ROOMS)
        assert added["Library"]["capacity"] == 2 and added["Library"]["minutes"] == 10
        assert added["Counselor"]["locked"] is True
        assert all(e["room"].startswith("room_") and e["actor"] == "system" for e in events[1:])
        # People are in the directory, never in the log.
        assert client.hlen("hallpass:{demo}:users") == 45
        assert b"student01" not in b"".join(fields[b"e"] for _, fields in entries)

        async with await open_backend(url) as backend:
            await check_demo(backend)
            users = await backend.directory.users("demo")

        assert "nothing changed" in succeeded(hallpass("demo", "--store", url))
        assert client.xrange("hallpass:{demo}:events") == entries
        async with await open_backend(url) as backend:
            assert await backend.directory.users("demo") == users
    finally:
        client.close()
