"""The hub's fan-out core without a server: a SchoolRuntime over a real SQLite
store, a SchoolHub listening to it, and clients whose sockets are lists."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hallpass.backend import Backend, open_backend
from hallpass.directory.model import School, User
from hallpass.ids import new_id
from hallpass.projections.records import PassRecord, RequestRecord
from hallpass.provision import add_room, add_school, add_user
from hallpass.rules.commands import (
    Actor,
    AnyCommand,
    CreatePass,
    EndPass,
    Rejection,
    SendRequest,
)
from hallpass.service.names import Names
from hallpass.service.runtime import SchoolRuntime
from hallpass.service.visibility import may_see_pass, may_see_request
from hallpass.web.hub_audience import Audience
from hallpass.web.hub_client import GOING_AWAY, OVERFLOW, Client
from hallpass.web.hub_school import SchoolHub

SLUG = "hubtown"


class Socket:
    """The ASGI `send` of a connection: it records the texts and the close,
    and can be made to stop reading (its sends then wait). With `frames`, it
    also takes ready-made frames (ws_protocol's `write_frame`) while reading."""

    def __init__(self, *, reading: bool = True, frames: bool = False) -> None:
        self.texts: list[str] = []
        self.frames: list[bytes] = []
        self.closed: int | None = None
        self.reading = asyncio.Event()
        if reading:
            self.reading.set()
        self.write_frame = self._write_frame if frames else None

    def _write_frame(self, frame: bytes) -> bool:
        if not self.reading.is_set():
            return False
        self.frames.append(frame)
        self.texts.append(unframe(frame))
        return True

    async def send(self, message: dict[str, Any]) -> None:
        await self.reading.wait()
        if message["type"] == "websocket.send":
            self.texts.append(message["text"])
        else:
            assert message["type"] == "websocket.close"
            self.closed = message["code"]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(t) for t in self.texts]


@dataclass
class Town:
    backend: Backend
    school: School
    runtime: SchoolRuntime
    names: Names
    hub: SchoolHub
    rooms: dict[str, str]
    users: dict[str, User]
    clients: list[Client] = field(default_factory=list)

    def actor(self, username: str) -> Actor:
        user = self.users[username]
        return Actor(user.id, user.role, user.room)

    def connect(
        self,
        username: str,
        after: int | None = None,
        *,
        reading: bool = True,
        max_queue: int = 100,
        frames: bool = False,
    ) -> tuple[Client, Socket]:
        socket = Socket(reading=reading, frames=frames)
        client = Client(
            self.actor(username), socket.send, max_queue=max_queue, write_frame=socket.write_frame
        )
        self.hub.join(client, after)
        self.clients.append(client)
        return client, socket

    async def run(self, command: AnyCommand) -> None:
        result = await self.runtime.execute(command)
        assert not isinstance(result, Rejection), result
        await self.settle()

    async def settle(self) -> None:
        """Deliver what was folded and let the writers drain their queues
        (a few turns of the loop; the fake sockets never really wait)."""
        self.hub.flush()
        for _ in range(5):
            await asyncio.sleep(0)

    async def new_pass(self, username: str, origin: str, destination: str) -> str:
        pass_id = new_id("pass")
        await self.run(
            CreatePass(
                actor=self.actor(username),
                pass_id=pass_id,
                student=self.users[username].id,
                origin=self.rooms[origin],
                destination=self.rooms[destination],
            )
        )
        return pass_id

    async def end_pass(self, username: str, pass_id: str) -> None:
        await self.run(EndPass(actor=self.actor(username), pass_id=pass_id))


async def make_town(path: Path, buffer_size: int = 100) -> Town:
    backend = await open_backend(f"sqlite:///{path}")
    school = await add_school(backend, SLUG, "Hub Town High")
    runtime = await SchoolRuntime.load(backend.store, SLUG)
    rooms = {}
    for name in ("101", "102", "103", "Library"):
        rooms[name] = (await add_room(runtime, name)).id
    users: dict[str, User] = {}
    for username, role, extra in (
        ("teacher", "teacher", {}),
        ("admin", "admin", {}),
        ("ann", "student", {"number": "1"}),
        ("bob", "student", {"number": "2"}),
        ("kiosk101", "kiosk", {"room": rooms["101"]}),
        ("kiosk103", "kiosk", {"room": rooms["103"]}),
    ):
        users[username] = await add_user(
            backend.directory,
            school,
            username=username,
            role=role,
            name=username.title(),
            password_hash="not-used",
            **extra,
        )
    names = Names(backend.directory)
    await names.reload(SLUG, force=True)
    hub = SchoolHub(runtime, names, buffer_size=buffer_size)
    return Town(backend, school, runtime, names, hub, rooms, users)


