"""`GET /ws` end to end: real uvicorn processes, real `websockets` clients,
commands through HTTP, the SQLite store and a real Redis.

Each test seeds a school of its own (tests/servers.py), so tests sharing a
server never see each other's passes.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import websockets
from conftest import RedisServer
from servers import SeededSchool, Server, login, running_server, seed_school
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Origin
from websockets.uri import parse_uri

from hallpass.backend import open_backend
from hallpass.ids import new_id
from hallpass.rules.commands import Actor, CreatePass, Rejection
from hallpass.service.runtime import SchoolRuntime

# A safety net so a broken server fails the test instead of hanging it; no
# test asserts on how long anything takes.
PATIENCE = 20.0
HEARTBEAT = "0.3"  # seconds, for the module's server: heartbeats and session checks


@pytest.fixture(scope="module")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hallpass.db'}"


@pytest.fixture(scope="module")
async def server(sqlite_url: str) -> AsyncIterator[Server]:
    async with running_server(
        sqlite_url, env={"HALLPASS_WS_HEARTBEAT_SECONDS": HEARTBEAT}
    ) as running:
        yield running


class Person:
    """A signed-in user: an HTTP client with the session cookie, and sockets."""

    def __init__(self, server: Server, school: SeededSchool, username: str) -> None:
        self.server = server
        self.school = school
        self.username = username
        self.id = school.users[username]
        self.http = httpx.AsyncClient(
            base_url=server.url, headers={"Origin": server.url}, timeout=PATIENCE
        )

    async def sign_in(self) -> Person:
        await login(self.http, self.school.slug, self.username, self.school.password)
        return self

    @property
    def cookie(self) -> str:
        return f"hallpass_session={self.http.cookies['hallpass_session']}"

    async def socket(self, after: str | None = None, **options: Any) -> Live:
        return await open_live(self.server, self.cookie, after, **options)

    async def new_pass(
        self, origin: str, destination: str, student: str | None = None
    ) -> dict[str, Any]:
        body = {"origin": self.school.rooms[origin], "destination": self.school.rooms[destination]}
        if student is not None:
            body["student"] = self.school.users[student]
        answer = await self.http.post("/api/passes", json=body)
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made

    async def end(self, pass_id: str) -> None:
        answer = await self.http.post(f"/api/passes/{pass_id}/end")
        assert answer.status_code == 200, answer.text

    async def request(self, student: str, destination: str) -> dict[str, Any]:
        body = {
            "student": self.school.users[student],
            "destination": self.school.rooms[destination],
        }
        answer = await self.http.post("/api/requests", json=body)
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made


class Live:
    """A WebSocket client that reads JSON messages, skipping heartbeats
    unless asked for them."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.seen: list[dict[str, Any]] = []

    async def next(self, *, heartbeats: bool = False) -> dict[str, Any]:
        while True:
            text = await asyncio.wait_for(self.connection.recv(), PATIENCE)
            message: dict[str, Any] = json.loads(text)
            self.seen.append(message)
            if heartbeats or message["type"] != "heartbeat":
                return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Messages (heartbeats left out) up to and including the first that matches."""
        got = []
        while True:
            message = await self.next()
            got.append(message)
            if predicate(message):
                return got

    async def close(self) -> None:
        await self.connection.close()


async def open_live(
    server: Server,
    cookie: str | None,
    after: str | None = None,
    *,
    origin: str | None = None,
    **options: Any,
) -> Live:
    url = server.ws_url + "/ws" + (f"?after={after}" if after is not None else "")
    headers = {"Origin": origin or server.url}
    if cookie is not None:
        headers["Cookie"] = cookie
    connection = await websockets.connect(
        url, additional_headers=headers, open_timeout=PATIENCE, **options
    )
    return Live(connection)


def about(pass_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "pass" and m["pass"]["id"] == pass_id


def passes_in(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["pass"]["id"], m["pass"]["state"]) for m in messages if m["type"] == "pass"]


@pytest.fixture
async def school(sqlite_url: str) -> SeededSchool:
    return await seed_school(sqlite_url)


@pytest.fixture
async def people(server: Server, school: SeededSchool) -> AsyncIterator[dict[str, Person]]:
    signed = {}
    for username in ("teacher1", "student1", "student2", "student3", "kiosk1"):
        signed[username] = await Person(server, school, username).sign_in()
    yield signed
    for person in signed.values():
        await person.http.aclose()


# --- what each receiver sees ---------------------------------------------------------


async def test_the_snapshot_on_connect_shows_each_role_its_share(people: dict[str, Person]) -> None:
    teacher = people["teacher1"]
    own = await people["student1"].new_pass("Room 1", "Library")
    other = await teacher.new_pass("Room 2", "Library", student="student2")
    request = await teacher.request("student3", "Library")

    snapshots = {}
    for username in ("teacher1", "student1", "student2", "student3", "kiosk1"):
        live = await people[username].socket()
        snapshots[username] = await live.next()
        await live.close()

    def ids(message: dict[str, Any], kind: str) -> set[str]:
        assert message["type"] == "snapshot"
        return {item["id"] for item in message[kind]}

    assert ids(snapshots["teacher1"], "passes") == {own["id"], other["id"]}
    assert ids(snapshots["teacher1"], "requests") == {request["id"]}
    assert ids(snapshots["student1"], "passes") == {own["id"]}
    assert ids(snapshots["student2"], "passes") == {other["id"]}
    assert ids(snapshots["student3"], "passes") == set()
    assert ids(snapshots["student3"], "requests") == {request["id"]}
    assert ids(snapshots["student1"], "requests") == set()
    assert ids(snapshots["kiosk1"], "passes") == {own["id"]}  # its room is Room 1
    assert ids(snapshots["kiosk1"], "requests") == set()
    positions = {int(s["position"]) for s in snapshots.values()}
    assert len(positions) == 1 and positions.pop() > 0
    # The views are the API's: the same as GET /api/passes/{id}.
    answer = await teacher.http.get(f"/api/passes/{own['id']}")
    (shown,) = [p for p in snapshots["teacher1"]["passes"] if p["id"] == own["id"]]
    assert shown == answer.json()


async def test_a_new_pass_reaches_the_board_and_its_student_and_no_one_else(
    people: dict[str, Person],
) -> None:
    board, mine, theirs, kiosk = [
        await people[u].socket() for u in ("teacher1", "student1", "student2", "kiosk1")
    ]
    for live in (board, mine, theirs, kiosk):
        assert (await live.next())["type"] == "snapshot"

    made = await people["teacher1"].new_pass("Room 2", "Library", student="student1")
    on_board = await board.until(about(made["id"]))
    on_mine = await mine.until(about(made["id"]))
    assert passes_in(on_board) == passes_in(on_mine) == [(made["id"], "active")]
    assert on_mine[-1]["pass"] == made

    # Markers: a later change each of the others may see. Whatever came
    # before it on their sockets is everything they were sent.
    marker = await people["student2"].new_pass("Room 2", "Room 1")
    assert passes_in(await theirs.until(about(marker["id"]))) == [(marker["id"], "active")]
    assert passes_in(await kiosk.until(about(marker["id"]))) == [(marker["id"], "active")]
    assert passes_in(await board.until(about(marker["id"]))) == [(marker["id"], "active")]
    assert int(on_board[-1]["position"]) < int(board.seen[-1]["position"])
    for live in (board, mine, theirs, kiosk):
        await live.close()


async def test_a_kiosk_sees_the_passes_of_its_room(people: dict[str, Person]) -> None:
    kiosk = await people["kiosk1"].socket()
    await kiosk.next()
    teacher = people["teacher1"]
    elsewhere = await teacher.new_pass("Room 2", "Library", student="student1")
    leaving = await teacher.new_pass("Room 1", "Library", student="student2")
    coming = await teacher.new_pass("Room 2", "Room 1", student="student3")
    got = await kiosk.until(about(coming["id"]))
    assert passes_in(got) == [(leaving["id"], "active"), (coming["id"], "active")]
    await teacher.end(elsewhere["id"])
    await teacher.end(leaving["id"])
    assert passes_in(await kiosk.until(about(leaving["id"]))) == [(leaving["id"], "ended")]
    await kiosk.close()


# --- resuming ------------------------------------------------------------------------


async def test_a_client_that_reconnects_gets_what_it_missed_once_in_order(
    people: dict[str, Person],
) -> None:
    student, teacher = people["student1"], people["teacher1"]
    live = await student.socket()
    await live.next()
    first = await student.new_pass("Room 1", "Library")
    last = (await live.until(about(first["id"])))[-1]["position"]
    await live.close()

    await teacher.end(first["id"])
    not_mine = await teacher.new_pass("Room 2", "Library", student="student2")
    await teacher.end(not_mine["id"])
    second = await teacher.new_pass("Room 2", "Room 1", student="student1")
    await teacher.end(second["id"])

    resumed = await student.socket(after=last)
    got = await resumed.until(lambda m: about(second["id"])(m) and m["pass"]["state"] == "ended")
    assert passes_in(got) == [
        (first["id"], "ended"),
        (second["id"], "active"),
        (second["id"], "ended"),
    ]
    positions = [int(m["position"]) for m in got]
    assert positions == sorted(set(positions)) and positions[0] > int(last)
    # It goes on following from there.
    third = await student.new_pass("Room 1", "Library")
    assert passes_in(await resumed.until(about(third["id"]))) == [(third["id"], "active")]
    await student.end(third["id"])
    await resumed.close()


@pytest.mark.parametrize("after", ["garbage", "-3", "0", "999999999", "1" * 40])
async def test_a_position_that_cannot_be_resumed_gets_a_snapshot(
    people: dict[str, Person], after: str
) -> None:
    student = people["student1"]
    made = await student.new_pass("Room 1", "Library")
    live = await student.socket(after=after)
    message = await live.next()
    assert message["type"] == "snapshot"
    assert [p["id"] for p in message["passes"]] == [made["id"]]
    await student.end(made["id"])
    await live.close()


# --- who may connect -------------------------------------------------------------------


async def test_a_handshake_from_another_site_is_refused(
    server: Server, people: dict[str, Person]
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_live(server, people["teacher1"].cookie, origin="https://evil.example")
    response = refused.value.response
    assert response.status_code == 403
    assert json.loads(response.body)["error"]["code"] == "bad_origin"


async def test_a_socket_without_a_session_is_closed_4401(server: Server) -> None:
    for cookie in (None, "hallpass_session=not-a-session"):
        live = await open_live(server, cookie)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await live.next()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert live.seen == []


async def test_signing_out_closes_the_socket_at_the_next_heartbeat(
    people: dict[str, Person],
) -> None:
    student = people["student2"]
    live = await student.socket()
    await live.next()
    assert (await student.http.delete("/api/session")).status_code == 204
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await live.next(heartbeats=True)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


# --- heartbeats, pings, frames -------------------------------------------------------------


async def test_heartbeats_carry_the_position(people: dict[str, Person]) -> None:
    live = await people["kiosk1"].socket()
    snapshot = await live.next()
    beat = await live.next(heartbeats=True)
    assert beat["type"] == "heartbeat"
    # At or past every change sent before it (the school's timed jobs may
    # append events no screen shows, so not necessarily equal).
    assert int(beat["position"]) >= int(snapshot["position"])
    made = await people["teacher1"].new_pass("Room 2", "Room 1", student="student3")
    change = (await live.until(about(made["id"])))[-1]
    beat = await live.next(heartbeats=True)
    assert beat["type"] == "heartbeat"
    assert int(beat["position"]) >= int(change["position"])
    # A client may resume from a heartbeat's position: nothing is sent twice.
    await live.close()
    resumed = await people["kiosk1"].socket(after=beat["position"])
    await people["teacher1"].end(made["id"])
    got = await resumed.until(about(made["id"]))
    assert passes_in(got) == [(made["id"], "ended")]
    await resumed.close()


async def test_a_ping_is_answered_and_anything_else_ignored(people: dict[str, Person]) -> None:
    live = await people["teacher1"].socket()
    await live.next()
    await live.connection.send('{"type": "hello"}')
    await live.connection.send("not json")
    await live.connection.send(b"\x00\x01")
    await live.connection.send('{"type": "ping"}')
    assert await live.next() == {"type": "pong"}
    await live.close()


async def test_a_frame_above_the_limit_closes_the_socket(people: dict[str, Person]) -> None:
    live = await people["teacher1"].socket()
    await live.next()
    await live.connection.send(json.dumps({"type": "ping", "pad": "x" * 5000}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await live.next()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


# --- slow clients --------------------------------------------------------------------------


class Stalled:
    """A client that reads nothing after its handshake: the websockets
    protocol without I/O over a socket with a small receive buffer, read only
    when the test says so."""

    def __init__(self, server: Server, cookie: str) -> None:
        self.protocol = ClientProtocol(
            parse_uri(server.ws_url + "/ws"), origin=Origin(server.url), max_size=None
        )
        self.cookie = cookie
        self.port = int(server.url.rsplit(":", 1)[1])
        self.sock = socket.socket()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setblocking(False)
        await loop.sock_connect(self.sock, ("127.0.0.1", self.port))
        request = self.protocol.connect()
        request.headers["Cookie"] = self.cookie
        self.protocol.send_request(request)
        await loop.sock_sendall(self.sock, b"".join(self.protocol.data_to_send()))
        (response,) = await self.events(lambda e: isinstance(e, Response))
        assert isinstance(response, Response) and response.status_code == 101

    async def events(self, last: Callable[[object], bool]) -> list[object]:
        """Read until an event that `last` accepts arrives; every event till then."""
        loop = asyncio.get_running_loop()
        got: list[object] = []
        while True:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), PATIENCE)
            assert data, "the server closed the connection without a close frame"
            self.protocol.receive_data(data)
            for event in self.protocol.events_received():
                got.append(event)
                if last(event):
                    return got

    def close(self) -> None:
        self.sock.close()


def socket_buffer_limit() -> int:
    """The most a TCP socket on this machine may buffer for sending."""
    return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])


async def test_a_client_that_stops_reading_is_dropped_and_others_go_on(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    seeded = await seed_school(url)
    # A student with a very long name makes every message about their passes
    # big, so the buffers between server and stalled client fill after a few
    # messages rather than thousands. (The directory takes it; the API's
    # forms would not.)
    size = 500_000
    async with await open_backend(url) as backend:
        user = await backend.directory.get_user(seeded.slug, seeded.users["student1"])
        assert user is not None
        await backend.directory.update_user(msgspec.structs.replace(user, name="N" * size))
    # Enough to overflow the kernel's buffers, uvicorn's and a queue of 4.
    rounds = (socket_buffer_limit() + 2 * 2**20) // (2 * size) + 4
    async with running_server(url, env={"HALLPASS_WS_QUEUE": "4"}) as slow_server:
        teacher = await Person(slow_server, seeded, "teacher1").sign_in()
        reader = await teacher.socket(max_size=None)
        await reader.next()
        stalled = Stalled(slow_server, teacher.cookie)
        await stalled.open()

        made = []
        for _ in range(rounds):
            made.append((await teacher.new_pass("Room 1", "Library", student="student1"))["id"])
            await teacher.end(made[-1])
        got = await reader.until(lambda m: about(made[-1])(m) and m["pass"]["state"] == "ended")
        assert passes_in(got) == [(p, s) for p in made for s in ("active", "ended")]

        # Reading again, the stalled client finds what was already on its
        # way, then the close: too far behind, come back with `after`.
        events = await stalled.events(lambda e: isinstance(e, Frame) and e.opcode == Opcode.CLOSE)
        texts = [e for e in events if isinstance(e, Frame) and e.opcode == Opcode.TEXT]
        assert 0 < len(texts) < 1 + 2 * rounds
        assert stalled.protocol.close_rcvd is not None
        assert stalled.protocol.close_rcvd.code == 1013
        stalled.close()
        await reader.close()
        await teacher.http.aclose()


async def test_a_server_going_down_closes_its_sockets_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    seeded = await seed_school(url)
    async with running_server(url) as going:
        teacher = await Person(going, seeded, "teacher1").sign_in()
        board = await teacher.socket()
        await board.next()
        going.stop()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await board.next()
        # uvicorn's "service restart" (it closes first), or the hub's "going away".
        assert closed.value.rcvd is not None and closed.value.rcvd.code in (1012, 1001)
        # uvicorn ends a graceful shutdown by raising SIGTERM again on itself.
        assert going.process.returncode in (0, -15)
        assert "Traceback" not in going.output() and "ERROR" not in going.output()
        await teacher.http.aclose()


# --- several processes, and Redis going away -----------------------------------------------


async def test_a_change_made_through_one_process_reaches_a_board_on_another(
    redis_url: str,
) -> None:
    seeded = await seed_school(redis_url)
    async with running_server(redis_url) as a, running_server(redis_url) as b:
        on_a = await Person(a, seeded, "teacher1").sign_in()
        on_b = await Person(b, seeded, "teacher2").sign_in()
        board = await on_b.socket()
        await board.next()
        made = await on_a.new_pass("Room 1", "Library", student="student1")
        got = await board.until(about(made["id"]))
        assert passes_in(got) == [(made["id"], "active")]
        assert got[-1]["pass"] == made
        await board.close()
        for person in (on_a, on_b):
            await person.http.aclose()


async def test_a_board_rides_out_a_redis_restart(
    redis_server: Callable[..., RedisServer],
) -> None:
    redis = redis_server("--appendonly", "yes", "--appendfsync", "always")
    seeded = await seed_school(redis.url)
    async with running_server(redis.url) as served:
        teacher = await Person(served, seeded, "teacher1").sign_in()
        board = await teacher.socket()
        position = (await board.next())["position"]
        before = await teacher.new_pass("Room 1", "Library", student="student1")
        position = (await board.until(about(before["id"])))[-1]["position"]

        redis.stop()
        body = {"origin": seeded.rooms["Room 2"], "destination": seeded.rooms["Library"]}
        down = await teacher.http.post(
            "/api/passes", json={**body, "student": seeded.users["student3"]}
        )
        assert down.status_code == 503, down.text
        redis.start()

        # A change appended by another process once Redis is back: the board's
        # process must pick it up from the stream, not from its own write.
        backend = await open_backend(redis.url)
        try:
            runtime = await SchoolRuntime.load(backend.store, seeded.slug)
            pass_id = new_id("pass")
            result = await runtime.execute(
                CreatePass(
                    actor=Actor(seeded.users["teacher2"], "teacher"),
                    pass_id=pass_id,
                    student=seeded.users["student2"],
                    origin=seeded.rooms["Room 2"],
                    destination=seeded.rooms["Library"],
                )
            )
            assert not isinstance(result, Rejection)
            await runtime.close()
        finally:
            await backend.close()

        try:
            got = await board.until(about(pass_id))
        except websockets.ConnectionClosed:
            # Allowed: the socket was closed, and a reconnect with `after` catches up.
            board = await teacher.socket(after=position)
            got = await board.until(about(pass_id))
        assert passes_in(got) == [(pass_id, "active")]
        assert int(got[-1]["position"]) > int(position)
        await board.close()
        await teacher.http.aclose()
