"""Reading a OneRoster 1.1 CSV folder: what school information systems,
Clever and ClassLink export.

`read_roster(folder)` reads `users.csv` and, where present, `orgs.csv`,
`classes.csv`, `enrollments.csv` and `manifest.csv`, and checks them whole
before anyone acts on them: a malformed file raises RosterError naming the
file, the line and the field, so an import either sees a sound roster or
nothing at all. Other files of the format (courses, academic sessions,
demographics) are left alone.

Rows are kept close to the file; turning them into people is hallpass.roster's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import msgspec

from hallpass.provision import InvalidInput, check_name, check_user
from hallpass.rules.commands import Role

USERS = "users.csv"
ORGS = "orgs.csv"
CLASSES = "classes.csv"
ENROLLMENTS = "enrollments.csv"
MANIFEST = "manifest.csv"

# OneRoster's roles for people Hallpass has a place for; guardians, parents
# and relatives (and any role it does not know) are skipped, not refused.
ROLES: dict[str, Role] = {
    "student": "student",
    "teacher": "teacher",
    "aide": "teacher",
    "administrator": "admin",
}
ORG_TYPES = frozenset({"department", "school", "district", "local", "state", "national"})
CLASS_TYPES = frozenset({"homeroom", "scheduled"})
# "inactive" is OneRoster 1.0's word; 1.1 files from older systems still use it.
STATUSES = frozenset({"", "active", "tobedeleted", "inactive"})
BOOLEANS = {"true": True, "false": False}
# A folder from OneRoster 1.0 reads the same way; 1.2 moved roles out of users.csv.
VERSIONS = frozenset({"1.0", "1.1"})


class RosterError(Exception):
    """A roster that cannot be imported, with where: `users.csv line 17: identifier: ...`."""

    def __init__(self, file: str, line: int | None, field: str | None, message: str) -> None:
        where = file if line is None else f"{file} line {line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")
        self.file = file
        self.line = line
        self.field = field


class UserRow(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    source_id: str
    oneroster_role: str  # as written, lowercased
    role: Role | None  # None: a role Hallpass skips
    enabled: bool  # enabledUser true and status not "tobedeleted"/"inactive"
    orgs: tuple[str, ...]
    username: str
    name: str
    number: str | None  # a student's `identifier`
    email: str | None


class OrgRow(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    source_id: str
    name: str
    type: str
    parent: str | None


class ClassRow(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    source_id: str
    title: str
    school: str


class EnrollmentRow(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    source_id: str
    class_id: str
    user_id: str
    role: str


class Roster(msgspec.Struct, frozen=True, kw_only=True):
    """A checked folder; a list is None when its file is absent."""

    users: list[UserRow]
    orgs: list[OrgRow] | None = None
    classes: list[ClassRow] | None = None
    enrollments: list[EnrollmentRow] | None = None


# --- one row of one file ----------------------------------------------------------


class _Row:
    """One record's fields by column name, with errors that say where."""

    def __init__(self, file: str, line: int, values: dict[str, str]) -> None:
        self.file = file
        self.line = line
        self._values = values

    def error(self, field: str, message: str) -> RosterError:
        return RosterError(self.file, self.line, field, message)

    def text(self, field: str) -> str | None:
        """The field, trimmed; None when empty or when the column is absent."""
        value = self._values.get(field, "").strip()
        return value or None

    def required(self, field: str) -> str:
        value = self.text(field)
        if value is None:
            raise self.error(field, "is empty; every row needs one.")
        return value

    def boolean(self, field: str) -> bool:
        value = self.required(field)
        if value.lower() not in BOOLEANS:
            raise self.error(field, f"{value!r} is not true or false.")
        return BOOLEANS[value.lower()]

    def choice(self, field: str, allowed: frozenset[str]) -> str:
        value = (self.text(field) or "").lower()
        if value not in allowed:
            names = ", ".join(sorted(a for a in allowed if a))
            raise self.error(field, f"{value!r} is not one of {names}.")
        return value

    def ids(self, field: str) -> tuple[str, ...]:
        """A comma-separated list of sourcedIds, at least one."""
        ids = tuple(part.strip() for part in self.required(field).split(","))
        if "" in ids:
            raise self.error(field, "has an empty id in its list.")
        return ids


# --- a whole file -------------------------------------------------------------------


