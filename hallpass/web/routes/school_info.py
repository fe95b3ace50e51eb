"""What every signed-in page needs to know about its school: its name, its
clock and whether passes are paused (GET /api/school).

The time zone is the one the rules use, from the school's policies in the
event log (the runtime's state), not the directory's copy made when the
school was added: an admin who changes the policies changes it for both the
rules and the pages at once.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hallpass.web.endpoint import Endpoint
from hallpass.web.json import json_response
from hallpass.web.routes.common import open_school

ANYONE = ("student", "teacher", "admin", "kiosk")


class SchoolView(msgspec.Struct, kw_only=True):
    slug: str
    name: str
    timezone: str  # IANA name; pages show times as the school's clocks read them
    paused: bool  # new passes are refused until an admin resumes them


async def school_info(request: Request) -> Response:
    school = await open_school(request, ANYONE)
    record = await school.services.backend.directory.get_school(school.slug)
    return json_response(
        SchoolView(
            slug=school.slug,
            # The school is gone only if it was removed under a live session.
            name=record.name if record is not None else school.slug,
            timezone=school.state.policies.timezone,
            paused=school.state.paused,
        )
    )


endpoints: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/api/school",
        handler=school_info,
        summary=(
            "The signed-in person's school: its slug, name, time zone (the one its rules "
            "use, from the policies) and whether new passes are paused."
        ),
        roles=ANYONE,
        response=SchoolView,
        errors=("unauthenticated",),
    ),
]
