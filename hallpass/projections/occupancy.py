"""Rooms as they are now: who is out to a room, who left it, who waits."""

from __future__ import annotations

import msgspec

from hallpass.projections.records import PassRecord
from hallpass.projections.state import SchoolState


class Occupancy(msgspec.Struct, frozen=True, kw_only=True):
    room: str
    capacity: int | None
    going: list[PassRecord]  # active passes to the room (arrived or on the way)
    left: list[PassRecord]  # active passes out of the room
    waiting: list[PassRecord]  # the line for the room, first come first

    @property
    def present(self) -> list[PassRecord]:
        """The students who have arrived."""
        return [p for p in self.going if p.arrived_at is not None]

    @property
    def free(self) -> int | None:
        """Places left (None: no limit)."""
        return None if self.capacity is None else max(self.capacity - len(self.going), 0)


def occupancy(state: SchoolState, room: str) -> Occupancy:
    """Who is out to `room`, who is out from it, and who waits to go there."""
    going: list[PassRecord] = []
    left: list[PassRecord] = []
    for record in state.active.values():
        if record.destination == room:
            going.append(record)
        elif record.origin == room:
            left.append(record)
    record_of = state.rooms.get(room)
    return Occupancy(
        room=room,
        capacity=None if record_of is None else record_of.capacity,
        going=going,
        left=left,
        waiting=[r for r in state.line.values() if r.destination == room],
    )


def line(state: SchoolState) -> list[PassRecord]:
    """The school's line: every waiting pass, first come first."""
    return list(state.line.values())


def place_in_line(state: SchoolState, pass_id: str) -> int | None:
    """1 for the first waiting pass, None when the pass is not in line."""
    for place, pid in enumerate(state.line, 1):
        if pid == pass_id:
            return place
    return None


class HallCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Students out now: in the whole school, per destination, per origin."""

    total: int
    to: dict[str, int]
    from_: dict[str, int]


def hall_counts(state: SchoolState) -> HallCounts:
    """Count the active passes (rooms with nobody out are left out)."""
    to: dict[str, int] = {}
    from_: dict[str, int] = {}
    for record in state.active.values():
        to[record.destination] = to.get(record.destination, 0) + 1
        from_[record.origin] = from_.get(record.origin, 0) + 1
    return HallCounts(total=len(state.active), to=to, from_=from_)
