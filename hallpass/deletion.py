"""Deleting a student: `hallpass student delete SCHOOL USERNAME|NUMBER`.

What names a student lives in the directory, never in the event log (DESIGN.md,
point 7), so deleting them is three steps:

1. a StudentErased event in the school's stream: every process's fold forgets
   the student's notes (free text that may name them) and their per-student
   report counts, so no view, report or export shows them again;
2. the directory entry goes (name, username, number, email, password hash,
   PIN, settings, roster id) with every session of the account;
3. an entry in the audit log, which names the certificate, not the student.

What stays: the student's passes and requests, under their random id, which
nothing maps to a person any more; they go on counting in the reports without
a name. The notes stay in the stored events (shown nowhere) until retention
trims that history; docs/privacy.md says so.

The command prints a certificate of what was deleted, when and by whom,
ending with the SHA-256 of its own text. The audit entry keeps that digest,
so the school can later show the certificate is the one it issued; the
certificate carries a random id of its own and not the student's, so the
two together still tie no history to the person.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from hallpass.audit import OPERATOR, STUDENT_DELETED, AuditEntry, operator
from hallpass.backend import Backend
from hallpass.directory.model import User
from hallpass.events.store import StoredEvent, VersionConflict
from hallpass.events.types import StudentErased
from hallpass.projections.state import SchoolState
from hallpass.provision import Refused, require_school
from hallpass.service.names import Names
from hallpass.service.runtime import SchoolRuntime

Clock = Callable[[], datetime]
MAX_ATTEMPTS = 20


class Certificate(msgspec.Struct, kw_only=True, frozen=True):
    id: str  # random: names neither the student nor their history
    school: str
    school_name: str
    student_name: str
    username: str
    number: str | None
    email: str | None
    deleted_at: datetime
    deleted_by: str
    passes: int
    requests: int
    notes: int  # passes and requests whose note is hidden from now on

    def body(self) -> str:
        """The certificate's text, less its digest line."""
        when = msgspec.json.encode(self.deleted_at).decode().strip('"')
        who = [self.student_name, f"username {self.username}"]
        if self.number:
            who.append(f"student number {self.number}")
        if self.email:
            who.append(f"email {self.email}")
        return "\n".join(
            [
                "Hallpass: certificate of deletion",
                f"Certificate:  {self.id}",
                f"School:       {self.school} ({self.school_name})",
                f"Student:      {', '.join(who)}",
                f"Deleted at:   {when}",
                f"Deleted by:   {self.deleted_by} (command line)",
                "Deleted:      the directory entry (name, username, student number, email,",
                "              password, PIN, settings, roster id) and every session of the",
                f"              account; the notes of {self.notes} of their passes and requests",
                "              are hidden from every view, report and export from now on.",
                f"Kept:         {_count(self.passes, 'pass', 'passes')} and"
                f" {_count(self.requests, 'request', 'requests')}, under a random id that",
                "              nothing maps to a person any more; they count in the school's",
                "              reports without a name. The notes stay in the stored history,",
                "              shown nowhere, until retention removes that history.",
                "",
            ]
        )

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.body().encode()).hexdigest()

    def text(self) -> str:
        return f"{self.body()}SHA-256 of the text above: {self.digest}\n"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _live_items(state: SchoolState, student: str) -> int:
    """The student's passes not over yet and open requests to them."""
    live = sum(
        record.student == student
        for group in (state.scheduled, state.pending, state.line, state.active)
        for record in group.values()
    )
    return live + sum(state.requests[r].student == student for r in state.open_requests)


async def find_student(backend: Backend, school: str, who: str) -> User:
    """The student whose username (else student number) is `who`."""
    directory = backend.directory
    user = await directory.user_by_username(school, who) or await directory.user_by_number(
        school, who
    )
    if user is None or user.role != "student":
        raise Refused(
            "not_found", f"School {school!r} has no student with username or number {who!r}."
        )
    return user


