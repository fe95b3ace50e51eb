"""Health for load balancers and orchestrators.

`/healthz`: the process lives and serves (no I/O: a store outage must not
get every web process restarted). `/readyz`: the store answers and every
school this process has loaded is caught up with its stream, so a new
process is sent traffic only once it would answer with current data.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hallpass.events.store import StoreUnavailable
from hallpass.service.runtime import SchoolRuntime
from hallpass.web.context import services
from hallpass.web.endpoint import Endpoint
from hallpass.web.errors import ApiError
from hallpass.web.json import json_response

# A school's follower delivers new events within moments; give it this long
# to fold what the store has before calling the process not ready.
CATCH_UP_SECONDS = 2.0
# A stream name no school has: reading its version proves the store answers.
PROBE_STREAM = "hallpass-readiness-probe"


class Health(msgspec.Struct):
    status: Literal["ok"] = "ok"


class Ready(msgspec.Struct, kw_only=True):
    status: Literal["ready"] = "ready"
    schools: int  # how many schools this process has loaded, all caught up


async def healthz(request: Request) -> Response:
    return json_response(Health())


async def readyz(request: Request) -> Response:
    svc = services(request)
    await svc.backend.store.version(PROBE_STREAM)
    await svc.backend.directory.get_school(PROBE_STREAM)
    runtimes = svc.schools.loaded()
    behind = [r.school for r in await asyncio.gather(*map(_lagging, runtimes)) if r is not None]
    if behind:
        raise ApiError(
            503,
            "not_ready",
            f"This process is still catching up with {len(behind)} school(s); try another.",
        )
    return json_response(Ready(schools=len(runtimes)))


async def _lagging(runtime: SchoolRuntime) -> SchoolRuntime | None:
    stored = await runtime.store.version(runtime.school)
    try:
        await asyncio.wait_for(runtime.catch_up(stored), CATCH_UP_SECONDS)
    except (TimeoutError, StoreUnavailable):
        return runtime
    return None


endpoints: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/healthz",
        handler=healthz,
        summary="Liveness: the process serves (touches no store)",
        response=Health,
    ),
    Endpoint(
        method="GET",
        path="/readyz",
        handler=readyz,
        summary="Readiness: the store answers and loaded schools are caught up",
        response=Ready,
        errors=("not_ready", "store_unavailable"),
    ),
]
