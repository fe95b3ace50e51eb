"""Rostering: bringing a school's people in line with a OneRoster export.

`plan_roster(school, current, roster)` is pure: from the people the directory
holds and the checked roster (hallpass.oneroster) it works out what changes,
a RosterPlan of additions, updates, reactivations and deactivations, and
refuses a roster that would collide with someone it does not manage.
`apply_plan(directory, plan)` writes it in one step (`save_users`: all or
nothing). A second run on the same roster plans nothing.

The roster manages only the people it brought in: they carry its sourcedId
(`User.source_id`), which is how a person is recognised from one export to the
next even when their name, username or number changes. People added by hand
are never touched. Someone who leaves the roster is deactivated, never
deleted, so their passes keep their name in the school's history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

import msgspec

from hallpass.directory.base import Directory
from hallpass.directory.model import DuplicateUser, User, email_key
from hallpass.ids import new_id
from hallpass.oneroster import USERS, Roster, RosterError, UserRow

ChangeKind = Literal["add", "update", "reactivate", "deactivate"]

# What the roster owns of a person; password, PIN, settings and room are the
# school's own and survive every import.
MANAGED_FIELDS = ("username", "name", "role", "number", "email")


class RosterConflict(RosterError):
    """A sound roster that collides with someone it does not manage."""


class Change(msgspec.Struct, frozen=True, kw_only=True):
    kind: ChangeKind
    user: User  # the record as it will be
    before: User | None = None
    line: int | None = None  # the users.csv row behind it

    def fields(self) -> list[str]:
        """The managed fields that differ from before."""
        if self.before is None:
            return []
        return [f for f in MANAGED_FIELDS if getattr(self.before, f) != getattr(self.user, f)]


class RosterPlan(msgspec.Struct, frozen=True, kw_only=True):
    school: str
    changes: list[Change]
    people: int  # roster rows for this school that Hallpass keeps
    skipped: dict[str, int]  # OneRoster role -> rows skipped for it
    classes: int = 0
    enrollments: int = 0

    def of(self, kind: ChangeKind) -> list[Change]:
        return [change for change in self.changes if change.kind == kind]


def _new_user_id() -> str:
    return new_id("user")


def _selected(roster: Roster, org: str | None) -> list[UserRow]:
    """The rows of `org` and the orgs under it (every row when None)."""
    if org is None:
        return roster.users
    wanted = {org}
    if roster.orgs is not None:
        if org not in {o.source_id for o in roster.orgs}:
            raise RosterError("orgs.csv", None, "sourcedId", f"there is no org {org!r}.")
        children: dict[str, list[str]] = {}
        for o in roster.orgs:
            if o.parent is not None:
                children.setdefault(o.parent, []).append(o.source_id)
        stack = [org]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in wanted:
                    wanted.add(child)
                    stack.append(child)
    return [row for row in roster.users if wanted.intersection(row.orgs)]


# What two people of one school may not share, as the directory indexes it
# (emails ignoring case): the attribute, and its column in users.csv.
UNIQUE: tuple[tuple[str, str, Callable[[str | None], str | None]], ...] = (
    ("username", "username", lambda value: value),
    ("number", "identifier", lambda value: value),
    ("email", "email", email_key),
)


def _check_rows_unique(rows: Sequence[UserRow]) -> None:
    for attribute, column, key in UNIQUE:
        seen: dict[str, int] = {}
        for row in rows:
            value = key(getattr(row, attribute))
            if value is None:
                continue
            if value in seen:
                raise RosterError(
                    USERS,
                    row.line,
                    column,
                    f"{getattr(row, attribute)!r} is also on line {seen[value]}.",
                )
            seen[value] = row.line


def _desired(row: UserRow, user: User) -> User:
    assert row.role is not None
    return msgspec.structs.replace(
        user,
        username=row.username,
        name=row.name,
        role=row.role,
        number=row.number,
        email=row.email,
        active=True,
        # Only teachers have PINs: one who becomes an admin loses theirs.
        pin_key=user.pin_key if row.role == "teacher" else None,
    )


def _check_collisions(current: Sequence[User], changes: Sequence[Change]) -> None:
    """Refuse a roster whose people would take a username, number or email
    that someone else keeps: a person added by hand, or one deactivated earlier."""
    result = {user.id: user for user in current}
    for change in changes:
        result[change.user.id] = change.user
    for attribute, column, key in UNIQUE:
        holders: dict[str, list[User]] = {}
        for user in result.values():
            value = key(getattr(user, attribute))
            if value is not None:
                holders.setdefault(value, []).append(user)
        for change in changes:
            value = key(getattr(change.user, attribute))
            if value is None:
                continue
            others = [u for u in holders.get(value, ()) if u.id != change.user.id]
            if not others:
                continue
            owner = others[0]
            why = "who is deactivated and keeps it" if owner.source_id else "who was added by hand"
            raise RosterConflict(
                USERS,
                change.line,
                column,
                f"{getattr(change.user, attribute)!r} belongs to {owner.name} ({owner.role}), "
                f"{why}; change one of them first.",
            )


def plan_roster(
    school: str,
    current: Sequence[User],
    roster: Roster,
    *,
    org: str | None = None,
    new_user_id: Callable[[], str] = _new_user_id,
) -> RosterPlan:
    """What importing `roster` into `school`, whose people are `current`,
    changes. Raises RosterError for a roster that cannot apply, and
    RosterConflict when it collides with people it does not manage."""
    rows = _selected(roster, org)
    skipped = Counter(row.oneroster_role for row in rows if row.role is None)
    kept = [row for row in rows if row.role is not None]
    _check_rows_unique(kept)

    managed = {user.source_id: user for user in current if user.source_id is not None}
    changes: list[Change] = []
    present: set[str] = set()
    for row in kept:
        user = managed.get(row.source_id)
        if not row.enabled:
            continue  # like a row that is absent: deactivated below if known
        present.add(row.source_id)
        if user is None:
            fresh = User(id=new_user_id(), school=school, username="", name="", role="student")
            added = msgspec.structs.replace(_desired(row, fresh), source_id=row.source_id)
            changes.append(Change(kind="add", user=added, line=row.line))
            continue
        desired = _desired(row, user)
        if desired != user:
            kind: ChangeKind = "update" if user.active else "reactivate"
            changes.append(Change(kind=kind, user=desired, before=user, line=row.line))
    for source_id, user in managed.items():
        if source_id not in present and user.active:
            gone = msgspec.structs.replace(user, active=False)
            changes.append(Change(kind="deactivate", user=gone, before=user))
    _check_collisions(current, changes)
    return RosterPlan(
        school=school,
        changes=changes,
        people=len(kept),
        skipped=dict(sorted(skipped.items())),
        classes=len(roster.classes or ()),
        enrollments=len(roster.enrollments or ()),
    )


async def apply_plan(directory: Directory, plan: RosterPlan) -> None:
    """Write the plan in one step. Raises RosterConflict when the directory
    changed since the plan was made and now refuses it (nothing is written);
    planning again from the directory as it is then applies cleanly."""
    if not plan.changes:
        return
    added = [change.user for change in plan.of("add")]
    updated = [change.user for change in plan.changes if change.kind != "add"]
    try:
        await directory.save_users(plan.school, added, updated)
    except (DuplicateUser, KeyError) as error:
        raise RosterConflict(
            USERS, None, None, f"the directory changed during the import ({error}); run it again."
        ) from None


# --- telling the operator -------------------------------------------------------------


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _roles(changes: Sequence[Change]) -> str:
    roles = Counter(change.user.role for change in changes)
    return ", ".join(_count(n, role) for role, n in sorted(roles.items()))


def _who(user: User) -> str:
    number = f", {user.number}" if user.number else ""
    return f"{user.role} {user.name} ({user.username}{number})"


def _line(change: Change) -> str:
    if change.kind != "update":
        verb = {"add": "added", "reactivate": "reactivated", "deactivate": "deactivated"}
        return f"  {verb[change.kind]} {_who(change.user)}"
    assert change.before is not None
    diffs = [
        f"{field} {getattr(change.before, field)!r} -> {getattr(change.user, field)!r}"
        for field in change.fields()
    ]
    return f"  updated {_who(change.before)}: {'; '.join(diffs)}"


VERBS: tuple[tuple[ChangeKind, str, str], ...] = (
    ("add", "added", "would add"),
    ("update", "updated", "would update"),
    ("reactivate", "reactivated", "would reactivate"),
    ("deactivate", "deactivated", "would deactivate"),
)


def describe(plan: RosterPlan, *, applied: bool, every_change: bool = False) -> str:
    """A summary line (and, when asked, a line per change) for the operator."""
    school = f"Roster of school {plan.school!r}"
    if not plan.changes:
        checked = _count(plan.people, "person", "people")
        head = f"{school}: no changes ({checked} checked)."
    else:
        parts = []
        for kind, done, would in VERBS:
            of_kind = plan.of(kind)
            if of_kind:
                parts.append(f"{done if applied else would} {len(of_kind)} ({_roles(of_kind)})")
        head = f"{school}: {'; '.join(parts)}."
    notes = []
    if plan.skipped:
        roles = ", ".join(f"{role} {n}" for role, n in plan.skipped.items())
        notes.append(f"skipped {_count(sum(plan.skipped.values()), 'row')} ({roles})")
    if plan.classes:
        notes.append(
            f"checked {_count(plan.classes, 'class', 'classes')} "
            f"and {_count(plan.enrollments, 'enrollment')}"
        )
    if notes:
        text = "; ".join(notes)
        head += f" {text[0].upper()}{text[1:]}."
    if not applied and plan.changes:
        head += " Nothing was written (--dry-run)."
    if not every_change:
        return head
    return "\n".join([head, *(_line(change) for change in plan.changes)])
