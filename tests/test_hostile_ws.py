"""Hostile WebSocket clients against a real server: garbage and oversized
frames, text that is not UTF-8, and floods of handshakes from one client,
with a session and without.

Garbage is ignored (the socket stays open and still answers a ping); a frame
over 4 KiB closes the socket with 1009; text that is not UTF-8 closes it with
1007. A person may hold at most HALLPASS_WS_PER_USER (20) live sockets: a
flood of 500 handshakes on one session gets 20 sockets and 480 clean 429
refusals, and a flood of 200 handshakes with no session gets 200 closes
(4401). Throughout, everyone else's live updates and the HTTP API go on.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from servers import SeededSchool, Server, login, running_server, seed_school
from websockets.asyncio.client import ClientConnection

PATIENCE = 30.0  # a safety net so a broken server fails the test instead of hanging it
PER_USER = 20  # HALLPASS_WS_PER_USER's default
FRAME_LIMIT = 4096


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Server, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('ws') / 'hallpass.db'}"
    async with running_server(url) as server:
        yield server, url


@pytest.fixture
async def school(site: tuple[Server, str]) -> SeededSchool:
    return await seed_school(site[1])


class Person:
    def __init__(self, server: Server, school: SeededSchool, username: str) -> None:
        self.server = server
        self.school = school
        self.username = username
        self.http = httpx.AsyncClient(base_url=server.url, timeout=PATIENCE)

    async def __aenter__(self) -> Person:
        await login(self.http, self.school.slug, self.username, self.school.password)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    @property
    def cookie(self) -> str:
        return f"hallpass_session={self.http.cookies['hallpass_session']}"

    async def socket(self) -> ClientConnection:
        return await open_socket(self.server, self.cookie)


async def open_socket(server: Server, cookie: str | None) -> ClientConnection:
    headers = {"Origin": server.url}
    if cookie is not None:
        headers["Cookie"] = cookie
    return await websockets.connect(
        server.ws_url + "/ws", additional_headers=headers, open_timeout=PATIENCE, max_size=None
    )


async def next_message(socket: ClientConnection) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), PATIENCE))
        if message["type"] != "heartbeat":
            return message


async def close_code(socket: ClientConnection) -> int | None:
    """Read until the server closes the socket; its close code."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(socket.recv(), PATIENCE)
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def still_answers(socket: ClientConnection) -> None:
    await socket.send('{"type": "ping"}')
    assert await next_message(socket) == {"type": "pong"}


# uvicorn itself logs a traceback when a client's text frame is not UTF-8
# (it closes the socket 1007 all the same); any other traceback is a fault.
UVICORN_UTF8 = "Invalid UTF-8 sequence received from client."


def no_tracebacks(server: Server) -> None:
    output = server.output()
    assert output.count("Traceback") == output.count(UVICORN_UTF8), output[-3000:]


# --- frames -------------------------------------------------------------------------

GARBAGE_TEXT = [
    "",
    "not json at all",
    "\x00" * 100,
    "{" * 4000,
    "[" * 4000,
    '{"type": "ping", "x": ' + "[" * 4000,  # skipping "x" would recurse very deep
    '{"type": "ping", "x": ' + "[" * 2000 + "]" * 2000 + "}",
    '{"type": "subscribe", "school": "another"}',
    '{"type": "pass", "pass": {"id": "pass_x", "state": "ended"}}',
    json.dumps({"type": "ping!", "after": "9" * 3000}),
    "\U0001f600" * 1000,  # 4,000 bytes of emoji: under the limit in bytes
    "\ud7ff\ue000\uffff",
]
GARBAGE_BYTES = [b"", b"\x00\x01\x02", bytes(range(256)) * 16, b'{"type": "ping"}']