@pytest.fixture
async def town(tmp_path: Path) -> AsyncIterator[Town]:
    town = await make_town(tmp_path / "hub.db")
    yield town
    town.hub.close()
    for client in town.clients:
        client.abandon()
    await town.runtime.close()
    await town.backend.close()


def pass_ids(message: dict[str, Any]) -> list[str]:
    return [p["id"] for p in message["passes"]]


async def test_snapshot_shows_each_role_what_it_may_see(town: Town) -> None:
    ann = await town.new_pass("ann", "101", "Library")
    bob = await town.new_pass("bob", "102", "103")
    request_id = new_id("request")
    await town.run(
        SendRequest(
            actor=town.actor("teacher"),
            request_id=request_id,
            student=town.users["bob"].id,
            destination=town.rooms["Library"],
        )
    )
    seen = {u: town.connect(u)[1] for u in ("teacher", "ann", "bob", "kiosk101", "kiosk103")}
    await town.settle()
    first = {u: s.messages[0] for u, s in seen.items()}
    assert all(m["type"] == "snapshot" for m in first.values())
    assert all(m["position"] == str(town.runtime.state.version) for m in first.values())
    assert sorted(pass_ids(first["teacher"])) == sorted([ann, bob])
    assert [r["id"] for r in first["teacher"]["requests"]] == [request_id]
    assert pass_ids(first["ann"]) == [ann]
    assert first["ann"]["requests"] == []
    assert pass_ids(first["bob"]) == [bob]
    assert [r["id"] for r in first["bob"]["requests"]] == [request_id]
    assert pass_ids(first["kiosk101"]) == [ann]
    assert pass_ids(first["kiosk103"]) == [bob]
    assert first["kiosk101"]["requests"] == []
    # People carry their names from the directory.
    assert first["teacher"]["passes"][0]["student"]["name"] in ("Ann", "Bob")


async def test_a_change_reaches_exactly_those_who_may_see_it(town: Town) -> None:
    sockets = {
        u: town.connect(u)[1] for u in ("teacher", "admin", "ann", "bob", "kiosk101", "kiosk103")
    }
    await town.settle()
    pass_id = await town.new_pass("ann", "101", "Library")
    # A later change of Bob's own is the marker: whatever came before it was all there was.
    marker = await town.new_pass("bob", "102", "103")

    def about(username: str, item: str) -> list[dict[str, Any]]:
        return [m for m in sockets[username].messages if m.get("pass", {}).get("id") == item]

    for username in ("teacher", "admin", "ann", "kiosk101"):
        (message,) = about(username, pass_id)
        assert message["pass"]["state"] == "active"
    assert about("bob", pass_id) == [] and len(about("bob", marker)) == 1
    assert about("kiosk103", pass_id) == [] and len(about("kiosk103", marker)) == 1
    assert about("kiosk101", marker) == []


async def test_one_append_is_one_message_at_the_position_of_its_last_event(town: Town) -> None:
    _client, socket = town.connect("teacher")
    await town.settle()
    before = town.runtime.state.version
    pass_id = await town.new_pass("ann", "101", "Library")
    after = town.runtime.state.version
    assert after - before == 2  # created, then started
    (snapshot, message) = socket.messages
    assert message == {"type": "pass", "position": str(after), "pass": message["pass"]}
    assert message["pass"]["id"] == pass_id and message["pass"]["state"] == "active"
    assert int(snapshot["position"]) == before


async def test_every_receiver_gets_the_same_encoded_text(town: Town) -> None:
    sockets = [town.connect("teacher")[1] for _ in range(3)]
    await town.settle()
    await town.new_pass("ann", "101", "Library")
    texts = [s.texts[-1] for s in sockets]
    assert texts[0] is texts[1] is texts[2]


def unframe(frame: bytes) -> str:
    """The text of a whole, unmasked text frame (RFC 6455, 5.2)."""
    assert frame[0] == 0x81  # FIN, text
    length, start = frame[1], 2
    if length == 126:
        length, start = int.from_bytes(frame[2:4]), 4
    elif length == 127:
        length, start = int.from_bytes(frame[2:10]), 10
    assert len(frame) == start + length
    return frame[start:].decode()


async def test_a_change_is_framed_once_for_every_socket_that_takes_frames(town: Town) -> None:
    framed = [town.connect("teacher", frames=True)[1] for _ in range(2)]
    _, full = town.connect("teacher", frames=True)  # its buffer is full for a moment
    _, plain = town.connect("admin")  # a server without the shortcut
    await town.settle()
    full.reading.clear()
    pass_id = await town.new_pass("ann", "101", "Library")
    full.reading.set()
    await town.settle()
    assert framed[0].frames[-1] is framed[1].frames[-1]  # the same bytes, made once
    assert not full.frames and not plain.frames  # these went through `send`
    for socket in (*framed, full, plain):
        assert [m["type"] for m in socket.messages] == ["snapshot", "pass"]
        assert socket.messages[-1]["pass"]["id"] == pass_id
        assert socket.texts[-1] == framed[0].texts[-1]


