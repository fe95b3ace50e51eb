"""The school's people: finding them (staff) and managing them (admins).

    GET   /api/users           teachers and admins: search by name, username or number
    POST  /api/users           admins: add a person
    PATCH /api/users/{id}      admins: rename, renumber, move, (de)activate, set a password

People live in the directory, not in events (DESIGN.md, point 7). Adding and
changing them goes through `hallpass.provision`'s checks, the same ones the
`hallpass user add` command makes, so the command line and the API cannot
disagree on what a student or a kiosk needs. An answer never carries a
password hash, a PIN key or an email address.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from hallpass.directory.model import DuplicateUser, User
from hallpass.passwords import hash_password_async
from hallpass.provision import ROLES, InvalidInput, Refused, add_user, check_name, check_user
from hallpass.rules.commands import Role
from hallpass.web.body import read_body
from hallpass.web.endpoint import Endpoint
from hallpass.web.errors import ApiError
from hallpass.web.idempotency import idempotent
from hallpass.web.json import json_response
from hallpass.web.routes.common import School, limit_param, open_school, path_id

STAFF_ROLES = ("teacher", "admin")
ADMIN = ("admin",)

# A search answers a picker: a screenful by default, never the whole school.
LIST_DEFAULT = 20
LIST_MOST = 100
MAX_QUERY = 100

NO_SUCH_USER = ApiError(404, "not_found", "There is no such person at your school.")

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Number = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
RoomId = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class _Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class NewUser(_Body, kw_only=True):
    username: Username
    name: Name
    role: Role
    number: Number | None = None  # a student's (required for students)
    room: RoomId | None = None  # a kiosk's room (required), or a teacher's own
    # None: no password yet; the person signs in with the school's account
    # (single sign-on) or once an admin sets one.
    password: Password | None = None


class UserPatch(_Body, kw_only=True):
    """Any of these; what is left out stays as it is (null clears a number or a room)."""

    name: Name | UnsetType = UNSET
    number: Number | UnsetType | None = UNSET
    room: RoomId | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET
    password: Password | UnsetType = UNSET


class Account(msgspec.Struct, kw_only=True):
    """A person as staff see them in lists and pickers."""

    id: str
    name: str
    username: str
    role: Role
    number: str | None  # a student's number, as printed on the ID card
    room: str | None  # a kiosk's room, or a teacher's own classroom
    active: bool  # false: cannot sign in


def account(user: User) -> Account:
    return Account(
        id=user.id,
        name=user.name,
        username=user.username,
        role=user.role,
        number=user.number,
        room=user.room,
        active=user.active,
    )


# --- finding people ----------------------------------------------------------------


async def list_users(request: Request) -> Response:
    school = await open_school(request, STAFF_ROLES)
    query = request.query_params
    role = query.get("role") or None
    if role is not None and role not in ROLES:
        raise ApiError(422, "invalid", f"role: expected one of {', '.join(ROLES)}.")
    text = (query.get("q") or "").strip()
    if len(text) > MAX_QUERY:
        raise ApiError(422, "invalid", f"q: at most {MAX_QUERY} characters.")
    ids = _ids(query.get("ids"))
    active = _flag(query.get("active"), "active")
    # Asking for named people wants them all, up to the most a list holds.
    limit = limit_param(request, max(LIST_DEFAULT, min(len(ids or ()), LIST_MOST)), LIST_MOST)

    found = [
        user
        for user in await school.services.backend.directory.users(school.slug)
        if (role is None or user.role == role)
        and (active is None or user.active == active)
        and (ids is None or user.id in ids)
    ]
    return json_response([account(u) for u in search(found, text)[:limit]])


def search(users: Iterable[User], text: str) -> list[User]:
    """The users matching `text` (any part of the name or username, ignoring
    case; the start of the number), best matches first, then by name."""
    wanted = text.casefold()

    def rank(user: User) -> int | None:
        if not wanted:
            return 0
        name, username = user.name.casefold(), user.username.casefold()
        number = (user.number or "").casefold()
        if wanted in (number, username):
            return 0  # exactly what was typed: a card read, a username
        if number.startswith(wanted) or name.startswith(wanted) or username.startswith(wanted):
            return 1
        if any(word.startswith(wanted) for word in name.split()):
            return 2  # a family name
        if wanted in name or wanted in username:
            return 3
        return None

    ranked = [(r, user) for user in users if (r := rank(user)) is not None]
    ranked.sort(key=lambda pair: (pair[0], pair[1].name.casefold(), pair[1].username))
    return [user for _, user in ranked]


def _ids(raw: str | None) -> frozenset[str] | None:
    if raw is None or not raw.strip():
        return None
    ids = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if len(ids) > LIST_MOST:
        raise ApiError(422, "invalid", f"ids: at most {LIST_MOST} ids at once.")
    return ids


def _flag(raw: str | None, name: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise ApiError(422, "invalid", f"{name}: expected true or false.")
    return raw == "true"


# --- adding and changing people --------------------------------------------------------

# The command line's hints ("(--number)") mean nothing to someone using the API.
_FLAG_HINT = re.compile(r" \(--[a-z-]+\)")


def invalid(error: InvalidInput) -> ApiError:
    """provision's sentence as API.md's 422: the field first, then what is wrong."""
    sentence = _FLAG_HINT.sub("", str(error))
    if error.field is None:
        return ApiError(422, "invalid", sentence)
    return ApiError(422, "invalid", f"{error.field}: {sentence[:1].lower()}{sentence[1:]}")


def _check_room(school: School, room: str | None) -> None:
    if room is not None and room not in school.state.rooms:
        raise ApiError(422, "unknown_room", f"room: there is no room with the id {room!r}.")


def _taken(error: DuplicateUser | Refused) -> ApiError:
    return ApiError(409, "duplicate", str(error))


async def create_user(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    body = await read_body(request, NewUser)

    async def run() -> Response:
        # Every cheap check before the deliberately slow hashing.
        try:
            check_user(username=body.username, role=body.role, number=body.number, room=body.room)
            name = check_name("user", body.name)
        except InvalidInput as error:
            raise invalid(error) from None
        _check_room(school, body.room)
        directory = school.services.backend.directory
        record = await directory.get_school(school.slug)
        if record is None:  # the school was removed under a live session
            raise ApiError(401, "unauthenticated", "Please sign in first.")
        password = body.password if body.password is not None else secrets.token_urlsafe(32)
        try:
            user = await add_user(
                directory,
                record,
                username=body.username,
                role=body.role,
                name=name,
                password_hash=await hash_password_async(password),
                number=body.number,
                room=body.room,
            )
        except InvalidInput as error:
            raise invalid(error) from None
        except Refused as error:
            raise _taken(error) from None
        school.services.names.remember(school.slug, user.id, user.name)
        return json_response(account(user), 201)

    return await idempotent(request, school.user, run)


async def change_user(request: Request) -> Response:
    school = await open_school(request, ADMIN)
    patch = await read_body(request, UserPatch)
    directory = school.services.backend.directory
    # Keyed by school: another school's id finds nobody here.
    user = await directory.get_user(school.slug, path_id(request))
    if user is None:
        raise NO_SUCH_USER

    number = user.number if isinstance(patch.number, UnsetType) else patch.number
    room = user.room if isinstance(patch.room, UnsetType) else patch.room
    active = user.active if isinstance(patch.active, UnsetType) else patch.active
    try:
        name = user.name if isinstance(patch.name, UnsetType) else check_name("user", patch.name)
        check_user(username=user.username, role=user.role, number=number, room=room)
    except InvalidInput as error:
        raise invalid(error) from None
    if room != user.room:
        _check_room(school, room)
    if not active and user.id == school.user.id:
        raise ApiError(
            422,
            "invalid",
            "active: you cannot deactivate your own account; another admin can.",
        )
    password_hash = user.password_hash
    if not isinstance(patch.password, UnsetType):
        password_hash = await hash_password_async(patch.password)

    changed = msgspec.structs.replace(
        user, name=name, number=number, room=room, active=active, password_hash=password_hash
    )
    if changed != user:  # a PATCH that changes nothing writes nothing
        try:
            await directory.update_user(changed)
        except DuplicateUser as error:
            raise _taken(error) from None
        except KeyError:  # removed meanwhile
            raise NO_SUCH_USER from None
    # A deactivated person's sessions end at their next request (or the next
    # heartbeat of an open board): each checks that the account is active.
    school.services.names.remember(school.slug, changed.id, changed.name)
    return json_response(account(changed))


endpoints: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/api/users",
        handler=list_users,
        summary=(
            "Find people of the school. `q`: any part of a name or username (ignoring "
            "case) or the start of a student number, best matches first; `role`: one "
            "role; `ids`: comma-separated user ids (at most 100); `active`: true or false; "
            f"`limit`: 1 to {LIST_MOST}, default {LIST_DEFAULT} (or the number of ids)."
        ),
        roles=STAFF_ROLES,
        response=list[Account],
        query=("q", "role", "ids", "active", "limit"),
        errors=("unauthenticated", "forbidden", "invalid"),
    ),
    Endpoint(
        method="POST",
        path="/api/users",
        handler=create_user,
        summary=(
            "Add a person, checked as `hallpass user add` checks: a student needs a "
            "`number`, a kiosk a `room` (a teacher may have one: their classroom). "
            "Without a `password` the person signs in with the school's account, or "
            "once an admin sets one."
        ),
        roles=ADMIN,
        body=NewUser,
        response=Account,
        status=201,
        errors=("unauthenticated", "forbidden", "invalid", "unknown_room", "duplicate"),
    ),
    Endpoint(
        method="PATCH",
        path="/api/users/{id}",
        handler=change_user,
        summary=(
            "Change a person's name, number, room, password or whether they may sign in "
            "(`active`); what is left out stays. A deactivated person's sessions end at "
            "their next request. Admins cannot deactivate themselves."
        ),
        roles=ADMIN,
        body=UserPatch,
        response=Account,
        errors=(
            "unauthenticated",
            "forbidden",
            "invalid",
            "unknown_room",
            "not_found",
            "duplicate",
        ),
    ),
]
