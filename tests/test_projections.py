"""The fold and the read-side views built on it."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime, timedelta

import msgspec
from rules_kit import KIOSK, S1, S2, S3, T0, TEACHER, World

from hallpass.events import types as ev
from hallpass.events.store import StoredEvent
from hallpass.projections.board import board, is_overtime, time_left, time_out
from hallpass.projections.calendar import list_passes, passes_by_day
from hallpass.projections.counts import (
    daily_count,
    last_ended_at,
    pass_counts,
    school_day,
    weekly_count,
)
from hallpass.projections.occupancy import line, occupancy, place_in_line
from hallpass.projections.requests import list_requests, open_requests
from hallpass.projections.state import fold, initial_state, live_pass, replay
from hallpass.rules.commands import ArrivePass, DeclineRequest, EndPass

# --- the fold ------------------------------------------------------------------


def test_every_event_type_is_folded() -> None:
    from hallpass.projections.state import _HANDLERS

    assert set(typing.get_args(ev.AnyEvent)) == set(_HANDLERS)


def test_events_about_unknown_passes_and_requests_are_ignored() -> None:
    state = initial_state()
    before = msgspec.json.encode(state)
    at, who = T0, "x"
    for event in [
        ev.PassApproved(at=at, actor=who, pass_id="p"),
        ev.PassDenied(at=at, actor=who, pass_id="p"),
        ev.PassQueued(at=at, actor=who, pass_id="p"),
        ev.PassStarted(at=at, actor=who, pass_id="p"),
        ev.PassArrived(at=at, actor=who, pass_id="p"),
        ev.PassExtended(at=at, actor=who, pass_id="p", minutes=3),
        ev.PassOvertime(at=at, actor=who, pass_id="p"),
        ev.PassEnded(at=at, actor=who, pass_id="p"),
        ev.PassCancelled(at=at, actor=who, pass_id="p"),
        ev.PassExpired(at=at, actor=who, pass_id="p"),
        ev.RequestAccepted(at=at, actor=who, request_id="q", pass_id="p"),
        ev.RequestDeclined(at=at, actor=who, request_id="q"),
        ev.RequestCancelled(at=at, actor=who, request_id="q"),
        ev.RequestExpired(at=at, actor=who, request_id="q"),
        ev.HallSwept(at=at, actor=who),
    ]:
        fold(state, StoredEvent(1, event))
    assert state.version == 1
    state.version = 0
    assert msgspec.json.encode(state) == before


def test_events_that_do_not_apply_to_a_pass_are_ignored() -> None:
    w = World()
    pid = w.out(S1)
    w.do(EndPass(actor=S1, pass_id=pid))
    snapshot = msgspec.json.encode(w.state)
    for event in [
        ev.PassStarted(at=w.now, actor="x", pass_id=pid),
        ev.PassEnded(at=w.now, actor="x", pass_id=pid),
        ev.PassCancelled(at=w.now, actor="x", pass_id=pid),
        ev.PassQueued(at=w.now, actor="x", pass_id=pid),
        ev.PassCreated(
            at=w.now, actor="x", pass_id=pid, student="s9", origin="a", destination="b", minutes=1
        ),
    ]:
        w.apply([event])
    assert msgspec.json.encode(w.state) == snapshot


def test_a_replay_equals_the_live_fold_and_fold_sets_the_version() -> None:
    w = World()
    w.policies(daily_limit=4, keep_apart=[["s1", "s2"]])
    a = w.out(S1, destination="lib")
    w.out(S3, destination="lib")
    w.advance(minutes=12)
    w.do(EndPass(actor=S1, pass_id=a))
    w.advance(minutes=30)
    w.tick()
    stored = [StoredEvent(i, e) for i, e in enumerate(w.log, 1)]
    encoded = [msgspec.json.encode(s) for s in stored]
    decoded = [msgspec.json.decode(b, type=StoredEvent) for b in encoded]
    again = replay(decoded)
    assert again.version == len(w.log)
    w.state.version = again.version
    assert again == w.state


def test_a_new_timezone_moves_the_counted_days() -> None:
    w = World(datetime(2025, 1, 14, 3, 0, tzinfo=UTC))  # Monday 21:00 in Chicago
    pid = w.out(S1)
    w.do(EndPass(actor=S1, pass_id=pid))
    assert daily_count(w.state, "s1", date(2025, 1, 13)) == 1
    w.policies(timezone="Europe/Berlin")  # Tuesday 04:00 there
    assert daily_count(w.state, "s1", date(2025, 1, 13)) == 0
    assert daily_count(w.state, "s1", date(2025, 1, 14)) == 1


def test_a_pass_scheduled_weeks_ahead_counts_on_its_day() -> None:
    w = World()
    start = T0 + timedelta(days=21)
    w.out(S1, start_at=start)
    w.out(S1, destination="r102", start_at=T0 + timedelta(days=20))  # another day
    for _ in range(20):
        w.advance(days=1)
        w.do(EndPass(actor=S1, pass_id=w.out(S1)))  # a pass each day in between
    day = school_day(w.state, start)  # Monday 3 February
    assert daily_count(w.state, "s1", day) == 1
    assert weekly_count(w.state, "s1", day) == 1
    sunday = day - timedelta(days=1)  # a pass each day that week, and one made weeks ago
    assert weekly_count(w.state, "s1", sunday) == 8


# --- views ---------------------------------------------------------------------


def test_the_board_shows_active_pending_and_waiting_passes() -> None:
    w = World()
    active = w.out(S1, destination="lib")
    waiting = w.out(S2, destination="lib")
    pending = w.out(S3, destination="nurse")
    w.out(TEACHER, student="s4", start_at=T0 + timedelta(hours=1))  # scheduled: not shown
    ended = w.out(TEACHER, "r102", "r103", student="s5")
    w.do(EndPass(actor=TEACHER, pass_id=ended))
    assert [p.id for p in board(w.state)] == [active, pending, waiting]
    assert [p.id for p in board(w.state, "nurse")] == [pending]
    assert [p.id for p in board(w.state, KIOSK.room)] == [active, pending, waiting]  # all from r101
    assert board(w.state, "r103") == []


def test_time_out_and_overtime_on_the_board() -> None:
    w = World()
    pid = w.out(S1)
    w.advance(minutes=7)
    record = w.pass_(pid)
    assert time_out(record, w.now) == timedelta(minutes=7)
    assert time_left(record, w.now) == timedelta(minutes=-2)
    assert is_overtime(record, w.now)
    w.do(EndPass(actor=S1, pass_id=pid))
    assert time_out(w.pass_(pid), w.now + timedelta(hours=1)) == timedelta(minutes=7)
    assert time_left(w.pass_(pid), w.now) is None


def test_occupancy_shows_who_is_there_on_the_way_and_in_line() -> None:
    w = World()
    there = w.out(S1, destination="rest")
    w.do(ArrivePass(actor=TEACHER, pass_id=there))
    on_way = w.out(S2, "r102", "rest")
    waiting = w.out(S3, "r103", "rest")
    room = occupancy(w.state, "rest")
    assert [p.id for p in room.going] == [there, on_way]
    assert [p.id for p in room.present] == [there]
    assert [p.id for p in room.waiting] == [waiting]
    assert (room.capacity, room.free) == (2, 0)
    assert [p.id for p in occupancy(w.state, "r101").left] == [there]
    assert [p.id for p in line(w.state)] == [waiting]
    assert place_in_line(w.state, waiting) == 1 and place_in_line(w.state, there) is None


def test_a_students_history_by_school_day_newest_first() -> None:
    monday_evening = datetime(2025, 1, 14, 3, 0, tzinfo=UTC)  # Monday 21:00 in Chicago
    w = World(monday_evening)
    first = w.out(S1)
    w.do(EndPass(actor=S1, pass_id=first))
    w.advance(hours=12)  # Tuesday 09:00
    second = w.out(S1)
    w.do(EndPass(actor=S1, pass_id=second))
    third = w.out(S1)
    w.out(S2)
    days = passes_by_day(w.state, "s1", date(2025, 1, 13), date(2025, 1, 14))
    assert [(d.day, [p.id for p in d.passes]) for d in days] == [
        (date(2025, 1, 14), [third, second]),
        (date(2025, 1, 13), [first]),
    ]
    assert passes_by_day(w.state, "s1", date(2025, 1, 15), date(2025, 1, 20)) == []


def test_the_pass_listing_filters_newest_first() -> None:
    w = World()
    first = w.out(S1)
    w.do(EndPass(actor=S1, pass_id=first))
    w.advance(hours=1)
    second = w.out(S1)
    other = w.out(S2)
    assert [p.id for p in list_passes(w.state, student="s1")] == [second, first]
    assert [p.id for p in list_passes(w.state)] == [other, second, first]
    assert [p.id for p in list_passes(w.state, student="s1", states={"ended"})] == [first]
    assert [p.id for p in list_passes(w.state, since=T0 + timedelta(minutes=30))] == [other, second]
    assert [p.id for p in list_passes(w.state, until=T0 + timedelta(minutes=30))] == [first]
    assert [p.id for p in list_passes(w.state, limit=1)] == [other]
    assert list_passes(w.state, student="nobody") == []


def test_pass_counts_read_the_limit_index() -> None:
    w = World()
    w.policies(daily_limit=3, weekly_limit=5)
    w.do(EndPass(actor=S1, pass_id=w.out(S1)))
    w.do(EndPass(actor=S1, pass_id=w.out(TEACHER, student="s1")))  # staff: not counted
    w.out(S1, start_at=T0 + timedelta(days=1))
    today = school_day(w.state, w.now)
    assert today == date(2025, 1, 13)
    counts = pass_counts(w.state, "s1", today)
    assert (counts.daily, counts.weekly, counts.daily_limit, counts.weekly_limit) == (1, 2, 3, 5)
    assert pass_counts(w.state, "s2", today).weekly == 0


def test_requests_for_a_student_and_for_the_school() -> None:
    w = World()
    first = w.request("s1")
    second = w.request("s2")
    third = w.request("s1", "r102")
    w.do(DeclineRequest(actor=S1, request_id=first))
    assert [r.id for r in list_requests(w.state)] == [third, second, first]
    assert [r.id for r in list_requests(w.state, "s1")] == [third, first]
    assert [r.id for r in open_requests(w.state)] == [third, second]
    assert [r.id for r in open_requests(w.state, "s1")] == [third]


def test_the_last_end_is_found_also_for_a_pass_made_earlier_for_later() -> None:
    w = World()  # 09:00
    scheduled = w.out(S1, "r102", "r103", start_at=T0 + timedelta(hours=1))
    w.advance(minutes=5)
    now = w.out(S1)
    w.advance(minutes=5)
    w.do(EndPass(actor=S1, pass_id=now))  # 09:10
    assert last_ended_at(w.state, "s1") == w.now
    w.advance(minutes=50)
    w.tick()  # 10:00: the scheduled pass starts
    w.advance(minutes=5)
    w.do(EndPass(actor=S1, pass_id=scheduled))
    assert last_ended_at(w.state, "s1") == w.now
    assert last_ended_at(w.state, "s2") is None


def test_the_live_pass_of_a_student() -> None:
    w = World()
    assert live_pass(w.state, "s1") is None
    pid = w.out(S1, destination="nurse")
    assert live_pass(w.state, "s1") is w.pass_(pid)
    assert w.state.live == {"s1": pid}
