"""What every domain handler does at the edge, written once.

A handler signs the caller in (`open_school`), decodes its body, resolves the
facts only the directory knows (a student number, a teacher's PIN), hands
`decide` a command through `execute`, and shows the record it changed with
people's names (`show_pass`, `show_request`). `decide` holds every rule; this
module holds none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request

from hallpass.directory.model import User
from hallpass.events.store import StoredEvent
from hallpass.projections.records import PassRecord, RequestRecord
from hallpass.projections.state import SchoolState
from hallpass.rules.commands import Actor, AnyCommand, Rejection
from hallpass.service.runtime import SchoolRuntime
from hallpass.service.services import Services
from hallpass.service.views import PassView, RequestView, pass_view, request_view
from hallpass.web.auth import actor_of, require_user
from hallpass.web.context import services
from hallpass.web.errors import ApiError
from hallpass.web.idempotency import derived_id, idempotency_key


@dataclass(frozen=True, slots=True)
class School:
    """The signed-in caller and their school's live runtime."""

    user: User
    actor: Actor
    services: Services
    runtime: SchoolRuntime

    @property
    def slug(self) -> str:
        return self.user.school

    @property
    def state(self) -> SchoolState:
        return self.runtime.state

    def new_id(self, request: Request, kind: str) -> str:
        """The id of the thing this request makes: derived from the
        Idempotency-Key when there is one, so that a retry after an unknown
        outcome finds what the first attempt made instead of making another."""
        return derived_id(kind, self.slug, self.user.id, idempotency_key(request))


async def open_school(request: Request, roles: tuple[str, ...] = ()) -> School:
    """Sign the caller in (401/403 otherwise) and load their school."""
    user = await require_user(request, roles)
    found = services(request)
    runtime = await found.schools.get(user.school)
    return School(user=user, actor=actor_of(user), services=found, runtime=runtime)


async def execute(school: School, command: AnyCommand) -> list[StoredEvent]:
    """Run `command`; a refusal becomes its API error, having changed nothing."""
    result = await school.runtime.execute(command)
    if isinstance(result, Rejection):
        raise ApiError.from_rejection(result)
    return result


def path_id(request: Request, name: str = "id") -> str:
    value: str = request.path_params[name]
    return value


# --- showing records with names ------------------------------------------------


async def show_pass(school: School, record: PassRecord) -> PassView:
    names = await school.services.names.of(school.slug, (record.student,))
    return pass_view(record, names)


async def show_passes(school: School, records: Iterable[PassRecord]) -> list[PassView]:
    chosen = list(records)
    names = await school.services.names.of(school.slug, {r.student for r in chosen})
    return [pass_view(r, names) for r in chosen]


async def show_request(school: School, record: RequestRecord) -> RequestView:
    names = await school.services.names.of(school.slug, (record.student, record.teacher))
    return request_view(record, names)


async def show_requests(school: School, records: Iterable[RequestRecord]) -> list[RequestView]:
    chosen = list(records)
    ids = {r.student for r in chosen} | {r.teacher for r in chosen}
    names = await school.services.names.of(school.slug, ids)
    return [request_view(r, names) for r in chosen]


# --- resolving people ------------------------------------------------------------

NO_STUDENT_NUMBER = ApiError(404, "not_found", "No student with that number.")
NO_STUDENT = ApiError(404, "not_found", "No student with that id.")


async def resolve_student(school: School, student: str | None, number: str | None) -> str:
    """The id of the student of this school that `student` (an id) or
    `number` (their ID card's) names. Another school's people do not exist
    here, so they answer 404 like people that exist nowhere."""
    if student is not None and number is not None:
        raise ApiError(422, "invalid", "student: give the student's id or number, not both.")
    directory = school.services.backend.directory
    if number is not None:
        user = await directory.user_by_number(school.slug, number)
        missing = NO_STUDENT_NUMBER
    elif student is not None:
        user = await directory.get_user(school.slug, student)
        missing = NO_STUDENT
    else:
        raise ApiError(422, "invalid", "student: say which student (student or student_number).")
    if user is None or user.school != school.slug or user.role != "student" or not user.active:
        raise missing
    # The name is at hand: the answer shows it without a directory reload.
    school.services.names.remember(school.slug, user.id, user.name)
    return user.id


def limit_param(request: Request, default: int = 100, most: int = 500) -> int:
    """The `limit` query parameter: how many items a list answer holds."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ApiError(422, "invalid", f"limit: expected a whole number from 1 to {most}.")
    return int(raw)
