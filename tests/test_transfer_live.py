"""A school moved from SQLite to Redis while its pages were open: after the
move, a WebSocket client that reconnects with the last position it saw
resumes from there (no snapshot) and gets the next change at the next
position. Real uvicorn processes, real `websockets` clients, the real Redis.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets
from data_kit import hallpass, school_with_history
from servers import SeededSchool, Server, login, running_server
from websockets.asyncio.client import ClientConnection

# A safety net so that a broken server fails the test instead of hanging it.
PATIENCE = 20.0


@asynccontextmanager
async def teacher_of(server: Server, school: SeededSchool) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=PATIENCE) as client:
        await login(client, school.slug, "teacher1", school.password)
        yield client


async def connect(server: Server, client: httpx.AsyncClient, after: str | None) -> ClientConnection:
    query = "" if after is None else f"?after={after}"
    return await websockets.connect(
        f"{server.ws_url}/ws{query}",
        additional_headers={
            "Origin": server.url,
            "Cookie": f"hallpass_session={client.cookies['hallpass_session']}",
        },
        open_timeout=PATIENCE,
    )


async def next_message(socket: ClientConnection) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), PATIENCE))
        if message["type"] != "heartbeat":
            return message


async def test_a_client_resumes_from_its_position_after_a_migration(
    tmp_path: Path, redis_url: str
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'hallpass.db'}"
    school = await school_with_history(sqlite_url, rounds=2)
    body = {
        "student": school.users["student2"],  # the one without a pass out
        "origin": school.rooms["Room 1"],
        "destination": school.rooms["Room 2"],
    }

    async with running_server(sqlite_url) as server, teacher_of(server, school) as teacher:
        socket = await connect(server, teacher, None)
        snapshot = await next_message(socket)
        assert snapshot["type"] == "snapshot"
        made = await teacher.post("/api/passes", json=body)
        assert made.status_code == 201, made.text
        pass_id = made.json()["id"]
        message = await next_message(socket)
        while message.get("pass", {}).get("id") != pass_id:
            message = await next_message(socket)
        last_seen = message["position"]
        await socket.close()
    assert int(last_seen) > int(snapshot["position"])

    moved = hallpass("migrate", "--from", sqlite_url, "--to", redis_url)
    assert moved.code == 0, moved

    # Sessions stay behind (docs/operations.md): the page signs in again and
    # reconnects with the position it had.
    async with running_server(redis_url) as server, teacher_of(server, school) as teacher:
        socket = await connect(server, teacher, last_seen)
        ended = await teacher.post(f"/api/passes/{pass_id}/end")
        assert ended.status_code == 200, ended.text
        message = await next_message(socket)
        await socket.close()

    assert message["type"] == "pass"  # no snapshot: the position was still good
    assert message["pass"]["id"] == pass_id and message["pass"]["state"] == "ended"
    assert int(message["position"]) == int(last_seen) + 1
