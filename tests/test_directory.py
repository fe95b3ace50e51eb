"""The directory contract, run against both backends (SQLite file, real Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import pytest

from hallpass.directory.base import Directory
from hallpass.directory.model import (
    DuplicateUser,
    School,
    Session,
    Settings,
    UnknownSchool,
    User,
)
from hallpass.directory.redis import RedisDirectory
from hallpass.directory.sqlite import SqliteDirectory
from hallpass.events.urls import SqliteUrl, parse_store_url


class FakeClock:
    """Unix seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


OpenDirectory = Callable[[], Awaitable[Directory]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def open_directory(store_url: str, clock: FakeClock) -> AsyncIterator[OpenDirectory]:
    """Each call opens one more directory object on the same data, as another
    process would; all are closed afterwards."""
    opened: list[Directory] = []
    target = parse_store_url(store_url)

    async def open_one() -> Directory:
        directory: Directory
        if isinstance(target, SqliteUrl):
            directory = await SqliteDirectory.open(target.path, clock=clock)
        else:
            directory = RedisDirectory.from_url(target.url, clock=clock)
        opened.append(directory)
        return directory

    yield open_one
    for directory in opened:
        await directory.close()


@pytest.fixture
async def directory(open_directory: OpenDirectory) -> Directory:
    return await open_directory()


@pytest.fixture
async def school(directory: Directory, new_school: Callable[[], str]) -> School:
    school = School(slug=new_school(), name="Lincoln High", timezone="America/Denver", secret="k")
    await directory.add_school(school)
    return school


def make_user(school: School, username: str, **fields: object) -> User:
    defaults: dict[str, object] = {"role": "student", "name": username.title()}
    defaults.update(fields)
    return msgspec.convert(
        {"id": f"user_{uuid.uuid4().hex}", "school": school.slug, "username": username, **defaults},
        User,
    )


# --- schools -------------------------------------------------------------------


async def test_a_school_is_stored_whole(directory: Directory, school: School) -> None:
    assert await directory.get_school(school.slug) == school
    assert school in await directory.schools()


async def test_an_unknown_school_is_none(
    directory: Directory, new_school: Callable[[], str]
) -> None:
    assert await directory.get_school(new_school()) is None


async def test_a_taken_slug_is_refused(directory: Directory, school: School) -> None:
    with pytest.raises(ValueError, match=school.slug):
        await directory.add_school(School(slug=school.slug, name="Another"))
    assert await directory.get_school(school.slug) == school


async def test_schools_are_listed_by_slug(
    directory: Directory, new_school: Callable[[], str]
) -> None:
    slugs = [new_school() for _ in range(3)]
    for slug in reversed(slugs):
        await directory.add_school(School(slug=slug, name=slug))
    listed = [s.slug for s in await directory.schools() if s.slug in slugs]
    assert listed == sorted(slugs)


# --- users ---------------------------------------------------------------------


async def test_a_user_is_found_by_id_username_number_and_pin(
    directory: Directory, school: School
) -> None:
    student = make_user(
        school,
        "ana",
        number="100001",
        settings=Settings(language="es", appearance="dark", favorites=["room_a"]),
    )
    teacher = make_user(school, "mr-lee", role="teacher", pin_key="abc123")
    await directory.add_user(student)
    await directory.add_user(teacher)

    assert await directory.get_user(school.slug, student.id) == student
    assert await directory.user_by_username(school.slug, "ana") == student
    assert await directory.user_by_number(school.slug, "100001") == student
    assert await directory.user_by_pin_key(school.slug, "abc123") == teacher
    assert await directory.user_by_username(school.slug, "nobody") is None
    assert await directory.user_by_number(school.slug, "999") is None
    assert await directory.user_by_pin_key(school.slug, "zzz") is None
    assert await directory.get_user(school.slug, "user_missing") is None


async def test_a_user_needs_a_known_school(
    directory: Directory, new_school: Callable[[], str]
) -> None:
    ghost = School(slug=new_school(), name="Ghost")
    with pytest.raises(UnknownSchool):
        await directory.add_user(make_user(ghost, "ana"))
    assert await directory.users(ghost.slug) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"username": "ana"}, {"username": "ana"}),
        ({"username": "ana", "number": "7"}, {"username": "bo", "number": "7"}),
        (
            {"username": "t1", "role": "teacher", "pin_key": "k1"},
            {"username": "t2", "role": "teacher", "pin_key": "k1"},
        ),
    ],
    ids=["username", "number", "pin_key"],
)
async def test_a_taken_username_number_or_pin_is_refused_and_nothing_is_written(
    directory: Directory,
    school: School,
    first: dict[str, str],
    second: dict[str, str],
) -> None:
    await directory.add_user(make_user(school, **first))
    second_user = make_user(school, **second)
    with pytest.raises(DuplicateUser):
        await directory.add_user(second_user)
    assert await directory.get_user(school.slug, second_user.id) is None
    assert len(await directory.users(school.slug)) == 1
    # The refused user's other values were not indexed either.
    if second_user.username != first["username"]:
        assert await directory.user_by_username(school.slug, second_user.username) is None


