"""The cold-start benchmark's data: a school year of a 3,000-student school.

The events are made once by bench/_school.py (the real rules, a few minutes)
and cached as JSON lines in the cache folder, named by a digest of the code
that makes them (the generator, the rules, the events), so a change to any of
them makes a fresh year. `fill` writes them into a store in big appends,
with the school and a teacher in its directory.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _school import SchoolYear

from hallpass.backend import Backend
from hallpass.directory.model import School, User
from hallpass.events.types import AnyEvent
from hallpass.passwords import hash_password, new_school_secret

ROOT = Path(__file__).resolve().parent.parent
SLUG = "coldstart"
TEACHER = "teacher"
PASSWORD = "cold-start-bench"
APPEND_BATCH = 5_000
_MAKERS = (
    "bench/_school.py",
    "hallpass/rules",
    "hallpass/projections",
    "hallpass/events/types.py",
)


def cache_folder() -> Path:
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hallpass-bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _code_digest() -> str:
    digest = hashlib.sha256()
    for name in _MAKERS:
        path = ROOT / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(ROOT).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def school_year(count: int) -> Path:
    """The JSON lines of at least `count` events (whole school days), made
    unless cached."""
    path = cache_folder() / f"school-year-{count}-{_code_digest()}.jsonl"
    if path.exists():
        return path
    print(f"making a school year of {count:,} events with the real rules (once) ...", flush=True)
    started = time.perf_counter()
    encode = msgspec.json.Encoder().encode
    partial = path.with_suffix(".part")
    with partial.open("wb") as out:
        for event in SchoolYear().events(count):
            out.write(encode(event) + b"\n")
    partial.replace(path)
    print(f"  made in {time.perf_counter() - started:.0f} s: {path}", flush=True)
    return path


def _batches(path: Path) -> Iterator[list[AnyEvent]]:
    decode = msgspec.json.Decoder(AnyEvent).decode
    batch: list[AnyEvent] = []
    with path.open("rb") as lines:
        for line in lines:
            batch.append(decode(line))
            if len(batch) == APPEND_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


async def fill(backend: Backend, events: Path) -> int:
    """Add the school and its teacher, and append the year's events; the
    stream's version."""
    school = School(slug=SLUG, name="Cold Start High", secret=new_school_secret())
    await backend.directory.add_school(school)
    await backend.directory.add_user(
        User(
            id="u-teacher",
            school=SLUG,
            username=TEACHER,
            name="A Teacher",
            role="teacher",
            password_hash=hash_password(PASSWORD),
        )
    )
    version = 0
    for batch in _batches(events):
        version = await backend.store.append(SLUG, batch, version)
    return version
