"""The school's line: first come first served, no cap ever exceeded, and a
freed place filled in the same append as the change that freed it."""

from __future__ import annotations

from datetime import timedelta

from rules_kit import ADMIN, S1, S2, S3, S4, S5, TEACHER, World, student, types

from hallpass.events.types import PassStarted
from hallpass.projections.occupancy import hall_counts
from hallpass.rules.commands import (
    CancelPass,
    ChangeRoom,
    EndPass,
    ResumePasses,
    SweepHall,
)


def _library(w: World, capacity: int | None, enabled: bool = True) -> list[object]:
    return w.do(
        ChangeRoom(
            actor=ADMIN,
            room_id="lib",
            name="Library",
            locked=False,
            capacity=capacity,
            minutes=10,
            enabled=enabled,
        )
    )


def test_a_freed_place_goes_to_the_oldest_waiting_pass_in_the_same_events() -> None:
    w = World()
    first = w.out(S1, destination="lib")
    second = w.out(S2, destination="lib")
    third = w.out(S3, destination="lib")
    assert [w.state_of(p) for p in (second, third)] == ["waiting", "waiting"]
    w.advance(minutes=4)
    events = w.do(EndPass(actor=S1, pass_id=first))
    assert types(events) == ["PassEnded", "PassStarted"]
    started = events[1]
    assert isinstance(started, PassStarted)
    assert (started.pass_id, started.actor, started.at) == (second, "system", w.now)
    assert w.state_of(second) == "active" and w.state_of(third) == "waiting"
    assert list(w.state.line) == [third]


def test_a_pass_that_does_not_fit_never_blocks_one_that_does() -> None:
    w = World()
    w.policies(classroom_cap=1)
    out = w.out(S1, destination="lib")  # r101 -> lib
    w.out(S5, "r102", "rest")  # r102 is at its cap
    blocked = w.out(S2, "r102", "r103")  # waits: r102 full
    lib = w.out(S3, "r103", "lib")  # waits: lib full
    assert w.state.line.keys() == {blocked, lib}
    events = w.do(EndPass(actor=S1, pass_id=out))  # frees lib (and r101)
    assert [e.pass_id for e in events[1:]] == [lib]  # type: ignore[attr-defined]
    assert w.state_of(blocked) == "waiting"


def test_the_hallway_cap_holds_and_releases_in_order() -> None:
    w = World()
    w.policies(hallway_cap=2)
    a = w.out(S1, "r101", "r102")
    w.out(S2, "r102", "r103")
    c = w.out(S3, "r103", "r101")
    d = w.out(S4, "r101", "r103")
    assert [w.state_of(p) for p in (c, d)] == ["waiting", "waiting"]
    assert hall_counts(w.state).total == 2
    events = w.do(EndPass(actor=TEACHER, pass_id=a))
    assert [getattr(e, "pass_id", None) for e in events] == [a, c]
    assert hall_counts(w.state).total == 2 and w.state_of(d) == "waiting"


def test_the_classroom_cap_bounds_students_out_of_one_room() -> None:
    w = World()
    w.policies(classroom_cap=1)
    w.out(S1, "r101", "r102")
    assert w.state_of(w.out(S2, "r101", "r103")) == "waiting"
    assert w.state_of(w.out(S3, "r102", "r103")) == "active"


def test_raising_a_rooms_capacity_starts_the_line_in_the_same_events() -> None:
    w = World()
    w.out(S1, destination="lib")
    waiting = [w.out(s, destination="lib") for s in (S2, S3, S4)]
    events = _library(w, 3)
    assert types(events) == ["RoomChanged", "PassStarted", "PassStarted"]
    assert [w.state_of(p) for p in waiting] == ["active", "active", "waiting"]
    assert hall_counts(w.state).to["lib"] == 3


def test_removing_a_rooms_capacity_starts_everyone() -> None:
    w = World()
    w.out(S1, destination="lib")
    waiting = [w.out(s, destination="lib") for s in (S2, S3)]
    _library(w, None)
    assert [w.state_of(p) for p in waiting] == ["active", "active"]
    assert not w.state.line


