"""The `hallpass` commands that move a school's data in and out:

    hallpass roster import SCHOOL FOLDER [--org ID] [--dry-run] [--verbose]
    hallpass export SCHOOL FILE
    hallpass import FILE
    hallpass migrate --from URL --to URL [--school SLUG ...]

What they do lives in hallpass.roster (with hallpass.oneroster) and
hallpass.transfer; this module only reads the command line and words the
answer. hallpass.cli registers `add_commands`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hallpass.backend import Backend, open_backend, sqlite_file
from hallpass.cli import Subcommands, add_store_option, open_store
from hallpass.events.urls import SqliteUrl, parse_store_url
from hallpass.oneroster import RosterError, read_roster
from hallpass.provision import InvalidInput, Refused, check_slug, require_school
from hallpass.roster import RosterConflict, apply_plan, describe, plan_roster
from hallpass.transfer import Summary, export_school, import_school, migrate

# --- roster import ---------------------------------------------------------------------


async def run_roster_import(args: argparse.Namespace) -> str:
    # The files are checked whole before the store is even opened.
    try:
        roster = read_roster(Path(args.folder))
    except RosterError as error:
        raise InvalidInput(str(error)) from None
    async with await open_store(args) as backend:
        await require_school(backend.directory, args.school)
        current = await backend.directory.users(args.school)
        try:
            plan = plan_roster(args.school, current, roster, org=args.org)
            if not args.dry_run:
                await apply_plan(backend.directory, plan)
        except RosterConflict as error:
            raise Refused("duplicate", str(error)) from None
        except RosterError as error:
            raise InvalidInput(str(error)) from None
    return describe(plan, applied=not args.dry_run, every_change=args.verbose)


def add_roster_commands(commands: Subcommands) -> None:
    roster = commands.add_parser("roster", help="bring people in from a school information system")
    actions = roster.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser(
        "import",
        help="add, update and deactivate students and staff from a OneRoster 1.1 CSV folder",
    )
    load.add_argument("school", metavar="SCHOOL")
    load.add_argument("folder", metavar="FOLDER", help="the folder holding users.csv")
    load.add_argument(
        "--org", metavar="SOURCEDID", help="only the people of this org (and the orgs under it)"
    )
    load.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")
    load.add_argument("--verbose", "-v", action="store_true", help="list every change")
    add_store_option(load)
    load.set_defaults(handler=run_roster_import)


# --- export and import ---------------------------------------------------------------------


def _counts(summary: Summary) -> str:
    events = "1 event" if summary.events == 1 else f"{summary.events} events"
    people = "1 person" if summary.users == 1 else f"{summary.users} people"
    return (
        f"{events} up to position {summary.stream_version}, {people}; "
        f"projections {summary.fingerprint[:12]}"
    )


async def run_export(args: argparse.Namespace) -> str:
    check_slug(args.school)
    path = Path(args.file)
    if path.is_dir() or not path.absolute().parent.is_dir():
        raise InvalidInput(f"{args.file!r} is not a file name in an existing folder.")
    async with await open_store(args) as backend:
        summary = await export_school(backend, args.school, path)
    return f"Exported school {args.school!r} to {args.file}: {_counts(summary)}."


async def run_import(args: argparse.Namespace) -> str:
    path = Path(args.file)
    async with await open_store(args) as backend:
        summary = await import_school(backend, path)
    return (
        f"Imported school {summary.school!r} from {args.file}: {_counts(summary)}, as in the file."
    )


def add_transfer_commands(commands: Subcommands) -> None:
    export = commands.add_parser(
        "export", help="write a school's whole history and people to one file (a backup)"
    )
    export.add_argument("school", metavar="SCHOOL")
    export.add_argument("file", metavar="FILE", help="e.g. lincoln.jsonl.gz; replaced when whole")
    add_store_option(export)
    export.set_defaults(handler=run_export)

    load = commands.add_parser(
        "import", help="bring a school in from an export into a store that lacks it (a restore)"
    )
    load.add_argument("file", metavar="FILE")
    add_store_option(load)
    load.set_defaults(handler=run_import)


# --- migrate --------------------------------------------------------------------------------


def shown(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:" if parts.username else ":"
    return urlunsplit(parts._replace(netloc=f"{user}***@{host}"))


def _same_store(a: str, b: str) -> bool:
    first, second = parse_store_url(a), parse_store_url(b)
    if isinstance(first, SqliteUrl) and isinstance(second, SqliteUrl):
        return sqlite_file(first.path).resolve() == sqlite_file(second.path).resolve()
    return first == second


async def _open(url: str) -> Backend:
    try:
        return await open_backend(url)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


async def run_migrate(args: argparse.Namespace) -> str:
    for slug in args.school or ():
        check_slug(slug)
    try:
        same = _same_store(args.source, args.target)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if same:
        raise InvalidInput("--from and --to name the same store.")
    async with await _open(args.source) as source, await _open(args.target) as target:
        with tempfile.TemporaryDirectory(prefix="hallpass-migrate-") as workdir:
            moved = await migrate(source, target, Path(workdir), args.school)
    return "\n".join(
        f"Moved school {summary.school!r} to {shown(args.target)}: {_counts(summary)}, "
        "the same in both stores."
        for summary in moved
    )


def add_migrate(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "migrate",
        help="copy schools from one store to another (SQLite to Redis or back) and prove they match",
    )
    parser.add_argument("--from", dest="source", required=True, metavar="URL")
    parser.add_argument("--to", dest="target", required=True, metavar="URL")
    parser.add_argument(
        "--school",
        action="append",
        metavar="SLUG",
        help="only this school (may be given again); every school by default",
    )
    parser.set_defaults(handler=run_migrate)


def add_commands(commands: Subcommands) -> None:
    add_roster_commands(commands)
    add_transfer_commands(commands)
    add_migrate(commands)
