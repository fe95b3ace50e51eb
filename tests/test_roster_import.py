"""`hallpass roster import` against both stores (a SQLite file and the real
Redis): a district-sized roster of 3,000 students, a second run that changes
nothing, a changed roster that changes exactly that, refusals that write
nothing, and the directory's all-or-nothing `save_users` underneath."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from data_kit import hallpass, refused, run
from roster_kit import RosterData, generate_roster, user_row

from hallpass.backend import Backend, open_backend
from hallpass.directory.model import DuplicateUser, School, UnknownSchool, User
from hallpass.ids import new_id
from hallpass.oneroster import read_roster
from hallpass.provision import add_room, add_school
from hallpass.roster import apply_plan, plan_roster
from hallpass.rules.commands import Actor, CreatePass
from hallpass.service.runtime import SchoolRuntime


@pytest.fixture
async def backend(store_url: str) -> AsyncIterator[Backend]:
    async with await open_backend(store_url) as opened:
        yield opened


@pytest.fixture
async def slug(backend: Backend, school: str) -> str:
    await add_school(backend, school, "Lincoln High")
    return school


async def import_roster(backend: Backend, slug: str, folder: Path) -> list[str]:
    """Import as the command does; the kinds of the changes made."""
    plan = plan_roster(slug, await backend.directory.users(slug), read_roster(folder))
    await apply_plan(backend.directory, plan)
    return [change.kind for change in plan.changes]


def people(users: list[User]) -> dict[str | None, User]:
    return {user.source_id: user for user in users}


# --- a district-sized roster ----------------------------------------------------------------


async def test_three_thousand_students_come_in_once(
    backend: Backend, slug: str, tmp_path: Path
) -> None:
    data = generate_roster(students=3000, teachers=200)
    folder = data.write(tmp_path / "roster")

    kinds = await import_roster(backend, slug, folder)
    users = await backend.directory.users(slug)
    assert Counter(kinds) == {"add": 3000 + 200 + 12 + 6}
    assert Counter(user.role for user in users) == {"student": 3000, "teacher": 212, "admin": 6}
    stored = people(users)
    for row in data.of_role("student"):
        found = await backend.directory.user_by_number(slug, row["identifier"])
        assert found == stored[row["sourcedId"]]
        assert found.username == row["username"] and found.active
    teacher = data.of_role("teacher")[0]
    found = await backend.directory.user_by_username(slug, teacher["username"])
    assert found is not None and found.source_id == teacher["sourcedId"]

    assert await import_roster(backend, slug, folder) == []
    assert await backend.directory.users(slug) == users


async def test_a_changed_roster_changes_just_that_and_keeps_history(
    backend: Backend, slug: str, tmp_path: Path
) -> None:
    data = generate_roster(students=300, teachers=20)
    await import_roster(backend, slug, data.write(tmp_path / "first"))
    before = people(await backend.directory.users(slug))

    students = data.of_role("student")
    renamed, gone = students[0], students[1]
    # The student who leaves has a pass in the school's history.
    runtime = await SchoolRuntime.load(backend.store, slug)
    origin, destination = [await add_room(runtime, name) for name in ("Room 9", "Library")]
    pass_id = new_id("pass")
    teacher = before[data.of_role("teacher")[0]["sourcedId"]]
    await run(
        runtime,
        CreatePass(
            actor=Actor(id=teacher.id, role="teacher"),
            pass_id=pass_id,
            student=before[gone["sourcedId"]].id,
            origin=origin.id,
            destination=destination.id,
        ),
    )
    await runtime.close()
    renamed["givenName"] = "Temperance"
    data.remove(gone)
    data.users.append(user_row("stu-new", "student", "Nia", "Adeyemi", "nadeyemi", identifier="7"))

    kinds = await import_roster(backend, slug, data.write(tmp_path / "second"))

    assert sorted(kinds) == ["add", "deactivate", "update"]
    after = people(await backend.directory.users(slug))
    assert len(after) == len(before) + 1
    changed = {"stu-new", renamed["sourcedId"], gone["sourcedId"]}
    for source_id, user in before.items():
        if source_id not in changed:
            assert after[source_id] == user
    assert after[renamed["sourcedId"]].name == f"Temperance {renamed['familyName']}"
    assert after[renamed["sourcedId"]].id == before[renamed["sourcedId"]].id
    assert after["stu-new"].number == "7" and after["stu-new"].active
    left = after[gone["sourcedId"]]
    assert left == msgspec.structs.replace(before[gone["sourcedId"]], active=False)
    assert await backend.directory.get_user(slug, left.id) == left
    reloaded = await SchoolRuntime.load(backend.store, slug)
    assert reloaded.state.passes[pass_id].student == left.id
    await reloaded.close()


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def roster(tmp_path: Path) -> RosterData:
    return generate_roster(students=200, teachers=15, guardians=4)


async def test_the_command_says_what_it_changed(
    store_url: str, slug: str, tmp_path: Path, roster: RosterData
) -> None:
    folder = roster.write(tmp_path / "roster")
    args = ("roster", "import", slug, str(folder), "--store", store_url)

    dry = hallpass(*args, "--dry-run")
    assert dry.code == 0, dry
    assert dry.out.startswith(f"Roster of school {slug!r}: would add 233 (6 admins, 200 students")
    assert "Nothing was written (--dry-run)." in dry.out

    first = hallpass(*args)
    assert (first.code, first.err) == (0, ""), first
    assert first.out.splitlines() == [
        f"Roster of school {slug!r}: added 233 (6 admins, 200 students, 27 teachers). "
        f"Skipped 4 rows (guardian 4); checked 15 classes and {len(roster.enrollments)} "
        "enrollments."
    ]

    second = hallpass(*args)
    assert second.code == 0, second
    assert f"Roster of school {slug!r}: no changes (233 people checked)." in second.out

    student = roster.of_role("student")[0]
    old_name = f"{student['givenName']} {student['familyName']}"
    student["familyName"] = "Zamora"
    roster.write(folder)
    third = hallpass(*args, "--verbose")
    assert third.code == 0, third
    assert third.out.splitlines()[:2] == [
        f"Roster of school {slug!r}: updated 1 (1 student). Skipped 4 rows (guardian 4); "
        f"checked 15 classes and {len(roster.enrollments)} enrollments.",
        f"  updated student {old_name} ({student['username']}, {student['identifier']}): "
        f"name {old_name!r} -> '{student['givenName']} Zamora'",
    ]


async def test_a_malformed_roster_changes_nothing(
    backend: Backend, store_url: str, slug: str, tmp_path: Path, roster: RosterData
) -> None:
    folder = roster.write(tmp_path / "roster")
    assert hallpass("roster", "import", slug, str(folder), "--store", store_url).code == 0
    before = await backend.directory.users(slug)

    roster.users.append(user_row("stu-bad", "student", "No", "Number", "nonumber"))
    student = roster.of_role("student")[3]
    student["givenName"] = "Changed"  # would be an update, were the file sound
    roster.write(folder)
    ran = hallpass("roster", "import", slug, str(folder), "--store", store_url)

    line = len(roster.users) + 1
    assert refused(ran, 2).startswith(f"hallpass: users.csv line {line}: identifier: ")
    assert await backend.directory.users(slug) == before


async def test_a_collision_with_someone_added_by_hand_changes_nothing(
    backend: Backend, store_url: str, slug: str, tmp_path: Path, roster: RosterData
) -> None:
    admin = User(id=new_id("user"), school=slug, username="admin", name="Ada", role="admin")
    await backend.directory.add_user(admin)
    roster.of_role("teacher")[0]["username"] = "admin"
    folder = roster.write(tmp_path / "roster")
    before = await backend.directory.users(slug)

    ran = hallpass("roster", "import", slug, str(folder), "--store", store_url)
    assert "username: 'admin' belongs to Ada (admin), who was added by hand" in refused(ran, 1)
    assert await backend.directory.users(slug) == before


async def test_an_unknown_school_is_refused(
    store_url: str, tmp_path: Path, roster: RosterData
) -> None:
    folder = roster.write(tmp_path / "roster")
    ran = hallpass("roster", "import", "no-such-school", str(folder), "--store", store_url)
    assert refused(ran, 1) == "hallpass: There is no school 'no-such-school'."


# --- save_users: all or nothing ---------------------------------------------------------------


def _user(slug: str, username: str, number: str | None = None) -> User:
    role = "student" if number else "teacher"
    return User(
        id=new_id("user"), school=slug, username=username, name=username, role=role, number=number
    )


async def test_save_users_lets_people_trade_usernames_and_numbers(
    backend: Backend, slug: str
) -> None:
    a, b = _user(slug, "amy", "1"), _user(slug, "bob", "2")
    await backend.directory.save_users(slug, [a, b], [])
    traded = [
        msgspec.structs.replace(a, username="bob", number="2"),
        msgspec.structs.replace(b, username="amy", number="1"),
    ]
    newcomer = _user(slug, "cat", "3")
    await backend.directory.save_users(slug, [newcomer], traded)

    assert await backend.directory.user_by_username(slug, "bob") == traded[0]
    assert await backend.directory.user_by_number(slug, "1") == traded[1]
    assert await backend.directory.user_by_number(slug, "3") == newcomer
    assert len(await backend.directory.users(slug)) == 3


async def test_save_users_writes_nothing_when_one_user_is_refused(
    backend: Backend, slug: str
) -> None:
    kept = _user(slug, "kept", "10")
    await backend.directory.save_users(slug, [kept], [])
    renamed = msgspec.structs.replace(kept, username="renamed")

    with pytest.raises(DuplicateUser):  # "x" twice in one call
        await backend.directory.save_users(slug, [_user(slug, "x"), _user(slug, "x")], [renamed])
    with pytest.raises(DuplicateUser):  # a number someone keeps
        await backend.directory.save_users(slug, [_user(slug, "y", "10")], [])
    with pytest.raises(KeyError):  # an update of no one
        await backend.directory.save_users(slug, [_user(slug, "z")], [_user(slug, "ghost")])

    assert await backend.directory.users(slug) == [kept]


async def test_save_users_needs_the_school(backend: Backend) -> None:
    slug = f"missing-{new_id('x')[2:12]}"
    with pytest.raises(UnknownSchool):
        await backend.directory.save_users(slug, [_user(slug, "a")], [])
    with pytest.raises(ValueError):
        await backend.directory.save_users("other", [_user(slug, "a")], [])
    assert await backend.directory.get_school(slug) is None


async def test_save_users_with_nothing_to_save(backend: Backend, slug: str) -> None:
    await backend.directory.save_users(slug, [], [])
    assert await backend.directory.users(slug) == []
    assert isinstance(await backend.directory.get_school(slug), School)
