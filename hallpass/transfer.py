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

A school whose oldest events retention removed (hallpass.retention) has no
whole history to give: its file (format version 2) says in the header after
which version its events start (`"starts_after": B`), and carries, before
the events, the school's snapshots that stand for what was removed:

    {"kind":"snapshot","name":"state","version":S,"data":"<base64>"}
    {"kind":"snapshot","name":"reports","version":R,"data":"<base64>"}

B is the older of the two versions, so the events after it rebuild both. An
import writes the snapshots, starts the stream after B (`start_after`), and
appends the events at their versions.

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
from hallpass.events.snapshots import REPORTS, STATE, snapshots_of
from hallpass.events.store import EventStore, StoredEvent, TrimRefused, VersionConflict
from hallpass.events.types import AnyEvent, decode, encode
from hallpass.projections.snapshot import UnreadableSnapshot, decode_state
from hallpass.projections.state import SchoolState, fold, initial_state
from hallpass.provision import InvalidInput, Refused, require_school
from hallpass.service.runtime import SchoolRuntime

FORMAT = "hallpass-export"
FORMAT_VERSION = 2  # what this code reads; a whole history is still written as 1
WHOLE_VERSION = 1
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
    starts_after: int = 0  # the version the file's events follow (retention)


class UserLine(msgspec.Struct, tag_field="kind", tag="user"):
    user: User


class EventLine(msgspec.Struct, tag_field="kind", tag="event"):
    version: int
    event: msgspec.Raw


class SnapshotLine(msgspec.Struct, tag_field="kind", tag="snapshot", kw_only=True):
    name: str  # STATE or REPORTS (hallpass.events.snapshots)
    version: int
    data: bytes  # as the store keeps it


class Trailer(msgspec.Struct, tag_field="kind", tag="end"):
    sha256: str


Line = Header | UserLine | SnapshotLine | EventLine | Trailer
SNAPSHOT_NAMES = (STATE, REPORTS)

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


async def _stored(
    store: EventStore, school: str, after: int = 0
) -> AsyncGenerator[tuple[int, bytes], None]:
    if isinstance(store, RawReader):
        async for row in store.read_raw(school, after):
            yield row
    else:
        async for stored in store.read(school, after):
            yield stored.version, encode(stored.event)


async def _first_version(store: EventStore, school: str) -> int | None:
    """The version of the oldest event the store keeps (None: none)."""
    async with aclosing(_stored(store, school)) as stored:
        async for version, _data in stored:
            return version
    return None


async def _standing_in(store: EventStore, school: str, first: int) -> list[SnapshotLine]:
    """The snapshots that stand for a history whose events start at `first`
    (retention removed the ones before): both, each at `first - 1` or later.
    Raises Refused when the store has not got them."""
    snapshots = snapshots_of(store)
    found: list[SnapshotLine] = []
    for name in SNAPSHOT_NAMES:
        kept = await snapshots.load(school, name=name) if snapshots is not None else None
        if kept is None or kept[0] < first - 1:
            raise Refused(
                "incomplete_history",
                f"School {school!r} keeps its events from version {first} on, and no"
                f" {name} snapshot covers the ones before; it cannot be exported.",
            )
        found.append(SnapshotLine(name=name, version=kept[0], data=kept[1]))
    return found


def _state_of(snapshot: SnapshotLine) -> SchoolState:
    """The state a file's state snapshot holds (one of another release too,
    as a trimmed school's runtime would read it); raises UnreadableSnapshot."""
    try:
        return decode_state(snapshot.data)
    except UnreadableSnapshot:
        return decode_state(snapshot.data, any_release=True)


# --- export ----------------------------------------------------------------------------