async def test_garbage_frames_are_ignored_and_the_socket_goes_on(
    site: tuple[Server, str], school: SeededSchool
) -> None:
    server, _ = site
    async with Person(server, school, "teacher1") as teacher:
        socket = await teacher.socket()
        assert (await next_message(socket))["type"] == "snapshot"
        for text in GARBAGE_TEXT:
            await socket.send(text)
        for data in GARBAGE_BYTES:
            await socket.send(data)
        await still_answers(socket)
        # It still gets live changes, and nothing the garbage claimed.
        made = await teacher.http.post(
            "/api/passes",
            json={
                "origin": school.rooms["Room 1"],
                "destination": school.rooms["Library"],
                "student": school.users["student1"],
            },
        )
        assert made.status_code == 201, made.text
        change = await next_message(socket)
        assert change["type"] == "pass" and change["pass"]["id"] == made.json()["id"]
        await socket.close()
    no_tracebacks(server)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("text just over the limit", "x" * (FRAME_LIMIT + 1)),
        ("a megabyte of text", '{"type": "ping", "pad": "' + "x" * 2**20 + '"}'),
        ("multi-byte text over the limit in bytes", "\u00e9" * (FRAME_LIMIT // 2 + 1)),
        ("binary over the limit", b"\x00" * (FRAME_LIMIT + 1)),
        ("a message in small fragments", ["x" * 1024] * 8),
    ],
)
async def test_a_frame_over_the_limit_closes_the_socket_with_1009(
    site: tuple[Server, str], school: SeededSchool, name: str, message: Any
) -> None:
    server, _ = site
    async with Person(server, school, "student2") as student:
        socket = await student.socket()
        other = await student.socket()  # the same person's other screen
        for live in (socket, other):
            assert (await next_message(live))["type"] == "snapshot"
        await socket.send(message)
        assert await close_code(socket) == 1009
        # Only that socket: the other one, and HTTP, go on.
        await still_answers(other)
        assert (await student.http.get("/api/me")).status_code == 200
        await other.close()
    no_tracebacks(server)


async def test_text_that_is_not_utf8_closes_the_socket_with_1007(
    site: tuple[Server, str], school: SeededSchool
) -> None:
    server, _ = site
    async with Person(server, school, "student3") as student:
        socket = await student.socket()
        assert (await next_message(socket))["type"] == "snapshot"
        await socket.send(b'{"type": "ping", "x": "\xff\xfe"}', text=True)
        assert await close_code(socket) == 1007
        again = await student.socket()
        assert (await next_message(again))["type"] == "snapshot"
        await again.close()
    no_tracebacks(server)


# --- floods -------------------------------------------------------------------------


async def _handshake(server: Server, cookie: str | None) -> ClientConnection | int:
    """An open socket, or the HTTP status its handshake was refused with."""
    try:
        return await open_socket(server, cookie)
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def test_a_flood_of_handshakes_on_one_session_gets_the_cap_and_clean_refusals(
    site: tuple[Server, str], school: SeededSchool
) -> None:
    server, _ = site
    async with (
        Person(server, school, "teacher1") as flooder,
        Person(server, school, "teacher2") as colleague,
    ):
        board = await colleague.socket()
        assert (await next_message(board))["type"] == "snapshot"

        outcomes = await asyncio.gather(*(_handshake(server, flooder.cookie) for _ in range(500)))
        opened = [o for o in outcomes if not isinstance(o, int)]
        refused = Counter(o for o in outcomes if isinstance(o, int))
        assert len(opened) == PER_USER
        assert refused == {429: 500 - PER_USER}

        # The refusal is API.md's error shape, at the handshake.
        with pytest.raises(websockets.InvalidStatus) as one_more:
            await open_socket(server, flooder.cookie)
        body = json.loads(one_more.value.response.body or b"{}")
        assert body["error"]["code"] == "too_many_connections"

        # The colleague's board is unharmed: it sees a new pass, and so does
        # every one of the flooder's sockets that got in.
        made = await colleague.http.post(
            "/api/passes",
            json={
                "origin": school.rooms["Room 2"],
                "destination": school.rooms["Library"],
                "student": school.users["student2"],
            },
        )
        assert made.status_code == 201, made.text
        for live in [board, *opened]:
            seen = await next_message(live)
            if seen["type"] == "snapshot":
                seen = await next_message(live)
            assert seen["type"] == "pass" and seen["pass"]["id"] == made.json()["id"]

        # Closing sockets gives their places back.
        for live in opened[:5]:
            await live.close()
        again = await asyncio.gather(*(_handshake(server, flooder.cookie) for _ in range(5)))
        reopened = [o for o in again if not isinstance(o, int)]
        assert len(reopened) == 5, again
        for live in [*opened[5:], *reopened, board]:
            await live.close()
    no_tracebacks(server)


async def test_a_flood_of_handshakes_without_a_session_is_closed_4401(
    site: tuple[Server, str], school: SeededSchool
) -> None:
    server, _ = site
    outcomes = await asyncio.gather(*(_handshake(server, None) for _ in range(200)))
    codes: Counter[int | None] = Counter()
    for outcome in outcomes:
        assert not isinstance(outcome, int), outcome
        codes[await close_code(outcome)] += 1
    assert codes == {4401: 200}
    forged = await _handshake(server, "hallpass_session=" + "A" * 43)
    assert not isinstance(forged, int)
    assert await close_code(forged) == 4401
    # The service is unharmed.
    async with Person(server, school, "student1") as student:
        socket = await student.socket()
        assert (await next_message(socket))["type"] == "snapshot"
        await socket.close()
    no_tracebacks(server)
