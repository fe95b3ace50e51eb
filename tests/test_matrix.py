"""Who may do what: every endpoint, every role, the caller's own school and
another school, against a real server holding two schools.

The rows come from API.md ("who" for each call), written out by hand in
MATRIX; the list of endpoints comes from the app's own table, so a new
endpoint fails `test_the_matrix_has_a_row_for_every_endpoint` until someone
writes its row. For each cell the caller asks with real, fresh items in the
state the call needs (an active pass to end, a pending one to approve, an
open request to accept), and the answer must be exactly what API.md allows:

- a role that may call it: the endpoint's success status;
- a role that may not: 403 `forbidden` (401 `unauthenticated` signed out);
- another school's ids, for a role that may call it: as if they did not
  exist (404 `not_found`, or 422 `unknown_room` for room ids in a body);
- someone else's item where only one's own is allowed (a student and another
  student's pass, a kiosk and another room's pass): 404 `not_found`.

Every refused cell changes nothing in the caller's school, and nothing any
cell does ever changes the other school's stream.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
import pytest
from hostile_kit import DEMO_PASSWORD
from servers import SeededSchool, login, running_server, seed_school

from hallpass.backend import Backend, open_backend
from hallpass.events.types import SYSTEM
from hallpass.web.app import all_endpoints

ROLES = ("anonymous", "student", "teacher", "admin", "kiosk")
ANYONE = frozenset(ROLES)
SIGNED_IN = ANYONE - {"anonymous"}
STAFF = frozenset({"teacher", "admin"})
ENDPOINTS = {f"{e.method} {e.path}": e for e in all_endpoints()}


class Target(StrEnum):
    OWN = "own school"
    OTHER = "another school"
    NEIGHBOUR = "someone else's item"


@dataclass(frozen=True)
class Answer:
    """One acceptable answer: a status, and the error code (or "[]" for an
    empty list) when it matters."""

    status: int
    code: str | None = None

    def matches(self, response: httpx.Response) -> bool:
        if response.status_code != self.status:
            return False
        if self.code is None:
            return True
        body: object = response.json()
        if self.code == "[]":
            return body == []
        return isinstance(body, dict) and body.get("error", {}).get("code") == self.code


NOT_FOUND = frozenset({Answer(404, "not_found")})
NO_SUCH_ROOM = frozenset({Answer(422, "unknown_room")})
NOT_HERE = NOT_FOUND | NO_SUCH_ROOM  # a body naming another school's student or rooms
NOTHING_OF_IT = NOT_FOUND | {Answer(200, "[]")}  # a list filtered by another school's id


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None
    params: dict[str, str] | None = None


@dataclass
class Person:
    client: httpx.AsyncClient
    id: str = ""
    number: str | None = None
    username: str = ""


# --- the two schools ---------------------------------------------------------------


@dataclass
class Side:
    """One school as the matrix uses it."""

    slug: str
    password: str
    rooms: dict[str, str]  # name -> id
    staff: Person  # a teacher who prepares items
    admin: Person
    kiosk: Person
    items: dict[str, str] = field(default_factory=dict)  # kind -> id (the other school's)
    student: str = ""  # a student's id (the other school's)
    number: str = ""
    colleague: Person | None = None  # another teacher (the demo school's)


def _in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


class World:
    """The demo school (the callers') and a seeded one (the other)."""

    def __init__(self, url: str, backend: Backend, demo: Side, other: Side) -> None:
        self.url = url
        self.backend = backend
        self.demo = demo
        self.other = other
        self.students: list[Person] = []  # demo students, signed in, taken in turn
        self._turn = itertools.count()
        self._names = itertools.count()
        self.extra_room = ""  # a demo room the admin's PATCH may change
        self.extra_person = ""  # a demo teacher the admin's PATCH may change

    def next_student(self) -> Person:
        return self.students[next(self._turn) % len(self.students)]

    def other_student(self, than: Person) -> Person:
        while True:
            found = self.next_student()
            if found.id != than.id:
                return found

    def fresh_name(self) -> str:
        return f"Matrix room {next(self._names)}"

    async def client(self, username: str | None = None) -> Person:
        client = httpx.AsyncClient(base_url=self.url, timeout=30)
        if username is None:
            return Person(client)
        user = await login(client, "demo", username, DEMO_PASSWORD)
        return Person(client, user["id"], user["number"], username)

    async def caller(self, role: str) -> Person:
        if role == "student":
            return self.next_student()
        fixed = {"teacher": self.demo.staff, "admin": self.demo.admin, "kiosk": self.demo.kiosk}
        return fixed[role] if role in fixed else await self.client()

    # Items in the demo school, each made fresh for one cell. The kiosk
    # (Room 101) sees passes to Room 101; "Room 103 -> Room 104" it does not.

    async def made(self, by: Person, path: str, body: dict[str, Any]) -> str:
        answer = await by.client.post(path, json=body)
        assert answer.status_code == 201, f"preparing {path}: {answer.text}"
        made: str = answer.json()["id"]
        return made

    async def active_pass(self, student: Person, *, elsewhere: bool = False) -> str:
        origin, destination = ("Room 103", "Room 104") if elsewhere else ("Room 102", "Room 101")
        return await self.made(
            self.demo.staff,
            "/api/passes",
            {
                "origin": self.demo.rooms[origin],
                "destination": self.demo.rooms[destination],
                "student": student.id,
            },
        )

    async def pending_pass(self, student: Person) -> str:
        body = {"origin": self.demo.rooms["Room 102"], "destination": self.demo.rooms["Nurse"]}
        return await self.made(student, "/api/passes", body)

    async def open_request(self, student: Person, by: Person | None = None) -> str:
        body = {"student": student.id, "destination": self.demo.rooms["Library"]}
        return await self.made(by or self.demo.staff, "/api/requests", body)

    async def end_of_cells(self) -> None:
        """Clear the hall, so the students are free for the next cells."""
        answer = await self.demo.admin.client.post("/api/hall/sweep", json={"pause": False})
        assert answer.status_code == 200, answer.text

    async def events_since(self, slug: str, version: int) -> list[Any]:
        return [s.event async for s in self.backend.store.read(slug, version)]

    async def close(self) -> None:
        people = [*self.students, self.demo.staff, self.demo.admin, self.demo.kiosk]
        people += [self.demo.colleague] if self.demo.colleague else []
        people += [self.other.staff, self.other.admin, self.other.kiosk]
        for person in people:
            await person.client.aclose()
        await self.backend.close()


# --- the rows: API.md's "who" and how to ask ----------------------------------------

Make = Callable[[World, Person, Target], Awaitable[Call]]


@dataclass(frozen=True)
class Row:
    who: frozenset[str]  # the roles API.md lets call it
    make: Make
    names_items: bool = False  # also asked with another school's ids
    foreign: frozenset[Answer] = NOT_FOUND  # what another school's ids answer
    neighbours: frozenset[str] = frozenset()  # roles asked about someone else's item too
    neighbour: frozenset[Answer] = NOT_FOUND  # what someone else's item answers them
    # What another school's ids answer a role, where it is not `foreign`.
    foreign_to: dict[str, frozenset[Answer]] = field(default_factory=dict)


def fixed(method: str, path: str, body: Any = None) -> Make:
    async def make(world: World, caller: Person, target: Target) -> Call:
        return Call(method, path, body)

    return make


def on_pass(kind: str, action: str = "", body: Callable[[Person], Any] | None = None) -> Make:
    """A call on a fresh pass in state `kind` ("active" or "pending"): the
    caller's own when a student, one the kiosk sees when a kiosk."""

    async def make(world: World, caller: Person, target: Target) -> Call:
        if target is Target.OTHER:
            pass_id = world.other.items[f"{kind} pass"]
        else:
            student = caller if caller.id and caller.number else world.next_student()
            elsewhere = False
            if target is Target.NEIGHBOUR:
                if caller.number:  # a student: another student's pass
                    student = world.other_student(caller)
                else:  # a kiosk: a pass between two other rooms
                    elsewhere = True
            if kind == "active":
                pass_id = await world.active_pass(student, elsewhere=elsewhere)
            else:
                pass_id = await world.pending_pass(student)
        path = f"/api/passes/{pass_id}" + (f"/{action}" if action else "")
        return Call("POST" if action else "GET", path, body(caller) if body else None)

    return make


def on_request(action: str = "", body: Callable[[World], Any] | None = None) -> Make:
    async def make(world: World, caller: Person, target: Target) -> Call:
        if target is Target.OTHER:
            request_id = world.other.items["open request"]
        else:
            student = caller if caller.number else world.next_student()
            teacher = None
            if target is Target.NEIGHBOUR:
                if caller.number:  # a student: another student's request
                    student = world.other_student(caller)
                else:  # a teacher: another teacher's request
                    teacher = world.demo.colleague
            request_id = await world.open_request(student, teacher)
        path = f"/api/requests/{request_id}" + (f"/{action}" if action else "")
        return Call("POST" if action else "GET", path, body(world) if body else None)

    return make


async def _sign_in(world: World, caller: Person, target: Target) -> Call:
    username = caller.username or "student40"
    body = {"school": "demo", "username": username, "password": DEMO_PASSWORD}
    return Call("POST", "/api/session", body)


async def _sign_out(world: World, caller: Person, target: Target) -> Call:
    return Call("DELETE", "/api/session")


async def _settings(world: World, caller: Person, target: Target) -> Call:
    side = world.other if target is Target.OTHER else world.demo
    return Call("PATCH", "/api/me/settings", {"favorites": [side.rooms["Library"]]})


async def _add_room(world: World, caller: Person, target: Target) -> Call:
    return Call("POST", "/api/rooms", {"name": world.fresh_name()})


async def _change_room(world: World, caller: Person, target: Target) -> Call:
    room = world.other.rooms["Library"] if target is Target.OTHER else world.extra_room
    return Call("PATCH", f"/api/rooms/{room}", {"name": world.fresh_name()})


async def _new_pass(world: World, caller: Person, target: Target) -> Call:
    demo, other = world.demo.rooms, world.other.rooms
    if target is Target.OTHER:
        if caller.number:  # a student: the other school's rooms
            return Call(
                "POST", "/api/passes", {"origin": other["Room 1"], "destination": other["Room 2"]}
            )
        # Staff and kiosks: the other school's student (the kiosk from its own room).
        origin = demo["Room 101"] if caller is world.demo.kiosk else other["Room 1"]
        body: dict[str, Any] = {"origin": origin, "destination": other["Library"]}
        if caller is world.demo.kiosk:
            body["student_number"] = world.other.number
        else:
            body["student"] = world.other.student
        return Call("POST", "/api/passes", body)
    body = {"origin": demo["Room 101"], "destination": demo["Room 103"]}
    if caller is world.demo.kiosk:
        body["student_number"] = world.next_student().number
    elif not caller.number:
        body["student"] = world.next_student().id
    return Call("POST", "/api/passes", body)


def _listing(path: str) -> Make:
    async def make(world: World, caller: Person, target: Target) -> Call:
        if target is Target.OTHER:
            student = world.other.student
        else:
            student = caller.id if caller.number else world.next_student().id
        return Call("GET", path, params={"student": student})

    return make


async def _new_request(world: World, caller: Person, target: Target) -> Call:
    if target is Target.OTHER:
        body = {"student": world.other.student, "destination": world.other.rooms["Library"]}
    else:
        body = {"student": world.next_student().id, "destination": world.demo.rooms["Library"]}
    return Call("POST", "/api/requests", body)


def _sso(path: str) -> Make:
    async def make(world: World, caller: Person, target: Target) -> Call:
        slug = world.other.slug if target is Target.OTHER else world.demo.slug
        return Call("GET", path.replace("{school}", slug))

    return make


def _query(path: str, name: str, value: Callable[[World, Person, Target], str]) -> Make:
    async def make(world: World, caller: Person, target: Target) -> Call:
        return Call("GET", path, params={name: value(world, caller, target)})

    return make


def _a_student(world: World, caller: Person, target: Target) -> str:
    return world.other.student if target is Target.OTHER else world.next_student().id


def _a_room(world: World, caller: Person, target: Target) -> str:
    if target is Target.OTHER:
        return world.other.rooms["Library"]
    return world.demo.rooms["Room 101"]  # the matrix's teacher's own room: see `world`


def _record(kind: str) -> Make:
    async def make(world: World, caller: Person, target: Target) -> Call:
        return Call(
            "GET", f"/api/exports/students/{_a_student(world, caller, target)}/record.{kind}"
        )

    return make


async def _add_person(world: World, caller: Person, target: Target) -> Call:
    name = world.fresh_name().lower().replace(" ", "-")
    if target is Target.OTHER:  # a kiosk in the other school's room
        body = {
            "username": name,
            "name": "Matrix Kiosk",
            "role": "kiosk",
            "room": world.other.rooms["Library"],
        }
    else:
        body = {"username": name, "name": "Matrix Teacher", "role": "teacher"}
    return Call("POST", "/api/users", body)


async def _change_person(world: World, caller: Person, target: Target) -> Call:
    person = world.other.student if target is Target.OTHER else world.extra_person
    return Call("PATCH", f"/api/users/{person}", {"name": world.fresh_name()})


def _pin(caller: Person) -> dict[str, str]:
    return {"pin": "1111"} if caller.number else {}  # a student types a teacher's PIN


STUDENT, KIOSK, ADMIN = frozenset({"student"}), frozenset({"kiosk"}), frozenset({"admin"})
ALL_BUT_KIOSK = SIGNED_IN - KIOSK
SWEEP = {"pause": False}

MATRIX: dict[str, Row] = {
    # Session (API.md: anyone signs in and out; the rest is one's own).
    "POST /api/session": Row(ANYONE, _sign_in),
    "DELETE /api/session": Row(ANYONE, _sign_out),
    "GET /api/me": Row(SIGNED_IN, fixed("GET", "/api/me")),
    "PATCH /api/me/settings": Row(SIGNED_IN, _settings, names_items=True, foreign=NO_SUCH_ROOM),
    # Health and single sign-on: anyone, nothing of a school shown.
    "GET /healthz": Row(ANYONE, fixed("GET", "/healthz")),
    "GET /readyz": Row(ANYONE, fixed("GET", "/readyz")),
    "GET /api/sso/{school}/status": Row(
        ANYONE, _sso("/api/sso/{school}/status"), names_items=True, foreign=frozenset({Answer(200)})
    ),
    "GET /api/sso/{school}/start": Row(
        ANYONE, _sso("/api/sso/{school}/start"), names_items=True, foreign=frozenset({Answer(302)})
    ),
    "GET /api/sso/callback": Row(ANYONE, fixed("GET", "/api/sso/callback")),
    # Rooms: anyone signed in reads; admins add and change.
    "GET /api/rooms": Row(SIGNED_IN, fixed("GET", "/api/rooms")),
    "POST /api/rooms": Row(frozenset({"admin"}), _add_room),
    "PATCH /api/rooms/{id}": Row(frozenset({"admin"}), _change_room, names_items=True),
    # Passes.
    "POST /api/passes": Row(SIGNED_IN, _new_pass, names_items=True, foreign=NOT_HERE),
    "GET /api/passes": Row(
        SIGNED_IN, _listing("/api/passes"), names_items=True, foreign=NOTHING_OF_IT
    ),
    "GET /api/passes/{id}": Row(
        SIGNED_IN, on_pass("active"), names_items=True, neighbours=STUDENT | KIOSK
    ),
    "POST /api/passes/{id}/end": Row(
        SIGNED_IN, on_pass("active", "end"), names_items=True, neighbours=STUDENT | KIOSK
    ),
    "POST /api/passes/{id}/approve": Row(
        ALL_BUT_KIOSK, on_pass("pending", "approve", _pin), names_items=True, neighbours=STUDENT
    ),
    "POST /api/passes/{id}/deny": Row(STAFF, on_pass("pending", "deny"), names_items=True),
    "POST /api/passes/{id}/cancel": Row(
        ALL_BUT_KIOSK, on_pass("pending", "cancel"), names_items=True, neighbours=STUDENT
    ),
    "POST /api/passes/{id}/extend": Row(
        STAFF, on_pass("active", "extend", lambda _: {"minutes": 5}), names_items=True
    ),
    "POST /api/passes/{id}/arrive": Row(
        STAFF | KIOSK, on_pass("active", "arrive"), names_items=True, neighbours=KIOSK
    ),
    "GET /api/board": Row(STAFF | KIOSK, fixed("GET", "/api/board")),
    # Requests.
    "POST /api/requests": Row(STAFF, _new_request, names_items=True, foreign=NOT_HERE),
    "GET /api/requests": Row(
        ALL_BUT_KIOSK, _listing("/api/requests"), names_items=True, foreign=NOTHING_OF_IT
    ),
    "GET /api/requests/{id}": Row(
        ALL_BUT_KIOSK, on_request(), names_items=True, neighbours=STUDENT
    ),
    "POST /api/requests/{id}/accept": Row(
        STUDENT,
        on_request("accept", lambda w: {"origin": w.demo.rooms["Room 103"]}),
        names_items=True,
        neighbours=STUDENT,
    ),
    "POST /api/requests/{id}/decline": Row(
        STUDENT,
        on_request("decline", lambda w: {"reason": "In a test"}),
        names_items=True,
        neighbours=STUDENT,
    ),
    # A teacher withdraws their own requests; another's they may see, not withdraw.
    "POST /api/requests/{id}/cancel": Row(
        STAFF,
        on_request("cancel"),
        names_items=True,
        neighbours=frozenset({"teacher"}),
        neighbour=frozenset({Answer(403, "forbidden")}),
    ),
    # School controls: admins.
    "GET /api/policies": Row(frozenset({"admin"}), fixed("GET", "/api/policies")),
    "PUT /api/policies": Row(frozenset({"admin"}), fixed("PUT", "/api/policies", {})),
    "POST /api/hall/sweep": Row(frozenset({"admin"}), fixed("POST", "/api/hall/sweep", SWEEP)),
    "DELETE /api/hall/pause": Row(frozenset({"admin"}), fixed("DELETE", "/api/hall/pause")),
    "GET /api/hall": Row(SIGNED_IN, fixed("GET", "/api/hall")),
    "GET /api/school": Row(SIGNED_IN, fixed("GET", "/api/school")),
    # People (docs/api.md): staff find them, admins add and change them.
    "GET /api/users": Row(
        STAFF, _query("/api/users", "ids", _a_student), names_items=True, foreign=NOTHING_OF_IT
    ),
    "POST /api/users": Row(ADMIN, _add_person, names_items=True, foreign=NO_SUCH_ROOM),
    "PATCH /api/users/{id}": Row(ADMIN, _change_person, names_items=True),
    # Exports and the audit log: admins (the data dictionary: staff).
    "GET /api/exports/passes.csv": Row(
        ADMIN, _query("/api/exports/passes.csv", "student", _a_student), names_items=True
    ),
    "GET /api/exports/students/{id}/record.json": Row(ADMIN, _record("json"), names_items=True),
    "GET /api/exports/students/{id}/record.csv": Row(ADMIN, _record("csv"), names_items=True),
    "GET /api/exports/dictionary": Row(STAFF, fixed("GET", "/api/exports/dictionary")),
    "GET /api/audit": Row(ADMIN, fixed("GET", "/api/audit")),
    # Reports: staff; a teacher sees their own room's only, so any other
    # room (another school's too) is refused them like any room not theirs.
    **{
        f"GET /api/reports/{name}": Row(
            STAFF,
            _query(f"/api/reports/{name}", "room", _a_room),
            names_items=True,
            foreign_to={"teacher": frozenset({Answer(403, "forbidden")})},
        )
        for name in (
            f"{report}{suffix}"
            for report in ("hours", "weekdays", "destinations", "waits", "students")
            for suffix in ("", ".csv")
        )
    },
}


def expected(label: str, row: Row, role: str, target: Target) -> frozenset[Answer]:
    if role not in row.who:
        return frozenset(
            {Answer(401, "unauthenticated") if role == "anonymous" else Answer(403, "forbidden")}
        )
    if target is Target.OTHER:
        return row.foreign_to.get(role, row.foreign)
    if target is Target.NEIGHBOUR:
        return row.neighbour
    status = ENDPOINTS[label].status
    if 300 <= status < 400:  # a page a browser walks through: a refusal is a redirect too
        return frozenset({Answer(302), Answer(303)})
    return frozenset({Answer(status)})


def targets(row: Row, role: str) -> list[Target]:
    found = [Target.OWN]
    if row.names_items:
        found.append(Target.OTHER)
    if role in row.neighbours:
        found.append(Target.NEIGHBOUR)
    return found


# --- the server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    store_url = f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'hallpass.db'}"
    async with running_server(store_url, env={"HALLPASS_DEMO": "1"}) as server:
        seeded = await seed_school(store_url)
        found = World(
            server.url,
            await open_backend(store_url),
            await _demo_side(server.url),
            await _other_side(server.url, seeded),
        )
        try:
            for n in range(1, 11):
                found.students.append(await found.client(f"student{n:02d}"))
            found.extra_room = await found.made(
                found.demo.admin, "/api/rooms", {"name": found.fresh_name()}
            )
            found.extra_person = await found.made(
                found.demo.admin,
                "/api/users",
                {"username": "matrix-extra", "name": "Extra Teacher", "role": "teacher"},
            )
            # Reports show a teacher their own room: give the matrix's teacher one.
            own_room = {"room": found.demo.rooms["Room 101"]}
            teacher = await found.demo.admin.client.patch(
                f"/api/users/{found.demo.staff.id}", json=own_room
            )
            assert teacher.status_code == 200, teacher.text
            yield found
        finally:
            await found.close()


async def _signed_in(url: str, school: str, username: str, password: str) -> Person:
    client = httpx.AsyncClient(base_url=url, timeout=30)
    user = await login(client, school, username, password)
    return Person(client, user["id"], user["number"], username)


async def _demo_side(url: str) -> Side:
    staff = await _signed_in(url, "demo", "teacher1", DEMO_PASSWORD)
    rooms = {r["name"]: r["id"] for r in (await staff.client.get("/api/rooms")).json()}
    return Side(
        slug="demo",
        password=DEMO_PASSWORD,
        rooms=rooms,
        staff=staff,
        admin=await _signed_in(url, "demo", "admin", DEMO_PASSWORD),
        kiosk=await _signed_in(url, "demo", "kiosk1", DEMO_PASSWORD),
        colleague=await _signed_in(url, "demo", "teacher2", DEMO_PASSWORD),
    )


async def _other_side(url: str, seeded: SeededSchool) -> Side:
    """The seeded school with a live item of each kind, made by its own people."""
    side = Side(
        slug=seeded.slug,
        password=seeded.password,
        rooms=dict(seeded.rooms),
        staff=await _signed_in(url, seeded.slug, "teacher1", seeded.password),
        admin=await _signed_in(url, seeded.slug, "admin", seeded.password),
        kiosk=await _signed_in(url, seeded.slug, "kiosk1", seeded.password),
        student=seeded.users["student1"],
        number="1001",
    )
    locked = await side.admin.client.post("/api/rooms", json={"name": "Nurse", "locked": True})
    assert locked.status_code == 201, locked.text
    side.rooms["Nurse"] = locked.json()["id"]
    rooms, users = side.rooms, seeded.users
    teacher = side.staff.client
    made = await teacher.post(
        "/api/passes",
        json={
            "origin": rooms["Room 1"],
            "destination": rooms["Room 2"],
            "student": users["student1"],
        },
    )
    assert made.status_code == 201, made.text
    side.items["active pass"] = made.json()["id"]
    student2 = await _signed_in(url, seeded.slug, "student2", seeded.password)
    made = await student2.client.post(
        "/api/passes", json={"origin": rooms["Room 1"], "destination": rooms["Nurse"]}
    )
    await student2.client.aclose()
    assert made.status_code == 201 and made.json()["state"] == "pending", made.text
    side.items["pending pass"] = made.json()["id"]
    made = await teacher.post(
        "/api/requests", json={"student": users["student3"], "destination": rooms["Library"]}
    )
    assert made.status_code == 201, made.text
    side.items["open request"] = made.json()["id"]
    return side


# --- the tests ----------------------------------------------------------------------


def test_the_matrix_has_a_row_for_every_endpoint() -> None:
    missing = sorted(set(ENDPOINTS) - set(MATRIX))
    gone = sorted(set(MATRIX) - set(ENDPOINTS))
    assert not missing, f"write the matrix rows (from API.md) for: {missing}"
    assert not gone, f"these rows name endpoints the app no longer has: {gone}"


@pytest.mark.parametrize("label", sorted(ENDPOINTS))
async def test_each_role_may_do_exactly_what_api_md_allows(world: World, label: str) -> None:
    row = MATRIX.get(label)
    if row is None:
        pytest.fail(f"{label} has no row in MATRIX: write it from API.md")
    other_before = await world.backend.store.version(world.other.slug)
    wrong: list[str] = []
    for role in ROLES:
        for target in targets(row, role):
            caller = await world.caller(role)
            if label in ("POST /api/session", "DELETE /api/session") and role != "anonymous":
                # Signing in or out ends the caller's session: use a session of its own.
                caller = await world.client(caller.username or _username(role))
            call = await row.make(world, caller, target)
            before = await world.backend.store.version("demo")
            response = await caller.client.request(
                call.method, call.path, json=call.body, params=call.params, follow_redirects=False
            )
            allowed = expected(label, row, role, target)
            if not any(answer.matches(response) for answer in allowed):
                wrong.append(
                    f"{role}, {target}: {call.method} {call.path} answered "
                    f"{response.status_code} {response.text[:200]}; API.md allows {sorted(allowed, key=str)}"
                )
            if response.status_code >= 400:
                changed = [e for e in await world.events_since("demo", before) if e.actor != SYSTEM]
                if changed:
                    wrong.append(f"{role}, {target}: refused, yet appended {changed}")
            kept = [*world.students, world.demo.staff, world.demo.admin, world.demo.kiosk]
            if not any(caller is person for person in kept):
                await caller.client.aclose()
        await world.end_of_cells()
    assert await world.backend.store.version(world.other.slug) == other_before
    assert not wrong, "\n".join(wrong)


def _username(role: str) -> str:
    return {"teacher": "teacher1", "admin": "admin", "kiosk": "kiosk1"}.get(role, "student40")