async def export_school(backend: Backend, school: str, path: Path) -> Summary:
    """Write `school`'s directory records and events to `path`, replacing it
    only once the file is whole. Raises Refused for an unknown school."""
    record = await require_school(backend.directory, school)
    users = sorted(await backend.directory.users(school), key=lambda user: user.id)
    # Events appended while the export runs belong to the next one.
    end = await backend.store.version(school)
    first = await _first_version(backend.store, school)
    standing_in = (
        [] if first is None or first == 1 else await _standing_in(backend.store, school, first)
    )
    start = min((s.version for s in standing_in), default=0)
    header = Header(
        format=FORMAT,
        version=FORMAT_VERSION if standing_in else WHOLE_VERSION,
        school=record,
        exported_at=datetime.now(UTC),
        stream_version=end,
        events=end - start,  # numbered start + 1 .. end
        users=len(users),
        starts_after=start,
    )
    state = initial_state()
    kept_state = next((s for s in standing_in if s.name == STATE), None)
    if kept_state is not None:
        try:
            state = _state_of(kept_state)
        except UnreadableSnapshot as why:
            raise Refused(
                "incomplete_history",
                f"School {school!r}: its state snapshot cannot be read ({why}).",
            ) from None
    expected = start + 1
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
            for snapshot in standing_in:
                put(snapshot)
            async with aclosing(_stored(backend.store, school, start)) as stored:
                async for version, data in stored:
                    if version > end:
                        break
                    if version != expected:
                        raise Refused(
                            "incomplete_history",
                            f"School {school!r} has no event {expected}; "
                            "its history has a gap and cannot be exported.",
                        )
                    put(EventLine(version, msgspec.Raw(data)))
                    if version > state.version:  # else the state snapshot holds it
                        fold(state, StoredEvent(version, decode(data)))
                    expected += 1
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
        events=end - start,
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
    snapshots: list[SnapshotLine]


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
    snapshots: list[SnapshotLine] = []
    events = 0
    expected = 1
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
                expected = header.starts_after + 1
            elif isinstance(line, SnapshotLine):
                if events or line.name not in SNAPSHOT_NAMES or not header.starts_after:
                    raise bad(number, "a snapshot where none belongs.")
                if line.name in {s.name for s in snapshots}:
                    raise bad(number, f"a second {line.name} snapshot.")
                if not header.starts_after <= line.version <= header.stream_version:
                    raise bad(number, f"the {line.name} snapshot's version is out of range.")
                if line.name == STATE:
                    try:
                        state = _state_of(line)
                    except UnreadableSnapshot as why:
                        raise bad(number, f"the state snapshot cannot be read ({why}).") from None
                    if state.version != line.version:
                        raise bad(number, "the state snapshot is not at its version.")
                snapshots.append(line)
            elif isinstance(line, UserLine):
                if line.user.school != header.school.slug or line.user.id in users:
                    raise bad(number, f"user {line.user.id!r} is not one of this school's.")
                users.add(line.user.id)
            elif isinstance(line, EventLine):
                if line.version != expected:
                    raise bad(
                        number,
                        f"event {line.version} where event {expected} belongs; "
                        "the history has a gap.",
                    )
                if header.starts_after and len(snapshots) != len(SNAPSHOT_NAMES):
                    raise bad(number, "the history starts late and its snapshots are missing.")
                try:
                    event: AnyEvent = decode(line.event)
                except msgspec.DecodeError as error:
                    raise bad(number, f"not an event this Hallpass knows ({error}).") from None
                if line.version > state.version:  # else the state snapshot holds it
                    fold(state, StoredEvent(line.version, event))
                events += 1
                expected += 1
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
    if header.starts_after and len(snapshots) != len(SNAPSHOT_NAMES):
        raise bad(None, "the history starts late and its snapshots are missing.")
    if (len(users), events, state.version) != (header.users, header.events, header.stream_version):
        raise bad(None, "the counts in its header do not match its content.")
    return _Checked(header=header, state=state, snapshots=snapshots)


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
    # once its history is there. The first append expects an empty stream
    # (or `start_after` does), so two imports of one school cannot both write.
    users: list[User] = []
    batch: list[AnyEvent] = []
    version = checked.header.starts_after
    try:
        if version:
            await _start(backend.store, slug, version, checked.snapshots)
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
    except (VersionConflict, TrimRefused):
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


async def _start(store: EventStore, school: str, after: int, kept: list[SnapshotLine]) -> None:
    """Write the snapshots that stand for the history before `after`, and
    start the school's stream after it."""
    snapshots = snapshots_of(store)
    if snapshots is None:
        raise Refused(
            "incomplete_history",
            f"School {school!r} was exported after retention removed its oldest events;"
            " this store keeps no snapshots to stand for them.",
        )
    for snapshot in kept:
        if not await snapshots.save(school, snapshot.version, snapshot.data, name=snapshot.name):
            raise Refused(
                "school_exists",
                f"The store already has a newer {snapshot.name} snapshot of school {school!r}.",
            )
    await store.start_after(school, after)


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
