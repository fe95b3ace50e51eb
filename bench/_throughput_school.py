"""The school bench/throughput loads: one school of its own, with a room to
leave from, a room to go to (no capacity, no lock) and a student for each
client, written into a store as `hallpass school/room/user add` would; and
the students signed in through the API, as the pages sign in."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from hallpass.backend import open_backend
from hallpass.passwords import hash_password_async
from hallpass.provision import add_room, add_school, add_user
from hallpass.service.runtime import SchoolRuntime

SLUG = "bench"
PASSWORD = "bench-password"
# Sign-ins verify argon2 hashes (about 0.15 s of CPU each): two at a time
# keep both cores busy without queueing behind each other.
SIGN_IN_THREADS = 2


@dataclass(frozen=True)
class BenchSchool:
    origin: str  # room ids
    destination: str
    usernames: list[str]


def username(i: int) -> str:
    return f"student{i:03d}"


async def _seed(store_url: str, students: int) -> BenchSchool:
    backend = await open_backend(store_url)
    try:
        school = await add_school(backend, SLUG, "Bench High School")
        runtime = await SchoolRuntime.load(backend.store, SLUG)
        try:
            origin = (await add_room(runtime, "Room 1")).id
            destination = (await add_room(runtime, "Water Fountain", minutes=3)).id
        finally:
            await runtime.close()
        password_hash = await hash_password_async(PASSWORD)
        names = [username(i) for i in range(1, students + 1)]
        for i, name in enumerate(names, 1):
            await add_user(
                backend.directory,
                school,
                username=name,
                role="student",
                name=f"Student {i:03d}",
                password_hash=password_hash,
                number=str(900000 + i),
            )
    finally:
        await backend.close()
    return BenchSchool(origin, destination, names)


def seed(store_url: str, students: int) -> BenchSchool:
    """Add the bench school with `students` students to an empty store."""
    return asyncio.run(_seed(store_url, students))


def sign_in(url: str, usernames: list[str]) -> list[str]:
    """Each student's session token, signed in through POST /api/session."""

    def one(name: str) -> str:
        with httpx.Client(base_url=url, headers={"Origin": url}, timeout=60) as client:
            answer = client.post(
                "/api/session", json={"school": SLUG, "username": name, "password": PASSWORD}
            )
            if answer.status_code != 200:
                raise RuntimeError(f"sign-in of {name} failed: {answer.status_code} {answer.text}")
            return str(client.cookies["hallpass_session"])

    with ThreadPoolExecutor(SIGN_IN_THREADS) as pool:
        return list(pool.map(one, usernames))


def sample_answers(url: str, token: str, school: BenchSchool) -> dict[str, Any]:
    """Hallpass's answers to one create and one end (the floor sends the same)."""
    headers = {"Origin": url, "Cookie": f"hallpass_session={token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        body = {"origin": school.origin, "destination": school.destination}
        made = client.post("/api/passes", json=body, headers={"Idempotency-Key": "sample-create"})
        if made.status_code != 201:
            raise RuntimeError(f"the sample pass failed: {made.status_code} {made.text}")
        pass_id = made.json()["id"]
        ended = client.post(f"/api/passes/{pass_id}/end", headers={"Idempotency-Key": "sample-end"})
        if ended.status_code != 200:
            raise RuntimeError(f"ending the sample pass failed: {ended.status_code} {ended.text}")
        return {"create": made.json(), "end": ended.json()}