async def _erase(runtime: SchoolRuntime, user: User, by: str, now: datetime) -> SchoolState:
    """Append StudentErased once the student has nothing live; the state it
    was decided on."""
    store, slug = runtime.store, runtime.school
    for _ in range(MAX_ATTEMPTS):
        state = runtime.state
        if _live_items(state, user.id):
            raise Refused(
                "invalid_state",
                f"{user.name} has a pass or request that is not over yet; end or cancel it"
                " first, then delete the student.",
            )
        event = StudentErased(at=now, actor=OPERATOR + by, student=user.id)
        try:
            await store.append(slug, [event], state.version)
        except VersionConflict as conflict:
            await runtime.catch_up(conflict.actual)
            continue
        return state
    raise Refused("busy", f"School {slug!r} is too busy right now; try again in a moment.")


async def delete_student(
    backend: Backend, school: str, who: str, by: str, clock: Clock | None = None
) -> Certificate:
    """Delete the student `who` (username or number) of `school`, by the
    operator `by`; the certificate of it. Raises Refused (nothing changed)."""
    found = await require_school(backend.directory, school)
    user = await find_student(backend, school, who)
    now = (clock or (lambda: datetime.now(UTC)))()
    runtime = await SchoolRuntime.load(backend.store, school)
    try:
        state = await _erase(runtime, user, by, now)
    finally:
        await runtime.close()
    passes = [
        state.passes[p] for p in state.passes_by_student.get(user.id, ()) if p in state.passes
    ]
    requests = [
        state.requests[r] for r in state.requests_by_student.get(user.id, ()) if r in state.requests
    ]
    await backend.directory.delete_user(school, user.id)
    certificate = Certificate(
        id=secrets.token_hex(16),
        school=school,
        school_name=found.name,
        student_name=user.name,
        username=user.username,
        number=user.number,
        email=user.email,
        deleted_at=now,
        deleted_by=by,
        passes=len(passes),
        requests=len(requests),
        notes=sum(bool(p.note) for p in passes) + sum(bool(r.note) for r in requests),
    )
    detail = (
        f"sha256={certificate.digest} passes={certificate.passes}"
        f" requests={certificate.requests} notes={certificate.notes}"
    )
    entry = AuditEntry(
        at=now, actor=OPERATOR + by, action=STUDENT_DELETED, subject=certificate.id, detail=detail
    )
    await backend.audit.append(school, entry)
    return certificate


# --- the names in memory of every web process ------------------------------------------


def forget_erased(names: Names) -> Callable[[SchoolRuntime], object]:
    """A hook for Schools.on_load: each process forgets a deleted student's
    name the moment its runtime folds their StudentErased, wherever the
    deletion was run, instead of showing it from memory until a restart."""

    def watch(runtime: SchoolRuntime) -> object:
        school = runtime.school

        def heard(stored: StoredEvent, state: SchoolState) -> None:
            if isinstance(stored.event, StudentErased):
                names.forget(school, stored.event.student)

        return runtime.listen(heard)

    return watch


# --- the command line ----------------------------------------------------------------


async def run_student_delete(args: argparse.Namespace) -> str:
    from hallpass.cli import open_store

    async with await open_store(args) as backend:
        certificate = await delete_student(backend, args.school, args.student, args.by)
    return certificate.text().rstrip("\n")


def add_commands(commands: Any) -> None:
    from hallpass.cli import add_store_option

    student = commands.add_parser("student", help="a student's data")
    actions = student.add_subparsers(dest="action", metavar="ACTION", required=True)
    delete = actions.add_parser(
        "delete",
        help="delete a student's personal data for good and print a certificate",
        description=(
            "Delete the student's directory entry and sessions, hide their notes, and "
            "print a certificate of deletion (keep it with the family's request). "
            "Their passes stay, tied to no one."
        ),
    )
    delete.add_argument("school", metavar="SCHOOL")
    delete.add_argument("student", metavar="USERNAME|NUMBER")
    delete.add_argument(
        "--by",
        metavar="NAME",
        default=operator().removeprefix(OPERATOR),
        help="who is deleting, for the certificate and the audit log (default: your login)",
    )
    add_store_option(delete)
    delete.set_defaults(handler=run_student_delete)
