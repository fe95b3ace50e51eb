"""The demo school of API.md: rooms, policies and people to try Hallpass with."""

from __future__ import annotations

from hallpass.backend import Backend
from hallpass.events.types import Policies
from hallpass.passwords import hash_password_async
from hallpass.provision import Refused, add_room, add_school, add_user
from hallpass.service.runtime import SchoolRuntime

SLUG = "demo"
NAME = "Demo High School"
TIMEZONE = "America/Chicago"
PASSWORD = "demo"

# name, locked, capacity, minutes
ROOMS: tuple[tuple[str, bool, int | None, int], ...] = (
    *((f"Room {n}", False, None, 5) for n in range(101, 109)),
    ("Restroom", False, 3, 5),
    ("Water Fountain", False, None, 3),
    ("Library", False, 2, 10),
    ("Nurse", True, None, 10),
    ("Main Office", True, None, 10),
    ("Counselor", True, None, 15),
)
KIOSK_ROOM = "Room 101"

# username, name, PIN
STAFF: tuple[tuple[str, str, str | None], ...] = (
    ("teacher1", "Maria Rivera", "1111"),
    ("teacher2", "James Okafor", "2222"),
    ("teacher3", "Emily Nguyen", "3333"),
)
ADMIN_NAME = "Dana Whitfield"
KIOSK_NAME = "Room 101 Kiosk"

STUDENT_NAMES: tuple[str, ...] = (
    "Aaliyah Johnson",
    "Mateo Hernandez",
    "Olivia Smith",
    "Liam O'Brien",
    "Sofia Rossi",
    "Noah Williams",
    "Emma Kowalski",
    "Ethan Park",
    "Ava Martinez",
    "Lucas Schmidt",
    "Isabella Garcia",
    "Mason Brown",
    "Mia Tanaka",
    "Elijah Davis",
    "Amelia Novak",
    "Logan Patel",
    "Harper Lee",
    "Aiden Murphy",
    "Evelyn Chen",
    "Jackson Wilson",
    "Abigail Lopez",
    "Sebastian Kim",
    "Emily Anderson",
    "Jayden Thomas",
    "Camila Flores",
    "Caleb Jackson",
    "Zoe Robinson",
    "Isaac Nguyen",
    "Layla Hassan",
    "Owen Clark",
    "Nora Lindqvist",
    "Gabriel Santos",
    "Chloe Walker",
    "Julian Ibrahim",
    "Lily Moore",
    "Wyatt Young",
    "Grace Adeyemi",
    "Levi King",
    "Hannah Schwartz",
    "Diego Ramirez",
)
FIRST_NUMBER = 100001

USER_COUNT = 1 + len(STAFF) + len(STUDENT_NAMES) + 1


async def ensure_demo(backend: Backend) -> bool:
    """Add the demo school unless it exists; True when it was added.

    Adding the school comes first and is the gate: when it is there already
    (or another process adds it at the same moment) nothing more happens.
    """
    if await backend.directory.get_school(SLUG) is not None:
        return False
    try:
        school = await add_school(
            backend, SLUG, NAME, TIMEZONE, Policies(timezone=TIMEZONE, day_ends_at="16:00")
        )
    except Refused as refused:
        if refused.code == "school_exists":
            return False
        raise

    runtime = await SchoolRuntime.load(backend.store, SLUG)
    try:
        rooms: dict[str, str] = {}
        for name, locked, capacity, minutes in ROOMS:
            room = await add_room(runtime, name, locked=locked, capacity=capacity, minutes=minutes)
            rooms[name] = room.id
    finally:
        await runtime.close()

    # argon2 salts each hash, so hashing "demo" 45 times would only cost
    # seconds; the demo users share this one salted hash on purpose.
    password_hash = await hash_password_async(PASSWORD)
    directory = backend.directory

    async def add(
        username: str,
        role: str,
        name: str,
        *,
        number: str | None = None,
        room: str | None = None,
        pin: str | None = None,
    ) -> None:
        await add_user(
            directory,
            school,
            username=username,
            role=role,
            name=name,
            password_hash=password_hash,
            number=number,
            room=room,
            pin=pin,
        )

    await add("admin", "admin", ADMIN_NAME)
    for username, name, pin in STAFF:
        await add(username, "teacher", name, pin=pin)
    for i, name in enumerate(STUDENT_NAMES):
        await add(f"student{i + 1:02d}", "student", name, number=str(FIRST_NUMBER + i))
    await add("kiosk1", "kiosk", KIOSK_NAME, room=rooms[KIOSK_ROOM])
    return True