async def test_resuming_gets_every_missed_change_once_in_order(town: Town) -> None:
    client, socket = town.connect("ann")
    await town.settle()
    first = await town.new_pass("ann", "101", "Library")
    last_seen = socket.messages[-1]["position"]
    town.hub.leave(client)
    client.close(1000, "")
    # Missed while away: Ann's pass ends, Bob's comes and goes, Ann goes again.
    await town.end_pass("ann", first)
    bob = await town.new_pass("bob", "102", "103")
    await town.end_pass("bob", bob)
    second = await town.new_pass("ann", "102", "Library")

    _client, resumed = town.connect("ann", after=int(last_seen))
    await town.settle()
    got = resumed.messages
    assert [(m["pass"]["id"], m["pass"]["state"]) for m in got] == [
        (first, "ended"),
        (second, "active"),
    ]
    positions = [int(m["position"]) for m in got]
    assert positions == sorted(positions) and positions[0] > int(last_seen)
    # And it follows from there, without a snapshot.
    await town.end_pass("ann", second)
    assert resumed.messages[-1]["pass"]["state"] == "ended"
    assert all(m["type"] == "pass" for m in resumed.messages)


async def test_the_teacher_resumes_with_everything(town: Town) -> None:
    _client, socket = town.connect("teacher")
    await town.settle()
    start = int(socket.messages[0]["position"])
    made = [await town.new_pass(u, "101", "103") for u in ("ann", "bob")]
    _client, resumed = town.connect("teacher", after=start)
    await town.settle()
    assert [m["pass"]["id"] for m in resumed.messages] == made
    assert resumed.texts == socket.texts[1:]


@pytest.mark.parametrize("after", ["none", "ahead", "too_old"])
async def test_a_snapshot_when_the_position_cannot_be_resumed(tmp_path: Path, after: str) -> None:
    town = await make_town(tmp_path / "small.db", buffer_size=2)
    try:
        start = town.runtime.state.version
        for _ in range(2):  # four changes (create, end, twice) overflow a buffer of two
            await town.end_pass("ann", await town.new_pass("ann", "101", "103"))
        position = {"none": None, "ahead": town.runtime.state.version + 1, "too_old": start}[after]
        _client, socket = town.connect("ann", after=position)
        await town.settle()
        (message,) = socket.messages
        assert message["type"] == "snapshot"
        assert message["position"] == str(town.runtime.state.version)
    finally:
        town.hub.close()
        for client in town.clients:
            client.abandon()
        await town.runtime.close()
        await town.backend.close()


async def test_resuming_at_the_edge_of_the_buffer_still_resumes(tmp_path: Path) -> None:
    town = await make_town(tmp_path / "edge.db", buffer_size=2)
    try:
        p = await town.new_pass("ann", "101", "103")
        edge = town.runtime.state.version
        await town.end_pass("ann", p)
        q = await town.new_pass("ann", "101", "103")  # the buffer now holds these two
        _client, socket = town.connect("ann", after=edge)
        await town.settle()
        assert [(m["type"], m["pass"]["id"]) for m in socket.messages] == [("pass", p), ("pass", q)]
    finally:
        town.hub.close()
        for client in town.clients:
            client.abandon()
        await town.runtime.close()
        await town.backend.close()


async def test_a_slow_client_is_dropped_and_the_others_go_on(town: Town) -> None:
    slow, stuck = town.connect("teacher", reading=False, max_queue=3)
    _fast, fast = town.connect("teacher", max_queue=3)
    await town.settle()
    made = []
    for _ in range(4):
        made.append(await town.new_pass("ann", "101", "103"))
        await town.end_pass("ann", made[-1])
    assert slow.closing and slow not in town.hub.clients
    assert len([m for m in fast.messages if m["type"] == "pass"]) == 8
    # Once its socket takes the message it was stuck on, it is closed: 1013.
    stuck.reading.set()
    await town.settle()
    assert stuck.closed == OVERFLOW
    assert len(stuck.texts) == 1  # the snapshot it was sending; the rest was dropped


async def test_a_client_that_falls_behind_for_a_while_gets_everything_in_order(
    town: Town,
) -> None:
    slow, socket = town.connect("teacher", reading=False, max_queue=10)
    await town.settle()
    made = [await town.new_pass(u, "101", "103") for u in ("ann", "bob")]
    assert slow.busy and not socket.texts  # the snapshot's send waits; the rest queued
    socket.reading.set()
    await town.settle()
    assert not slow.busy and not slow.closing
    await town.end_pass("ann", made[0])
    kinds = [(m["type"], m.get("pass", {}).get("id")) for m in socket.messages]
    assert kinds == [("snapshot", None), ("pass", made[0]), ("pass", made[1]), ("pass", made[0])]
    assert socket.messages[-1]["pass"]["state"] == "ended"


