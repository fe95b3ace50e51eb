"""School controls (admin): the policies, the hall sweep and the pause (API.md)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hallpass.audit import POLICIES_SET
from hallpass.events.types import PassCancelled, PassEnded
from hallpass.rules.commands import ResumePasses, SetPolicies, SweepHall
from hallpass.web.body import read_body
from hallpass.web.endpoint import Endpoint
from hallpass.web.idempotency import idempotent
from hallpass.web.json import json_response
from hallpass.web.routes.audit import note
from hallpass.web.routes.common import execute, open_school
from hallpass.web.schemas import HallView, Policies, PolicyBody, SweepBody, SweepView

ADMIN = ("admin",)
ANYONE = ("student", "teacher", "admin", "kiosk")


async def get_policies(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    return json_response(school.state.policies)


async def put_policies(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    body = await read_body(request, PolicyBody)
    await execute(school, SetPolicies(actor=school.actor, policies=body.policies()))
    await note(school, POLICIES_SET, "school", body)
    return json_response(school.state.policies)


async def sweep(request: Request) -> Response:
    school = await open_school(request, ADMIN)

    async def run() -> Response:
        body = await read_body(request, SweepBody)
        stored = await execute(school, SweepHall(actor=school.actor, pause=body.pause))
        # One event per pass the sweep closed (ended if out, cancelled if not yet).
        ended = sum(isinstance(s.event, (PassEnded, PassCancelled)) for s in stored)
        return json_response(SweepView(ended=ended))

    return await idempotent(request, school.user, run)


async def resume(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    await execute(school, ResumePasses(actor=school.actor))
    return Response(status_code=204)


async def hall(request: Request) -> Response:
    school = await open_school(request, ANYONE)
    return json_response(HallView(paused=school.state.paused))


endpoints: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/api/policies",
        handler=get_policies,
        summary="The school's policies.",
        roles=ADMIN,
        response=Policies,
        errors=("unauthenticated", "forbidden"),
    ),
    Endpoint(
        method="PUT",
        path="/api/policies",
        handler=put_policies,
        summary=(
            "Replace the school's policies (fields left out take their defaults). "
            "Raised or removed caps let waiting passes start."
        ),
        roles=ADMIN,
        body=PolicyBody,
        response=Policies,
        errors=("unauthenticated", "forbidden", "invalid"),
    ),
    Endpoint(
        method="POST",
        path="/api/hall/sweep",
        handler=sweep,
        summary=(
            "End every active pass and cancel every waiting and pending one; `ended` counts "
            "them. With `pause`, new passes are refused until DELETE /api/hall/pause."
        ),
        roles=ADMIN,
        body=SweepBody,
        response=SweepView,
        errors=("unauthenticated", "forbidden", "invalid"),
    ),
    Endpoint(
        method="DELETE",
        path="/api/hall/pause",
        handler=resume,
        summary="Allow new passes again after a sweep with pause (204; also when not paused).",
        roles=ADMIN,
        status=204,
        errors=("unauthenticated", "forbidden"),
    ),
    Endpoint(
        method="GET",
        path="/api/hall",
        handler=hall,
        summary="Whether new passes are paused for the school.",
        roles=ANYONE,
        response=HallView,
        errors=("unauthenticated",),
    ),
]
