"""The `hallpass` command.

Each subcommand is registered by a function in SUBCOMMANDS that adds its
parser and sets `handler`: an async function of the parsed arguments that
returns the one line to print on success (or None). A handler signals bad
input by raising InvalidInput (exit 2) or Refused (exit 1); `main` turns
those, and a store it cannot reach, into one line on standard error.

To add a command (e.g. `serve`), write `def add_serve(commands: Subcommands)`
that calls `commands.add_parser(...)`, `add_store_option(parser)` and
`parser.set_defaults(handler=...)`, and append it to SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeAlias

from hallpass import demo
from hallpass.audit import ROOM_ADDED, operator, record
from hallpass.backend import Backend, open_backend
from hallpass.events.store import StoreUnavailable
from hallpass.passwords import MAX_PASSWORD_LENGTH, hash_password_async
from hallpass.provision import (
    ROLES,
    InvalidInput,
    Refused,
    add_room,
    add_school,
    add_user,
    check_name,
    check_slug,
    check_timezone,
    check_user,
    find_room,
    require_school,
)
from hallpass.service.runtime import SchoolRuntime

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, str | None]]

PROG = "hallpass"
DEBUG_ENV = "HALLPASS_DEBUG"  # set to show tracebacks of unexpected errors


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on standard error (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="URL",
        help="sqlite:///path/to/hallpass.db or redis://host:port/db "
        "(default: $HALLPASS_STORE, else sqlite:///hallpass.db in this folder)",
    )


async def open_store(args: argparse.Namespace) -> Backend:
    try:
        return await open_backend(args.store)
    except InvalidInput:
        raise
    except ValueError as error:  # a URL it cannot use: the operator's to fix
        raise InvalidInput(str(error)) from None


# --- demo ----------------------------------------------------------------------


async def run_demo(args: argparse.Namespace) -> str:
    async with await open_store(args) as backend:
        added = await demo.ensure_demo(backend)
    if not added:
        return f"The demo school {demo.SLUG!r} is already there; nothing changed."
    return (
        f"Added the demo school {demo.SLUG!r} ({demo.NAME}) with {len(demo.ROOMS)} rooms "
        f"and {demo.USER_COUNT} users; every password is {demo.PASSWORD!r}."
    )


def add_demo(commands: Subcommands) -> None:
    parser = commands.add_parser("demo", help="add the demo school if it is missing")
    add_store_option(parser)
    parser.set_defaults(handler=run_demo)


# --- school --------------------------------------------------------------------


async def run_school_add(args: argparse.Namespace) -> str:
    # Check what needs no store first, so a typo never waits for a connection.
    check_slug(args.slug)
    check_name("school", args.name)
    check_timezone(args.timezone)
    async with await open_store(args) as backend:
        school = await add_school(backend, args.slug, args.name, args.timezone)
    return f"Added school {school.slug!r} ({school.name}) in time zone {school.timezone}."


def add_school_commands(commands: Subcommands) -> None:
    school = commands.add_parser("school", help="manage schools")
    actions = school.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a school")
    add.add_argument("slug", metavar="SLUG", help="lowercase letters, digits, hyphens")
    add.add_argument("--name", required=True, metavar="NAME")
    add.add_argument("--timezone", default="America/Chicago", metavar="TZ")
    add_store_option(add)
    add.set_defaults(handler=run_school_add)


# --- room ----------------------------------------------------------------------


async def run_room_add(args: argparse.Namespace) -> str:
    check_name("room", args.name)
    async with await open_store(args) as backend:
        await require_school(backend.directory, args.school)
        runtime = await SchoolRuntime.load(backend.store, args.school)
        try:
            room = await add_room(
                runtime,
                args.name,
                locked=args.locked,
                capacity=args.capacity,
                minutes=args.minutes,
            )
        finally:
            await runtime.close()
        await record(backend.audit, args.school, operator(), ROOM_ADDED, room.id, room.name)
    return f"Added room {room.name!r} ({room.id}) to school {args.school!r}."


def add_room_commands(commands: Subcommands) -> None:
    room = commands.add_parser("room", help="manage rooms")
    actions = room.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a room")
    add.add_argument("school", metavar="SCHOOL")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--locked", action="store_true", help="passes to it need approval")
    add.add_argument("--capacity", type=int, metavar="N", help="students there at once")
    add.add_argument("--minutes", type=int, default=5, metavar="N", help="default pass time")
    add_store_option(add)
    add.set_defaults(handler=run_room_add)


# --- user ----------------------------------------------------------------------


def read_password() -> str:
    """The password piped on standard input, less its final line break."""
    password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidInput("No password on standard input; pipe one in with --password-stdin.")
    return password


async def run_user_add(args: argparse.Namespace) -> str:
    check_user(
        username=args.username, role=args.role, number=args.number, room=args.room, pin=args.pin
    )
    check_name("user", args.name)
    password = read_password()
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"A password is at most {MAX_PASSWORD_LENGTH} characters.")
    async with await open_store(args) as backend:
        school = await require_school(backend.directory, args.school)
        room_id = None
        if args.room is not None:
            runtime = await SchoolRuntime.load(backend.store, school.slug)
            try:
                room = find_room(runtime.state.rooms, args.room)
            finally:
                await runtime.close()
            if room is None:
                raise Refused("unknown_room", f"School {school.slug!r} has no room {args.room!r}.")
            room_id = room.id
        user = await add_user(
            backend.directory,
            school,
            username=args.username,
            role=args.role,
            name=args.name,
            password_hash=await hash_password_async(password),
            number=args.number,
            room=room_id,
            pin=args.pin,
        )
    return f"Added {user.role} {user.username!r} ({user.id}) to school {school.slug!r}."


def add_user_commands(commands: Subcommands) -> None:
    user = commands.add_parser("user", help="manage people")
    actions = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add a person; the password is read from stdin")
    add.add_argument("school", metavar="SCHOOL")
    add.add_argument("username", metavar="USERNAME")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", required=True, metavar="NAME")
    add.add_argument("--number", metavar="N", help="the student number (students)")
    add.add_argument(
        "--room", metavar="ROOM", help="the room's name or id (a kiosk's; a teacher's own room)"
    )
    add.add_argument("--pin", metavar="PIN", help="4 to 6 digits to approve passes (teachers)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input",
    )
    add_store_option(add)
    add.set_defaults(handler=run_user_add)


# --- serve and worker (what they do lives in hallpass.service.serve) ------------


def add_serve(commands: Subcommands) -> None:
    from hallpass.service import serve

    parser = commands.add_parser(
        "serve", help="run the web service (on the embedded store, with its timed jobs)"
    )
    parser.add_argument("--host", default=serve.DEFAULT_HOST, metavar="H")
    parser.add_argument("--port", type=int, default=serve.DEFAULT_PORT, metavar="P")
    add_store_option(parser)
    parser.add_argument("--demo", action="store_true", help="first add the demo school if missing")
    serve.add_server_options(parser)
    parser.set_defaults(handler=serve.run_serve)


def add_worker(commands: Subcommands) -> None:
    from hallpass.service import serve

    parser = commands.add_parser("worker", help="run the timed jobs of a Redis store (arq)")
    add_store_option(parser)
    serve.add_worker_options(parser)
    parser.set_defaults(handler=serve.run_worker)


# --- roster, export, import, migrate (they live in hallpass.cli_data) -------------


def add_data_commands(commands: Subcommands) -> None:
    from hallpass import cli_data

    cli_data.add_commands(commands)


# --- sso (it lives in hallpass.sso.commands) -------------------------------------


def add_sso_commands(commands: Subcommands) -> None:
    from hallpass.sso import commands as sso_commands

    sso_commands.add_commands(commands)


# --- student delete (it lives in hallpass.deletion) -------------------------------


def add_student_commands(commands: Subcommands) -> None:
    from hallpass import deletion

    deletion.add_commands(commands)


# --- the command ---------------------------------------------------------------

# In API.md's order; `serve` and `worker` come first when they are added.
SUBCOMMANDS: list[Callable[[Subcommands], None]] = [
    add_serve,
    add_worker,
    add_demo,
    add_school_commands,
    add_room_commands,
    add_user_commands,
    add_data_commands,
    add_sso_commands,
    add_student_commands,
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="Hallpass, the digital hall pass.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(commands)
    return parser


def fail(message: str, code: int) -> int:
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr)
    return code


def run(main: Coroutine[Any, Any, str | None]) -> str | None:
    """Run `main` in a new event loop: uvloop's when installed (it comes with
    uvicorn[standard]), as uvicorn would pick for itself; it serves sockets
    with less work per write than asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        line = run(handler(args))
    except InvalidInput as error:
        return fail(str(error), 2)
    except Refused as error:
        return fail(error.message, 1)
    except StoreUnavailable as error:
        return fail(f"The store cannot be reached: {error}", 1)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        return fail(
            f"unexpected {type(error).__name__}: {error} (set {DEBUG_ENV}=1 to see more)", 1
        )
    if line:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
