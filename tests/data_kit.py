"""Helpers for the tests of rostering and of moving data: the installed
`hallpass` command in a child process, and a school with a history worth
moving (passes ended, live and waiting; requests; a room changed).
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from servers import SeededSchool, seed_school

from hallpass.backend import open_backend
from hallpass.ids import new_id
from hallpass.rules.commands import (
    AcceptRequest,
    Actor,
    AnyCommand,
    ChangeRoom,
    CreatePass,
    EndPass,
    Rejection,
    SendRequest,
)
from hallpass.service.runtime import SchoolRuntime

HALLPASS = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "hallpass"


class Ran(msgspec.Struct):
    code: int
    out: str
    err: str


def hallpass(*args: str, cwd: Path | None = None) -> Ran:
    """Run the installed command, with no HALLPASS_* settings of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALLPASS_")}
    done = subprocess.run(
        [str(HALLPASS), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def refused(ran: Ran, code: int) -> str:
    """A refusal: one line on standard error, nothing on standard output."""
    assert ran.code == code, ran
    assert ran.out == "", ran
    assert len(ran.err.splitlines()) == 1 and "Traceback" not in ran.err, ran
    return ran.err.strip()


async def run(runtime: SchoolRuntime, command: AnyCommand) -> None:
    result = await runtime.execute(command)
    assert not isinstance(result, Rejection), result


async def school_with_history(store_url: str, rounds: int = 12) -> SeededSchool:
    """A seeded school (tests/servers.py) that has lived a little: `rounds`
    passes made and ended, one pass still out, a request accepted, one still
    open, and a room renamed; some events carry optional fields, some not."""
    school = await seed_school(store_url)
    teacher = Actor(id=school.users["teacher1"], role="teacher")
    students = [school.users[name] for name in ("student1", "student2", "student3")]
    rooms = school.rooms
    backend = await open_backend(store_url)
    try:
        runtime = await SchoolRuntime.load(backend.store, school.slug)
        try:
            for n in range(rounds):
                pass_id = new_id("pass")
                await run(
                    runtime,
                    CreatePass(
                        actor=teacher,
                        pass_id=pass_id,
                        student=students[n % 3],
                        origin=rooms["Room 1"],
                        destination=rooms["Library" if n % 2 else "Room 2"],
                        note=f"round {n}" if n % 3 == 0 else "",
                    ),
                )
                await run(runtime, EndPass(actor=teacher, pass_id=pass_id))
            await run(
                runtime,
                ChangeRoom(
                    actor=Actor(id=school.users["admin"], role="admin"),
                    room_id=rooms["Library"],
                    name="Media Center",
                    locked=False,
                    capacity=4,
                    minutes=8,
                    enabled=True,
                ),
            )
            accepted = new_id("request")
            await run(
                runtime,
                SendRequest(
                    actor=teacher,
                    request_id=accepted,
                    student=students[0],
                    destination=rooms["Room 2"],
                    start_at=datetime.now(UTC),
                ),
            )
            await run(
                runtime,
                AcceptRequest(
                    actor=Actor(id=students[0], role="student"),
                    request_id=accepted,
                    pass_id=new_id("pass"),
                    origin=rooms["Room 1"],
                ),
            )
            await run(
                runtime,
                SendRequest(
                    actor=teacher,
                    request_id=new_id("request"),
                    student=students[1],
                    destination=rooms["Library"],
                    note="see me",
                ),
            )
            await run(
                runtime,
                CreatePass(
                    actor=teacher,
                    pass_id=new_id("pass"),
                    student=students[2],
                    origin=rooms["Room 2"],
                    destination=rooms["Library"],
                ),
            )
        finally:
            await runtime.close()
    finally:
        await backend.close()
    return school
