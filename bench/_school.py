"""A synthetic school year, made by the real rules: decide and tick.

3,000 students and 40 rooms in Chicago, school days 08:00 to 16:00, Monday to
Friday. Every 30 seconds of school time some students ask for a pass (on their
device, at a kiosk, or a teacher writes it), students come back after a few
minutes (some too late, and the system ends their pass), teachers approve or
deny passes to locked rooms and send requests that students accept or decline,
and the worker's tick runs. Small rooms fill up, so lines form and move. The
events are exactly what the service would have appended.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hallpass.events.types import Event, PassStarted, Policies
from hallpass.projections.state import evolve, initial_state
from hallpass.rules.commands import (
    AcceptRequest,
    Actor,
    AddRoom,
    AnyCommand,
    ApprovePass,
    ArrivePass,
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

STUDENTS = 3_000
CLASSROOMS = 30
STEP = timedelta(seconds=30)
CHICAGO = ZoneInfo("America/Chicago")
FIRST_DAY = date(2025, 9, 1)  # a Monday
SCHOOL_DAY = timedelta(hours=8, minutes=15)  # to 16:15, past the day's end
ADMIN = Actor("admin", "admin")
# Passes asked for per 30 seconds of school time, across the school.
ASKS_PER_STEP = 2.4


def _rooms() -> list[AddRoom]:
    rooms = [
        AddRoom(actor=ADMIN, room_id=f"c{n}", name=f"Room {100 + n}", minutes=5)
        for n in range(1, CLASSROOMS + 1)
    ]
    rooms += [
        AddRoom(actor=ADMIN, room_id=f"rest{n}", name=f"Restroom {n}", capacity=6, minutes=5)
        for n in range(1, 5)
    ]
    rooms += [
        AddRoom(actor=ADMIN, room_id="library", name="Library", capacity=8, minutes=10),
        AddRoom(actor=ADMIN, room_id="water", name="Water Fountain", minutes=3),
        AddRoom(actor=ADMIN, room_id="gym", name="Gym", capacity=2, minutes=10),
        AddRoom(actor=ADMIN, room_id="nurse", name="Nurse", locked=True, minutes=10),
        AddRoom(actor=ADMIN, room_id="office", name="Main Office", locked=True, minutes=10),
        AddRoom(actor=ADMIN, room_id="counselor", name="Counselor", locked=True, minutes=15),
    ]
    return rooms


# Where students go, and how often.
_DESTINATIONS = (
    ["rest1", "rest2", "rest3", "rest4"] * 6
    + ["water"] * 4
    + ["library"] * 3
    + ["gym", "nurse", "office", "counselor"]
)


class SchoolYear:
    """Runs the simulation; `events()` yields every event in stream order."""

    def __init__(self, seed: int = 2025) -> None:
        self.rng = random.Random(seed)
        self.state = initial_state()
        self.now = datetime.combine(FIRST_DAY, time(8), CHICAGO).astimezone(UTC)
        self.serial = 0
        self.home = {f"s{n}": f"c{1 + n % CLASSROOMS}" for n in range(STUDENTS)}
        self.students = list(self.home)
        self.returns: list[tuple[datetime, str, str]] = []  # (when, pass id, student)
        self.out: list[Event] = []

    def _id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:07d}"

    def _apply(self, events: list[Event]) -> None:
        for event in events:
            evolve(self.state, event)
            if isinstance(event, PassStarted):
                self._plan_return(event.pass_id)
        self.out.extend(events)

    def _do(self, command: AnyCommand) -> list[Event] | Rejection:
        result = decide(self.state, command, self.now)
        if not isinstance(result, Rejection):
            self._apply(result)
        return result

    def _plan_return(self, pass_id: str) -> None:
        record = self.state.passes[pass_id]
        # Most come back in time; about one in twelve overstays, a few badly
        # enough that the system ends their pass.
        minutes = self.rng.uniform(0.6, 1.0) * record.minutes
        late = self.rng.random()
        if late < 0.02:
            minutes = record.minutes + self.rng.uniform(12, 25)
        elif late < 0.08:
            minutes = record.minutes + self.rng.uniform(0.5, 8)
        when = self.now + timedelta(minutes=minutes)
        heapq.heappush(self.returns, (when, pass_id, record.student))

    def setup(self) -> None:
        for room in _rooms():
            self._do(room)
        policies = Policies(
            daily_limit=4,
            weekly_limit=12,
            cooldown_minutes=5,
            hallway_cap=60,
            classroom_cap=3,
            keep_apart=[[f"s{n}", f"s{n + 1}"] for n in range(0, 60, 2)],
            exempt=[f"s{n}" for n in range(60, 90)],
            timezone="America/Chicago",
            day_ends_at="16:00",
        )
        self._do(SetPolicies(actor=ADMIN, policies=policies))

    def _ask(self) -> None:
        rng = self.rng
        student = rng.choice(self.students)
        origin = self.home[student]
        destination = rng.choice(_DESTINATIONS)
        how = rng.random()
        if how < 0.75:
            actor = Actor(student, "student")
        elif how < 0.9:
            actor = Actor("k" + origin, "kiosk", room=origin)
        else:
            actor = Actor("t" + origin, "teacher")
        start_at = None
        if rng.random() < 0.05:
            start_at = self.now + timedelta(minutes=rng.randint(5, 90))
        self._do(
            CreatePass(
                actor=actor,
                pass_id=self._id("p"),
                student=student,
                origin=origin,
                destination=destination,
                start_at=start_at,
                named_student=actor.role != "student",
            )
        )

    def _teachers(self) -> None:
        rng = self.rng
        for pid in list(self.state.pending):
            record = self.state.passes[pid]
            if self.now - record.created_at >= timedelta(minutes=1) and rng.random() < 0.3:
                teacher = Actor("t" + record.origin, "teacher")
                command = (
                    ApprovePass(actor=teacher, pass_id=pid)
                    if rng.random() < 0.85
                    else DenyPass(actor=teacher, pass_id=pid)
                )
                self._do(command)
        if rng.random() < 0.05:
            student = rng.choice(self.students)
            start = None if rng.random() < 0.5 else self.now + timedelta(minutes=20)
            self._do(
                SendRequest(
                    actor=Actor("t" + self.home[student], "teacher"),
                    request_id=self._id("q"),
                    student=student,
                    destination=rng.choice(["library", "office", "counselor", "gym"]),
                    start_at=start,
                )
            )
        for rid in list(self.state.open_requests):
            if rng.random() < 0.1:
                request = self.state.requests[rid]
                me = Actor(request.student, "student")
                if rng.random() < 0.85:
                    self._do(
                        AcceptRequest(
                            actor=me,
                            request_id=rid,
                            pass_id=self._id("p"),
                            origin=self.home[request.student],
                        )
                    )
                else:
                    self._do(DeclineRequest(actor=me, request_id=rid))

    def _come_back(self) -> None:
        while self.returns and self.returns[0][0] <= self.now:
            _, pid, student = heapq.heappop(self.returns)
            record = self.state.passes[pid]
            if record.state != "active":
                continue  # the system ended it already
            if record.arrived_at is None and self.rng.random() < 0.3:
                self._do(ArrivePass(actor=Actor("staff", "teacher"), pass_id=pid))
            self._do(EndPass(actor=Actor(student, "student"), pass_id=pid))

    def _school_day(self) -> None:
        day_start = self.now
        while self.now < day_start + SCHOOL_DAY:
            asks = int(ASKS_PER_STEP) + (self.rng.random() < ASKS_PER_STEP % 1)
            for _ in range(asks):
                self._ask()
            self._teachers()
            self._come_back()
            self._apply(tick(self.state, self.now))
            self.now += STEP

    def events(self, count: int) -> Iterator[Event]:
        """At least `count` events (whole school days), then stops."""
        self.setup()
        made = 0
        day = FIRST_DAY
        while True:
            if day.weekday() < 5:
                self.now = datetime.combine(day, time(8), CHICAGO).astimezone(UTC)
                self.returns.clear()
                self._school_day()
                made += len(self.out)
                yield from self.out
                self.out = []
                if made >= count:
                    return
            day += timedelta(days=1)
