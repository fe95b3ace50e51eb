"""Ending, approving, denying, cancelling, extending and arriving: who may,
on which passes, and what each does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rules_kit import ADMIN, KIOSK, S1, S2, T0, TEACHER, TEACHER2, World, types

from hallpass.events.types import PassApproved, PassCancelled, PassEnded
from hallpass.rules.commands import (
    Actor,
    ApprovePass,
    ArrivePass,
    CancelPass,
    DenyPass,
    EndPass,
    ExtendPass,
)

OTHER_KIOSK = Actor("k2", "kiosk", room="r103")
REST_KIOSK = Actor("k3", "kiosk", room="rest")

# --- end -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        (S1, "returned"),
        (TEACHER, "staff"),
        (ADMIN, "staff"),
        (KIOSK, "returned"),
        (REST_KIOSK, "returned"),
    ],
)
def test_who_may_end_a_pass(who: Actor, reason: str) -> None:
    w = World()
    pid = w.out(S1)
    w.advance(minutes=3)
    [ended] = w.do(EndPass(actor=who, pass_id=pid))
    assert isinstance(ended, PassEnded) and ended.reason == reason and ended.actor == who.id
    record = w.pass_(pid)
    assert (record.state, record.ended_at, record.ended_by) == ("ended", w.now, who.id)


def test_another_student_cannot_see_the_pass_to_end_it() -> None:
    w = World()
    pid = w.out(S1)
    w.reject(EndPass(actor=S2, pass_id=pid), "not_found", 404)


def test_a_kiosk_of_another_room_cannot_see_the_pass() -> None:
    w = World()
    pid = w.out(S1)
    w.reject(EndPass(actor=OTHER_KIOSK, pass_id=pid), "not_found", 404)


def test_ending_an_unknown_pass_is_not_found() -> None:
    w = World()
    w.reject(EndPass(actor=TEACHER, pass_id="nope"), "not_found", 404)


@pytest.mark.parametrize("kind", ["ended", "pending", "scheduled", "waiting"])
def test_only_an_active_pass_can_be_ended(kind: str) -> None:
    w = World()
    if kind == "ended":
        pid = w.out(S1)
        w.do(EndPass(actor=S1, pass_id=pid))
    elif kind == "pending":
        pid = w.out(S1, destination="nurse")
    elif kind == "scheduled":
        pid = w.out(S1, start_at=T0 + timedelta(hours=1))
    else:
        w.out(S2, destination="lib")
        pid = w.out(S1, destination="lib")
    w.reject(EndPass(actor=S1, pass_id=pid), "invalid_state", 409)


# --- approve and deny --------------------------------------------------------------


def test_a_teacher_approves_a_pending_pass_and_it_starts() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    w.advance(minutes=2)
    events = w.do(ApprovePass(actor=TEACHER, pass_id=pid))
    assert types(events) == ["PassApproved", "PassStarted"]
    assert all(e.actor == "t1" for e in events)
    assert w.pass_(pid).state == "active" and w.pass_(pid).started_at == w.now
    assert pid not in w.state.pending and w.state.live["s1"] == pid


def test_a_student_approves_with_a_teachers_pin() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    events = w.do(ApprovePass(actor=S1, pass_id=pid, approver=TEACHER2))
    assert isinstance(events[0], PassApproved)
    assert events[0].actor == "t2" and events[0].by_pin
    assert w.state_of(pid) == "active"


def test_a_student_without_a_pin_cannot_approve() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    w.reject(ApprovePass(actor=S1, pass_id=pid), "forbidden", 403)
    w.reject(ApprovePass(actor=S1, pass_id=pid, approver=S2), "forbidden", 403)
    w.reject(ApprovePass(actor=KIOSK, pass_id=pid), "forbidden", 403)


def test_a_pin_does_not_reach_another_students_pass() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    w.reject(ApprovePass(actor=S2, pass_id=pid, approver=TEACHER), "not_found", 404)


def test_approving_a_pass_with_a_future_start_schedules_it() -> None:
    w = World()
    start = T0 + timedelta(minutes=30)
    pid = w.out(S1, destination="nurse", start_at=start)
    assert types(w.do(ApprovePass(actor=TEACHER, pass_id=pid))) == ["PassApproved"]
    assert w.state_of(pid) == "scheduled"
    assert "s1" not in w.state.live  # a scheduled pass is not live
    w.advance(minutes=30)
    assert types(w.tick()) == ["PassStarted"]


def test_an_approved_pass_to_a_full_room_joins_the_line() -> None:
    from hallpass.rules.commands import ChangeRoom

    w = World()
    w.do(
        ChangeRoom(
            actor=ADMIN,
            room_id="nurse",
            name="Nurse",
            locked=True,
            capacity=1,
            minutes=10,
            enabled=True,
        )
    )
    w.out(TEACHER, destination="nurse", student="s2")
    pid = w.out(S1, destination="nurse")
    assert types(w.do(ApprovePass(actor=TEACHER, pass_id=pid))) == ["PassApproved", "PassQueued"]
    assert w.state_of(pid) == "waiting"


@pytest.mark.parametrize("kind", ["active", "denied"])
def test_only_a_pending_pass_can_be_approved_or_denied(kind: str) -> None:
    w = World()
    if kind == "active":
        pid = w.out(S1)
    else:
        pid = w.out(S1, destination="nurse")
        w.do(DenyPass(actor=TEACHER, pass_id=pid))
    w.reject(ApprovePass(actor=TEACHER, pass_id=pid), "invalid_state", 409)
    w.reject(DenyPass(actor=TEACHER, pass_id=pid), "invalid_state", 409)


def test_a_teacher_denies_a_pending_pass() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    assert types(w.do(DenyPass(actor=TEACHER, pass_id=pid))) == ["PassDenied"]
    record = w.pass_(pid)
    assert (record.state, record.ended_by) == ("denied", "t1")
    assert "s1" not in w.state.live
    assert w.state_of(w.out(S1)) == "active"  # free to ask again


@pytest.mark.parametrize("who", [S1, KIOSK])
def test_students_and_kiosks_cannot_deny(who: Actor) -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    w.reject(DenyPass(actor=who, pass_id=pid), "forbidden", 403)


def test_approve_and_deny_of_an_unknown_pass_are_not_found() -> None:
    w = World()
    w.reject(ApprovePass(actor=TEACHER, pass_id="nope"), "not_found", 404)
    w.reject(DenyPass(actor=TEACHER, pass_id="nope"), "not_found", 404)


# --- cancel --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pending", "scheduled", "waiting"])
def test_a_student_cancels_their_pass_before_it_starts(kind: str) -> None:
    w = World()
    if kind == "pending":
        pid = w.out(S1, destination="nurse")
    elif kind == "scheduled":
        pid = w.out(S1, start_at=T0 + timedelta(hours=1))
    else:
        w.out(S2, destination="lib")
        pid = w.out(S1, destination="lib")
    [cancelled] = w.do(CancelPass(actor=S1, pass_id=pid))
    assert isinstance(cancelled, PassCancelled) and cancelled.reason == "student"
    assert w.state_of(pid) == "cancelled"
    assert pid not in w.state.line and pid not in w.state.pending and pid not in w.state.scheduled


def test_staff_cancel_with_reason_staff() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    [cancelled] = w.do(CancelPass(actor=TEACHER, pass_id=pid))
    assert isinstance(cancelled, PassCancelled) and cancelled.reason == "staff"


def test_an_active_pass_cannot_be_cancelled() -> None:
    w = World()
    pid = w.out(S1)
    w.reject(CancelPass(actor=S1, pass_id=pid), "invalid_state", 409)
    w.reject(CancelPass(actor=TEACHER, pass_id=pid), "invalid_state", 409)


def test_cancel_refuses_kiosks_and_hides_other_students_passes() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    w.reject(CancelPass(actor=KIOSK, pass_id=pid), "forbidden", 403)
    w.reject(CancelPass(actor=S2, pass_id=pid), "not_found", 404)


# --- extend --------------------------------------------------------------------


def test_extend_adds_minutes_and_clears_overtime() -> None:
    w = World()
    pid = w.out(S1)
    w.advance(minutes=6)
    assert types(w.tick()) == ["PassOvertime"]
    assert w.pass_(pid).overtime
    assert types(w.do(ExtendPass(actor=TEACHER, pass_id=pid, minutes=5))) == ["PassExtended"]
    assert (w.pass_(pid).minutes, w.pass_(pid).overtime) == (10, False)
    w.advance(minutes=4)
    assert types(w.tick()) == ["PassOvertime"]
    assert w.pass_(pid).overtime


def test_a_short_extension_keeps_overtime() -> None:
    w = World()
    pid = w.out(S1)
    w.advance(minutes=10)
    w.tick()
    w.do(ExtendPass(actor=TEACHER, pass_id=pid, minutes=1))  # still past its time
    assert w.pass_(pid).overtime


def test_extend_checks_role_minutes_and_state() -> None:
    w = World()
    pid = w.out(S1)
    w.reject(ExtendPass(actor=S1, pass_id=pid, minutes=5), "forbidden", 403)
    w.reject(ExtendPass(actor=KIOSK, pass_id=pid, minutes=5), "forbidden", 403)
    w.reject(ExtendPass(actor=TEACHER, pass_id=pid, minutes=0), "invalid", 422)
    w.reject(ExtendPass(actor=TEACHER, pass_id="nope", minutes=5), "not_found", 404)
    w.do(EndPass(actor=S1, pass_id=pid))
    w.reject(ExtendPass(actor=TEACHER, pass_id=pid, minutes=5), "invalid_state", 409)


# --- arrive --------------------------------------------------------------------


@pytest.mark.parametrize("who", [TEACHER, ADMIN, REST_KIOSK])
def test_arrival_is_recorded_once(who: Actor) -> None:
    w = World()
    pid = w.out(S1)
    w.advance(minutes=1)
    assert types(w.do(ArrivePass(actor=who, pass_id=pid))) == ["PassArrived"]
    assert w.pass_(pid).arrived_at == w.now
    assert w.pass_(pid).state == "active"
    w.reject(ArrivePass(actor=who, pass_id=pid), "invalid_state", 409)


def test_arrive_is_for_the_destinations_kiosk_and_staff() -> None:
    w = World()
    pid = w.out(S1)
    w.reject(ArrivePass(actor=S1, pass_id=pid), "forbidden", 403)
    w.reject(ArrivePass(actor=KIOSK, pass_id=pid), "forbidden", 403)  # the origin's kiosk
    w.reject(ArrivePass(actor=OTHER_KIOSK, pass_id=pid), "not_found", 404)


def test_arrive_needs_an_active_pass() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    w.reject(ArrivePass(actor=TEACHER, pass_id=pid), "invalid_state", 409)
