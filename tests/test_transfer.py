"""`hallpass export`, `import` and `migrate` (hallpass.transfer) between a
SQLite file and the real Redis: the same school comes out the other side
(people, events at their versions, projections), a damaged file is refused
with nothing written, and a school is never imported over another."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from data_kit import hallpass, refused, school_with_history
from retention_kit import ADMIN, append_all, local, school_days

from hallpass import transfer
from hallpass.backend import open_backend
from hallpass.directory.model import School
from hallpass.events.snapshots import snapshots_of
from hallpass.events.store import StoredEvent
from hallpass.events.types import PassesPaused
from hallpass.provision import InvalidInput, Refused
from hallpass.reports.live import Reports
from hallpass.reports.snapshot import load_snapshot
from hallpass.retention import keep_retention
from hallpass.rules.commands import AddRoom, Rejection
from hallpass.service.runtime import SchoolRuntime


@pytest.fixture(autouse=True)
def small_appends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Import in chunks of a few events, so every test crosses chunk edges."""
    monkeypatch.setattr(transfer, "APPEND_CHUNK", 7)


def url_for(kind: str, tmp_path: Path, name: str, redis_url: str) -> str:
    return redis_url if kind == "redis" else f"sqlite:///{tmp_path / name}"


class Side(msgspec.Struct):
    """Everything a store holds of one school, for comparing two stores."""

    school: Any
    users: list[Any]
    version: int
    raw: list[tuple[int, bytes]]
    events: list[StoredEvent]
    state: bytes  # the runtime's projections, encoded


async def side(url: str, slug: str) -> Side:
    async with await open_backend(url) as backend:
        runtime = await SchoolRuntime.load(backend.store, slug)
        await runtime.close()
        store: Any = backend.store
        return Side(
            school=await backend.directory.get_school(slug),
            users=sorted(await backend.directory.users(slug), key=lambda u: u.id),
            version=await backend.store.version(slug),
            raw=[row async for row in store.read_raw(slug)],
            events=[stored async for stored in backend.store.read(slug)],
            state=msgspec.json.encode(runtime.state),
        )


async def nothing_of(url: str, slug: str) -> bool:
    async with await open_backend(url) as backend:
        return (
            await backend.directory.get_school(slug) is None
            and await backend.directory.users(slug) == []
            and await backend.store.version(slug) == 0
        )


# --- export, then import ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_kind", "target_kind"), [("sqlite", "redis"), ("redis", "sqlite"), ("sqlite", "sqlite")]
)
async def test_an_export_imports_as_the_same_school(
    source_kind: str, target_kind: str, tmp_path: Path, redis_url: str
) -> None:
    source = url_for(source_kind, tmp_path, "source.db", redis_url)
    target = url_for(target_kind, tmp_path, "target.db", redis_url)
    school = await school_with_history(source)
    file = tmp_path / "school.jsonl.gz"

    async with await open_backend(source) as backend:
        exported = await transfer.export_school(backend, school.slug, file)
    async with await open_backend(target) as backend:
        imported = await transfer.import_school(backend, file)

    before, after = await side(source, school.slug), await side(target, school.slug)
    assert after == before
    assert before.version == len(before.events) > 3 * transfer.APPEND_CHUNK
    assert [version for version, _ in after.raw] == list(range(1, before.version + 1))
    assert imported == exported
    assert imported.users == len(school.users)
    # Signing in still works: the password hashes and the school's secret came along.
    assert after.school.secret and after.users == before.users


async def test_the_file_is_json_lines_with_a_checksum(tmp_path: Path, redis_url: str) -> None:
    school = await school_with_history(redis_url, rounds=2)
    file = tmp_path / "school.jsonl.gz"
    async with await open_backend(redis_url) as backend:
        await transfer.export_school(backend, school.slug, file)
        users = await backend.directory.users(school.slug)
        version = await backend.store.version(school.slug)

    lines = gzip.decompress(file.read_bytes()).splitlines(keepends=True)
    records = [json.loads(line) for line in lines]
    header, trailer = records[0], records[-1]
    assert header["kind"] == "header" and header["format"] == "hallpass-export"
    assert header["version"] == 1 and header["school"]["slug"] == school.slug
    assert (header["stream_version"], header["events"], header["users"]) == (
        version,
        version,
        len(users),
    )
    kinds = [record["kind"] for record in records]
    assert kinds == ["header"] + ["user"] * len(users) + ["event"] * version + ["end"]
    events = [record for record in records if record["kind"] == "event"]
    assert [event["version"] for event in events] == list(range(1, version + 1))
    assert events[0]["event"]["type"] == "policies_set"
    assert trailer["sha256"] == hashlib.sha256(b"".join(lines[:-1])).hexdigest()
    assert not file.with_name(file.name + ".partial").exists()


