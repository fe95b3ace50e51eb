"""The domain endpoints' tables and body shapes, without a server."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from hallpass.events.types import Blackout, Policies
from hallpass.projections.records import RoomRecord
from hallpass.web.endpoint import Endpoint
from hallpass.web.routes import passes, requests, rooms, school
from hallpass.web.schemas import BlackoutBody, PolicyBody, Room, RoomPatch

ROLES = {"student", "teacher", "admin", "kiosk"}
DOMAIN: list[Endpoint] = [
    *rooms.endpoints,
    *passes.endpoints,
    *requests.endpoints,
    *school.endpoints,
]


def shape(struct: Any) -> list[tuple[str, Any]]:
    return [(f.encode_name, f.default) for f in msgspec.structs.fields(struct)]


@pytest.mark.parametrize(
    ("body", "stored"), [(PolicyBody, Policies), (BlackoutBody, Blackout), (Room, RoomRecord)]
)
def test_the_edge_shapes_mirror_the_stored_ones(body: Any, stored: Any) -> None:
    names = [name for name, _ in shape(body)]
    stored_names = [name for name, _ in shape(stored)]
    if body is Room:  # a Room answer has every field, none optional, then live counts
        assert names == [*stored_names, "out", "waiting"]
    else:
        assert shape(body) == shape(stored)


def test_a_policy_body_becomes_the_events_policies() -> None:
    raw = {
        "daily_limit": 2,
        "blackouts": [{"days": ["mon"], "from": "08:00", "to": "08:10"}],
        "keep_apart": [["a", "b"]],
    }
    body = msgspec.json.decode(msgspec.json.encode(raw), type=PolicyBody)
    assert body.policies() == msgspec.convert(raw, Policies)
    assert PolicyBody().policies() == Policies()


def test_bodies_refuse_unknown_fields() -> None:
    for e in DOMAIN:
        if e.body is not None:
            with pytest.raises(msgspec.ValidationError, match="unknown field"):
                msgspec.json.decode(b'{"surprise": 1}', type=e.body)


def test_a_room_patch_tells_absent_from_null() -> None:
    patch = msgspec.json.decode(b'{"capacity": null}', type=RoomPatch)
    assert patch.capacity is None and patch.name is msgspec.UNSET


def test_the_tables_are_sound() -> None:
    seen = set()
    for e in DOMAIN:
        assert (e.method, e.path) not in seen
        seen.add((e.method, e.path))
        assert e.path.startswith("/api/")
        assert e.roles and set(e.roles) <= ROLES, e.path
        assert e.summary and e.errors
        assert e.body is None or e.method in ("POST", "PUT", "PATCH")
        assert (e.response is None) == (e.status == 204), e.path
    # API.md's calls, every one of them present.
    required = {
        ("GET", "/api/rooms"),
        ("POST", "/api/rooms"),
        ("PATCH", "/api/rooms/{id}"),
        ("POST", "/api/passes"),
        ("GET", "/api/passes/{id}"),
        ("GET", "/api/passes"),
        *(
            ("POST", f"/api/passes/{{id}}/{a}")
            for a in ("end", "approve", "deny", "cancel", "extend", "arrive")
        ),
        ("GET", "/api/board"),
        ("POST", "/api/requests"),
        ("GET", "/api/requests"),
        *(("POST", f"/api/requests/{{id}}/{a}") for a in ("accept", "decline", "cancel")),
        ("GET", "/api/policies"),
        ("PUT", "/api/policies"),
        ("POST", "/api/hall/sweep"),
        ("DELETE", "/api/hall/pause"),
    }
    assert required <= seen
