"""Rooms, policies, the sweep and the pause: the admin's controls."""

from __future__ import annotations

from typing import Any

import pytest
from rules_kit import ADMIN, KIOSK, OPERATOR, S1, S2, TEACHER, World, types

from hallpass.events.types import Blackout, HallSwept, PassCancelled, PassEnded, Policies
from hallpass.rules.commands import (
    Actor,
    AddRoom,
    ChangeRoom,
    ResumePasses,
    SetPolicies,
    SweepHall,
)


def _room(**kw: Any) -> AddRoom:
    fields: dict[str, Any] = {"room_id": "gym", "name": "Gym"}
    fields.update(kw)
    return AddRoom(
        actor=kw.pop("actor", ADMIN), **{k: v for k, v in fields.items() if k != "actor"}
    )


def test_an_admin_or_the_operator_adds_a_room() -> None:
    w = World()
    w.do(_room())
    w.do(
        _room(room_id="art", name="  Art Room ", capacity=4, minutes=7, locked=True, actor=OPERATOR)
    )
    art = w.state.rooms["art"]
    assert (art.name, art.capacity, art.minutes, art.locked, art.enabled) == (
        "Art Room",
        4,
        7,
        True,
        True,
    )


@pytest.mark.parametrize("who", [TEACHER, S1, KIOSK])
def test_only_admins_control_the_school(who: Actor) -> None:
    w = World()
    w.reject(_room(actor=who), "forbidden", 403)
    w.reject(
        ChangeRoom(
            actor=who,
            room_id="lib",
            name="Library",
            locked=False,
            capacity=None,
            minutes=10,
            enabled=True,
        ),
        "forbidden",
        403,
    )
    w.reject(SetPolicies(actor=who, policies=Policies()), "forbidden", 403)
    w.reject(SweepHall(actor=who), "forbidden", 403)
    w.reject(ResumePasses(actor=who), "forbidden", 403)


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "restroom"},  # taken, whatever the case
        {"name": "   "},
        {"capacity": 0},
        {"minutes": 0},
        {"minutes": 121},
        {"room_id": "lib"},  # the id is taken
    ],
)
def test_bad_rooms_are_invalid(fields: dict[str, Any]) -> None:
    w = World()
    w.reject(_room(**fields), "invalid", 422)


def test_changing_a_room_keeps_its_name_unique_among_the_others() -> None:
    w = World()
    change = {"locked": False, "capacity": None, "minutes": 5, "enabled": True}
    w.do(ChangeRoom(actor=ADMIN, room_id="lib", name="Library", **change))  # its own name is fine
    w.reject(ChangeRoom(actor=ADMIN, room_id="lib", name="Restroom", **change), "invalid", 422)
    w.reject(ChangeRoom(actor=ADMIN, room_id="nope", name="Nope", **change), "not_found", 404)
    assert w.state.rooms["lib"].capacity is None


@pytest.mark.parametrize(
    "fields",
    [
        {"daily_limit": 0},
        {"weekly_limit": -1},
        {"hallway_cap": 0},
        {"classroom_cap": 0},
        {"cooldown_minutes": -1},
        {"cooldown_minutes": 241},
        {"overtime_end_minutes": 0},
        {"timezone": "Mars/Olympus"},
        {"timezone": ""},
        {"day_ends_at": "4pm"},
        {"day_ends_at": "24:00"},
        {"blackouts": [Blackout(days=["mon"], from_="09:00", to="08:00")]},
        {"blackouts": [Blackout(days=["mon"], from_="9:00", to="10:00")]},
        {"blackouts": [Blackout(days=[], from_="09:00", to="10:00")]},
    ],
)
def test_bad_policies_are_invalid(fields: dict[str, Any]) -> None:
    w = World()
    w.reject(SetPolicies(actor=ADMIN, policies=Policies(**fields)), "invalid", 422)


def test_good_policies_are_set_and_indexed() -> None:
    w = World()
    policies = Policies(
        daily_limit=3,
        hallway_cap=10,
        exempt=["s9"],
        keep_apart=[["s1", "s2", "s3"], ["s1", "s4"]],
        timezone="America/New_York",
        day_ends_at="15:30",
    )
    w.do(SetPolicies(actor=ADMIN, policies=policies))
    assert w.state.policies == policies
    assert w.state.exempt == {"s9"}
    assert w.state.apart["s1"] == {"s2", "s3", "s4"} and w.state.apart["s4"] == {"s1"}


def test_a_sweep_ends_and_cancels_every_live_pass_but_not_scheduled_ones() -> None:
    from datetime import timedelta

    w = World()
    active = w.out(S1, destination="lib")
    waiting = w.out(S2, destination="lib")
    pending = w.out(TEACHER, destination="r102", student="s3")
    pending = w.out(Actor("s4", "student"), destination="nurse")
    scheduled = w.out(Actor("s5", "student"), start_at=w.now + timedelta(hours=1))
    events = w.do(SweepHall(actor=ADMIN))
    assert isinstance(events[0], HallSwept) and not events[0].pause
    ended = [e for e in events if isinstance(e, PassEnded)]
    cancelled = [e for e in events if isinstance(e, PassCancelled)]
    assert {e.reason for e in ended + cancelled} == {"sweep"}  # type: ignore[operator]
    assert len(ended) == 2 and {e.pass_id for e in cancelled} == {waiting, pending}
    assert w.state_of(active) == "ended" and w.state_of(scheduled) == "scheduled"
    assert not w.state.live and not w.state.active
    assert not w.state.paused


def test_a_sweep_with_pause_refuses_new_passes_until_resumed() -> None:
    w = World()
    w.out(S1)
    events = w.do(SweepHall(actor=ADMIN, pause=True))
    assert types(events) == ["HallSwept", "PassesPaused", "PassEnded"]
    assert w.state.paused
    w.reject(w.create(S2), "passes_paused")
    assert types(w.do(SweepHall(actor=ADMIN, pause=True))) == ["HallSwept"]  # already paused
    assert types(w.do(ResumePasses(actor=ADMIN))) == ["PassesResumed"]
    assert not w.state.paused
    assert w.do(ResumePasses(actor=ADMIN)) == []  # nothing to resume
    assert w.state_of(w.out(S2)) == "active"