async def test_a_socket_that_fails_is_dropped_and_the_others_still_get_the_change(
    town: Town,
) -> None:
    failing = True

    async def broken(message: dict[str, Any]) -> None:
        if failing and message["type"] == "websocket.send":
            raise ValueError("a bug in some send path")

    bad = Client(town.actor("teacher"), broken, max_queue=10)
    failing = False
    town.hub.join(bad, None)
    failing = True
    _good, socket = town.connect("admin")
    await town.settle()
    pass_id = await town.new_pass("ann", "101", "103")
    assert bad.closing and bad not in town.hub.clients
    assert socket.messages[-1]["pass"]["id"] == pass_id


async def test_a_heartbeat_carries_the_position_after_every_change(town: Town) -> None:
    _client, socket = town.connect("kiosk103")
    await town.settle()
    await town.new_pass("ann", "101", "Library")  # not the kiosk's business
    town.hub.heartbeat()
    await town.settle()
    assert socket.messages[-1] == {
        "type": "heartbeat",
        "position": str(town.runtime.state.version),
    }


async def test_closing_the_hub_closes_every_socket_going_away(town: Town) -> None:
    sockets = [town.connect(u)[1] for u in ("teacher", "ann", "kiosk101")]
    await town.settle()
    town.hub.close()
    await town.settle()
    assert [s.closed for s in sockets] == [GOING_AWAY] * 3
    assert town.hub.clients == frozenset()
    # The runtime goes on; the closed hub no longer listens.
    before = [len(s.texts) for s in sockets]
    await town.new_pass("ann", "101", "103")
    assert [len(s.texts) for s in sockets] == before


async def test_a_student_the_hub_did_not_know_gets_their_name(town: Town) -> None:
    _client, socket = town.connect("teacher")
    await town.settle()
    newcomer = await add_user(
        town.backend.directory,
        town.school,
        username="cleo",
        role="student",
        name="Cleo Newcomer",
        password_hash="not-used",
        number="3",
    )
    town.users["cleo"] = newcomer
    result = await town.runtime.execute(
        CreatePass(
            actor=town.actor("cleo"),
            pass_id=new_id("pass"),
            student=newcomer.id,
            origin=town.rooms["101"],
            destination=town.rooms["102"],
        )
    )
    assert not isinstance(result, Rejection)
    # The flush waits for the directory in the background; wait for the push.
    for _ in range(200):
        if len(socket.texts) > 1:
            break
        await asyncio.sleep(0.01)
    assert socket.messages[-1]["pass"]["student"] == {"id": newcomer.id, "name": "Cleo Newcomer"}


# --- the indexes agree with visibility.py ------------------------------------------

ROOMS = ["r1", "r2", "r3"]
STUDENTS = ["s1", "s2", "s3"]
actors = st.one_of(
    st.builds(Actor, st.sampled_from(STUDENTS), st.just("student")),
    st.builds(Actor, st.sampled_from(["t1", "t2"]), st.sampled_from(["teacher", "admin"])),
    st.builds(Actor, st.just("k"), st.just("kiosk"), st.sampled_from([*ROOMS, None])),
)
AT = datetime(2025, 1, 13, 15, 0, tzinfo=UTC)


@st.composite
def pass_records(draw: Callable[..., Any]) -> PassRecord:
    origin, destination = draw(st.permutations(ROOMS))[:2]
    return PassRecord(
        id="p",
        student=draw(st.sampled_from(STUDENTS)),
        origin=origin,
        destination=destination,
        minutes=5,
        state="active",
        created_at=AT,
        created_by="x",
    )


request_records = st.builds(
    lambda s: RequestRecord(
        id="r", student=s, teacher="t1", destination="r1", minutes=5, state="open", sent_at=AT
    ),
    st.sampled_from(STUDENTS),
)


@settings(max_examples=60, deadline=None)
@given(people=st.lists(actors, max_size=8), record=st.one_of(pass_records(), request_records))
def test_the_indexes_reach_exactly_who_visibility_allows(
    people: list[Actor], record: PassRecord | RequestRecord
) -> None:
    async def nothing(message: dict[str, Any]) -> None:
        return None

    audience = Audience()
    clients = [Client(a, nothing, max_queue=10) for a in people]
    for client in clients:
        audience.add(client)
    allowed = (
        {c for c in clients if may_see_pass(c.actor, record)}
        if isinstance(record, PassRecord)
        else {c for c in clients if may_see_request(c.actor, record)}
    )
    assert audience.of(record) == allowed
    for client in clients:
        audience.remove(client)
    assert audience.of(record) == set() and len(audience) == 0
