"""A school in one portable file: export, import, and the proof that both
sides hold the same school.

The file is gzip'd JSON lines, readable with `zcat | head`:

    {"kind":"header","format":"hallpass-export","version":1,"school":{...},
     "exported_at":"...","stream_version":N,"events":N,"users":N}
    {"kind":"user","user":{...}}                 one per person, inactive ones too
    {"kind":"event","version":1,"event":{...}}   every event as stored, in order
    {"kind":"end","sha256":"..."}                of every byte (uncompressed) above it

The trailer's checksum makes a truncated or altered file fail loudly rather
than restore half a school. Event versions travel with the events and are
kept exactly, so the positions that WebSocket clients hold stay valid in the
new store. Sessions, sign-in throttles and idempotency keys are not part of a
school's record and stay behind.

The file holds the school's secret, password hashes and personal data: keep
it as carefully as the store itself.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec

from hallpass.backend import Backend
from hallpass.directory.model import School, User
from hallpass.events.store import EventStore, StoredEvent, VersionConflict
from hallpass.events.types import AnyEvent, decode, encode
from hallpass.projections.state import SchoolState, fold, initial_state
from hallpass.provision import InvalidInput, Refused, require_school
from hallpass.service.runtime import SchoolRuntime

FORMAT = "hallpass-export"
FORMAT_VERSION = 1
# Events per conditional append on import: one transaction (SQLite) or one
# script (Redis) each, small enough never to stall the store for long.
APPEND_CHUNK = 500


class Header(msgspec.Struct, tag_field="kind", tag="header", kw_only=True):
    format: str
    version: int
    school: School
    exported_at: datetime
    stream_version: int
    events: int
    users: int


class UserLine(msgspec.Struct, tag_field="kind", tag="user"):
    user: User


class EventLine(msgspec.Struct, tag_field="kind", tag="event"):
    version: int
    event: msgspec.Raw


class Trailer(msgspec.Struct, tag_field="kind", tag="end"):
    sha256: str


Line = Header | UserLine | EventLine | Trailer

_encode_line = msgspec.json.Encoder().encode
_decode_line = msgspec.json.Decoder(Line).decode


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """What one export or import moved, and the state it amounts to."""

    school: str
    stream_version: int
    events: int
    users: int
    fingerprint: str  # see `fingerprint`


def fingerprint(state: SchoolState) -> str:
    """A digest of a school's projections: equal states, equal digests."""
    return hashlib.sha256(msgspec.json.encode(state, order="deterministic")).hexdigest()


@runtime_checkable
class RawReader(Protocol):
    """Both stores can hand out events as stored, without decoding them."""

    def read_raw(self, school: str, after: int = 0) -> AsyncIterator[tuple[int, bytes]]: ...


async def _stored(store: EventStore, school: str) -> AsyncGenerator[tuple[int, bytes], None]:
    if isinstance(store, RawReader):
        async for row in store.read_raw(school):
            yield row
    else:
        async for stored in store.read(school):
            yield stored.version, encode(stored.event)


# --- export ----------------------------------------------------------------------------


async def export_school(backend: Backend, school: str, path: Path) -> Summary:
    """Write `school`'s directory records and events to `path`, replacing it
    only once the file is whole. Raises Refused for an unknown school."""
    record = await require_school(backend.directory, school)
    users = sorted(await backend.directory.users(school), key=lambda user: user.id)
    # Events appended while the export runs belong to the next one.
    end = await backend.store.version(school)
    header = Header(
        format=FORMAT,
        version=FORMAT_VERSION,
        school=record,
        exported_at=datetime.now(UTC),
        stream_version=end,
        events=end,  # a whole history numbers its events 1 .. end
        users=len(users),
    )
    state = initial_state()
    partial = path.with_name(path.name + ".partial")
    digest = hashlib.sha256()
    try:
        with gzip.open(partial, "wb", compresslevel=6) as out:

            def put(line: Line) -> None:
                data = _encode_line(line) + b"\n"
                digest.update(data)
                out.write(data)

            put(header)
            for user in users:
                put(UserLine(user))
            async with aclosing(_stored(backend.store, school)) as stored:
                async for version, data in stored:
                    if version > end:
                        break
                    if version != state.version + 1:
                        raise Refused(
                            "incomplete_history",
                            f"School {school!r} has no event {state.version + 1}; "
                            "only a whole history can be exported.",
                        )
                    put(EventLine(version, msgspec.Raw(data)))
                    fold(state, StoredEvent(version, decode(data)))
            if state.version != end:
                raise Refused(
                    "incomplete_history",
                    f"School {school!r} has events up to {state.version} only.",
                )
            out.write(_encode_line(Trailer(digest.hexdigest())) + b"\n")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Summary(
        school=school,
        stream_version=end,
        events=end,
        users=len(users),
        fingerprint=fingerprint(state),
    )


