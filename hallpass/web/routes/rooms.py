"""Rooms: everyone signed in reads them; admins add and change them (API.md)."""

from __future__ import annotations

from msgspec import UNSET
from starlette.requests import Request
from starlette.responses import Response

from hallpass.audit import ROOM_ADDED, ROOM_CHANGED
from hallpass.projections.records import RoomRecord
from hallpass.projections.state import SchoolState
from hallpass.rules.commands import AddRoom, ChangeRoom
from hallpass.web.body import read_body
from hallpass.web.endpoint import Endpoint
from hallpass.web.errors import ApiError
from hallpass.web.idempotency import idempotent
from hallpass.web.json import json_response
from hallpass.web.routes.audit import note
from hallpass.web.routes.common import execute, open_school, path_id
from hallpass.web.schemas import Room, RoomBody, RoomPatch, room_view

ANYONE = ("student", "teacher", "admin", "kiosk")
ADMIN = ("admin",)

NO_SUCH_ROOM = ApiError(404, "not_found", "There is no such room.")


def shown(state: SchoolState, room_id: str) -> Room:
    """A room as the API shows it, with how full it is now."""
    out, waiting = room_loads(state).get(room_id, (0, 0))
    return room_view(state.rooms[room_id], out, waiting)


def room_loads(state: SchoolState) -> dict[str, tuple[int, int]]:
    """Room id -> (active passes to it, passes in line for it), from the live
    indexes only: a few hundred passes at most, never the school's history."""
    loads: dict[str, tuple[int, int]] = {}
    for record in state.active.values():
        out, waiting = loads.get(record.destination, (0, 0))
        loads[record.destination] = (out + 1, waiting)
    for record in state.line.values():
        out, waiting = loads.get(record.destination, (0, 0))
        loads[record.destination] = (out, waiting + 1)
    return loads


async def list_rooms(request: Request) -> Response:
    school = await open_school(request, ANYONE)
    loads = room_loads(school.state)
    return json_response(
        [room_view(r, *loads.get(r.id, (0, 0))) for r in school.state.rooms.values()]
    )


async def add_room(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    body = await read_body(request, RoomBody)
    room_id = school.new_id(request, "room")

    async def run() -> Response:
        if room_id not in school.state.rooms:  # else: a retry finds the first attempt's room
            command = AddRoom(
                actor=school.actor,
                room_id=room_id,
                name=body.name,
                locked=body.locked,
                capacity=body.capacity,
                minutes=body.minutes,
                enabled=body.enabled,
            )
            await execute(school, command)
            await note(school, ROOM_ADDED, room_id, body)
        return json_response(shown(school.state, room_id), 201)

    return await idempotent(request, school.user, run)


async def change_room(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    patch = await read_body(request, RoomPatch)
    room = school.state.rooms.get(path_id(request))
    if room is None:
        raise NO_SUCH_ROOM
    # A PATCH names only what changes; the event carries the whole record.
    command = ChangeRoom(
        actor=school.actor,
        room_id=room.id,
        name=room.name if patch.name is UNSET else patch.name,
        locked=room.locked if patch.locked is UNSET else patch.locked,
        capacity=room.capacity if patch.capacity is UNSET else patch.capacity,
        minutes=room.minutes if patch.minutes is UNSET else patch.minutes,
        enabled=room.enabled if patch.enabled is UNSET else patch.enabled,
    )
    unchanged = room_view(room) == room_view(
        RoomRecord(
            id=room.id,
            name=command.name,
            locked=command.locked,
            capacity=command.capacity,
            minutes=command.minutes,
            enabled=command.enabled,
        )
    )
    if not unchanged:  # a PATCH that changes nothing writes no event
        await execute(school, command)
        await note(school, ROOM_CHANGED, room.id, patch)
    return json_response(shown(school.state, room.id))


endpoints: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/api/rooms",
        handler=list_rooms,
        summary=(
            "The school's rooms, disabled ones included (in the order they were added), "
            "each with `out` (active passes to it) and `waiting` (passes in line for it)."
        ),
        roles=ANYONE,
        response=list[Room],
        errors=("unauthenticated", "forbidden"),
    ),
    Endpoint(
        method="POST",
        path="/api/rooms",
        handler=add_room,
        summary="Add a room.",
        roles=ADMIN,
        body=RoomBody,
        response=Room,
        status=201,
        errors=("unauthenticated", "forbidden", "invalid"),
    ),
    Endpoint(
        method="PATCH",
        path="/api/rooms/{id}",
        handler=change_room,
        summary=(
            "Change any of a room's fields; those left out keep their value. "
            "A larger capacity or a reopened room lets waiting passes start."
        ),
        roles=ADMIN,
        body=RoomPatch,
        response=Room,
        errors=("unauthenticated", "forbidden", "invalid", "not_found"),
    ),
]
