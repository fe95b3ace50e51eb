"""Reading OneRoster 1.1 folders (hallpass.oneroster): what is kept, what is
skipped, and every malformed file refused with its file, line and field.
No store here: the reader is checked on files alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from roster_kit import JEFFERSON, LINCOLN, RosterData, generate_roster, user_row

from hallpass.oneroster import RosterError, read_roster


@pytest.fixture
def small() -> RosterData:
    """A few dozen people: big enough for every role, small enough to edit."""
    return generate_roster(students=40, teachers=8, guardians=5)


def refusal(folder: Path) -> str:
    with pytest.raises(RosterError) as caught:
        read_roster(folder)
    return str(caught.value)


def line_of(data: RosterData, source_id: str) -> int:
    """The line of users.csv that holds `source_id` (the header is line 1)."""
    return 2 + next(i for i, row in enumerate(data.users) if row["sourcedId"] == source_id)


def test_a_generated_roster_reads_whole(tmp_path: Path) -> None:
    data = generate_roster(students=300, teachers=20, guardians=10)
    roster = read_roster(data.write(tmp_path / "roster"))

    assert len(roster.users) == len(data.users)
    by_id = {row.source_id: row for row in roster.users}
    for row in data.users:
        read = by_id[row["sourcedId"]]
        assert read.oneroster_role == row["role"]
        assert read.line == line_of(data, row["sourcedId"])
        if row["role"] == "guardian":
            assert read.role is None  # skipped later, not refused
            continue
        assert read.username == row["username"]
        assert read.name == f"{row['givenName']} {row['familyName']}"
        assert read.email == row["email"]
        assert read.enabled
        assert read.orgs == (row["orgSourcedIds"],)
        assert read.number == (row["identifier"] if row["role"] == "student" else None)
    assert {row.role for row in roster.users} == {"student", "teacher", "admin", None}
    assert roster.orgs is not None and {o.source_id for o in roster.orgs} >= {LINCOLN, JEFFERSON}
    assert roster.classes is not None and len(roster.classes) == len(data.classes)
    assert roster.enrollments is not None and len(roster.enrollments) == len(data.enrollments)


def test_aides_are_teachers_and_administrators_admins(tmp_path: Path, small: RosterData) -> None:
    roster = read_roster(small.write(tmp_path))
    roles = {row.oneroster_role: row.role for row in roster.users}
    assert roles == {
        "student": "student",
        "teacher": "teacher",
        "aide": "teacher",
        "administrator": "admin",
        "guardian": None,
    }


def test_users_csv_alone_is_a_roster(tmp_path: Path, small: RosterData) -> None:
    small.write(tmp_path)
    for name in ("orgs.csv", "classes.csv", "enrollments.csv", "manifest.csv"):
        (tmp_path / name).unlink()
    roster = read_roster(tmp_path)
    assert len(roster.users) == len(small.users)
    assert (roster.orgs, roster.classes, roster.enrollments) == (None, None, None)


def test_disabled_and_deleted_rows_read_as_not_enabled(tmp_path: Path, small: RosterData) -> None:
    students = small.of_role("student")
    students[0]["enabledUser"] = "FALSE"
    students[1]["status"] = "tobedeleted"
    students[2]["status"] = "Active"
    roster = read_roster(small.write(tmp_path))
    enabled = {row.source_id: row.enabled for row in roster.users}
    assert enabled[students[0]["sourcedId"]] is False
    assert enabled[students[1]["sourcedId"]] is False
    assert enabled[students[2]["sourcedId"]] is True


def test_a_byte_order_mark_and_crlf_line_ends_are_fine(tmp_path: Path, small: RosterData) -> None:
    small.write(tmp_path)
    users = tmp_path / "users.csv"
    users.write_bytes(b"\xef\xbb\xbf" + users.read_bytes())
    assert len(read_roster(tmp_path).users) == len(small.users)


def test_a_quoted_field_may_hold_a_comma_and_a_line_break(
    tmp_path: Path, small: RosterData
) -> None:
    teacher = small.of_role("teacher")[0]
    teacher["familyName"] = "Smith, Jr."
    later = small.of_role("student")[-1]
    small.users.remove(later)
    small.users.append(later)
    small.users[0]["middleName"] = "two\nlines"
    roster = read_roster(small.write(tmp_path))
    names = {row.source_id: row.name for row in roster.users}
    assert names[teacher["sourcedId"]] == f"{teacher['givenName']} Smith, Jr."
    # Line numbers count physical lines, so the row after the break is one further.
    last = next(row for row in roster.users if row.source_id == later["sourcedId"])
    assert last.line == len(small.users) + 2


# --- refusals: file, line, field ----------------------------------------------------------


def test_a_student_without_an_identifier(tmp_path: Path, small: RosterData) -> None:
    student = small.of_role("student")[7]
    student["identifier"] = " "
    message = refusal(small.write(tmp_path))
    line = line_of(small, student["sourcedId"])
    assert message.startswith(f"users.csv line {line}: identifier: ")
    assert "student number" in message


def test_an_empty_sourced_id(tmp_path: Path, small: RosterData) -> None:
    small.users[4]["sourcedId"] = ""
    assert refusal(small.write(tmp_path)).startswith("users.csv line 6: sourcedId: ")


def test_a_sourced_id_twice(tmp_path: Path, small: RosterData) -> None:
    small.users[9]["sourcedId"] = small.users[3]["sourcedId"]
    message = refusal(small.write(tmp_path))
    assert message.startswith("users.csv line 11: sourcedId: ")
    assert "line 5" in message


def test_a_missing_column(tmp_path: Path, small: RosterData) -> None:
    small.write(tmp_path)
    users = tmp_path / "users.csv"
    lines = users.read_text().splitlines()
    lines[0] = lines[0].replace("familyName", "surname")
    users.write_text("\n".join(lines))
    assert refusal(tmp_path) == "users.csv line 1: familyName: the header has no such column."


def test_a_row_of_the_wrong_width(tmp_path: Path, small: RosterData) -> None:
    small.write(tmp_path)
    users = tmp_path / "users.csv"
    lines = users.read_text().splitlines()
    lines[12] += ",extra"
    users.write_text("\n".join(lines))
    message = refusal(tmp_path)
    assert message.startswith("users.csv line 13: the row has 19 fields but the header has 18")


def test_a_file_that_is_not_utf8_names_the_line_and_field(
    tmp_path: Path, small: RosterData
) -> None:
    teacher = small.of_role("teacher")[2]
    teacher["familyName"] = "Pérez"
    small.write(tmp_path)
    users = tmp_path / "users.csv"
    # One name saved the way Excel's plain "CSV" saves it: Windows-1252.
    users.write_bytes(users.read_bytes().replace("Pérez".encode(), "Pérez".encode("cp1252")))
    message = refusal(tmp_path)
    line = line_of(small, teacher["sourcedId"])
    assert message.startswith(f"users.csv line {line}: familyName: the file is not UTF-8")


def test_an_unknown_boolean(tmp_path: Path, small: RosterData) -> None:
    small.users[2]["enabledUser"] = "yes"
    message = refusal(small.write(tmp_path))
    assert message == "users.csv line 4: enabledUser: 'yes' is not true or false."


def test_a_bad_username(tmp_path: Path, small: RosterData) -> None:
    teacher = small.of_role("teacher")[0]
    teacher["username"] = "mary jones"
    message = refusal(small.write(tmp_path))
    line = line_of(small, teacher["sourcedId"])
    assert message.startswith(f"users.csv line {line}: username: ")


def test_a_bad_student_number(tmp_path: Path, small: RosterData) -> None:
    student = small.of_role("student")[0]
    student["identifier"] = "12/34"
    message = refusal(small.write(tmp_path))
    assert message.startswith(
        f"users.csv line {line_of(small, student['sourcedId'])}: identifier: "
    )


def test_a_person_without_a_name(tmp_path: Path, small: RosterData) -> None:
    teacher = small.of_role("teacher")[1]
    teacher["givenName"] = teacher["familyName"] = ""
    message = refusal(small.write(tmp_path))
    assert message.startswith(f"users.csv line {line_of(small, teacher['sourcedId'])}: givenName: ")


def test_an_org_that_orgs_csv_lacks(tmp_path: Path, small: RosterData) -> None:
    small.users[0]["orgSourcedIds"] = f"{LINCOLN},org-nowhere"
    message = refusal(small.write(tmp_path))
    assert message == "users.csv line 2: orgSourcedIds: no org 'org-nowhere' in orgs.csv."


def test_an_unknown_org_type(tmp_path: Path, small: RosterData) -> None:
    small.orgs[1]["type"] = "campus"
    message = refusal(small.write(tmp_path))
    assert message.startswith("orgs.csv line 3: type: 'campus' is not one of ")


def test_an_enrollment_in_a_class_that_does_not_exist(tmp_path: Path, small: RosterData) -> None:
    small.enrollments[5]["classSourcedId"] = "cls-missing"
    message = refusal(small.write(tmp_path))
    assert (
        message == "enrollments.csv line 7: classSourcedId: no class 'cls-missing' in classes.csv."
    )


def test_an_enrollment_of_someone_not_in_users(tmp_path: Path, small: RosterData) -> None:
    small.enrollments[0]["userSourcedId"] = "stu-gone"
    message = refusal(small.write(tmp_path))
    assert message == "enrollments.csv line 2: userSourcedId: no user 'stu-gone' in users.csv."


def test_a_class_without_a_title(tmp_path: Path, small: RosterData) -> None:
    small.classes[3]["title"] = ""
    assert refusal(small.write(tmp_path)).startswith("classes.csv line 5: title: ")


def test_enrollments_need_classes(tmp_path: Path, small: RosterData) -> None:
    small.write(tmp_path)
    (tmp_path / "classes.csv").unlink()
    assert refusal(tmp_path) == "enrollments.csv: needs classes.csv beside it."


def test_a_delta_export_is_refused(tmp_path: Path, small: RosterData) -> None:
    small.write(tmp_path)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("file.users,bulk", "file.users,delta"))
    message = refusal(tmp_path)
    assert message.startswith("manifest.csv line 6: value: users.csv is a delta file")


def test_oneroster_12_is_refused(tmp_path: Path, small: RosterData) -> None:
    small.write(tmp_path)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        manifest.read_text().replace("oneroster.version,1.1", "oneroster.version,1.2")
    )
    assert refusal(tmp_path).startswith("manifest.csv line 3: value: this folder is OneRoster 1.2")


def test_a_folder_without_users_csv(tmp_path: Path) -> None:
    assert refusal(tmp_path).startswith("users.csv: is not in ")


def test_an_empty_users_csv(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("")
    assert refusal(tmp_path) == "users.csv line 1: the file is empty; it needs a header row."


def test_a_stray_quote_is_not_csv(tmp_path: Path, small: RosterData) -> None:
    small.write(tmp_path)
    users = tmp_path / "users.csv"
    lines = users.read_text().splitlines()
    lines[20] = lines[20].replace(",true,", ',"true"x,', 1)
    users.write_text("\n".join(lines))
    assert refusal(tmp_path).startswith("users.csv line 21: not a CSV file: ")


def test_a_spreadsheet_saved_under_the_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\xa4\x8f")
    assert "users.csv line 1: the file is not UTF-8" in refusal(tmp_path)


def test_an_unknown_role_is_skipped_not_refused(tmp_path: Path, small: RosterData) -> None:
    small.users.append(user_row("odd-1", "proctor", "Pat", "Doe", "pdoe"))
    roster = read_roster(small.write(tmp_path))
    odd = next(row for row in roster.users if row.source_id == "odd-1")
    assert (odd.role, odd.oneroster_role) == (None, "proctor")
