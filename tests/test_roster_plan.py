"""What a roster import changes (hallpass.roster.plan_roster), worked out
without a store: from the people a school has and a roster folder."""

from __future__ import annotations

import itertools
from pathlib import Path

import msgspec
import pytest
from roster_kit import DISTRICT, JEFFERSON, LINCOLN, RosterData, generate_roster, user_row

from hallpass.directory.model import Settings, User
from hallpass.oneroster import Roster, RosterError, read_roster
from hallpass.roster import RosterConflict, RosterPlan, describe, plan_roster

SCHOOL = "lincoln"


def ids() -> itertools.count[int]:
    return itertools.count(1)


def plan(
    folder: Path, current: list[User], *, org: str | None = None, data: RosterData | None = None
) -> RosterPlan:
    if data is not None:
        data.write(folder)
    counter = ids()
    return plan_roster(
        SCHOOL, current, read_roster(folder), org=org, new_user_id=lambda: f"user_{next(counter)}"
    )


def applied(current: list[User], result: RosterPlan) -> list[User]:
    """The people after `result` is applied, as the directory would hold them."""
    people = {user.id: user for user in current}
    for change in result.changes:
        people[change.user.id] = change.user
    return list(people.values())


@pytest.fixture
def data() -> RosterData:
    return generate_roster(students=120, teachers=12, guardians=6)


@pytest.fixture
def first(tmp_path: Path, data: RosterData) -> list[User]:
    """The school's people after a first import of `data`."""
    return applied([], plan(tmp_path / "first", [], data=data))


def by_source(users: list[User]) -> dict[str | None, User]:
    return {user.source_id: user for user in users}


def test_a_first_import_adds_everyone_hallpass_keeps(tmp_path: Path, data: RosterData) -> None:
    result = plan(tmp_path, [], data=data)

    kept = [row for row in data.users if row["role"] != "guardian"]
    assert [change.kind for change in result.changes] == ["add"] * len(kept)
    assert result.people == len(kept)
    assert result.skipped == {"guardian": 6}
    people = by_source([change.user for change in result.changes])
    assert len({user.id for user in people.values()}) == len(kept)
    for row in kept:
        user = people[row["sourcedId"]]
        role = {"aide": "teacher", "administrator": "admin"}.get(row["role"], row["role"])
        assert (user.school, user.role, user.username) == (SCHOOL, role, row["username"])
        assert user.name == f"{row['givenName']} {row['familyName']}"
        assert user.number == (row["identifier"] if role == "student" else None)
        assert user.email == row["email"]
        assert user.active
        assert user.password_hash == ""  # SSO, or an admin sets one