# --- refusals ------------------------------------------------------------------------------------


@pytest.fixture
async def exported(tmp_path: Path) -> tuple[str, Path]:
    """A school's export from its own SQLite file: (slug, file)."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    school = await school_with_history(source, rounds=3)
    file = tmp_path / "school.jsonl.gz"
    async with await open_backend(source) as backend:
        await transfer.export_school(backend, school.slug, file)
    return school.slug, file


def edit(file: Path, change: Any, *, fix_checksum: bool = False) -> Path:
    """Rewrite the file's lines with `change(lines) -> lines`."""
    lines = gzip.decompress(file.read_bytes()).splitlines(keepends=True)
    lines = change(lines)
    if fix_checksum:
        body = b"".join(lines[:-1])
        trailer = {"kind": "end", "sha256": hashlib.sha256(body).hexdigest()}
        lines[-1] = json.dumps(trailer).encode() + b"\n"
    edited = file.with_name("edited.jsonl.gz")
    edited.write_bytes(gzip.compress(b"".join(lines)))
    return edited


def altered_event(lines: list[bytes]) -> list[bytes]:
    n = next(i for i, line in enumerate(lines) if b'"room_added"' in line)
    lines[n] = lines[n].replace(b'"Room 1"', b'"Room X"')
    return lines


def without_event(lines: list[bytes]) -> list[bytes]:
    n = next(i for i, line in enumerate(lines) if b'"version":5,' in line)
    return lines[:n] + lines[n + 1 :]


def newer_format(lines: list[bytes]) -> list[bytes]:
    lines[0] = lines[0].replace(b'"version":1,', b'"version":3,', 1)
    return lines


BROKEN = {
    "cut in half": (
        lambda file: _cut(file),
        "school.jsonl.gz: the file is damaged or cut short",
    ),
    "an event altered": (
        lambda file: edit(file, altered_event),
        "the content does not match its checksum",
    ),
    "its last line lost": (
        lambda file: edit(file, lambda lines: lines[:-1]),
        "it has no last line; it was cut short",
    ),
    "an event left out": (
        lambda file: edit(file, without_event, fix_checksum=True),
        "event 6 where event 5 belongs; the history has a gap",
    ),
    "a newer format": (
        lambda file: edit(file, newer_format, fix_checksum=True),
        "made by a newer Hallpass (format 3)",
    ),
    "not gzip": (
        lambda file: _write(file, b'{"kind":"header"}\n'),
        "the file is damaged or cut short",
    ),
    "someone else's json": (
        lambda file: _write(file, gzip.compress(b'{"name": "not ours"}\n')),
        "this is not a Hallpass export",
    ),
}


def _cut(file: Path) -> Path:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    return file


def _write(file: Path, data: bytes) -> Path:
    file.write_bytes(data)
    return file


@pytest.mark.parametrize("damage", list(BROKEN))
async def test_a_damaged_file_is_refused_and_nothing_written(
    damage: str, exported: tuple[str, Path], redis_url: str
) -> None:
    slug, file = exported
    breaks, message = BROKEN[damage]
    broken = breaks(file)
    async with await open_backend(redis_url) as backend:
        with pytest.raises(InvalidInput) as caught:
            await transfer.import_school(backend, broken)
    assert message in str(caught.value)
    assert await nothing_of(redis_url, slug)


async def test_the_command_refuses_a_damaged_file_in_one_line(
    exported: tuple[str, Path], tmp_path: Path
) -> None:
    slug, file = exported
    target = f"sqlite:///{tmp_path / 'target.db'}"
    broken = edit(file, altered_event)
    ran = hallpass("import", str(broken), "--store", target)
    assert refused(ran, 2).startswith("hallpass: edited.jsonl.gz line ")
    assert await nothing_of(target, slug)


async def test_a_school_is_never_imported_over_another(
    exported: tuple[str, Path], tmp_path: Path
) -> None:
    slug, file = exported
    source = f"sqlite:///{tmp_path / 'source.db'}"
    before = await side(source, slug)
    ran = hallpass("import", str(file), "--store", source)
    assert refused(ran, 1) == (
        f"hallpass: The store already has a school {slug!r}; import into a store without it."
    )
    assert await side(source, slug) == before


async def test_exporting_an_unknown_school_leaves_the_file_alone(tmp_path: Path) -> None:
    file = tmp_path / "old-backup.jsonl.gz"
    file.write_bytes(b"yesterday's backup")
    ran = hallpass("export", "nowhere", str(file), "--store", f"sqlite:///{tmp_path / 'h.db'}")
    assert refused(ran, 1) == "hallpass: There is no school 'nowhere'."
    assert file.read_bytes() == b"yesterday's backup"


