"""Who may leave now without overfilling a room, an origin room or the hallway.

A decision changes who is out (a pass ends, a cap is raised, a room opens) and
must start, in the same append, every waiting pass that then fits. `Hall` is
that decision's what-if copy of the counts: it counts the active passes (a few
dozen; the fold keeps no counters, to stay fast), takes the decision's
changes, and drains the line. The state is never touched. This is the one
place that knows the caps; decide and tick both use it.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import datetime

from hallpass.events.types import SYSTEM, PassQueued, PassStarted, Policies
from hallpass.projections.records import RoomRecord
from hallpass.projections.state import SchoolState


class Hall:
    """The counts of students out as one decision would leave them."""

    __slots__ = (
        "_counted",
        "_out_from",
        "_out_to",
        "_paused",
        "_policies",
        "_room",
        "_state",
        "_total",
    )

    def __init__(
        self,
        state: SchoolState,
        *,
        room: RoomRecord | None = None,
        policies: Policies | None = None,
        paused: bool | None = None,
    ) -> None:
        """`room`, `policies` and `paused` stand in for the state's when the
        decision changes them (a room's capacity, the caps, a resume)."""
        self._state = state
        self._room = room
        self._policies = state.policies if policies is None else policies
        self._paused = state.paused if paused is None else paused
        self._out_to: dict[str, int] = {}
        self._out_from: dict[str, int] = {}
        self._total = 0
        self._counted = False

    def _count(self) -> None:
        """Count the active passes, once, when a decision first needs it."""
        out_to, out_from = self._out_to, self._out_from
        for record in self._state.active.values():
            out_to[record.destination] = out_to.get(record.destination, 0) + 1
            out_from[record.origin] = out_from.get(record.origin, 0) + 1
        self._total = len(self._state.active)
        self._counted = True

    @property
    def out(self) -> int:
        """Students out in the whole school."""
        if not self._counted:
            self._count()
        return self._total

    def _room_record(self, room_id: str) -> RoomRecord | None:
        if self._room is not None and self._room.id == room_id:
            return self._room
        return self._state.rooms.get(room_id)

    def out_to(self, room_id: str) -> int:
        """Students out to `room_id` (there or on their way)."""
        if not self._counted:
            self._count()
        return self._out_to.get(room_id, 0)

    def out_from(self, room_id: str) -> int:
        """Students out from the origin room `room_id`."""
        if not self._counted:
            self._count()
        return self._out_from.get(room_id, 0)

    def fits(self, origin: str, destination: str) -> bool:
        """Whether one more student may go from `origin` to `destination` now."""
        room = self._room_record(destination)
        if room is None or not room.enabled:
            return False
        if room.capacity is not None and self.out_to(destination) >= room.capacity:
            return False
        policies = self._policies
        if policies.classroom_cap is not None and self.out_from(origin) >= policies.classroom_cap:
            return False
        return policies.hallway_cap is None or self.out < policies.hallway_cap

    def enter(self, origin: str, destination: str) -> None:
        """Count one more student out."""
        self._out_to[destination] = self.out_to(destination) + 1
        self._out_from[origin] = self.out_from(origin) + 1
        self._total += 1

    def leave(self, origin: str, destination: str) -> None:
        """Count one student back."""
        self._out_to[destination] = self.out_to(destination) - 1
        self._out_from[origin] = self.out_from(origin) - 1
        self._total -= 1

    def begin(
        self, pass_id: str, origin: str, destination: str, now: datetime, actor: str
    ) -> PassStarted | PassQueued:
        """Start a pass if it fits, else put it at the back of the line."""
        if self.fits(origin, destination):
            self.enter(origin, destination)
            return PassStarted(at=now, actor=actor, pass_id=pass_id)
        return PassQueued(at=now, actor=actor, pass_id=pass_id)

    def drain(self, now: datetime, skip: Container[str] = ()) -> list[PassStarted]:
        """Start every waiting pass that fits, oldest first; a pass that does
        not fit never holds back a later one that does. `skip`: passes this
        decision already takes out of the line. Nothing starts while paused."""
        line = self._state.line
        if not line or self._paused:
            return []
        started: list[PassStarted] = []
        for pid, record in line.items():
            if pid in skip:
                continue
            if self.fits(record.origin, record.destination):
                self.enter(record.origin, record.destination)
                started.append(PassStarted(at=now, actor=SYSTEM, pass_id=pid))
        return started
