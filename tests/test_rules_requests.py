"""A teacher asks a student to come somewhere, now or at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rules_kit import ADMIN, KIOSK, S1, S2, T0, TEACHER, TEACHER2, World, types

from hallpass.events.types import PassCreated, RequestSent
from hallpass.rules.commands import (
    AcceptRequest,
    Actor,
    CancelRequest,
    DeclineRequest,
    EndPass,
    SendRequest,
    SweepHall,
)


def _send(w: World, who: Actor = TEACHER, **kw: object) -> SendRequest:
    fields: dict[str, object] = {
        "request_id": w.next_id("q"),
        "student": "s1",
        "destination": "lib",
    }
    fields.update(kw)
    return SendRequest(actor=who, **fields)  # type: ignore[arg-type]


def _accept(rid: str, who: Actor = S1, origin: str = "r101", pass_id: str = "acc") -> AcceptRequest:
    return AcceptRequest(actor=who, request_id=rid, pass_id=pass_id, origin=origin)


def test_a_teacher_sends_a_request_with_the_rooms_minutes() -> None:
    w = World()
    [sent] = w.do(_send(w))
    assert isinstance(sent, RequestSent) and sent.minutes == 10 and sent.actor == "t1"
    record = w.request_(sent.request_id)
    assert (record.state, record.teacher, record.student, record.sent_at) == (
        "open",
        "t1",
        "s1",
        T0,
    )
    assert list(w.state.open_requests) == [sent.request_id]


@pytest.mark.parametrize("who", [S1, KIOSK])
def test_only_staff_send_requests(who: Actor) -> None:
    w = World()
    w.reject(_send(w, who), "forbidden", 403)


def test_a_request_needs_an_open_room_valid_minutes_and_a_future_start() -> None:
    w = World()
    w.reject(_send(w, destination="nowhere"), "unknown_room", 422)
    w.reject(_send(w, destination="closed"), "unknown_room", 422)
    w.reject(_send(w, minutes=0), "invalid", 422)
    w.reject(_send(w, start_at=T0 - timedelta(hours=1)), "invalid", 422)
    w.reject(_send(w, student=""), "invalid", 422)


def test_accepting_creates_an_active_pass_in_the_same_events() -> None:
    w = World()
    rid = w.request("s1", "nurse")  # locked, but a teacher asked
    events = w.do(_accept(rid))
    assert types(events) == ["RequestAccepted", "PassCreated", "PassStarted"]
    created = events[1]
    assert isinstance(created, PassCreated)
    assert (created.kind, created.request, created.needs_approval) == ("request", rid, False)
    assert w.request_(rid).state == "accepted" and w.request_(rid).pass_id == "acc"
    assert w.state_of("acc") == "active" and w.pass_("acc").minutes == 10


def test_accepting_a_request_for_later_schedules_the_pass() -> None:
    w = World()
    start = T0 + timedelta(minutes=45)
    rid = w.request("s1", "lib", start_at=start)
    assert types(w.do(_accept(rid))) == ["RequestAccepted", "PassCreated"]
    assert w.state_of("acc") == "scheduled" and w.pass_("acc").start_at == start


def test_accepting_when_the_room_is_full_puts_the_pass_in_line() -> None:
    w = World()
    w.out(S2, destination="lib")
    rid = w.request("s1", "lib")
    assert types(w.do(_accept(rid)))[-1] == "PassQueued"


def test_accepting_ignores_limits_cooldown_and_blackouts() -> None:
    from hallpass.events.types import Blackout

    w = World()
    w.policies(
        daily_limit=1,
        cooldown_minutes=30,
        blackouts=[Blackout(days=["mon"], from_="08:00", to="10:00")],
    )
    w.out(TEACHER, student="s1", pass_id="before")
    w.do(EndPass(actor=S1, pass_id="before"))
    rid = w.request("s1")
    w.do(_accept(rid))
    assert w.state_of("acc") == "active"


def test_accepting_is_refused_while_paused_or_out() -> None:
    w = World()
    rid = w.request("s1")
    w.out(S1)
    w.reject(_accept(rid), "already_out", 409)
    w.do(SweepHall(actor=ADMIN, pause=True))
    w.reject(_accept(rid), "passes_paused", 409)


def test_accept_checks_who_and_where() -> None:
    w = World()
    rid = w.request("s1")
    w.reject(_accept(rid, who=S2), "not_found", 404)
    w.reject(_accept(rid, who=TEACHER), "forbidden", 403)
    w.reject(_accept("nope"), "not_found", 404)
    w.reject(_accept(rid, origin="nowhere"), "unknown_room", 422)
    w.reject(_accept(rid, origin="lib"), "invalid", 422)


def test_a_request_can_be_answered_only_once() -> None:
    w = World()
    rid = w.request("s1")
    w.do(DeclineRequest(actor=S1, request_id=rid, reason="in a test"))
    assert w.request_(rid).state == "declined"
    w.reject(_accept(rid), "invalid_state", 409)
    w.reject(DeclineRequest(actor=S1, request_id=rid), "invalid_state", 409)
    w.reject(CancelRequest(actor=TEACHER, request_id=rid), "invalid_state", 409)


def test_decline_is_for_its_student() -> None:
    w = World()
    rid = w.request("s1")
    w.reject(DeclineRequest(actor=S2, request_id=rid), "not_found", 404)
    w.reject(DeclineRequest(actor=TEACHER, request_id=rid), "forbidden", 403)


def test_cancel_is_for_its_teacher_and_admins() -> None:
    w = World()
    rid = w.request("s1")
    w.reject(CancelRequest(actor=TEACHER2, request_id=rid), "forbidden", 403)
    w.reject(CancelRequest(actor=S1, request_id=rid), "forbidden", 403)
    w.reject(CancelRequest(actor=TEACHER, request_id="nope"), "not_found", 404)
    assert types(w.do(CancelRequest(actor=TEACHER, request_id=rid))) == ["RequestCancelled"]
    other = w.request("s2")
    w.do(CancelRequest(actor=ADMIN, request_id=other))
    assert w.request_(other).state == "cancelled"
    assert not w.state.open_requests


def test_an_unanswered_request_expires_15_minutes_after_its_start() -> None:
    w = World()
    now = w.request("s1")
    later = w.request("s2", start_at=T0 + timedelta(minutes=30))
    w.advance(minutes=15)
    assert types(w.tick()) == ["RequestExpired"]
    assert (w.request_(now).state, w.request_(later).state) == ("expired", "open")
    w.advance(minutes=30)
    assert types(w.tick()) == ["RequestExpired"]
    w.reject(_accept(later, who=S2), "invalid_state")