async def test_export_and_import_commands(exported: tuple[str, Path], tmp_path: Path) -> None:
    slug, _ = exported
    source = f"sqlite:///{tmp_path / 'source.db'}"
    target = f"sqlite:///{tmp_path / 'target.db'}"
    file = tmp_path / "backup.jsonl.gz"

    out = hallpass("export", slug, str(file), "--store", source)
    assert out.code == 0 and out.err == "", out
    back = hallpass("import", str(file), "--store", target)
    assert back.code == 0 and back.err == "", back

    summary = (await side(source, slug)).version
    assert out.out.startswith(f"Exported school {slug!r} to {file}: {summary} events up to ")
    assert back.out.startswith(f"Imported school {slug!r} from {file}: {summary} events up to ")
    # The fingerprint printed at export is the one printed at import.
    assert out.out.split("projections ")[1][:12] == back.out.split("projections ")[1][:12]
    assert await side(target, slug) == await side(source, slug)


# --- migrate ----------------------------------------------------------------------------------


# --- a school whose oldest events retention removed ----------------------------------------

LIVED = school_days(seed=5, days=30, retention_days=30, asks=0.3)  # 1 Sep to 10 Oct 2025
TRIMMED_AT = local(date(2025, 10, 15), 12)


async def trimmed_school(store_url: str) -> str:
    """A school that lived 30 school days with a retention of 30 days, was
    trimmed on 15 October, and went on a little after its snapshots."""
    slug = f"t-{uuid.uuid4().hex[:10]}"
    async with await open_backend(store_url) as backend:
        await backend.directory.add_school(School(slug=slug, name="Trimmed", secret="s"))
        await append_all(backend.store, slug, LIVED)
        runtime = await SchoolRuntime.load(backend.store, slug, lambda: TRIMMED_AT)
        try:
            done = await keep_retention(runtime)
            assert done is not None and done.removed > 0
            later = await runtime.execute(AddRoom(actor=ADMIN, room_id="c9", name="Room c9"))
            assert not isinstance(later, Rejection)
        finally:
            await runtime.close()
    return slug


async def reports_of(url: str, slug: str) -> Any:
    async with await open_backend(url) as backend:
        runtime = await SchoolRuntime.load(backend.store, slug)
        try:
            return await Reports(base=load_snapshot).of(runtime)
        finally:
            await runtime.close()


@pytest.mark.parametrize(("source_kind", "target_kind"), [("sqlite", "redis"), ("redis", "sqlite")])
async def test_a_trimmed_school_moves_with_the_snapshots_that_stand_for_its_history(
    source_kind: str, target_kind: str, tmp_path: Path, redis_url: str
) -> None:
    source = url_for(source_kind, tmp_path, "source.db", redis_url)
    target = url_for(target_kind, tmp_path, "target.db", redis_url)
    slug = await trimmed_school(source)
    file = tmp_path / "school.jsonl.gz"

    async with await open_backend(source) as backend:
        exported = await transfer.export_school(backend, slug, file)
        snapshots = snapshots_of(backend.store)
        assert snapshots is not None
        kept = await snapshots.load(slug)
        assert kept is not None
        state_at = kept[0]
    lines = [json.loads(line) for line in gzip.decompress(file.read_bytes()).splitlines()]
    header = lines[0]
    start = header["starts_after"]
    assert header["version"] == 2 and 0 < start <= state_at < header["stream_version"]
    assert [(line["name"], line["version"] >= start) for line in lines[1:3]] == [
        ("state", True),
        ("reports", True),
    ]
    assert [line["version"] for line in lines[3:-1]] == list(
        range(start + 1, header["stream_version"] + 1)
    )

    async with await open_backend(target) as backend:
        imported = await transfer.import_school(backend, file)
    assert imported.fingerprint == exported.fingerprint

    before, after = await side(source, slug), await side(target, slug)
    assert (after.school, after.users, after.version) == (
        before.school,
        before.users,
        before.version,
    )
    assert after.state == before.state
    assert after.raw == [row for row in before.raw if row[0] > start]
    assert await reports_of(target, slug) == await reports_of(source, slug)

    # The school goes on in its new store, from where it was.
    async with await open_backend(target) as backend:
        runtime = await SchoolRuntime.load(backend.store, slug, lambda: TRIMMED_AT)
        try:
            added = await runtime.execute(AddRoom(actor=ADMIN, room_id="c10", name="Room 10"))
            assert not isinstance(added, Rejection)
            assert [each.version for each in added] == [before.version + 1]
        finally:
            await runtime.close()


