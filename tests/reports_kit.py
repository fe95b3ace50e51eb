"""A seeded school made by the real rules (decide and tick), and the reports
counted the slow, obvious way from its events, to hold the report projection to.

`simulate(seed)` runs a few school days of a small school whose rooms fill up
(so lines form and move), with passes asked for by students, kiosks and
teachers, approvals and denials, extensions, overtime, cancellations of
waiting passes, sweeps and scheduled passes; across a change of daylight saving
time. It returns the events exactly as the service would have appended them.

`brute_*` compute each report from the final school state (replayed from the
same events) and the event list itself, pass by pass: no aggregates.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hallpass.events.store import StoredEvent
from hallpass.events.types import (
    Event,
    PassCancelled,
    PassDenied,
    PassExpired,
    PassQueued,
    PassStarted,
    Policies,
)
from hallpass.projections.records import PassRecord
from hallpass.projections.state import SchoolState, evolve, initial_state, replay
from hallpass.rules.commands import (
    Actor,
    AddRoom,
    AnyCommand,
    ApprovePass,
    ArrivePass,
    CancelPass,
    CreatePass,
    DenyPass,
    EndPass,
    ExtendPass,
    Rejection,
    SetPolicies,
    SweepHall,
)
from hallpass.rules.decide import decide
from hallpass.rules.tick import tick

# School hours there straddle midnight UTC, so a local day is not a UTC day.
TZ = "Pacific/Auckland"
FIRST_DAY = date(2025, 9, 24)  # a Wednesday; daylight saving time starts on 28 September
ADMIN = Actor("admin", "admin")
CLASSROOMS = ("c1", "c2", "c3", "c4")
DESTINATIONS = ("rest", "rest", "rest", "lib", "water", "nurse", "gym")


def rooms() -> list[AddRoom]:
    return [
        *(AddRoom(actor=ADMIN, room_id=c, name=f"Room {c}") for c in CLASSROOMS),
        AddRoom(actor=ADMIN, room_id="rest", name="Restroom", capacity=2, minutes=5),
        AddRoom(actor=ADMIN, room_id="lib", name="Library", capacity=1, minutes=10),
        AddRoom(actor=ADMIN, room_id="water", name="Water", minutes=3),
        AddRoom(actor=ADMIN, room_id="nurse", name="Nurse", locked=True, minutes=10),
        AddRoom(actor=ADMIN, room_id="gym", name="Gym", capacity=1, minutes=8),
    ]


@dataclass
class Simulation:
    seed: int
    students: int = 30
    days: int = 6
    rng: random.Random = field(init=False)
    state: SchoolState = field(default_factory=initial_state)
    events: list[Event] = field(default_factory=list)
    now: datetime = field(init=False)
    serial: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.home = {f"s{n}": CLASSROOMS[n % len(CLASSROOMS)] for n in range(self.students)}

    def do(self, command: AnyCommand) -> list[Event] | Rejection:
        result = decide(self.state, command, self.now)
        if not isinstance(result, Rejection):
            self.apply(result)
        return result

    def apply(self, events: list[Event]) -> None:
        for event in events:
            evolve(self.state, event)
        self.events.extend(events)

    def new_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def run(self) -> list[StoredEvent]:
        self.now = datetime.combine(FIRST_DAY, time(7), ZoneInfo(TZ)).astimezone(UTC)
        for room in rooms():
            self.do(room)
        self.do(
            SetPolicies(
                actor=ADMIN,
                policies=Policies(hallway_cap=5, timezone=TZ, day_ends_at="15:00"),
            )
        )
        day = FIRST_DAY
        done = 0
        while done < self.days:
            if day.weekday() < 5:
                self.school_day(day)
                done += 1
            day += timedelta(days=1)
        return [StoredEvent(n, e) for n, e in enumerate(self.events, start=1)]  # type: ignore[arg-type]

    def school_day(self, day: date) -> None:
        self.now = datetime.combine(day, time(8), ZoneInfo(TZ)).astimezone(UTC)
        last_ask = datetime.combine(day, time(14, 45), ZoneInfo(TZ)).astimezone(UTC)
        end = datetime.combine(day, time(15, 5), ZoneInfo(TZ)).astimezone(UTC)
        while self.now < end:
            self.step(asking=self.now < last_ask)
            self.apply(tick(self.state, self.now))
            self.now += timedelta(seconds=self.rng.choice((20, 40, 60)))

    def step(self, asking: bool) -> None:
        rng = self.rng
        state = self.state
        if asking and rng.random() < 0.45:
            self.ask()
        for pid, record in list(state.active.items()):
            started = record.started_at
            assert started is not None
            out = (self.now - started).total_seconds() / 60
            if out > record.minutes * rng.uniform(0.5, 1.6) and rng.random() < 0.3:
                if record.arrived_at is None and rng.random() < 0.3:
                    self.do(ArrivePass(actor=Actor("t1", "teacher"), pass_id=pid))
                self.do(EndPass(actor=Actor(record.student, "student"), pass_id=pid))
            elif rng.random() < (0.1 if record.overtime else 0.01):
                more = rng.choice((1, 5, 10))
                self.do(ExtendPass(actor=Actor("t1", "teacher"), pass_id=pid, minutes=more))
        for pid in list(state.pending):
            if rng.random() < 0.2:
                teacher = Actor("t2", "teacher")
                approve = rng.random() < 0.7
                self.do(
                    ApprovePass(actor=teacher, pass_id=pid)
                    if approve
                    else DenyPass(actor=teacher, pass_id=pid)
                )
        for pid, record in list(state.line.items()):
            if rng.random() < 0.03:
                self.do(CancelPass(actor=Actor(record.student, "student"), pass_id=pid))
        if rng.random() < 0.002:
            self.do(SweepHall(actor=ADMIN))

    def ask(self) -> None:
        rng = self.rng
        student = rng.choice(list(self.home))
        origin = self.home[student]
        how = rng.random()
        if how < 0.7:
            actor = Actor(student, "student")
        elif how < 0.85:
            actor = Actor("k" + origin, "kiosk", room=origin)
        else:
            actor = Actor("t1", "teacher")
        start_at = None
        if rng.random() < 0.05:
            start_at = self.now + timedelta(minutes=rng.randint(2, 40))
        self.do(
            CreatePass(
                actor=actor,
                pass_id=self.new_id("p"),
                student=student,
                origin=origin,
                destination=rng.choice(DESTINATIONS),
                start_at=start_at,
                note=f"note {self.serial}",
                named_student=actor.role != "student",
            )
        )


def simulate(seed: int, students: int = 30, days: int = 6) -> list[StoredEvent]:
    return Simulation(seed, students=students, days=days).run()


# --- the reports, counted pass by pass ---------------------------------------------


@dataclass
class Trip:
    """What the brute force knows of one pass, from the final state and the log."""

    record: PassRecord
    queued_at: datetime | None
    started_day: date | None
    started_hour: int | None
    seconds_out: int | None  # whole seconds, for ended passes
    waited: int | None  # whole seconds in line, for passes that started from it
    gave_up_day: date | None  # for passes that left the line without starting


def trips(events: list[StoredEvent], tz: str = TZ) -> list[Trip]:
    state = replay(events)
    zone = ZoneInfo(tz)
    queued: dict[str, datetime] = {}
    for stored in events:
        event = stored.event
        if isinstance(event, PassQueued):
            queued.setdefault(event.pass_id, event.at)
    found = []
    for record in state.passes.values():
        q = queued.get(record.id)
        started = record.started_at
        day = hour = out = waited = gave_up = None
        if started is not None:
            wall = started.astimezone(zone)
            day, hour = wall.date(), wall.hour
            if q is not None:
                waited = int((started - q).total_seconds() // 1)
        if record.state == "ended":
            assert started is not None and record.ended_at is not None
            out = int((record.ended_at - started).total_seconds() // 1)
        if q is not None and started is None and record.ended_at is not None:
            gave_up = record.ended_at.astimezone(zone).date()
        found.append(Trip(record, q, day, hour, out, waited, gave_up))
    return found


def closed_from_line(events: list[StoredEvent]) -> int:
    """How many passes left the line without starting (another count of gave_up)."""
    in_line: set[str] = set()
    left = 0
    for stored in events:
        event = stored.event
        if isinstance(event, PassQueued):
            in_line.add(event.pass_id)
        elif isinstance(event, PassStarted):
            in_line.discard(event.pass_id)
        elif (
            isinstance(event, (PassCancelled, PassDenied, PassExpired)) and event.pass_id in in_line
        ):
            in_line.discard(event.pass_id)
            left += 1
    return left


def touches(trip: Trip, room: str | None) -> bool:
    return room is None or room in (trip.record.origin, trip.record.destination)


def brute_hours(found: list[Trip], first: date, last: date, room: str | None) -> list[int]:
    counts = [0] * 24
    for t in found:
        if t.started_day is not None and first <= t.started_day <= last and touches(t, room):
            assert t.started_hour is not None
            counts[t.started_hour] += 1
    return counts


def brute_weekdays(found: list[Trip], first: date, last: date, room: str | None) -> list[int]:
    counts = [0] * 7
    for t in found:
        if t.started_day is not None and first <= t.started_day <= last and touches(t, room):
            counts[t.started_day.weekday()] += 1
    return counts


def brute_destinations(
    found: list[Trip], first: date, last: date, room: str | None
) -> dict[str, dict[str, int]]:
    """destination -> passes, ended, seconds, longest, overtime."""
    sums: dict[str, dict[str, int]] = defaultdict(
        lambda: {"passes": 0, "ended": 0, "seconds": 0, "longest": 0, "overtime": 0}
    )
    for t in found:
        if t.started_day is None or not first <= t.started_day <= last or not touches(t, room):
            continue
        s = sums[t.record.destination]
        s["passes"] += 1
        if t.seconds_out is not None:
            s["ended"] += 1
            s["seconds"] += t.seconds_out
            s["longest"] = max(s["longest"], t.seconds_out)
            s["overtime"] += t.record.overtime
    return dict(sums)


def brute_waits(
    found: list[Trip], first: date, last: date, room: str | None
) -> dict[str, dict[str, int]]:
    """destination -> waited, seconds, longest, gave_up."""
    sums: dict[str, dict[str, int]] = defaultdict(
        lambda: {"waited": 0, "seconds": 0, "longest": 0, "gave_up": 0}
    )
    for t in found:
        if not touches(t, room):
            continue
        destination = t.record.destination
        if t.waited is not None and t.started_day is not None and first <= t.started_day <= last:
            s = sums[destination]
            s["waited"] += 1
            s["seconds"] += t.waited
            s["longest"] = max(s["longest"], t.waited)
        if t.gave_up_day is not None and first <= t.gave_up_day <= last:
            sums[destination]["gave_up"] += 1
    return dict(sums)


def brute_students(
    found: list[Trip], first: date, last: date, room: str | None
) -> dict[str, tuple[int, int]]:
    """student -> (passes started, whole seconds out of the ended ones)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t in found:
        if t.started_day is None or not first <= t.started_day <= last or not touches(t, room):
            continue
        s = sums[t.record.student]
        s[0] += 1
        s[1] += t.seconds_out or 0
    return {student: (s[0], s[1]) for student, s in sums.items()}
