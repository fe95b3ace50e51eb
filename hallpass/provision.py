"""Adding schools, rooms and users from the edge: the command line and the demo.

Each step checks what it can alone (a slug's shape, a role's needs), makes the
ids, and hands the rest to the directory (people) or to the school's runtime
(rooms and policies are events, so `decide` has the last word on them).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping

import msgspec

from hallpass.backend import Backend
from hallpass.directory.base import Directory
from hallpass.directory.model import DuplicateUser, School, UnknownSchool, User
from hallpass.events.store import StoredEvent
from hallpass.events.types import SYSTEM, Policies
from hallpass.ids import new_id
from hallpass.passwords import new_school_secret, pin_key, valid_pin
from hallpass.projections.records import RoomRecord
from hallpass.rules.commands import Actor, AddRoom, AnyCommand, Rejection, Role, SetPolicies
from hallpass.service.runtime import SchoolRuntime

# Operators act as the school's rules do: an admin that is no person.
SYSTEM_ACTOR = Actor(id=SYSTEM, role="admin")

ROLES: tuple[Role, ...] = ("student", "teacher", "admin", "kiosk")
# Who may belong to a room: a kiosk stands in one; a teacher may have their own.
ROOM_ROLES: tuple[Role, ...] = ("kiosk", "teacher")

# Slugs appear in URLs and inside Redis hash tags: no braces, no case games.
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG = 40
_USERNAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")
_NUMBER = re.compile(r"[A-Za-z0-9-]{1,32}")
MAX_NAME = 100


class InvalidInput(ValueError):
    """Input that could never be right, whatever the school holds. `field`
    names the input at fault, when one is (the API's 422 starts with it)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Refused(Exception):
    """Well-formed input that the school's data refuses, with API.md's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_slug(slug: str) -> str:
    if len(slug) > MAX_SLUG or _SLUG.fullmatch(slug) is None:
        raise InvalidInput(
            f"{slug!r} is not a school slug: use up to {MAX_SLUG} lowercase letters, "
            "digits and single hyphens, such as 'lincoln-high'."
        )
    return slug


def check_timezone(timezone: str) -> str:
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{timezone!r} is not a time zone; use an IANA name such as 'America/Chicago'."
        ) from None
    return timezone


def check_name(what: str, name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidInput(
            f"The {what} needs a name of 1 to {MAX_NAME} printable characters.", "name"
        )
    return name


async def execute(runtime: SchoolRuntime, command: AnyCommand) -> list[StoredEvent]:
    """Run `command`; a Rejection becomes Refused with its code and sentence."""
    result = await runtime.execute(command)
    if isinstance(result, Rejection):
        raise Refused(result.code, result.message)
    return result


async def require_school(directory: Directory, slug: str) -> School:
    school = await directory.get_school(slug)
    if school is None:
        raise Refused("unknown_school", f"There is no school {slug!r}.")
    return school


# --- schools -------------------------------------------------------------------


async def add_school(
    backend: Backend,
    slug: str,
    name: str,
    timezone: str = "America/Chicago",
    policies: Policies | None = None,
) -> School:
    """Add the school and set its policies (the defaults unless given) with
    its time zone, which is where the rules read it from."""
    school = School(
        slug=check_slug(slug),
        name=check_name("school", name),
        timezone=check_timezone(timezone),
        secret=new_school_secret(),
    )
    # The directory's unique slug is the gate: of two processes adding the
    # same school, only one goes on to write its events.
    try:
        await backend.directory.add_school(school)
    except ValueError as error:
        raise Refused("school_exists", str(error)) from None
    runtime = await SchoolRuntime.load(backend.store, school.slug)
    try:
        chosen = msgspec.structs.replace(policies or Policies(), timezone=timezone)
        await execute(runtime, SetPolicies(actor=SYSTEM_ACTOR, policies=chosen))
    finally:
        await runtime.close()
    return school


# --- rooms ---------------------------------------------------------------------


async def add_room(
    runtime: SchoolRuntime,
    name: str,
    *,
    locked: bool = False,
    capacity: int | None = None,
    minutes: int = 5,
) -> RoomRecord:
    room_id = new_id("room")
    command = AddRoom(
        actor=SYSTEM_ACTOR,
        room_id=room_id,
        name=check_name("room", name),
        locked=locked,
        capacity=capacity,
        minutes=minutes,
    )
    await execute(runtime, command)
    return runtime.state.rooms[room_id]


def find_room(rooms: Mapping[str, RoomRecord], name_or_id: str) -> RoomRecord | None:
    """A room by its id, else by its name (exactly, then ignoring case)."""
    if name_or_id in rooms:
        return rooms[name_or_id]
    for exact in (True, False):
        for room in rooms.values():
            if (
                (room.name == name_or_id)
                if exact
                else room.name.casefold() == name_or_id.casefold()
            ):
                return room
    return None


# --- users ---------------------------------------------------------------------


def check_user(
    *,
    username: str,
    role: str,
    number: str | None = None,
    room: str | None = None,
    pin: str | None = None,
) -> Role:
    """What a user needs by role: a student a number, a kiosk a room (a
    teacher may have one: their own classroom), and only a teacher may have
    a PIN. Returns the role, checked."""
    if role not in ROLES:
        raise InvalidInput(f"{role!r} is not a role; use one of {', '.join(ROLES)}.", "role")
    if _USERNAME.fullmatch(username) is None:
        raise InvalidInput("A username is 1 to 64 characters without spaces.", "username")
    if role == "student" and number is None:
        raise InvalidInput("A student needs a student number (--number).", "number")
    if role != "student" and number is not None:
        raise InvalidInput("Only students have a student number.", "number")
    if number is not None and _NUMBER.fullmatch(number) is None:
        raise InvalidInput(
            f"{number!r} is not a student number: use letters, digits and hyphens.", "number"
        )
    if role == "kiosk" and room is None:
        raise InvalidInput("A kiosk needs the room it stands in (--room).", "room")
    if role not in ROOM_ROLES and room is not None:
        raise InvalidInput("Only a kiosk or a teacher belongs to a room.", "room")
    if pin is not None and role != "teacher":
        raise InvalidInput("Only teachers have a PIN.", "pin")
    if pin is not None and not valid_pin(pin):
        raise InvalidInput("A PIN is 4 to 6 digits.", "pin")
    return role


async def add_user(
    directory: Directory,
    school: School,
    *,
    username: str,
    role: str,
    name: str,
    password_hash: str,
    number: str | None = None,
    room: str | None = None,
    pin: str | None = None,
) -> User:
    """Add a person; see `check_user` for what each role needs. `room` is a
    room id: the caller checks that the school has it."""
    checked_role = check_user(username=username, role=role, number=number, room=room, pin=pin)
    if not password_hash:
        raise InvalidInput("A user needs a password.")
    user = User(
        id=new_id("user"),
        school=school.slug,
        username=username,
        name=check_name("user", name),
        role=checked_role,
        number=number,
        room=room,
        password_hash=password_hash,
        pin_key=None if pin is None else pin_key(school.secret, pin),
    )
    try:
        await directory.add_user(user)
    except DuplicateUser as error:
        raise Refused("duplicate", str(error)) from None
    except UnknownSchool as error:
        raise Refused("unknown_school", str(error)) from None
    return user