# --- reading a file back -----------------------------------------------------------------


class _Damaged(Exception):
    pass


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The file's lines, numbered from 1; gzip's own checks (its CRC, a cut
    stream) surface as _Damaged."""
    try:
        with gzip.open(path, "rb") as file:
            yield from enumerate(file, start=1)
    except (OSError, EOFError, zlib.error) as error:
        raise _Damaged(str(error) or type(error).__name__) from None


class _Checked(msgspec.Struct, kw_only=True):
    header: Header
    state: SchoolState


def _check(path: Path) -> _Checked:
    """Read the whole file once, checking everything import relies on, and
    fold its events. Raises InvalidInput naming the line that is wrong."""
    name = path.name

    def bad(line: int | None, message: str) -> InvalidInput:
        where = name if line is None else f"{name} line {line}"
        return InvalidInput(f"{where}: {message}")

    if not path.is_file():
        raise InvalidInput(f"There is no file {str(path)!r}.")
    header: Header | None = None
    digest = hashlib.sha256()
    state = initial_state()
    users: set[str] = set()
    events = 0
    trailer: Trailer | None = None
    number = 0
    try:
        for number, data in _lines(path):
            if trailer is not None:
                raise bad(number, "there is more after the file's last line.")
            try:
                line = _decode_line(data)
            except msgspec.DecodeError as error:
                if header is None:
                    raise bad(None, "this is not a Hallpass export.") from None
                raise bad(number, f"not a line of an export ({error}).") from None
            if header is None:
                if not isinstance(line, Header) or line.format != FORMAT:
                    raise bad(None, "this is not a Hallpass export.")
                if line.version > FORMAT_VERSION:
                    raise bad(
                        None,
                        f"made by a newer Hallpass (format {line.version}); "
                        "upgrade this one to import it.",
                    )
                header = line
            elif isinstance(line, UserLine):
                if line.user.school != header.school.slug or line.user.id in users:
                    raise bad(number, f"user {line.user.id!r} is not one of this school's.")
                users.add(line.user.id)
            elif isinstance(line, EventLine):
                if line.version != state.version + 1:
                    raise bad(
                        number,
                        f"event {line.version} follows event {state.version}; "
                        "only a whole history can be imported.",
                    )
                try:
                    event: AnyEvent = decode(line.event)
                except msgspec.DecodeError as error:
                    raise bad(number, f"not an event this Hallpass knows ({error}).") from None
                fold(state, StoredEvent(line.version, event))
                events += 1
            elif isinstance(line, Trailer):
                if line.sha256 != digest.hexdigest():
                    raise bad(number, "the content does not match its checksum; it was altered.")
                trailer = line
                continue
            else:
                raise bad(number, "a second header.")
            digest.update(data)
    except _Damaged as error:
        raise bad(None, f"the file is damaged or cut short ({error}).") from None
    if header is None:
        raise bad(None, "the file is empty.")
    if trailer is None:
        raise bad(number, "the file ends early: it has no last line; it was cut short.")
    if (len(users), events, state.version) != (header.users, header.events, header.stream_version):
        raise bad(None, "the counts in its header do not match its content.")
    return _Checked(header=header, state=state)


# --- import ------------------------------------------------------------------------------


async def import_school(backend: Backend, path: Path) -> Summary:
    """Bring the school in `path` into a store that does not have it, with
    every event at its version, then check the store folds to the same state.
    Raises InvalidInput for a bad file (nothing written) and Refused when the
    store already has the school."""
    checked = _check(path)
    school = checked.header.school
    slug = school.slug
    if await backend.directory.get_school(slug) is not None or await backend.store.version(slug):
        raise Refused(
            "school_exists",
            f"The store already has a school {slug!r}; import into a store without it.",
        )
    # Events first and the school last: the school appears to sign-ins only
    # once its history is there. The first append expects an empty stream,
    # so two imports of one school cannot both write.
    users: list[User] = []
    batch: list[AnyEvent] = []
    version = 0
    try:
        for _, data in _lines(path):
            line = _decode_line(data)
            if isinstance(line, UserLine):
                users.append(line.user)
            elif isinstance(line, EventLine):
                batch.append(decode(line.event))
                if len(batch) == APPEND_CHUNK:
                    version = await backend.store.append(slug, batch, version)
                    batch = []
        if batch:
            version = await backend.store.append(slug, batch, version)
    except VersionConflict:
        raise Refused(
            "school_exists", f"Something else wrote to school {slug!r} during the import."
        ) from None
    except _Damaged as error:  # changed on disk since it was checked
        raise InvalidInput(f"{path.name}: the file is damaged or cut short ({error}).") from None
    try:
        await backend.directory.add_school(school)
    except ValueError as error:
        raise Refused("school_exists", str(error)) from None
    await backend.directory.save_users(slug, users, [])
    summary = await summarize(backend, slug)
    if summary.fingerprint != fingerprint(checked.state):
        raise Refused(
            "mismatch", f"School {slug!r} was imported, but its projections differ from the file's."
        )
    return summary


async def summarize(backend: Backend, school: str) -> Summary:
    """The school as `backend` holds it: counts, and the fingerprint of the
    projections a server's runtime loads from it."""
    runtime = await SchoolRuntime.load(backend.store, school)
    try:
        state = runtime.state
        return Summary(
            school=school,
            stream_version=await backend.store.version(school),
            events=state.version,
            users=len(await backend.directory.users(school)),
            fingerprint=fingerprint(state),
        )
    finally:
        await runtime.close()


