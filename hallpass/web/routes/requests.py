"""Teachers' requests: a teacher asks a student to come somewhere (API.md).

Accepting makes the pass in the same step, with no approval: a teacher asked.
"""

from __future__ import annotations

from typing import get_args

from starlette.requests import Request
from starlette.responses import Response

from hallpass.projections.records import RequestState
from hallpass.projections.requests import list_requests as list_requests_of
from hallpass.rules.commands import AcceptRequest, CancelRequest, DeclineRequest, SendRequest
from hallpass.service.views import RequestView
from hallpass.service.visibility import may_see_request
from hallpass.web.body import read_body
from hallpass.web.endpoint import Endpoint
from hallpass.web.errors import ApiError
from hallpass.web.idempotency import idempotent
from hallpass.web.json import json_response
from hallpass.web.routes.common import (
    execute,
    limit_param,
    open_school,
    path_id,
    resolve_student,
    show_pass,
    show_request,
    show_requests,
)
from hallpass.web.schemas import AcceptBody, AcceptView, DeclineBody, RequestBody

STAFF_ROLES = ("teacher", "admin")
READERS = ("student", "teacher", "admin")

NO_SUCH_REQUEST = ApiError(404, "not_found", "There is no such request.")
REQUEST_STATES: tuple[str, ...] = get_args(RequestState)
LIST_DEFAULT = 100
LIST_MOST = 500


async def send_request(request: Request) -> Response:
    school = await open_school(request, STAFF_ROLES)
    body = await read_body(request, RequestBody)
    request_id = school.new_id(request, "request")

    async def run() -> Response:
        record = school.state.requests.get(request_id)
        if record is None:  # else: a retry finds the first attempt's request
            student = await resolve_student(school, body.student, body.student_number)
            command = SendRequest(
                actor=school.actor,
                request_id=request_id,
                student=student,
                destination=body.destination,
                minutes=body.minutes,
                start_at=body.start_at,
                note=body.note,
            )
            await execute(school, command)
            record = school.state.requests[request_id]
        return json_response(await show_request(school, record), 201)

    return await idempotent(request, school.user, run)


async def list_requests(request: Request) -> Response:
    school = await open_school(request, READERS)
    query = request.query_params
    raw_state = query.get("state") or None
    if raw_state is not None and raw_state not in REQUEST_STATES:
        raise ApiError(
            422, "invalid", f"state: {raw_state!r} is not one of {', '.join(REQUEST_STATES)}."
        )
    limit = limit_param(request, LIST_DEFAULT, LIST_MOST)
    student = query.get("student") or None
    if school.actor.role == "student":
        if student not in (None, school.user.id):
            raise ApiError(404, "not_found", "There is no such student.")
        student = school.user.id
    records = list_requests_of(school.state, student, open_only=raw_state == "open")
    if raw_state is not None:
        records = [r for r in records if r.state == raw_state]
    return json_response(await show_requests(school, records[:limit]))


async def accept_request(request: Request) -> Response:
    school = await open_school(request, ("student",))
    request_id = path_id(request)
    pass_id = school.new_id(request, "pass")

    async def run() -> Response:
        if pass_id not in school.state.passes:  # else: a retry finds the first attempt's pass
            body = await read_body(request, AcceptBody)
            command = AcceptRequest(
                actor=school.actor, request_id=request_id, pass_id=pass_id, origin=body.origin
            )
            await execute(school, command)
        made = school.state.passes[pass_id]
        answer = AcceptView(
            request=await show_request(school, school.state.requests[made.request or request_id]),
            pass_=await show_pass(school, made),
        )
        return json_response(answer)

    return await idempotent(request, school.user, run)


async def decline_request(request: Request) -> Response:
    school = await open_school(request, ("student",))
    request_id = path_id(request)

    async def run() -> Response:
        body = await read_body(request, DeclineBody)
        command = DeclineRequest(actor=school.actor, request_id=request_id, reason=body.reason)
        await execute(school, command)
        return json_response(await show_request(school, school.state.requests[request_id]))

    return await idempotent(request, school.user, run)


async def cancel_request(request: Request) -> Response:
    school = await open_school(request, STAFF_ROLES)
    request_id = path_id(request)

    async def run() -> Response:
        await execute(school, CancelRequest(actor=school.actor, request_id=request_id))
        return json_response(await show_request(school, school.state.requests[request_id]))

    return await idempotent(request, school.user, run)


async def get_request(request: Request) -> Response:
    school = await open_school(request, READERS)
    record = school.state.requests.get(path_id(request))
    if record is None or not may_see_request(school.actor, record):
        raise NO_SUCH_REQUEST
    return json_response(await show_request(school, record))


_ACTION_ERRORS = ("unauthenticated", "forbidden", "not_found", "invalid_state")

endpoints: list[Endpoint] = [
    Endpoint(
        method="POST",
        path="/api/requests",
        handler=send_request,
        summary=(
            "Ask a student to come to a room, now or at `start_at`. Name the student by "
            "`student` (id) or `student_number`."
        ),
        roles=STAFF_ROLES,
        body=RequestBody,
        response=RequestView,
        status=201,
        errors=("unauthenticated", "forbidden", "invalid", "unknown_room", "not_found"),
    ),
    Endpoint(
        method="GET",
        path="/api/requests",
        handler=list_requests,
        summary=(
            "Requests, newest first: a student's own, or the school's for staff. "
            "`state`: one state; `student` (staff): one student's; `limit`: 1 to "
            f"{LIST_MOST}, default {LIST_DEFAULT}."
        ),
        roles=READERS,
        response=list[RequestView],
        query=("state", "student", "limit"),
        errors=("unauthenticated", "forbidden", "invalid", "not_found"),
    ),
    Endpoint(
        method="GET",
        path="/api/requests/{id}",
        handler=get_request,
        summary="One request: its student's own, or any of the school's for staff.",
        roles=READERS,
        response=RequestView,
        errors=("unauthenticated", "forbidden", "not_found"),
    ),
    Endpoint(
        method="POST",
        path="/api/requests/{id}/accept",
        handler=accept_request,
        summary=(
            "Accept a request from the room the student is in (`origin`): the pass is "
            "made at once, with no approval step and no limits."
        ),
        roles=("student",),
        body=AcceptBody,
        response=AcceptView,
        errors=(*_ACTION_ERRORS, "invalid", "unknown_room", "passes_paused", "already_out"),
    ),
    Endpoint(
        method="POST",
        path="/api/requests/{id}/decline",
        handler=decline_request,
        summary="Decline a request, with a reason if the student gives one.",
        roles=("student",),
        body=DeclineBody,
        response=RequestView,
        errors=(*_ACTION_ERRORS, "invalid"),
    ),
    Endpoint(
        method="POST",
        path="/api/requests/{id}/cancel",
        handler=cancel_request,
        summary="Withdraw an open request (the teacher who sent it, or an admin).",
        roles=STAFF_ROLES,
        response=RequestView,
        errors=_ACTION_ERRORS,
    ),
]
