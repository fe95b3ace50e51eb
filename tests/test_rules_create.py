"""Creating a pass: API.md's decision order, each refusal, and each outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rules_kit import ADMIN, KIOSK, S1, S2, S3, T0, TEACHER, World, types

from hallpass.events.types import Blackout, PassCreated, PassesPaused
from hallpass.rules.commands import (
    ChangeRoom,
    EndPass,
    SweepHall,
)

# --- 1. unknown_room / invalid -------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "destination"),
    [("nowhere", "rest"), ("r101", "nowhere"), ("closed", "rest"), ("r101", "closed")],
)
def test_a_missing_or_disabled_room_is_unknown_room(origin: str, destination: str) -> None:
    w = World()
    w.reject(w.create(S1, origin, destination), "unknown_room", 422)


def test_origin_equal_to_destination_is_invalid() -> None:
    w = World()
    w.reject(w.create(S1, "rest", "rest"), "invalid", 422)


@pytest.mark.parametrize("minutes", [0, -3, 121, 1000])
def test_minutes_outside_1_to_120_are_invalid(minutes: int) -> None:
    w = World()
    w.reject(w.create(S1, minutes=minutes), "invalid", 422)


@pytest.mark.parametrize("minutes", [1, 120])
def test_minutes_at_the_bounds_are_fine(minutes: int) -> None:
    w = World()
    pid = w.out(S1, minutes=minutes)
    assert w.pass_(pid).minutes == minutes


def test_a_start_in_the_past_is_invalid() -> None:
    w = World()
    w.reject(w.create(S1, start_at=T0 - timedelta(minutes=5)), "invalid", 422)


def test_a_start_a_few_seconds_off_counts_as_now() -> None:
    w = World()
    late = w.out(S1, start_at=T0 - timedelta(seconds=30))
    soon = w.out(S2, destination="r102", start_at=T0 + timedelta(seconds=2))
    assert w.state_of(late) == w.state_of(soon) == "active"
    assert w.pass_(soon).start_at is None


def test_a_start_without_offset_is_invalid_not_a_crash() -> None:
    w = World()
    w.reject(w.create(S1, start_at=datetime(2025, 1, 13, 10, 0)), "invalid", 422)


def test_a_student_naming_a_student_is_invalid() -> None:
    w = World()
    w.reject(w.create(S1, named_student=True), "invalid", 422)
    w.reject(w.create(S1, student="s2"), "invalid", 422)


def test_a_reused_pass_id_is_invalid() -> None:
    w = World()
    pid = w.out(S1)
    w.reject(w.create(S2, destination="r102", pass_id=pid), "invalid", 422)


def test_room_problems_come_before_everything_else() -> None:
    w = World()
    w.do(SweepHall(actor=ADMIN, pause=True))
    w.reject(w.create(S1, destination="nowhere"), "unknown_room")


# --- 2. passes_paused ----------------------------------------------------------


def test_paused_passes_are_refused_for_everyone() -> None:
    w = World()
    w.do(SweepHall(actor=ADMIN, pause=True))
    w.reject(w.create(S1), "passes_paused", 409)
    w.reject(w.create(TEACHER, student="s1"), "passes_paused", 409)
    w.reject(w.create(KIOSK, student="s1"), "passes_paused", 409)


def test_paused_comes_before_already_out() -> None:
    # A sweep with pause ends every live pass, so fold a bare pause event to
    # have a student out while passes are paused.
    w = World()
    w.out(S1)
    w.apply([PassesPaused(at=T0, actor="admin")])
    w.reject(w.create(S1), "passes_paused")


# --- 3. already_out ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["active", "pending", "waiting"])
def test_a_live_pass_blocks_another(kind: str) -> None:
    w = World()
    if kind == "active":
        w.out(S1)
    elif kind == "pending":
        w.out(S1, destination="nurse")
    else:
        w.out(S2, destination="lib")
        assert w.state_of(w.out(S1, destination="lib")) == "waiting"
    w.reject(w.create(S1, destination="r102"), "already_out", 409)
    w.reject(w.create(TEACHER, destination="r102", student="s1"), "already_out", 409)


def test_a_scheduled_pass_does_not_block_another() -> None:
    w = World()
    later = T0 + timedelta(hours=1)
    first = w.out(S1, start_at=later)
    second = w.out(S1, destination="r102", start_at=later)
    now = w.out(S1, destination="r103")
    assert [w.state_of(p) for p in (first, second, now)] == ["scheduled", "scheduled", "active"]


def test_an_ended_pass_does_not_block_another() -> None:
    w = World()
    pid = w.out(S1)
    w.do(EndPass(actor=S1, pass_id=pid))
    assert w.state_of(w.out(S1)) == "active"


# --- 4. blackout ---------------------------------------------------------------


def _blackout(w: World, days: list[str], start: str, end: str) -> None:
    w.policies(blackouts=[Blackout(days=days, from_=start, to=end)])  # type: ignore[arg-type]


def test_a_student_pass_inside_a_blackout_is_refused() -> None:
    w = World()  # Monday 09:00 in Chicago
    _blackout(w, ["mon"], "09:00", "09:10")
    w.reject(w.create(S1), "blackout", 409)
    w.reject(w.create(KIOSK, student="s1"), "blackout")


def test_a_blackout_is_read_in_the_school_timezone() -> None:
    w = World()
    _blackout(w, ["mon"], "15:00", "16:00")  # 15:00 UTC is 09:00 in Chicago: not inside
    assert w.state_of(w.out(S1)) == "active"


def test_a_blackout_ends_at_its_to_time_exclusive() -> None:
    w = World()
    _blackout(w, ["mon"], "08:50", "09:00")
    assert w.state_of(w.out(S1)) == "active"


def test_a_blackout_applies_only_on_its_days() -> None:
    w = World()
    _blackout(w, ["tue", "wed"], "08:00", "10:00")
    assert w.state_of(w.out(S1)) == "active"


def test_a_blackout_is_judged_at_the_scheduled_start() -> None:
    w = World()
    _blackout(w, ["mon"], "10:00", "10:30")
    w.reject(w.create(S1, start_at=T0 + timedelta(hours=1, minutes=5)), "blackout")
    assert w.state_of(w.out(S1, start_at=T0 + timedelta(hours=1, minutes=30))) == "scheduled"


def test_staff_passes_ignore_blackouts() -> None:
    w = World()
    _blackout(w, ["mon"], "09:00", "09:10")
    assert w.state_of(w.out(TEACHER, student="s1")) == "active"


# --- 5. cooldown ---------------------------------------------------------------


def test_a_pass_within_the_cooldown_is_refused() -> None:
    w = World()
    w.policies(cooldown_minutes=10)
    pid = w.out(S1)
    w.advance(minutes=3)
    w.do(EndPass(actor=S1, pass_id=pid))
    w.advance(minutes=9, seconds=59)
    rejection = w.reject(w.create(S1), "cooldown", 409)
    assert "1 more minute" in rejection.message
    w.advance(seconds=1)
    assert w.state_of(w.out(S1)) == "active"


def test_exempt_students_and_staff_skip_the_cooldown() -> None:
    w = World()
    w.policies(cooldown_minutes=10, exempt=["s2"])
    for who in (S1, S2):
        w.do(EndPass(actor=who, pass_id=w.out(who)))
    assert w.state_of(w.out(S2)) == "active"
    assert w.state_of(w.out(TEACHER, student="s1")) == "active"


def test_cooldown_comes_before_pass_limit() -> None:
    w = World()
    w.policies(cooldown_minutes=10, daily_limit=1)
    w.do(EndPass(actor=S1, pass_id=w.out(S1)))
    w.reject(w.create(S1), "cooldown")


# --- 6. pass_limit -------------------------------------------------------------


def test_the_daily_limit_counts_the_students_own_passes() -> None:
    w = World()
    w.policies(daily_limit=2)
    w.do(EndPass(actor=S1, pass_id=w.out(S1)))
    w.do(EndPass(actor=S1, pass_id=w.out(KIOSK, student="s1")))
    rejection = w.reject(w.create(S1), "pass_limit", 409)
    assert "day" in rejection.message


def test_staff_passes_and_requests_do_not_count() -> None:
    from hallpass.rules.commands import AcceptRequest

    w = World()
    w.policies(daily_limit=1)
    w.do(EndPass(actor=S1, pass_id=w.out(TEACHER, student="s1")))
    rid = w.request("s1", "r102")
    w.do(AcceptRequest(actor=S1, request_id=rid, pass_id="acc", origin="r101"))
    w.do(EndPass(actor=S1, pass_id="acc"))
    assert w.state_of(w.out(S1)) == "active"


def test_denied_cancelled_and_expired_passes_do_not_count() -> None:
    from hallpass.rules.commands import CancelPass, DenyPass

    w = World()
    w.policies(daily_limit=1)
    w.do(DenyPass(actor=TEACHER, pass_id=w.out(S1, destination="nurse")))
    w.do(CancelPass(actor=S1, pass_id=w.out(S1, destination="nurse")))
    w.out(S1, destination="nurse")
    w.advance(minutes=16)
    assert "PassExpired" in types(w.tick())
    assert w.state_of(w.out(S1)) == "active"


def test_the_daily_limit_resets_on_the_next_school_day() -> None:
    w = World()
    w.policies(daily_limit=1)
    w.do(EndPass(actor=S1, pass_id=w.out(S1)))
    w.advance(hours=14, minutes=59)  # 23:59 in Chicago, still Monday
    w.reject(w.create(S1), "pass_limit")
    w.advance(minutes=1)  # Tuesday 00:00 in Chicago (06:00 UTC)
    assert w.state_of(w.out(S1)) == "active"


def test_the_weekly_limit_counts_the_iso_week() -> None:
    w = World()
    w.policies(weekly_limit=2)
    w.do(EndPass(actor=S1, pass_id=w.out(S1)))  # Monday
    w.advance(days=4)
    w.do(EndPass(actor=S1, pass_id=w.out(S1)))  # Friday
    w.advance(days=2)
    rejection = w.reject(w.create(S1), "pass_limit")  # Sunday: same week
    assert "week" in rejection.message
    w.advance(days=1)
    assert w.state_of(w.out(S1)) == "active"  # the next Monday


def test_a_scheduled_pass_counts_on_its_start_day() -> None:
    w = World()
    w.policies(daily_limit=1)
    tomorrow = T0 + timedelta(days=1)
    w.out(S1, start_at=tomorrow)
    today = w.out(S1)
    assert w.state_of(today) == "active"  # today is still free
    w.do(EndPass(actor=S1, pass_id=today))
    w.reject(w.create(S1, destination="r102", start_at=tomorrow + timedelta(hours=1)), "pass_limit")


def test_exempt_students_have_no_limit() -> None:
    w = World()
    w.policies(daily_limit=1, exempt=["s1"])
    w.do(EndPass(actor=S1, pass_id=w.out(S1)))
    assert w.state_of(w.out(S1)) == "active"


# --- 7. unavailable ------------------------------------------------------------


def test_students_kept_apart_cannot_be_out_together() -> None:
    w = World()
    w.policies(keep_apart=[["s1", "s2"]])
    w.out(S1)
    rejection = w.reject(w.create(S2, destination="r102"), "unavailable", 409)
    assert "s1" not in rejection.message
    w.reject(w.create(TEACHER, destination="r102", student="s2"), "unavailable")
    assert w.state_of(w.out(S3, destination="r102")) == "active"


def test_keep_apart_looks_only_at_active_passes() -> None:
    w = World()
    w.policies(keep_apart=[["s1", "s2"]])
    w.out(S1, destination="nurse")  # pending
    assert w.state_of(w.out(S2, destination="r102")) == "active"


def test_limits_come_before_unavailable() -> None:
    w = World()
    w.policies(keep_apart=[["s1", "s2"]], daily_limit=1)
    w.do(EndPass(actor=S2, pass_id=w.out(S2)))
    w.out(S1)
    w.reject(w.create(S2, destination="r102"), "pass_limit")


# --- 8. what is created ----------------------------------------------------------


def test_a_plain_pass_starts_at_once() -> None:
    w = World()
    command = w.create(S1)
    events = w.do(command)
    assert types(events) == ["PassCreated", "PassStarted"]
    assert all(e.at == T0 and e.actor == "s1" for e in events)
    record = w.pass_(command.pass_id)
    assert (record.state, record.started_at, record.kind, record.minutes) == (
        "active",
        T0,
        "student",
        5,
    )


def test_minutes_default_to_the_destination() -> None:
    w = World()
    assert w.pass_(w.out(S1, destination="lib")).minutes == 10


def test_a_students_pass_to_a_locked_room_waits_for_approval() -> None:
    w = World()
    events = w.do(w.create(S1, destination="nurse"))
    assert types(events) == ["PassCreated"]
    assert isinstance(events[0], PassCreated) and events[0].needs_approval
    assert w.state.passes[events[0].pass_id].state == "pending"


@pytest.mark.parametrize("who", [TEACHER, ADMIN, KIOSK])
def test_staff_and_kiosk_passes_to_a_locked_room_need_no_approval(who: object) -> None:
    w = World()
    pid = w.out(who, destination="nurse", student="s1")  # type: ignore[arg-type]
    assert w.state_of(pid) == "active"
    assert (
        w.pass_(pid).kind
        == {"teacher": "staff", "admin": "staff", "kiosk": "kiosk"}[
            who.role  # type: ignore[attr-defined]
        ]
    )


def test_a_future_start_is_scheduled() -> None:
    w = World()
    start = T0 + timedelta(minutes=30)
    pid = w.out(S1, start_at=start)
    assert (w.state_of(pid), w.pass_(pid).start_at) == ("scheduled", start)


def test_a_start_in_another_offset_is_kept_in_utc() -> None:
    from datetime import timezone

    w = World()
    chicago = timezone(timedelta(hours=-6))
    pid = w.out(S1, start_at=datetime(2025, 1, 13, 10, 0, tzinfo=chicago))
    assert w.pass_(pid).start_at == datetime(2025, 1, 13, 16, 0, tzinfo=UTC)
    assert w.pass_(pid).start_at.tzinfo is UTC  # type: ignore[union-attr]


def test_a_full_destination_puts_the_pass_in_line() -> None:
    w = World()
    w.out(S1, destination="lib")
    events = w.do(w.create(S2, destination="lib"))
    assert types(events) == ["PassCreated", "PassQueued"]
    assert list(w.state.line) == [events[0].pass_id]  # type: ignore[attr-defined]


def test_a_disabled_room_cannot_be_asked_for_even_by_staff() -> None:
    w = World()
    w.do(
        ChangeRoom(
            actor=ADMIN,
            room_id="lib",
            name="Library",
            locked=False,
            capacity=1,
            minutes=10,
            enabled=False,
        )
    )
    w.reject(w.create(TEACHER, destination="lib", student="s1"), "unknown_room")