def _decode(file: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, field = _locate(data, error.start)
        bad = data[error.start : error.start + 1].hex().upper()
        raise RosterError(
            file,
            line,
            field,
            f"the file is not UTF-8 (byte 0x{bad}); save it as UTF-8 (Excel: 'CSV UTF-8').",
        ) from None


def _locate(data: bytes, offset: int) -> tuple[int, str | None]:
    """The line and the column of the byte at `offset`, for an error message."""
    line = data.count(b"\n", 0, offset) + 1
    if line == 1:
        return line, None  # the header itself: no column to name
    text = data.decode("utf-8-sig", errors="replace").splitlines()
    try:
        header = next(csv.reader(text[:1]))
        cells = next(csv.reader(text[line - 1 : line]))
    except (StopIteration, csv.Error):
        return line, None
    for column, cell in enumerate(cells):
        if "\ufffd" in cell and column < len(header):
            return line, header[column].strip()
    return line, None


def _records(folder: Path, file: str, required: tuple[str, ...]) -> Iterator[_Row]:
    """Each data row of `folder/file` (blank lines skipped), after checking
    the encoding, the header and each row's width."""
    text = _decode(file, (folder / file).read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise RosterError(file, 1, None, "the file is empty; it needs a header row.")
        for name in header:
            if header.count(name) > 1:
                raise RosterError(file, 1, name, "the column appears twice in the header.")
        for name in required:
            if name not in header:
                raise RosterError(file, 1, name, "the header has no such column.")
        end = reader.line_num
        for cells in reader:
            line, end = end + 1, reader.line_num
            if not cells or cells == [""]:
                continue
            if len(cells) != len(header):
                raise RosterError(
                    file,
                    line,
                    None,
                    f"the row has {len(cells)} fields but the header has {len(header)}.",
                )
            yield _Row(file, line, dict(zip(header, cells, strict=True)))
    except csv.Error as error:
        raise RosterError(file, reader.line_num, None, f"not a CSV file: {error}.") from None


def _unique(row: _Row, field: str, value: str, seen: dict[str, int]) -> None:
    if value in seen:
        raise row.error(field, f"{value!r} is also on line {seen[value]}.")
    seen[value] = row.line


# --- the files ----------------------------------------------------------------------


def _check_manifest(folder: Path) -> None:
    """A delta file lists only what changed: importing one as the whole roster
    would deactivate everyone else, so only bulk folders are read."""
    if not (folder / MANIFEST).is_file():
        return
    for row in _records(folder, MANIFEST, ("propertyName", "value")):
        name, value = row.text("propertyName"), (row.text("value") or "").lower()
        if name == "oneroster.version" and value not in VERSIONS:
            raise row.error("value", f"this folder is OneRoster {value}; hallpass reads 1.1.")
        if name == f"file.{USERS.removesuffix('.csv')}" and value == "delta":
            raise row.error(
                "value", "users.csv is a delta file; export a bulk roster (every user) instead."
            )


def _orgs(folder: Path) -> list[OrgRow]:
    rows: list[OrgRow] = []
    seen: dict[str, int] = {}
    for row in _records(folder, ORGS, ("sourcedId", "name", "type")):
        source_id = row.required("sourcedId")
        _unique(row, "sourcedId", source_id, seen)
        rows.append(
            OrgRow(
                line=row.line,
                source_id=source_id,
                name=row.required("name"),
                type=row.choice("type", ORG_TYPES),
                parent=row.text("parentSourcedId"),
            )
        )
    for org in rows:
        if org.parent is not None and org.parent not in seen:
            raise RosterError(ORGS, org.line, "parentSourcedId", f"no org {org.parent!r} here.")
    return rows


USER_COLUMNS = (
    "sourcedId",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "givenName",
    "familyName",
    "identifier",
)


def _person(row: _Row, role: Role) -> tuple[str, str, str | None]:
    """The username, name and student number of a row Hallpass keeps,
    checked by the rules `hallpass user add` follows."""
    username = row.required("username")
    try:
        check_user(username=username, role="teacher")
    except InvalidInput as error:
        raise row.error("username", str(error)) from None
    given, family = row.text("givenName"), row.text("familyName")
    try:
        name = check_name("user", " ".join(part for part in (given, family) if part))
    except InvalidInput as error:
        raise row.error("givenName" if given is None else "familyName", str(error)) from None
    if role != "student":
        return username, name, None
    number = row.text("identifier")
    if number is None:
        raise row.error("identifier", "is empty; a student's identifier is their student number.")
    try:
        check_user(username=username, role="student", number=number)
    except InvalidInput as error:
        raise row.error("identifier", str(error)) from None
    return username, name, number


def _users(folder: Path, orgs: set[str] | None) -> list[UserRow]:
    rows: list[UserRow] = []
    seen: dict[str, int] = {}
    for row in _records(folder, USERS, USER_COLUMNS):
        source_id = row.required("sourcedId")
        _unique(row, "sourcedId", source_id, seen)
        status = row.choice("status", STATUSES)
        enabled = row.boolean("enabledUser") and status not in ("tobedeleted", "inactive")
        org_ids = row.ids("orgSourcedIds")
        if orgs is not None:
            for org in org_ids:
                if org not in orgs:
                    raise row.error("orgSourcedIds", f"no org {org!r} in {ORGS}.")
        oneroster_role = row.required("role").lower()
        role = ROLES.get(oneroster_role)
        username, name, number = ("", "", None) if role is None else _person(row, role)
        rows.append(
            UserRow(
                line=row.line,
                source_id=source_id,
                oneroster_role=oneroster_role,
                role=role,
                enabled=enabled,
                orgs=org_ids,
                username=username,
                name=name,
                number=number,
                email=row.text("email") if role is not None else None,
            )
        )
    return rows


def _classes(folder: Path, orgs: set[str] | None) -> list[ClassRow]:
    rows: list[ClassRow] = []
    seen: dict[str, int] = {}
    for row in _records(folder, CLASSES, ("sourcedId", "title", "classType", "schoolSourcedId")):
        source_id = row.required("sourcedId")
        _unique(row, "sourcedId", source_id, seen)
        row.choice("classType", CLASS_TYPES)
        school = row.required("schoolSourcedId")
        if orgs is not None and school not in orgs:
            raise row.error("schoolSourcedId", f"no org {school!r} in {ORGS}.")
        rows.append(
            ClassRow(line=row.line, source_id=source_id, title=row.required("title"), school=school)
        )
    return rows


def _enrollments(folder: Path, classes: set[str] | None, users: set[str]) -> list[EnrollmentRow]:
    if classes is None:
        raise RosterError(ENROLLMENTS, None, None, f"needs {CLASSES} beside it.")
    rows: list[EnrollmentRow] = []
    seen: dict[str, int] = {}
    required = ("sourcedId", "classSourcedId", "userSourcedId", "role")
    for row in _records(folder, ENROLLMENTS, required):
        source_id = row.required("sourcedId")
        _unique(row, "sourcedId", source_id, seen)
        class_id = row.required("classSourcedId")
        if class_id not in classes:
            raise row.error("classSourcedId", f"no class {class_id!r} in {CLASSES}.")
        user_id = row.required("userSourcedId")
        if user_id not in users:
            raise row.error("userSourcedId", f"no user {user_id!r} in {USERS}.")
        if row.text("primary") is not None:
            row.boolean("primary")
        rows.append(
            EnrollmentRow(
                line=row.line,
                source_id=source_id,
                class_id=class_id,
                user_id=user_id,
                role=row.required("role").lower(),
            )
        )
    return rows


def read_roster(folder: Path) -> Roster:
    """The roster in `folder`, checked whole; raises RosterError."""
    if not folder.is_dir():
        raise RosterError(str(folder), None, None, "is not a folder.")
    if not (folder / USERS).is_file():
        raise RosterError(USERS, None, None, f"is not in {str(folder)!r}.")
    _check_manifest(folder)
    orgs = _orgs(folder) if (folder / ORGS).is_file() else None
    org_ids = None if orgs is None else {org.source_id for org in orgs}
    users = _users(folder, org_ids)
    classes = _classes(folder, org_ids) if (folder / CLASSES).is_file() else None
    enrollments = None
    if (folder / ENROLLMENTS).is_file():
        class_ids = None if classes is None else {c.source_id for c in classes}
        enrollments = _enrollments(folder, class_ids, {user.source_id for user in users})
    return Roster(users=users, orgs=orgs, classes=classes, enrollments=enrollments)
