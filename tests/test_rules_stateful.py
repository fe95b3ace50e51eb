"""Random command sequences against the rules, with a clock that jumps ahead.

After every step the machine checks, by brute force over the passes rather
than through the state's own indexes: one live pass per student at most; every
index agrees with the records; no pass ever started into a full room, origin
or hallway; the line is drained as far as the caps allow and kept in queue
order; limit counts equal a count over the history; a replay of the log equals
the live fold; decide and tick never change the state they read.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any, ClassVar

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from rules_kit import ADMIN, TEACHER, TEACHER2, World

from hallpass.events.types import Event, PassQueued, PassStarted, Policies
from hallpass.projections.clock import local_day
from hallpass.projections.counts import COUNTED_KINDS, daily_count, weekly_count
from hallpass.projections.occupancy import hall_counts
from hallpass.projections.records import PassRecord
from hallpass.projections.state import due_at, replay
from hallpass.rules.commands import (
    AcceptRequest,
    Actor,
    AddRoom,
    AnyCommand,
    ApprovePass,
    ArrivePass,
    CancelPass,
    CancelRequest,
    ChangeRoom,
    CreatePass,
    DeclineRequest,
    DenyPass,
    EndPass,
    ExtendPass,
    Rejection,
    ResumePasses,
    SendRequest,
    SetPolicies,
    SweepHall,
)
from hallpass.rules.tick import tick

STUDENTS = [Actor(f"s{n}", "student") for n in range(1, 13)]
ROOMS = ["r1", "r2", "r3", "rest", "lib", "nurse"]
KIOSKS = [Actor("k1", "kiosk", room="r1"), Actor("k2", "kiosk", room="rest")]
LIVE = frozenset({"pending", "waiting", "active"})
UNCOUNTED = frozenset({"denied", "cancelled", "expired"})

students = st.sampled_from(STUDENTS)
rooms = st.sampled_from(ROOMS)
origins = st.sampled_from(["r1", "r2", "r3"])
# Mostly the small rooms, so that lines form.
destinations = st.sampled_from(["rest", "rest", "lib", "lib", "nurse", "r3"])
picks = st.integers(min_value=0, max_value=1_000)
caps = st.one_of(st.none(), st.integers(min_value=1, max_value=3))


class School(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w = World(rooms=False)
        self.serial = 0
        self.queued_at: dict[str, int] = {}  # pass id -> index of its last PassQueued
        for room_id, extra in [
            ("r1", {}),
            ("r2", {}),
            ("r3", {}),
            ("rest", {"capacity": 2}),
            ("lib", {"capacity": 1}),
            ("nurse", {"locked": True}),
        ]:
            self._run(AddRoom(actor=ADMIN, room_id=room_id, name=room_id.upper(), **extra))

    # --- plumbing ---------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def _apply(self, events: list[Event]) -> None:
        state = self.w.state
        for event in events:
            self.w.apply([event])
            if isinstance(event, PassQueued):
                self.queued_at[event.pass_id] = len(self.w.log)
            if isinstance(event, PassStarted):
                self._check_caps_after_start(state.passes[event.pass_id])

    def _check_caps_after_start(self, record: PassRecord) -> None:
        """A pass may start only into room: counted by brute force after it."""
        state = self.w.state
        active = [p for p in state.passes.values() if p.state == "active"]
        room = state.rooms[record.destination]
        assert room.enabled
        if room.capacity is not None:
            assert sum(p.destination == room.id for p in active) <= room.capacity
        if state.policies.classroom_cap is not None:
            assert sum(p.origin == record.origin for p in active) <= state.policies.classroom_cap
        if state.policies.hallway_cap is not None:
            assert len(active) <= state.policies.hallway_cap

    def _run(self, command: AnyCommand) -> list[Event] | Rejection:
        before = msgspec.json.encode(self.w.state)
        result = self.w.decide(command)
        assert msgspec.json.encode(self.w.state) == before, "decide changed the state"
        if isinstance(result, Rejection):
            assert result.code and result.message and 400 <= result.status < 500
        else:
            self._apply(result)
        return result

    def _pass(self, pick: int, states: frozenset[str] | None = None) -> PassRecord | None:
        records = [p for p in self.w.state.passes.values() if states is None or p.state in states]
        return records[pick % len(records)] if records else None

    def _request(self, pick: int) -> str:
        ids = list(self.w.state.requests)
        return ids[pick % len(ids)] if ids else "no-such-request"

    # --- passes -----------------------------------------------------------------

    create_args: ClassVar[dict[str, st.SearchStrategy[Any]]] = {
        "who": students,
        "by": st.sampled_from(["self", "self", "self", "teacher", "kiosk"]),
        "origin": origins,
        "destination": destinations,
        "minutes": st.one_of(st.none(), st.integers(min_value=1, max_value=30)),
        "later": st.one_of(st.none(), st.none(), st.integers(min_value=1, max_value=30)),
    }

    # Hypothesis picks rules evenly: creating a pass gets three rules, ending two.
    @rule(**create_args)
    def create(self, **args: Any) -> None:
        self._create(**args)

    @rule(**create_args)
    def create_more(self, **args: Any) -> None:
        self._create(**args)

    @rule(**create_args)
    def create_even_more(self, **args: Any) -> None:
        self._create(**args)

    def _create(
        self,
        who: Actor,
        by: str,
        origin: str,
        destination: str,
        minutes: int | None,
        later: int | None,
    ) -> None:
        actor = {"self": who, "teacher": TEACHER, "kiosk": KIOSKS[0]}[by]
        start_at = None if later is None else self.w.now + timedelta(minutes=later)
        self._run(
            CreatePass(
                actor=actor,
                pass_id=self._id("p"),
                student=who.id,
                origin=origin,
                destination=destination,
                minutes=minutes,
                start_at=start_at,
                named_student=by != "self",
            )
        )

    @rule(
        who=st.lists(students, min_size=2, max_size=6, unique=True),
        origin=origins,
        destination=st.sampled_from(["rest", "lib"]),
    )
    def crowd(self, who: list[Actor], origin: str, destination: str) -> None:
        """Several students ask for the same small room at once: a line forms."""
        for student in who:
            self._create(student, "self", origin, destination, None, None)

    @rule(who=students, later=st.integers(min_value=1, max_value=10), destination=destinations)
    def schedule_then_go_now(self, who: Actor, later: int, destination: str) -> None:
        """A student with an appointment soon goes out before it comes due."""
        self._create(who, "teacher", "r1", "r3", None, later)
        self._create(who, "self", "r2", destination, None, None)

    @rule(pick=picks, by=st.sampled_from(["owner", "teacher", "kiosk", "other"]))
    def end(self, pick: int, by: str) -> None:
        self._end(pick, by)

    @rule(pick=picks, by=st.sampled_from(["owner", "teacher"]))
    def end_more(self, pick: int, by: str) -> None:
        self._end(pick, by)

    def _end(self, pick: int, by: str) -> None:
        record = self._pass(pick, frozenset({"active"}) if pick % 7 else None)
        if record is not None:
            self._run(EndPass(actor=self._actor(record, by), pass_id=record.id))

    @rule(
        pick=picks,
        action=st.sampled_from(["cancel", "approve", "approve_pin", "deny", "extend", "arrive"]),
        by=st.sampled_from(["teacher", "teacher", "owner", "kiosk"]),
        minutes=st.integers(min_value=1, max_value=20),
    )
    def act_on_pass(self, pick: int, action: str, by: str, minutes: int) -> None:
        wanted = {
            "cancel": {"scheduled", "pending", "waiting"},
            "approve": {"pending"},
            "approve_pin": {"pending"},
            "deny": {"pending"},
            "extend": {"active"},
            "arrive": {"active"},
        }[action]
        record = self._pass(pick, frozenset(wanted) if pick % 5 else None)
        if record is None:
            return
        actor = self._actor(record, by)
        command: AnyCommand
        if action == "cancel":
            command = CancelPass(actor=actor, pass_id=record.id)
        elif action == "approve":
            command = ApprovePass(actor=actor, pass_id=record.id)
        elif action == "approve_pin":
            owner = Actor(record.student, "student")
            command = ApprovePass(actor=owner, pass_id=record.id, approver=TEACHER2)
        elif action == "deny":
            command = DenyPass(actor=actor, pass_id=record.id)
        elif action == "extend":
            command = ExtendPass(actor=actor, pass_id=record.id, minutes=minutes)
        else:
            command = ArrivePass(actor=actor, pass_id=record.id)
        self._run(command)

    def _actor(self, record: PassRecord, by: str) -> Actor:
        if by == "owner":
            return Actor(record.student, "student")
        if by == "teacher":
            return TEACHER
        if by == "kiosk":
            return KIOSKS[1]
        return next(s for s in STUDENTS if s.id != record.student)

    # --- requests ---------------------------------------------------------------

    @rule(
        who=students,
        destination=rooms,
        later=st.one_of(st.none(), st.integers(min_value=1, max_value=60)),
    )
    def send_request(self, who: Actor, destination: str, later: int | None) -> None:
        start_at = None if later is None else self.w.now + timedelta(minutes=later)
        self._run(
            SendRequest(
                actor=TEACHER,
                request_id=self._id("q"),
                student=who.id,
                destination=destination,
                start_at=start_at,
            )
        )

    @rule(pick=picks, origin=rooms, answer=st.sampled_from(["accept", "decline", "cancel"]))
    def answer_request(self, pick: int, origin: str, answer: str) -> None:
        rid = self._request(pick)
        record = self.w.state.requests.get(rid)
        student = Actor(record.student if record else "s1", "student")
        if answer == "accept":
            command: AnyCommand = AcceptRequest(
                actor=student, request_id=rid, pass_id=self._id("p"), origin=origin
            )
        elif answer == "decline":
            command = DeclineRequest(actor=student, request_id=rid)
        else:
            command = CancelRequest(actor=TEACHER, request_id=rid)
        self._run(command)

    # --- school controls --------------------------------------------------------

    @rule(
        what=st.sampled_from(["policies"] * 3 + ["room"] * 3 + ["sweep", "sweep_pause"]),
        hallway=caps,
        classroom=caps,
        daily=caps,
        apart=st.booleans(),
        cooldown=st.sampled_from([0, 0, 5]),
        room=st.sampled_from(["rest", "lib", "r2"]),
        capacity=caps,
        enabled=st.sampled_from([True, True, True, False]),
    )
    def admin(
        self,
        what: str,
        hallway: int | None,
        classroom: int | None,
        daily: int | None,
        apart: bool,
        cooldown: int,
        room: str,
        capacity: int | None,
        enabled: bool,
    ) -> None:
        if self.w.state.paused:
            self._run(ResumePasses(actor=ADMIN))
        elif what.startswith("sweep"):
            self._run(SweepHall(actor=ADMIN, pause=what == "sweep_pause"))
        elif what == "policies":
            policies = Policies(
                hallway_cap=hallway,
                classroom_cap=classroom,
                daily_limit=daily,
                cooldown_minutes=cooldown,
                keep_apart=[["s1", "s2"], ["s2", "s3", "s4"]] if apart else [],
                exempt=["s8"],
            )
            self._run(SetPolicies(actor=ADMIN, policies=policies))
        else:
            old = self.w.state.rooms[room]
            self._run(
                ChangeRoom(
                    actor=ADMIN,
                    room_id=room,
                    name=old.name,
                    locked=old.locked,
                    capacity=capacity,
                    minutes=old.minutes,
                    enabled=enabled or room == "r2",
                )
            )

    # --- time -------------------------------------------------------------------

    @rule(
        seconds=st.one_of(
            st.integers(min_value=1, max_value=120),
            st.integers(min_value=60, max_value=1200),
            st.integers(min_value=1, max_value=4 * 3600),
        ),
        ticks=st.booleans(),
    )
    def advance(self, seconds: int, ticks: bool) -> None:
        self.w.advance(seconds=seconds)
        if ticks:
            self.tick()

    @rule()
    def tick(self) -> None:
        before = msgspec.json.encode(self.w.state)
        events = tick(self.w.state, self.w.now)
        assert msgspec.json.encode(self.w.state) == before, "tick changed the state"
        self._apply(events)
        assert tick(self.w.state, self.w.now) == [], "tick is not idempotent"
        self._check_nothing_overdue()

    def _check_nothing_overdue(self) -> None:
        state, now = self.w.state, self.w.now
        grace = timedelta(minutes=state.policies.overtime_end_minutes)
        for record in state.passes.values():
            due = due_at(record)
            if record.state == "active" and due is not None:
                assert due > now or record.overtime
                assert due + grace > now
            if record.state == "pending":
                assert (
                    max(record.created_at, record.start_at or record.created_at)
                    + timedelta(minutes=15)
                    > now
                )

    # --- invariants -------------------------------------------------------------

    @invariant()
    def one_live_pass_per_student_and_indexes_agree(self) -> None:
        state = self.w.state
        records = list(state.passes.values())
        live = Counter(p.student for p in records if p.state in LIVE)
        assert all(n == 1 for n in live.values()), live
        assert state.live == {p.student: p.id for p in records if p.state in LIVE}
        for name in ("scheduled", "pending", "active"):
            assert set(getattr(state, name)) == {p.id for p in records if p.state == name}
        assert all(p.start_at is not None for p in state.scheduled.values())
        assert set(state.line) == {p.id for p in records if p.state == "waiting"}
        active = [p for p in records if p.state == "active"]
        counts = hall_counts(state)
        assert counts.total == len(active)
        assert counts.to == Counter(p.destination for p in active)
        assert counts.from_ == Counter(p.origin for p in active)
        assert set(state.open_requests) == {
            r.id for r in state.requests.values() if r.state == "open"
        }

    @invariant()
    def the_line_is_drained_and_in_queue_order(self) -> None:
        state = self.w.state
        order = [self.queued_at[pid] for pid in state.line]
        assert order == sorted(order)
        if state.paused:
            return
        active = [p for p in state.passes.values() if p.state == "active"]
        policies = state.policies
        for pid in state.line:
            record = state.passes[pid]
            room = state.rooms[record.destination]
            fits = (
                room.enabled
                and (
                    room.capacity is None
                    or sum(p.destination == room.id for p in active) < room.capacity
                )
                and (
                    policies.classroom_cap is None
                    or sum(p.origin == record.origin for p in active) < policies.classroom_cap
                )
                and (policies.hallway_cap is None or len(active) < policies.hallway_cap)
            )
            assert not fits, f"{pid} could start but waits"

    @invariant()
    def limit_counts_equal_a_count_of_the_history(self) -> None:
        state = self.w.state
        tz = state.policies.timezone
        daily: Counter[tuple[str, date]] = Counter()
        weekly: Counter[tuple[str, tuple[int, int]]] = Counter()
        days: set[date] = {local_day(self.w.now, tz)}
        for p in state.passes.values():
            day = local_day(p.start_at or p.created_at, tz)
            days.add(day)
            if p.kind in COUNTED_KINDS and p.state not in UNCOUNTED:
                daily[(p.student, day)] += 1
                weekly[(p.student, day.isocalendar()[:2])] += 1
        for student in STUDENTS:
            for day in days:
                assert daily_count(state, student.id, day) == daily[(student.id, day)]
                week = day.isocalendar()[:2]
                assert weekly_count(state, student.id, day) == weekly[(student.id, week)]

    @invariant()
    def a_replay_equals_the_live_fold(self) -> None:
        assert replay(self.w.log) == self.w.state


School.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSchool = School.TestCase
