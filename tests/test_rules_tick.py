"""What the clock makes due: scheduled starts, overtime, expiry, the day's end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rules_kit import ADMIN, S1, S2, S3, T0, TEACHER, World, types

from hallpass.events.types import DayEnded, PassEnded, PassExpired
from hallpass.rules.commands import EndPass, SweepHall
from hallpass.rules.tick import tick


def _tick_again_is_empty(w: World) -> None:
    assert tick(w.state, w.now) == []


def test_nothing_due_means_no_events() -> None:
    w = World()
    w.out(S1)
    assert w.tick() == []


# --- scheduled passes --------------------------------------------------------------


def test_a_scheduled_pass_starts_at_its_time() -> None:
    w = World()
    pid = w.out(S1, start_at=T0 + timedelta(minutes=10))
    w.advance(minutes=9, seconds=59)
    assert w.tick() == []
    w.advance(seconds=1)
    [started] = w.tick()
    assert type(started).__name__ == "PassStarted" and started.actor == "system"
    assert w.pass_(pid).started_at == w.now
    _tick_again_is_empty(w)


def test_scheduled_passes_start_in_order_of_their_start() -> None:
    w = World()
    late = w.out(S1, destination="lib", start_at=T0 + timedelta(minutes=6))
    early = w.out(S2, destination="lib", start_at=T0 + timedelta(minutes=5))
    w.advance(minutes=7)
    events = w.tick()
    assert [(type(e).__name__, e.pass_id) for e in events] == [  # type: ignore[attr-defined]
        ("PassStarted", early),
        ("PassQueued", late),
    ]


def test_a_scheduled_pass_waits_while_the_student_is_out_then_expires() -> None:
    w = World()
    scheduled = w.out(S1, start_at=T0 + timedelta(minutes=5))
    now = w.out(S1, destination="r102")
    w.advance(minutes=5)
    assert types(w.tick()) == ["PassOvertime"]  # the 5-minute pass now; the scheduled one waits
    assert w.state_of(scheduled) == "scheduled"
    w.do(EndPass(actor=S1, pass_id=now))
    w.advance(minutes=1)
    assert types(w.tick()) == ["PassStarted"]  # within its 15 minutes: it goes


def test_a_scheduled_pass_that_could_not_start_expires_after_15_minutes() -> None:
    w = World()
    scheduled = w.out(S1, start_at=T0 + timedelta(minutes=5))
    w.out(TEACHER, destination="r102", student="s1", minutes=60)
    w.advance(minutes=19, seconds=59)
    assert w.tick() == []
    w.advance(seconds=1)
    [expired] = w.tick()
    assert isinstance(expired, PassExpired) and expired.reason == "not_started"
    assert w.state_of(scheduled) == "expired"
    _tick_again_is_empty(w)


def test_two_scheduled_passes_of_one_student_start_one_at_a_time() -> None:
    w = World()
    at = T0 + timedelta(minutes=5)
    first = w.out(S1, start_at=at)
    second = w.out(S1, destination="r102", start_at=at)
    w.advance(minutes=5)
    assert types(w.tick()) == ["PassStarted"]
    assert (w.state_of(first), w.state_of(second)) == ("active", "scheduled")
    _tick_again_is_empty(w)


def test_a_scheduled_pass_respects_keep_apart_when_it_comes_due() -> None:
    w = World()
    w.policies(keep_apart=[["s1", "s2"]])
    scheduled = w.out(S1, start_at=T0 + timedelta(minutes=5))
    other = w.out(S2, destination="r102", minutes=30)
    w.advance(minutes=5)
    assert w.tick() == []
    w.do(EndPass(actor=S2, pass_id=other))
    assert types(w.tick()) == ["PassStarted"]
    assert w.state_of(scheduled) == "active"


def test_keep_apart_counts_a_pass_started_in_the_same_tick() -> None:
    w = World()
    w.policies(keep_apart=[["s1", "s2"]])
    at = T0 + timedelta(minutes=5)
    w.out(S1, start_at=at)
    second = w.out(S2, destination="r102", start_at=at)
    w.advance(minutes=5)
    assert types(w.tick()) == ["PassStarted"]
    assert w.state_of(second) == "scheduled"


def test_scheduled_passes_wait_while_paused() -> None:
    w = World()
    pid = w.out(S1, start_at=T0 + timedelta(minutes=5))
    w.do(SweepHall(actor=ADMIN, pause=True))
    w.advance(minutes=5)
    assert w.tick() == []
    assert w.state_of(pid) == "scheduled"


# --- pending passes ------------------------------------------------------------------


def test_a_pending_pass_nobody_approves_expires_after_15_minutes() -> None:
    w = World()
    pid = w.out(S1, destination="nurse")
    w.advance(minutes=14, seconds=59)
    assert w.tick() == []
    w.advance(seconds=1)
    [expired] = w.tick()
    assert isinstance(expired, PassExpired) and expired.reason == "not_approved"
    assert w.state_of(pid) == "expired" and "s1" not in w.state.live


def test_a_pending_pass_for_later_expires_15_minutes_after_its_start() -> None:
    w = World()
    w.out(S1, destination="nurse", start_at=T0 + timedelta(hours=1))
    w.advance(minutes=74)
    assert w.tick() == []
    w.advance(minutes=1)
    assert types(w.tick()) == ["PassExpired"]


# --- overtime --------------------------------------------------------------------------


def test_overtime_is_flagged_once_then_the_pass_is_ended() -> None:
    w = World()
    w.policies(overtime_end_minutes=10)
    pid = w.out(S1)
    w.advance(minutes=4, seconds=59)
    assert w.tick() == []
    w.advance(seconds=1)
    assert types(w.tick()) == ["PassOvertime"]
    assert w.pass_(pid).overtime
    w.advance(minutes=1)
    assert w.tick() == []  # flagged once
    w.advance(minutes=9)
    [ended] = w.tick()
    assert isinstance(ended, PassEnded) and (ended.reason, ended.actor) == ("overtime", "system")
    record = w.pass_(pid)
    assert (record.state, record.overtime, record.ended_by) == ("ended", True, "system")
    _tick_again_is_empty(w)


def test_a_late_tick_flags_and_ends_in_one_go() -> None:
    w = World()
    pid = w.out(S1)
    w.advance(hours=1)
    assert types(w.tick()) == ["PassOvertime", "PassEnded"]
    assert w.pass_(pid).overtime and w.state_of(pid) == "ended"


def test_an_extension_postpones_the_auto_end() -> None:
    from hallpass.rules.commands import ExtendPass

    w = World()
    pid = w.out(S1)
    w.advance(minutes=19)
    assert types(w.tick()) == ["PassOvertime"]
    w.do(ExtendPass(actor=TEACHER, pass_id=pid, minutes=10))  # 15 minutes: still overtime
    assert w.pass_(pid).overtime
    w.advance(minutes=2)  # 21 minutes out: past 5 + 15, not past 15 + 15
    assert w.tick() == []
    w.advance(minutes=9)
    assert types(w.tick()) == ["PassEnded"]
    assert w.state_of(pid) == "ended"


# --- the day's end -----------------------------------------------------------------------


def _chicago_winter_world() -> World:
    return World(datetime(2025, 1, 13, 21, 50, tzinfo=UTC))  # 15:50 in Chicago


def test_the_day_ends_at_day_ends_at_in_the_school_timezone() -> None:
    w = _chicago_winter_world()
    w.policies(day_ends_at="16:00")
    active = w.out(S1, minutes=60)
    pending = w.out(S2, destination="nurse")
    w.out(S3, destination="lib", minutes=60)
    waiting = w.out(TEACHER, destination="lib", student="s4")
    w.advance(minutes=9, seconds=59)
    assert w.tick() == []
    w.advance(seconds=1)  # 22:00Z is 16:00 in Chicago in winter
    events = w.tick()
    assert isinstance(events[0], DayEnded) and events[0].day == date(2025, 1, 13)
    assert types(events) == ["DayEnded", "PassEnded", "PassEnded", "PassExpired", "PassExpired"]
    assert {e.reason for e in events[1:]} == {"day_end"}  # type: ignore[attr-defined]
    assert [w.state_of(p) for p in (active, pending, waiting)] == ["ended", "expired", "expired"]
    assert w.pass_(active).ended_by == "system"
    assert w.state.last_day_ended == date(2025, 1, 13)
    _tick_again_is_empty(w)


def test_the_day_end_follows_daylight_saving_time() -> None:
    w = World(datetime(2025, 7, 14, 20, 59, tzinfo=UTC))  # 15:59 CDT
    w.out(S1, minutes=60)
    assert w.tick() == []
    w.advance(minutes=1)
    assert types(w.tick()) == ["DayEnded", "PassEnded"]


def test_passes_made_after_the_day_ended_last_until_the_next_days_end() -> None:
    w = _chicago_winter_world()
    w.advance(minutes=10)
    w.tick()
    w.advance(hours=1)
    evening = w.out(S1, minutes=120)
    w.advance(minutes=30)
    assert types(w.tick()) == []  # not ended again today, not overtime yet
    assert w.state_of(evening) == "active"


def test_a_fresh_school_only_closes_today_once_its_time_has_come() -> None:
    morning = World(datetime(2025, 1, 14, 15, 0, tzinfo=UTC))  # Tuesday 09:00 in Chicago
    assert morning.tick() == []  # yesterday is not closed after the fact
    evening = World(datetime(2025, 1, 14, 23, 0, tzinfo=UTC))  # Tuesday 17:00
    [ended] = evening.tick()
    assert isinstance(ended, DayEnded) and ended.day == date(2025, 1, 14)


def test_the_day_is_the_local_day_even_after_utc_midnight() -> None:
    w = World(datetime(2025, 1, 14, 1, 0, tzinfo=UTC))  # Monday 19:00 in Chicago
    [ended] = w.tick()
    assert isinstance(ended, DayEnded) and ended.day == date(2025, 1, 13)


def test_the_day_end_expires_open_requests_of_today_not_of_tomorrow() -> None:
    w = _chicago_winter_world()
    today = w.request("s1", start_at=w.now + timedelta(minutes=5))
    tomorrow = w.request("s2", start_at=w.now + timedelta(days=1))
    w.advance(minutes=10)
    events = w.tick()
    assert types(events) == ["DayEnded", "RequestExpired"]
    assert (w.request_(today).state, w.request_(tomorrow).state) == ("expired", "open")
    _tick_again_is_empty(w)


def test_the_day_end_leaves_passes_scheduled_for_later() -> None:
    w = _chicago_winter_world()
    later = w.out(S1, start_at=w.now + timedelta(hours=1))
    w.advance(minutes=10)
    assert types(w.tick()) == ["DayEnded"]
    assert w.state_of(later) == "scheduled"


def test_a_changed_day_end_applies_the_same_day() -> None:
    w = World()  # Monday 09:00 in Chicago
    w.policies(day_ends_at="09:30")
    w.advance(minutes=30)
    assert types(w.tick()) == ["DayEnded"]
    w.policies(day_ends_at="10:00")
    w.advance(minutes=30)
    assert w.tick() == []  # already closed today