async def test_migrate_moves_a_trimmed_school_and_proves_it(tmp_path: Path) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    slug = await trimmed_school(first)
    ran = hallpass("migrate", "--from", first, "--to", f"sqlite:///{tmp_path / 'second.db'}")
    assert (ran.code, ran.err) == (0, ""), ran
    assert ran.out.rstrip().endswith("the same in both stores.")
    moved, original = (
        await side(f"sqlite:///{tmp_path / 'second.db'}", slug),
        await side(first, slug),
    )
    assert (moved.version, moved.state, moved.users) == (
        original.version,
        original.state,
        original.users,
    )
    assert len(moved.raw) < len(original.raw)  # only the events after the snapshots went


async def test_a_trimmed_schools_file_without_its_snapshots_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    slug = await trimmed_school(url)
    file = tmp_path / "school.jsonl.gz"
    async with await open_backend(url) as backend:
        await transfer.export_school(backend, slug, file)
    lines = gzip.decompress(file.read_bytes()).splitlines(keepends=True)
    body = lines[0] + b"".join(lines[3:-1])  # the snapshots left out
    trailer = {"kind": "end", "sha256": hashlib.sha256(body).hexdigest()}
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(body + json.dumps(trailer).encode() + b"\n"))

    target = f"sqlite:///{tmp_path / 'target.db'}"
    async with await open_backend(target) as backend:
        with pytest.raises(InvalidInput, match="snapshots are missing"):
            await transfer.import_school(backend, cut)
    assert await nothing_of(target, slug)


async def test_sqlite_to_redis_and_back_keeps_everything(tmp_path: Path, redis_url: str) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    last = f"sqlite:///{tmp_path / 'last.db'}"
    school = await school_with_history(first)
    original = await side(first, school.slug)

    there = hallpass("migrate", "--from", first, "--to", redis_url)
    assert (there.code, there.err) == (0, ""), there
    assert there.out.startswith(f"Moved school {school.slug!r} to {redis_url}: ")
    assert there.out.rstrip().endswith("the same in both stores.")
    assert await side(redis_url, school.slug) == original

    # The shared Redis holds other tests' schools too: move just this one back.
    back = hallpass("migrate", "--from", redis_url, "--to", last, "--school", school.slug)
    assert (back.code, back.err) == (0, ""), back
    assert await side(last, school.slug) == original
    assert await side(first, school.slug) == original  # the source is left as it was


async def test_migrate_refuses_a_target_that_has_the_school(tmp_path: Path, redis_url: str) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    second = f"sqlite:///{tmp_path / 'second.db'}"
    school = await school_with_history(first, rounds=1)
    other = await school_with_history(first, rounds=1)
    assert hallpass("migrate", "--from", first, "--to", second, "--school", school.slug).code == 0
    before = await side(second, school.slug)

    ran = hallpass("migrate", "--from", first, "--to", second)
    assert refused(ran, 1) == (
        f"hallpass: The target store already has a school {school.slug!r}; nothing moved."
    )
    assert await nothing_of(second, other.slug)  # checked before anything was written
    assert await side(second, school.slug) == before


async def test_migrate_refuses_one_store_named_twice(tmp_path: Path) -> None:
    ran = hallpass(
        "migrate",
        "--from",
        f"sqlite:///{tmp_path / 'h.db'}",
        "--to",
        f"sqlite:///{tmp_path}/./h.db",
    )
    assert refused(ran, 2) == "hallpass: --from and --to name the same store."


async def test_verify_names_what_differs(tmp_path: Path, redis_url: str) -> None:
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    school = await school_with_history(source_url, rounds=1)
    async with (
        await open_backend(source_url) as source,
        await open_backend(redis_url) as target,
    ):
        moved = await transfer.migrate(source, target, tmp_path, [school.slug])
        assert [summary.school for summary in moved] == [school.slug]
        assert await transfer.verify(source, target, school.slug) == moved[0]

        # The service kept running on the source during the move:
        version = await source.store.version(school.slug)
        paused = PassesPaused(at=datetime.now(UTC), actor="system")
        await source.store.append(school.slug, [paused], version)
        with pytest.raises(Refused) as caught:
            await transfer.verify(source, target, school.slug)
    assert caught.value.code == "mismatch"
    assert "its stream version, projections" in caught.value.message


async def test_migrate_from_an_empty_store(tmp_path: Path) -> None:
    ran = hallpass(
        "migrate",
        "--from",
        f"sqlite:///{tmp_path / 'a.db'}",
        "--to",
        f"sqlite:///{tmp_path / 'b.db'}",
    )
    assert refused(ran, 1) == "hallpass: The source store has no schools to move."
