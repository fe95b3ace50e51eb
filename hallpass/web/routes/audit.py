"""The audit log over HTTP: admins read it; the other routes write to it with `note`.

Every export, every report that names students, every change of a room or of
the policies is noted here by the handler that did it, after it succeeded
(an export: before its first byte is sent, so a download that cannot be
noted is not sent at all).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hallpass.audit import MAX_PAGE, OPERATOR, AuditEntry
from hallpass.service.views import Person, person
from hallpass.web.endpoint import Endpoint
from hallpass.web.errors import ApiError
from hallpass.web.json import encode, json_response
from hallpass.web.routes.common import School, limit_param, open_school

ADMIN = ("admin",)
PAGE_DEFAULT = 50


async def note(
    school: School, action: str, subject: str, detail: str | msgspec.Struct = ""
) -> None:
    """Write what the signed-in user did to the school's audit log; a body
    given as `detail` is kept as its JSON (what was asked for)."""
    entry = AuditEntry(
        at=school.runtime.clock(),
        actor=school.user.id,
        action=action,
        subject=subject,
        detail=detail if isinstance(detail, str) else encode(detail).decode(),
    )
    await school.services.backend.audit.append(school.slug, entry)


class AuditView(msgspec.Struct, kw_only=True):
    id: str
    at: datetime
    actor: Person  # the name is "Unknown" for the command line's operators and people gone
    action: str
    subject: str
    detail: str


class AuditPage(msgspec.Struct, kw_only=True):
    entries: list[AuditView]  # newest first
    next: str | None  # pass as `before` for the page after this one; null at the end


async def read_audit(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    limit = limit_param(request, PAGE_DEFAULT, MAX_PAGE)
    before = request.query_params.get("before") or None
    try:
        page = await school.services.backend.audit.page(school.slug, before, limit)
    except ValueError:
        raise ApiError(
            422, "invalid", "before: expected the id of an entry, as `next` gave it."
        ) from None
    actors = {logged.entry.actor for logged in page}
    operators = {a for a in actors if a.startswith(OPERATOR)}
    names = dict(await school.services.names.of(school.slug, actors - operators))
    for actor in operators:
        names[actor] = actor.removeprefix(OPERATOR) + " (command line)"
    entries = [
        AuditView(
            id=logged.id,
            at=logged.entry.at,
            actor=person(logged.entry.actor, names),
            action=logged.entry.action,
            subject=logged.entry.subject,
            detail=logged.entry.detail,
        )
        for logged in page
    ]
    following = page[-1].id if len(page) == limit else None
    return json_response(AuditPage(entries=entries, next=following))


endpoints: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/api/audit",
        handler=read_audit,
        summary=(
            "The school's audit log, newest first: every export, every report that names "
            "students, every deletion of a student, every change of a room or of the policies, "
            f"with who and when. `limit`: 1 to {MAX_PAGE}, default {PAGE_DEFAULT}; `before`: "
            "the `next` of the previous page."
        ),
        roles=ADMIN,
        response=AuditPage,
        query=("before", "limit"),
        errors=("unauthenticated", "forbidden", "invalid"),
    ),
]
