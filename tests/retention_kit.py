"""A small school run for some weeks by the real rules (decide and tick), for
the snapshot and retention tests, and helpers to put its events in a store.

`school_days(seed, days)` returns the events exactly as the service would
have appended them: passes asked for by students, kiosks and teachers, lines
at small rooms, approvals and denials of passes to a locked room, passes
scheduled ahead, requests from teachers accepted or declined, returns,
overtime and the end of each day. School days are 08:00 to 15:00 in Chicago,
Monday to Friday, from FIRST_DAY.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hallpass.events.store import EventStore, StoredEvent
from hallpass.events.types import Event, Policies
from hallpass.projections.state import SchoolState, evolve, initial_state
from hallpass.rules.commands import (
    AcceptRequest,
    Actor,
    AddRoom,
    AnyCommand,
    ApprovePass,
    CreatePass,
    DeclineRequest,
    DenyPass,
    EndPass,
    Rejection,
    SendRequest,
    SetPolicies,
)
from hallpass.rules.decide import decide
from hallpass.rules.tick import tick

TZ = "America/Chicago"
FIRST_DAY = date(2025, 9, 1)  # a Monday
ADMIN = Actor("admin", "admin")
ROOMS = ("c1", "c2", "c3")
STEP = timedelta(minutes=4)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(TZ)).astimezone(UTC)


class Simulation:
    def __init__(
        self, seed: int, students: int = 12, retention_days: int = 30, asks: float = 0.6
    ) -> None:
        self.rng = random.Random(seed)
        self.state: SchoolState = initial_state()
        self.events: list[Event] = []
        self.now = local(FIRST_DAY, 7)
        self.serial = 0
        self.home = {f"s{n}": ROOMS[n % len(ROOMS)] for n in range(students)}
        self.retention_days = retention_days
        self.asks = asks  # the chance that someone asks for a pass, each step

    def do(self, command: AnyCommand) -> list[Event] | Rejection:
        result = decide(self.state, command, self.now)
        if not isinstance(result, Rejection):
            self.apply(result)
        return result

    def apply(self, events: Sequence[Event]) -> None:
        for event in events:
            evolve(self.state, event)
        self.events.extend(events)

    def new_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def setup(self) -> None:
        for room in ROOMS:
            self.do(AddRoom(actor=ADMIN, room_id=room, name=f"Room {room}"))
        self.do(AddRoom(actor=ADMIN, room_id="rest", name="Restroom", capacity=1, minutes=5))
        self.do(AddRoom(actor=ADMIN, room_id="nurse", name="Nurse", locked=True, minutes=10))
        self.do(AddRoom(actor=ADMIN, room_id="lib", name="Library", minutes=10))
        policies = Policies(timezone=TZ, day_ends_at="15:00", retention_days=self.retention_days)
        self.do(SetPolicies(actor=ADMIN, policies=policies))

    def run(self, days: int) -> list[Event]:
        self.setup()
        day = FIRST_DAY
        done = 0
        while done < days:
            if day.weekday() < 5:
                self.school_day(day)
                done += 1
            day += timedelta(days=1)
        return self.events

    def school_day(self, day: date) -> None:
        self.now = local(day, 8)
        end = local(day, 15, 10)
        while self.now < end:
            self.step(asking=self.now < local(day, 14, 30))
            self.apply(tick(self.state, self.now))
            self.now += STEP

    def step(self, asking: bool) -> None:
        rng = self.rng
        if asking and rng.random() < self.asks:
            self.ask()
        for pid, record in list(self.state.active.items()):
            assert record.started_at is not None
            if self.now - record.started_at > timedelta(minutes=rng.choice((3, 6, 30))):
                self.do(EndPass(actor=Actor(record.student, "student"), pass_id=pid))
        for pid in list(self.state.pending):
            if rng.random() < 0.5:
                teacher = Actor("t1", "teacher")
                approve = rng.random() < 0.7
                command = ApprovePass if approve else DenyPass
                self.do(command(actor=teacher, pass_id=pid))
        if asking and rng.random() < 0.08:
            student = rng.choice(list(self.home))
            self.do(
                SendRequest(
                    actor=Actor("t1", "teacher"),
                    request_id=self.new_id("q"),
                    student=student,
                    destination="lib",
                    note="come by",
                )
            )
        for rid in list(self.state.open_requests):
            request = self.state.requests[rid]
            me = Actor(request.student, "student")
            if rng.random() < 0.6:
                self.do(
                    AcceptRequest(
                        actor=me,
                        request_id=rid,
                        pass_id=self.new_id("p"),
                        origin=self.home[request.student],
                    )
                )
            elif rng.random() < 0.3:
                self.do(DeclineRequest(actor=me, request_id=rid))

    def ask(self) -> None:
        rng = self.rng
        student = rng.choice(list(self.home))
        origin = self.home[student]
        how = rng.random()
        actor = (
            Actor(student, "student")
            if how < 0.7
            else Actor("k" + origin, "kiosk", room=origin)
            if how < 0.85
            else Actor("t1", "teacher")
        )
        start_at = None
        if rng.random() < 0.08:
            start_at = self.now + timedelta(minutes=rng.randint(5, 60))
        self.do(
            CreatePass(
                actor=actor,
                pass_id=self.new_id("p"),
                student=student,
                origin=origin,
                destination=rng.choice(("rest", "rest", "nurse", "lib")),
                start_at=start_at,
                note=f"note {self.serial}",
                named_student=actor.role != "student",
            )
        )


def school_days(
    seed: int, days: int, *, students: int = 12, retention_days: int = 30, asks: float = 0.6
) -> list[Event]:
    return Simulation(seed, students, retention_days, asks).run(days)


def stored(events: Sequence[Event], first: int = 1) -> list[StoredEvent]:
    return [StoredEvent(n, e) for n, e in enumerate(events, start=first)]  # type: ignore[arg-type]


async def append_all(store: EventStore, school: str, events: Sequence[Event]) -> int:
    """Append `events` in appends of a few hundred; the stream's version."""
    version = await store.version(school)
    for start in range(0, len(events), 500):
        version = await store.append(school, events[start : start + 500], version)
    return version


async def read_all(store: EventStore, school: str, after: int = 0) -> list[StoredEvent]:
    return [each async for each in store.read(school, after)]