def test_the_same_roster_again_changes_nothing(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    again = plan(tmp_path / "again", first, data=data)
    assert again.changes == []
    assert "no changes" in describe(again, applied=True)


def test_a_changed_roster_changes_exactly_what_changed(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    students = data.of_role("student")
    renamed, moved, gone = students[0], students[1], students[2]
    renamed["familyName"] = "Okonkwo-Smith"
    moved["username"] = "new.username"
    data.remove(gone)
    data.users.append(
        user_row("stu-new", "student", "Nia", "Adeyemi", "nadeyemi", identifier="123456")
    )

    result = plan(tmp_path / "second", first, data=data)

    kinds = {(change.kind, change.user.source_id) for change in result.changes}
    assert kinds == {
        ("update", renamed["sourcedId"]),
        ("update", moved["sourcedId"]),
        ("deactivate", gone["sourcedId"]),
        ("add", "stu-new"),
    }
    fields = {change.user.source_id: change.fields() for change in result.of("update")}
    assert fields == {renamed["sourcedId"]: ["name"], moved["sourcedId"]: ["username"]}
    before = by_source(first)
    for change in result.of("update") + result.of("deactivate"):
        assert change.user.id == before[change.user.source_id].id  # the same person
    text = describe(result, applied=True, every_change=True)
    assert text.splitlines()[0] == (
        f"Roster of school {SCHOOL!r}: added 1 (1 student); updated 2 (2 students); "
        "deactivated 1 (1 student). Skipped 6 rows (guardian 6); "
        f"checked {len(data.classes)} classes and {len(data.enrollments)} enrollments."
    )
    assert "Okonkwo-Smith" in text and "new.username" in text


def test_what_the_school_set_survives_an_update(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    teacher_row = data.of_role("teacher")[0]
    people = by_source(first)
    teacher = people[teacher_row["sourcedId"]]
    customised = msgspec.structs.replace(
        teacher,
        password_hash="$argon2id$set-by-an-admin",
        pin_key="pin-key",
        settings=Settings(language="es", appearance="dark", favorites=["room_1"]),
    )
    current = [customised if user.id == teacher.id else user for user in first]
    teacher_row["givenName"] = "Renamed"

    (change,) = plan(tmp_path / "second", current, data=data).changes
    assert change.user == msgspec.structs.replace(
        customised, name=f"Renamed {teacher_row['familyName']}"
    )


def test_a_teacher_who_becomes_an_administrator_loses_the_pin(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    row = data.of_role("teacher")[1]
    people = by_source(first)
    current = [
        msgspec.structs.replace(user, pin_key="pk") if user.source_id == row["sourcedId"] else user
        for user in first
    ]
    row["role"] = "administrator"
    (change,) = plan(tmp_path / "second", current, data=data).changes
    assert (change.kind, change.fields()) == ("update", ["role"])
    assert (change.user.role, change.user.pin_key) == ("admin", None)
    assert change.user.id == people[row["sourcedId"]].id


def test_disabled_and_deleted_people_are_deactivated(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    students = data.of_role("student")
    students[0]["enabledUser"] = "false"
    students[1]["status"] = "tobedeleted"
    result = plan(tmp_path / "second", first, data=data)
    assert {(c.kind, c.user.source_id) for c in result.changes} == {
        ("deactivate", students[0]["sourcedId"]),
        ("deactivate", students[1]["sourcedId"]),
    }
    assert all(not change.user.active for change in result.changes)


def test_a_disabled_newcomer_is_not_added(tmp_path: Path, data: RosterData) -> None:
    row = user_row("stu-x", "student", "Al", "Bo", "albo", identifier="55")
    row["enabledUser"] = "false"
    data.users.append(row)
    result = plan(tmp_path, [], data=data)
    assert "stu-x" not in {change.user.source_id for change in result.changes}


def test_someone_back_on_the_roster_is_reactivated(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    row = data.of_role("student")[3]
    current = [
        msgspec.structs.replace(user, active=False) if user.source_id == row["sourcedId"] else user
        for user in first
    ]
    (change,) = plan(tmp_path / "second", current, data=data).changes
    assert (change.kind, change.user.active) == ("reactivate", True)
    assert change.before is not None and not change.before.active


def test_people_added_by_hand_are_left_alone(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    kiosk = User(id="user_kiosk", school=SCHOOL, username="kiosk1", name="Kiosk", role="kiosk")
    admin = User(id="user_admin", school=SCHOOL, username="admin", name="Admin", role="admin")
    result = plan(tmp_path / "second", [*first, kiosk, admin], data=data)
    assert result.changes == []


def test_a_roster_username_held_by_someone_added_by_hand_is_refused(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    row = data.of_role("teacher")[2]
    row["username"] = "admin"
    admin = User(id="user_admin", school=SCHOOL, username="admin", name="Ada Admin", role="admin")
    data.write(tmp_path / "second")
    line = 2 + data.users.index(row)
    with pytest.raises(RosterConflict) as caught:
        plan(tmp_path / "second", [*first, admin])
    assert str(caught.value).startswith(
        f"users.csv line {line}: username: 'admin' belongs to Ada Admin (admin), "
        "who was added by hand"
    )


def test_a_number_still_held_by_a_deactivated_student_is_refused(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    students = data.of_role("student")
    leaver, newcomer = students[0], students[1]
    data.remove(leaver)
    newcomer["identifier"] = leaver["identifier"]
    data.write(tmp_path / "second")
    with pytest.raises(RosterConflict) as caught:
        plan(tmp_path / "second", first)
    assert "identifier: " in str(caught.value)
    assert "who is deactivated and keeps it" in str(caught.value)


def test_two_people_may_trade_usernames(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    a, b = data.of_role("teacher")[:2]
    a["username"], b["username"] = b["username"], a["username"]
    result = plan(tmp_path / "second", first, data=data)
    assert sorted(change.kind for change in result.changes) == ["update", "update"]


def test_a_student_number_twice_in_the_roster_is_refused(tmp_path: Path, data: RosterData) -> None:
    students = data.of_role("student")
    students[5]["identifier"] = students[60]["identifier"]
    lines = sorted(2 + data.users.index(students[n]) for n in (5, 60))
    data.write(tmp_path)
    with pytest.raises(RosterError) as caught:
        plan(tmp_path, [])
    assert str(caught.value).startswith(f"users.csv line {lines[1]}: identifier: ")
    assert f"also on line {lines[0]}" in str(caught.value)


def test_an_org_takes_its_own_people_and_those_of_the_orgs_under_it(
    tmp_path: Path, data: RosterData
) -> None:
    data.write(tmp_path)
    lincoln = {r["sourcedId"] for r in data.users if r["orgSourcedIds"] == LINCOLN}
    kept = {r["sourcedId"] for r in data.users if r["role"] != "guardian"}

    only = plan(tmp_path, [], org=LINCOLN)
    assert {change.user.source_id for change in only.changes} == lincoln & kept
    everyone = plan(tmp_path, [], org=DISTRICT)
    assert {change.user.source_id for change in everyone.changes} == kept


def test_people_who_move_to_another_org_leave_this_school(tmp_path: Path, data: RosterData) -> None:
    data.write(tmp_path / "first")
    first = applied([], plan(tmp_path / "first", [], org=LINCOLN))
    row = next(r for r in data.of_role("student") if r["orgSourcedIds"] == LINCOLN)
    row["orgSourcedIds"] = JEFFERSON
    result = plan(tmp_path / "second", first, org=LINCOLN, data=data)
    assert [(c.kind, c.user.source_id) for c in result.changes] == [
        ("deactivate", row["sourcedId"])
    ]


def test_an_org_the_roster_lacks_is_refused(tmp_path: Path, data: RosterData) -> None:
    data.write(tmp_path)
    with pytest.raises(RosterError, match="there is no org 'org-mars'"):
        plan(tmp_path, [], org="org-mars")


def test_plans_are_pure(tmp_path: Path, data: RosterData) -> None:
    roster: Roster = read_roster(data.write(tmp_path))
    one = plan_roster(SCHOOL, [], roster, new_user_id=lambda: "user_same")
    two = plan_roster(SCHOOL, [], roster, new_user_id=lambda: "user_same")
    assert one == two


def test_an_email_twice_in_the_roster_is_refused_whatever_its_case(
    tmp_path: Path, data: RosterData
) -> None:
    teachers = data.of_role("teacher")
    teachers[4]["email"] = teachers[1]["email"].upper()
    lines = sorted(2 + data.users.index(teachers[n]) for n in (1, 4))
    data.write(tmp_path)
    with pytest.raises(RosterError) as caught:
        plan(tmp_path, [])
    assert str(caught.value).startswith(f"users.csv line {lines[1]}: email: ")
    assert f"also on line {lines[0]}" in str(caught.value)


def test_an_email_held_by_someone_added_by_hand_is_refused(
    tmp_path: Path, data: RosterData, first: list[User]
) -> None:
    row = data.of_role("student")[9]
    row["email"] = "Office@Schools.Example.org"
    office = User(
        id="user_office",
        school=SCHOOL,
        username="office",
        name="Front Office",
        role="admin",
        email="office@schools.example.org",
    )
    data.write(tmp_path / "second")
    with pytest.raises(RosterConflict) as caught:
        plan(tmp_path / "second", [*first, office])
    assert str(caught.value).startswith(
        f"users.csv line {2 + data.users.index(row)}: email: 'Office@Schools.Example.org' "
        "belongs to Front Office (admin), who was added by hand"
    )