# --- migrate ----------------------------------------------------------------------------


async def verify(source: Backend, target: Backend, school: str) -> Summary:
    """Prove that `target` holds `school` as `source` does: the same school
    record and people, the same stream version, and runtimes that load
    identical projections. Raises Refused ("mismatch") saying what differs."""
    here, there = await summarize(source, school), await summarize(target, school)
    sides = (source, target)
    records = [await side.directory.get_school(school) for side in sides]
    people = [_by_id(await side.directory.users(school)) for side in sides]
    differences = [
        what
        for what, same in (
            ("school record", records[0] == records[1]),
            ("people", people[0] == people[1]),
            ("stream version", here.stream_version == there.stream_version),
            ("projections", here.fingerprint == there.fingerprint),
        )
        if not same
    ]
    if differences:
        raise Refused(
            "mismatch",
            f"School {school!r} differs between the stores in its {', '.join(differences)}; "
            "was the service still running? Stop it and migrate again into an empty store.",
        )
    return there


def _by_id(users: list[User]) -> list[User]:
    return sorted(users, key=lambda user: user.id)


async def migrate(
    source: Backend, target: Backend, workdir: Path, schools: list[str] | None = None
) -> list[Summary]:
    """Move `schools` (every school of `source` when None) into `target`:
    export each to a file in `workdir`, import it, then `verify`. The source
    is left as it was. Refuses before writing anything when a school is
    unknown to the source or already in the target."""
    slugs = schools or [school.slug for school in await source.directory.schools()]
    if not slugs:
        raise Refused("unknown_school", "The source store has no schools to move.")
    for slug in slugs:
        await require_school(source.directory, slug)
        if await target.directory.get_school(slug) is not None or await target.store.version(slug):
            raise Refused(
                "school_exists", f"The target store already has a school {slug!r}; nothing moved."
            )
    moved = []
    for slug in slugs:
        path = workdir / f"{slug}.jsonl.gz"
        await export_school(source, slug, path)
        await import_school(target, path)
        moved.append(await verify(source, target, slug))
    return moved