async def test_a_duplicate_pin_message_never_shows_the_key(
    directory: Directory, school: School
) -> None:
    await directory.add_user(make_user(school, "t1", role="teacher", pin_key="secretkey"))
    with pytest.raises(DuplicateUser) as refused:
        await directory.add_user(make_user(school, "t2", role="teacher", pin_key="secretkey"))
    assert "secretkey" not in str(refused.value)


async def test_users_without_number_or_pin_do_not_collide(
    directory: Directory, school: School
) -> None:
    for name in ("t1", "t2", "t3"):
        await directory.add_user(make_user(school, name, role="teacher"))
    assert [u.username for u in await directory.users(school.slug)] == ["t1", "t2", "t3"]


async def test_schools_keep_their_people_apart(
    directory: Directory, school: School, new_school: Callable[[], str]
) -> None:
    other = School(slug=new_school(), name="Other")
    await directory.add_school(other)
    here = make_user(school, "ana", number="1", role="student")
    there = make_user(other, "ana", number="1", role="student")
    await directory.add_user(here)
    await directory.add_user(there)  # the same username and number elsewhere is fine

    assert await directory.user_by_username(school.slug, "ana") == here
    assert await directory.user_by_username(other.slug, "ana") == there
    assert await directory.get_user(other.slug, here.id) is None
    assert await directory.users(school.slug) == [here]


async def test_users_are_listed_by_username(directory: Directory, school: School) -> None:
    for name in ("zoe", "ana", "mo"):
        await directory.add_user(make_user(school, name, role="teacher"))
    assert [u.username for u in await directory.users(school.slug)] == ["ana", "mo", "zoe"]


async def test_an_update_moves_every_index(directory: Directory, school: School) -> None:
    user = make_user(school, "ana", role="teacher", pin_key="old-pin")
    await directory.add_user(user)
    changed = msgspec.structs.replace(user, username="ana.b", name="Ana B", pin_key="new-pin")
    await directory.update_user(changed)

    assert await directory.get_user(school.slug, user.id) == changed
    assert await directory.user_by_username(school.slug, "ana.b") == changed
    assert await directory.user_by_pin_key(school.slug, "new-pin") == changed
    assert await directory.user_by_username(school.slug, "ana") is None
    assert await directory.user_by_pin_key(school.slug, "old-pin") is None
    # The old values are free again.
    await directory.add_user(make_user(school, "ana", role="teacher", pin_key="old-pin"))


async def test_an_update_can_drop_a_pin_and_keep_the_rest(
    directory: Directory, school: School
) -> None:
    user = make_user(school, "ana", role="teacher", pin_key="k")
    await directory.add_user(user)
    unchanged_indexes = msgspec.structs.replace(user, name="Ana Updated")
    await directory.update_user(unchanged_indexes)  # its own values are not "taken"
    without_pin = msgspec.structs.replace(unchanged_indexes, pin_key=None)
    await directory.update_user(without_pin)
    assert await directory.user_by_pin_key(school.slug, "k") is None
    assert await directory.user_by_username(school.slug, "ana") == without_pin


