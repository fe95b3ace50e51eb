"""Passes: making them, acting on them, reading them and the live board (API.md).

Who may act on which pass is `decide`'s to say (a student's own pass, a
kiosk's room); the endpoint's roles only turn away the roles that may never
call it. A pass the caller may not see answers 404, like one that does not
exist, so nobody learns about another student's passes or another school's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import get_args

from starlette.requests import Request
from starlette.responses import Response

from hallpass.passwords import pin_key
from hallpass.projections.board import board as live_board
from hallpass.projections.calendar import list_passes as list_passes_of
from hallpass.projections.clock import day_bounds
from hallpass.projections.records import PassState
from hallpass.rules.commands import (
    STAFF,
    Actor,
    AnyCommand,
    ApprovePass,
    ArrivePass,
    CancelPass,
    CreatePass,
    DenyPass,
    EndPass,
    ExtendPass,
)
from hallpass.service.ephemeral import ephemeral_key
from hallpass.service.views import PassView, pass_view
from hallpass.service.visibility import may_see_pass
from hallpass.web.auth import actor_of
from hallpass.web.body import read_body
from hallpass.web.endpoint import Endpoint
from hallpass.web.errors import ApiError
from hallpass.web.idempotency import idempotent
from hallpass.web.json import json_response
from hallpass.web.routes.common import (
    School,
    execute,
    limit_param,
    open_school,
    path_id,
    resolve_student,
    show_pass,
    show_passes,
)
from hallpass.web.schemas import ApproveBody, BoardView, ExtendBody, PassBody
from hallpass.web.throttle import account_throttle

ANYONE = ("student", "teacher", "admin", "kiosk")
STAFF_ROLES = ("teacher", "admin")

NO_SUCH_PASS = ApiError(404, "not_found", "There is no such pass.")
NO_SUCH_STUDENT = ApiError(404, "not_found", "There is no such student.")
NO_SUCH_STUDENT_NUMBER = ApiError(404, "not_found", "No student with that number.")
MAX_NUMBER = 32  # the longest student number (as PassBody's student_number)

# A list answer holds at most this many passes (the `limit` parameter).
LIST_DEFAULT = 100
LIST_MOST = 500

PASS_STATES: tuple[str, ...] = get_args(PassState)


# --- making a pass ---------------------------------------------------------------


async def create_pass(request: Request) -> Response:
    school = await open_school(request, ANYONE)
    body = await read_body(request, PassBody)
    pass_id = school.new_id(request, "pass")

    async def run() -> Response:
        if pass_id not in school.state.passes:  # else: a retry finds the first attempt's pass
            try:
                await execute(school, await _create_command(school, body, pass_id))
            except ApiError:
                # A first attempt whose answer was lost may land in the state only
                # while this retry is decided: then it is the answer, not an error.
                if pass_id not in school.state.passes:
                    raise
        record = school.state.passes[pass_id]
        return json_response(await show_pass(school, record), 201)

    return await idempotent(request, school.user, run)


async def _create_command(school: School, body: PassBody, pass_id: str) -> CreatePass:
    actor = school.actor
    named = body.student is not None or body.student_number is not None
    if actor.role == "student":
        # `decide` refuses a student naming anyone: no directory look-up for it.
        student = actor.id
    else:
        if actor.role == "kiosk" and actor.room not in (body.origin, body.destination):
            raise ApiError(403, "forbidden", "A kiosk makes passes from or to its own room only.")
        student = await resolve_student(school, body.student, body.student_number)
    return CreatePass(
        actor=actor,
        pass_id=pass_id,
        student=student,
        origin=body.origin,
        destination=body.destination,
        minutes=body.minutes,
        start_at=body.start_at,
        note=body.note,
        named_student=named,
    )


# --- acting on a pass ------------------------------------------------------------

Build = Callable[[School, Request, str], Awaitable[AnyCommand]]


def _pass_action(roles: tuple[str, ...], build: Build) -> Callable[[Request], Awaitable[Response]]:
    """A handler that runs `build`'s command on the pass in the path and
    answers with the pass as it is afterwards."""

    async def handler(request: Request) -> Response:
        school = await open_school(request, roles)
        pass_id = path_id(request)

        async def run() -> Response:
            await execute(school, await build(school, request, pass_id))
            return json_response(await show_pass(school, school.state.passes[pass_id]))

        return await idempotent(request, school.user, run)

    handler.__name__ = build.__name__.lstrip("_")
    return handler


async def _end(school: School, request: Request, pass_id: str) -> AnyCommand:
    return EndPass(actor=school.actor, pass_id=pass_id)


async def _deny(school: School, request: Request, pass_id: str) -> AnyCommand:
    return DenyPass(actor=school.actor, pass_id=pass_id)


async def _cancel(school: School, request: Request, pass_id: str) -> AnyCommand:
    return CancelPass(actor=school.actor, pass_id=pass_id)


async def _arrive(school: School, request: Request, pass_id: str) -> AnyCommand:
    return ArrivePass(actor=school.actor, pass_id=pass_id)


async def _extend(school: School, request: Request, pass_id: str) -> AnyCommand:
    body = await read_body(request, ExtendBody)
    return ExtendPass(actor=school.actor, pass_id=pass_id, minutes=body.minutes)


async def _approve(school: School, request: Request, pass_id: str) -> AnyCommand:
    body = await read_body(request, ApproveBody)
    actor = school.actor
    if actor.role in STAFF:
        return ApprovePass(actor=actor, pass_id=pass_id)
    record = school.state.passes.get(pass_id)
    if record is None or not may_see_pass(actor, record):
        raise NO_SUCH_PASS  # before any PIN is tried against it
    if body.pin is None:
        raise ApiError(403, "forbidden", "Ask a teacher to type their PIN to approve this pass.")
    teacher = await _teacher_by_pin(school, body.pin)
    return ApprovePass(actor=actor, pass_id=pass_id, approver=teacher)


async def _teacher_by_pin(school: School, pin: str) -> Actor:
    """The teacher whose PIN this is. Wrong PINs are throttled like wrong
    passwords, per student account: a student cannot try PINs at length."""
    found = school.services
    throttle = account_throttle(found.ephemeral, found.settings)
    key = ephemeral_key(school.slug, "pin", school.user.id)
    await throttle.check(key)
    directory = found.backend.directory
    record = await directory.get_school(school.slug)
    teacher = None
    if record is not None and record.secret:
        teacher = await directory.user_by_pin_key(school.slug, pin_key(record.secret, pin))
    if teacher is None or teacher.role not in STAFF or not teacher.active:
        await throttle.failed(key)
        raise ApiError(403, "bad_pin", "That PIN is not right. Ask the teacher to type it again.")
    await throttle.succeeded(key)
    return actor_of(teacher)


end_pass = _pass_action(ANYONE, _end)
approve_pass = _pass_action(("student", "teacher", "admin"), _approve)
deny_pass = _pass_action(STAFF_ROLES, _deny)
cancel_pass = _pass_action(("student", "teacher", "admin"), _cancel)
extend_pass = _pass_action(STAFF_ROLES, _extend)
arrive_pass = _pass_action(("kiosk", "teacher", "admin"), _arrive)


# --- reading passes --------------------------------------------------------------


async def get_pass(request: Request) -> Response:
    school = await open_school(request, ANYONE)
    record = school.state.passes.get(path_id(request))
    if record is None or not may_see_pass(school.actor, record):
        raise NO_SUCH_PASS
    return json_response(await show_pass(school, record))


async def list_passes(request: Request) -> Response:
    school = await open_school(request, ANYONE)
    query = request.query_params
    tz = school.state.policies.timezone
    since = _bound(query.get("from"), "from", tz, end=False)
    until = _bound(query.get("to"), "to", tz, end=True)
    states = _states(query.get("state"))
    limit = limit_param(request, LIST_DEFAULT, LIST_MOST)
    student = await _student_param(school, query.get("student"), query.get("student_number"))

    kiosk = school.actor.role == "kiosk"
    records = list_passes_of(
        school.state,
        student=student,
        since=since,
        until=until,
        states=states,
        # A kiosk sees only its room's passes: filter first, then cap.
        limit=None if kiosk else limit,
    )
    if kiosk:
        records = [r for r in records if may_see_pass(school.actor, r)][:limit]
    return json_response(await show_passes(school, records))


async def _student_param(school: School, student: str | None, number: str | None) -> str | None:
    """The student whose passes are asked for, by id (`student`) or by the
    number on their ID card (`student_number`, as a kiosk reads it); None
    for everyone's. A student may name only themselves: any other id or
    number answers 404, like a number nobody has, so numbers cannot be probed."""
    student, number = student or None, number or None
    if student is not None and number is not None:
        raise ApiError(422, "invalid", "student_number: give the student's id or number, not both.")
    if school.actor.role == "student":
        own = student in (None, school.user.id) and number in (None, school.user.number)
        if not own:
            raise NO_SUCH_STUDENT_NUMBER if number is not None else NO_SUCH_STUDENT
        return school.user.id
    if number is not None:
        if len(number) > MAX_NUMBER:
            raise ApiError(422, "invalid", f"student_number: at most {MAX_NUMBER} characters.")
        return await resolve_student(school, None, number)
    return student


def _bound(raw: str | None, name: str, tz: str, *, end: bool) -> datetime | None:
    """A `from`/`to` parameter: a school day (YYYY-MM-DD, the whole day in the
    school's time zone, `to` included) or an instant with its offset."""
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start, next_start = day_bounds(day, tz)
            return next_start if end else start
        at = datetime.fromisoformat(raw)
    except (ValueError, OverflowError):  # not a date, or a day past year 9999
        at = None
    if at is None or at.tzinfo is None:
        raise ApiError(
            422,
            "invalid",
            f"{name}: expected a date (2025-01-31) or a time with its offset "
            "(2025-01-31T08:00:00Z).",
        )
    return at


def _states(raw: str | None) -> frozenset[str] | None:
    """The `state` parameter: one state or several, comma-separated."""
    if raw is None or raw == "":
        return None
    wanted = frozenset(s.strip() for s in raw.split(","))
    unknown = sorted(wanted - set(PASS_STATES))
    if unknown:
        raise ApiError(
            422, "invalid", f"state: {unknown[0]!r} is not one of {', '.join(PASS_STATES)}."
        )
    return wanted


async def board(request: Request) -> Response:
    school = await open_school(request, ("teacher", "admin", "kiosk"))
    state = school.state
    room = school.actor.room if school.actor.role == "kiosk" else None
    # Names first (they may wait on the directory); then the list and its
    # position are read together, with no await between, so they agree.
    names = await school.services.names.of(
        school.slug, {r.student for r in live_board(state, room)}
    )
    position = str(state.version)
    views = [pass_view(r, names) for r in live_board(state, room)]
    return json_response(BoardView(position=position, passes=views))


# --- the table -------------------------------------------------------------------

_ACTION_ERRORS = ("unauthenticated", "forbidden", "not_found", "invalid_state")

endpoints: list[Endpoint] = [
    Endpoint(
        method="POST",
        path="/api/passes",
        handler=create_pass,
        summary=(
            "Make a pass. A student makes their own; staff and kiosks name the student by "
            "`student` (id) or `student_number`. A kiosk's pass starts or ends at its room. "
            "With an Idempotency-Key, a retry answers the first attempt's pass."
        ),
        roles=ANYONE,
        body=PassBody,
        response=PassView,
        status=201,
        errors=(
            "unauthenticated",
            "forbidden",
            "unknown_room",
            "invalid",
            "not_found",
            "passes_paused",
            "already_out",
            "blackout",
            "cooldown",
            "pass_limit",
            "unavailable",
        ),
    ),
    Endpoint(
        method="GET",
        path="/api/passes",
        handler=list_passes,
        summary=(
            "Passes, newest first (by when they were made). A student sees only their own "
            "(`student` or `student_number`, if given, must be theirs); a kiosk those from or "
            "to its room. `student_number`: one student's, by the number on their ID card "
            "(404 when no active student of the school has it). "
            "`from`/`to`: a school day (YYYY-MM-DD, school time; `to` includes the day) or a "
            "time with its offset; `state`: one or more states, comma-separated; `limit`: "
            f"1 to {LIST_MOST}, default {LIST_DEFAULT}."
        ),
        roles=ANYONE,
        response=list[PassView],
        query=("student", "student_number", "from", "to", "state", "limit"),
        errors=("unauthenticated", "invalid", "not_found"),
    ),
    Endpoint(
        method="GET",
        path="/api/passes/{id}",
        handler=get_pass,
        summary="One pass: its student's own, any of the school's for staff, its room's for a kiosk.",
        roles=ANYONE,
        response=PassView,
        errors=("unauthenticated", "not_found"),
    ),
    Endpoint(
        method="POST",
        path="/api/passes/{id}/end",
        handler=end_pass,
        summary="End an active pass (its student, staff, or a kiosk of its origin or destination).",
        roles=ANYONE,
        response=PassView,
        errors=_ACTION_ERRORS,
    ),
    Endpoint(
        method="POST",
        path="/api/passes/{id}/approve",
        handler=approve_pass,
        summary=(
            "Approve a pending pass: staff, or its student with a teacher's `pin` typed on "
            "their screen. Wrong PINs are throttled per student like wrong passwords "
            "(429 too_many_attempts)."
        ),
        roles=("student", "teacher", "admin"),
        body=ApproveBody,
        response=PassView,
        errors=(*_ACTION_ERRORS, "invalid", "bad_pin", "too_many_attempts", "passes_paused"),
    ),
    Endpoint(
        method="POST",
        path="/api/passes/{id}/deny",
        handler=deny_pass,
        summary="Deny a pending pass.",
        roles=STAFF_ROLES,
        response=PassView,
        errors=_ACTION_ERRORS,
    ),
    Endpoint(
        method="POST",
        path="/api/passes/{id}/cancel",
        handler=cancel_pass,
        summary="Cancel a pass that has not started (its student, or staff).",
        roles=("student", "teacher", "admin"),
        response=PassView,
        errors=_ACTION_ERRORS,
    ),
    Endpoint(
        method="POST",
        path="/api/passes/{id}/extend",
        handler=extend_pass,
        summary="Give an active pass that many more minutes.",
        roles=STAFF_ROLES,
        body=ExtendBody,
        response=PassView,
        errors=(*_ACTION_ERRORS, "invalid"),
    ),
    Endpoint(
        method="POST",
        path="/api/passes/{id}/arrive",
        handler=arrive_pass,
        summary="Record that the student arrived (a kiosk of its destination, or staff).",
        roles=("kiosk", "teacher", "admin"),
        response=PassView,
        errors=_ACTION_ERRORS,
    ),
    Endpoint(
        method="GET",
        path="/api/board",
        handler=board,
        summary=(
            "Every active, pending and waiting pass (a kiosk: those of its room), in that "
            "order, and the stream position they are current at (for /ws?after=)."
        ),
        roles=("teacher", "admin", "kiosk"),
        response=BoardView,
        errors=("unauthenticated", "forbidden"),
    ),
]
