"""A small school and a fixed clock for the pure rules' tests (no I/O, no sleep).

`World` keeps a state, the log of every event folded into it, and `now`. Its
`reject` checks what every refusal must: a Rejection with the expected code,
and nothing changed.
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hallpass.events.types import Event, Policies
from hallpass.projections.records import PassRecord, RequestRecord
from hallpass.projections.state import SchoolState, evolve, initial_state, replay
from hallpass.rules.commands import (
    Actor,
    AddRoom,
    AnyCommand,
    CreatePass,
    Rejection,
    SendRequest,
    SetPolicies,
)
from hallpass.rules.decide import decide
from hallpass.rules.tick import tick

# Monday 13 January 2025, 09:00 in Chicago (CST, UTC-6).
T0 = datetime(2025, 1, 13, 15, 0, tzinfo=UTC)

ADMIN = Actor("admin", "admin")
OPERATOR = Actor("system", "admin")  # the command line
TEACHER = Actor("t1", "teacher")
TEACHER2 = Actor("t2", "teacher")
KIOSK = Actor("k1", "kiosk", room="r101")


def student(n: int) -> Actor:
    return Actor(f"s{n}", "student")


S1, S2, S3, S4, S5 = (student(n) for n in range(1, 6))

ROOMS: list[dict[str, Any]] = [
    {"room_id": "r101", "name": "Room 101"},
    {"room_id": "r102", "name": "Room 102"},
    {"room_id": "r103", "name": "Room 103"},
    {"room_id": "rest", "name": "Restroom", "capacity": 2},
    {"room_id": "lib", "name": "Library", "capacity": 1, "minutes": 10},
    {"room_id": "nurse", "name": "Nurse", "locked": True, "minutes": 10},
    {"room_id": "closed", "name": "Closed", "enabled": False},
]


class World:
    def __init__(self, now: datetime = T0, *, rooms: bool = True) -> None:
        self.state: SchoolState = initial_state()
        self.log: list[Event] = []
        self.now = now
        self._ids = itertools.count(1)
        if rooms:
            for room in ROOMS:
                self.do(AddRoom(actor=ADMIN, **room))

    # --- time ---
    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def tick(self) -> list[Event]:
        events = tick(self.state, self.now)
        self.apply(events)
        return events

    # --- commands ---
    def apply(self, events: list[Event]) -> None:
        for event in events:
            evolve(self.state, event)
            self.log.append(event)

    def decide(self, command: AnyCommand) -> list[Event] | Rejection:
        return decide(self.state, command, self.now)

    def do(self, command: AnyCommand) -> list[Event]:
        result = decide(self.state, command, self.now)
        assert not isinstance(result, Rejection), result
        self.apply(result)
        return result

    def reject(self, command: AnyCommand, code: str, status: int | None = None) -> Rejection:
        """Decide `command`, expecting a refusal with `code`, and prove that
        nothing changed: the state equals a copy taken before, and equals the
        state folded afresh from the same events."""
        before = copy.deepcopy(self.state)
        result = decide(self.state, command, self.now)
        assert isinstance(result, Rejection), f"expected {code}, got events {result}"
        assert result.code == code, result
        assert result.message and result.message[0].isupper(), result
        if status is not None:
            assert result.status == status, result
        assert self.state == before
        assert replay(self.log) == self.state
        return result

    # --- shortcuts ---
    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}"

    def create(
        self, who: Actor, origin: str = "r101", destination: str = "rest", **kw: Any
    ) -> CreatePass:
        student_id = kw.pop("student", who.id)
        return CreatePass(
            actor=who,
            pass_id=kw.pop("pass_id", None) or self.next_id("p"),
            student=student_id,
            origin=origin,
            destination=destination,
            **kw,
        )

    def out(self, who: Actor, origin: str = "r101", destination: str = "rest", **kw: Any) -> str:
        """Create a pass (expected to succeed); return its id."""
        command = self.create(who, origin, destination, **kw)
        self.do(command)
        return command.pass_id

    def request(self, student_id: str, destination: str = "lib", **kw: Any) -> str:
        command = SendRequest(
            actor=kw.pop("actor", TEACHER),
            request_id=self.next_id("q"),
            student=student_id,
            destination=destination,
            **kw,
        )
        self.do(command)
        return command.request_id

    def policies(self, **fields: Any) -> None:
        self.do(SetPolicies(actor=ADMIN, policies=Policies(**fields)))

    def pass_(self, pass_id: str) -> PassRecord:
        return self.state.passes[pass_id]

    def state_of(self, pass_id: str) -> str:
        return self.state.passes[pass_id].state

    def request_(self, request_id: str) -> RequestRecord:
        return self.state.requests[request_id]


def types(events: list[Event]) -> list[str]:
    """The tags of `events`, for compact assertions."""
    return [type(e).__name__ for e in events]