async def test_an_update_to_a_taken_value_changes_nothing(
    directory: Directory, school: School
) -> None:
    ana = make_user(school, "ana", number="1")
    bo = make_user(school, "bo", number="2")
    await directory.add_user(ana)
    await directory.add_user(bo)
    with pytest.raises(DuplicateUser):
        await directory.update_user(msgspec.structs.replace(bo, username="bo2", number="1"))
    assert await directory.get_user(school.slug, bo.id) == bo
    assert await directory.user_by_username(school.slug, "bo2") is None
    assert await directory.user_by_number(school.slug, "1") == ana
    assert await directory.user_by_number(school.slug, "2") == bo


async def test_an_update_of_an_unknown_user_is_refused(
    directory: Directory, school: School
) -> None:
    with pytest.raises(KeyError):
        await directory.update_user(make_user(school, "ghost"))
    assert await directory.user_by_username(school.slug, "ghost") is None


async def test_concurrent_adds_of_one_username_keep_it_unique(
    open_directory: OpenDirectory, school: School
) -> None:
    # Two directory objects stand for two processes on the same data.
    first, second = await open_directory(), await open_directory()
    users = [make_user(school, "same", number=str(n)) for n in range(12)]

    results = await asyncio.gather(
        *((first if n % 2 else second).add_user(u) for n, u in enumerate(users)),
        return_exceptions=True,
    )

    assert sum(r is None for r in results) == 1
    assert all(r is None or isinstance(r, DuplicateUser) for r in results)
    stored = await first.users(school.slug)
    assert len(stored) == 1
    assert await second.user_by_number(school.slug, stored[0].number or "") == stored[0]


async def test_concurrent_renames_to_one_username_keep_it_unique(
    open_directory: OpenDirectory, school: School
) -> None:
    first, second = await open_directory(), await open_directory()
    users = [make_user(school, f"u{n}") for n in range(6)]
    for user in users:
        await first.add_user(user)

    results = await asyncio.gather(
        *(
            (first if n % 2 else second).update_user(msgspec.structs.replace(u, username="winner"))
            for n, u in enumerate(users)
        ),
        return_exceptions=True,
    )

    assert sum(r is None for r in results) == 1
    winner = await first.user_by_username(school.slug, "winner")
    assert winner is not None
    names = sorted(u.username for u in await second.users(school.slug))
    assert names == sorted([*(u.username for u in users if u.id != winner.id), "winner"])


# --- sessions ------------------------------------------------------------------


def make_session(school: School, clock: FakeClock) -> Session:
    return Session(
        token_hash=uuid.uuid4().hex,
        school=school.slug,
        user="user_1",
        created=clock(),
        seen=clock(),
    )


async def test_a_session_is_stored_and_deleted(
    directory: Directory, school: School, clock: FakeClock
) -> None:
    session = make_session(school, clock)
    await directory.put_session(session, ttl=3600)
    assert await directory.get_session(session.token_hash) == session
    await directory.delete_session(session.token_hash)
    assert await directory.get_session(session.token_hash) is None
    await directory.delete_session(session.token_hash)  # deleting twice is harmless


async def test_an_unknown_session_is_none(directory: Directory) -> None:
    assert await directory.get_session(uuid.uuid4().hex) is None


async def test_a_session_expires_after_its_ttl(
    directory: Directory, school: School, clock: FakeClock
) -> None:
    session = make_session(school, clock)
    await directory.put_session(session, ttl=600)
    clock.now += 599
    assert await directory.get_session(session.token_hash) == session
    clock.now += 2
    assert await directory.get_session(session.token_hash) is None


async def test_touching_a_session_extends_it(
    directory: Directory, school: School, clock: FakeClock
) -> None:
    session = make_session(school, clock)
    await directory.put_session(session, ttl=600)
    clock.now += 500
    seen = msgspec.structs.replace(session, seen=clock())
    await directory.put_session(seen, ttl=600)
    clock.now += 500  # 1000 s after it began, 500 after the touch
    assert await directory.get_session(session.token_hash) == seen


async def test_closing_twice_is_harmless(open_directory: OpenDirectory) -> None:
    directory = await open_directory()
    await directory.close()
    await directory.close()