def test_a_closed_room_keeps_its_line_until_it_reopens() -> None:
    w = World()
    first = w.out(S1, destination="lib")
    waiting = w.out(S2, destination="lib")
    _library(w, 1, enabled=False)
    assert types(w.do(EndPass(actor=S1, pass_id=first))) == ["PassEnded"]
    assert w.state_of(waiting) == "waiting"
    assert types(_library(w, 1, enabled=True)) == ["RoomChanged", "PassStarted"]


def test_raising_the_policy_caps_starts_the_line() -> None:
    w = World()
    w.policies(hallway_cap=1)
    w.out(S1, "r101", "r102")
    second = w.out(S2, "r102", "r103")
    from hallpass.events.types import Policies
    from hallpass.rules.commands import SetPolicies

    events = w.do(SetPolicies(actor=ADMIN, policies=Policies(hallway_cap=2)))
    assert types(events) == ["PoliciesSet", "PassStarted"]
    assert w.state_of(second) == "active"


def test_lowering_a_cap_ends_nobody_but_lets_nobody_new_out() -> None:
    w = World()
    out = [w.out(s, "r101", "rest") for s in (S1, S2)]
    w.policies(hallway_cap=1)
    assert [w.state_of(p) for p in out] == ["active", "active"]
    assert w.state_of(w.out(S3, "r102", "r103")) == "waiting"
    # One return is not enough to go below the cap again.
    assert types(w.do(EndPass(actor=S1, pass_id=out[0]))) == ["PassEnded"]
    assert types(w.do(EndPass(actor=S2, pass_id=out[1]))) == ["PassEnded", "PassStarted"]


def test_cancelling_a_waiting_pass_moves_the_others_up_in_order() -> None:
    w = World()
    first = w.out(S1, destination="lib")
    second = w.out(S2, destination="lib")
    third = w.out(S3, destination="lib")
    w.do(CancelPass(actor=S2, pass_id=second))
    assert list(w.state.line) == [third]
    events = w.do(EndPass(actor=S1, pass_id=first))
    assert events[1].pass_id == third  # type: ignore[attr-defined]


def test_overtime_auto_end_frees_the_place_in_the_same_tick() -> None:
    w = World()
    w.out(S1, destination="lib")  # 10 minutes
    waiting = w.out(S2, destination="lib")
    w.advance(minutes=25)  # past its 10 minutes and the 15 that follow
    events = w.tick()
    assert types(events) == ["PassOvertime", "PassEnded", "PassStarted"]
    assert w.state_of(waiting) == "active"


def test_a_due_scheduled_pass_goes_to_the_back_of_the_line() -> None:
    w = World()
    w.out(S1, destination="lib")
    scheduled = w.out(S2, destination="lib", start_at=w.now + timedelta(minutes=2))
    waiting = w.out(S3, destination="lib")
    w.advance(minutes=2)
    assert types(w.tick()) == ["PassQueued"]
    assert list(w.state.line) == [waiting, scheduled]


def test_the_line_does_not_move_while_paused_and_moves_on_resume() -> None:
    from hallpass.events.types import PassesPaused

    w = World()
    first = w.out(S1, destination="lib")
    waiting = w.out(S2, destination="lib")
    # A sweep would clear the line; fold a bare pause to test the resume path.
    w.apply([PassesPaused(at=w.now, actor="admin")])
    assert types(w.do(EndPass(actor=S1, pass_id=first))) == ["PassEnded"]
    assert w.state_of(waiting) == "waiting"
    assert types(w.do(ResumePasses(actor=ADMIN))) == ["PassesResumed", "PassStarted"]


def test_a_big_line_never_overfills_a_room() -> None:
    w = World()
    ids = [w.out(student(n), "r101", "rest") for n in range(1, 11)]
    assert hall_counts(w.state).to["rest"] == 2
    for _ in range(8):
        first_active = next(p for p in ids if w.state_of(p) == "active")
        w.advance(minutes=1)
        w.do(EndPass(actor=TEACHER, pass_id=first_active))
        assert hall_counts(w.state).to["rest"] == 2
    assert [w.state_of(p) for p in ids] == ["ended"] * 8 + ["active"] * 2


def test_a_sweep_empties_the_line() -> None:
    w = World()
    w.out(S1, destination="lib")
    w.out(S2, destination="lib")
    events = w.do(SweepHall(actor=ADMIN))
    assert types(events) == ["HallSwept", "PassEnded", "PassCancelled"]
    assert not w.state.line and not w.state.active
