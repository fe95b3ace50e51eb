"""Deleting a student, on the SQLite store and on Redis, with a real server
running beside the command as in a deployment.

After `hallpass student delete`, the student's name, username, number and
email appear nowhere: not in the directory, not in the raw bytes of the event
stream, of the directory's tables or keys, of the audit log, not in any
export, report or view. Their notes are hidden everywhere they are shown (the
stored events keep them until retention trims them, as docs/privacy.md says).
The command prints a certificate whose digest the audit log keeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from servers import REPO, SeededSchool, login, running_server, seed_school

from hallpass.audit import OPERATOR, STUDENT_DELETED
from hallpass.backend import Backend, open_backend
from hallpass.deletion import delete_student
from hallpass.directory.model import School, Session, User
from hallpass.events.urls import SqliteUrl, parse_store_url
from hallpass.ids import new_id
from hallpass.passwords import hash_password_async
from hallpass.provision import Refused

PASSWORD = "a long student password"
WAIT_SECONDS = 20.0


@dataclass
class Site:
    url: str  # the server's
    store_url: str
    backend: Backend
    school: SeededSchool

    async def signed_in(self, username: str, password: str | None = None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.url, timeout=60)
        await login(client, self.school.slug, username, password or self.school.password)
        return client


@dataclass
class Student:
    user: User
    marker: str  # written in their notes

    @property
    def secrets(self) -> list[str]:
        user = self.user
        assert user.number is not None and user.email is not None
        return [user.name, user.username, user.number, user.email]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('deletion') / 'hallpass.db'}"
    school = await seed_school(url)
    backend = await open_backend(url)
    try:
        async with running_server(url) as server:
            yield Site(server.url, url, backend, school)
    finally:
        await backend.close()


async def new_student(site: Site) -> Student:
    tag = uuid.uuid4().hex[:8]
    user = User(
        id=new_id("user"),
        school=site.school.slug,
        username=f"zq-{tag}",
        name=f"Zebulon Quixote {tag.upper()}",
        role="student",
        number=f"ZQ-{tag.upper()}-N",
        email=f"zebulon.{tag}@example.org",
        password_hash=await hash_password_async(PASSWORD),
    )
    await site.backend.directory.add_user(user)
    return Student(user, marker=f"private-note-{tag}")


async def history(site: Site, student: Student) -> None:
    """Two passes and a declined request with notes; the student signed in."""
    rooms = site.school.rooms
    teacher = await site.signed_in("teacher1")
    own = await site.signed_in(student.user.username, PASSWORD)
    try:
        for destination in ("Library", "Room 2"):
            made = await teacher.post(
                "/api/passes",
                json={
                    "origin": rooms["Room 1"],
                    "destination": rooms[destination],
                    "student": student.user.id,
                    "note": student.marker,
                },
            )
            assert made.status_code == 201, made.text
            ended = await teacher.post(f"/api/passes/{made.json()['id']}/end")
            assert ended.status_code == 200, ended.text
        asked = await teacher.post(
            "/api/requests",
            json={
                "student": student.user.id,
                "destination": rooms["Library"],
                "note": student.marker,
            },
        )
        assert asked.status_code == 201, asked.text
        declined = await own.post(
            f"/api/requests/{asked.json()['id']}/decline", json={"reason": "busy"}
        )
        assert declined.status_code == 200, declined.text
        assert (await own.get("/api/me")).status_code == 200
    finally:
        await teacher.aclose()
        await own.aclose()


# --- what the store holds, byte for byte ------------------------------------------------


async def raw_stream(site: Site) -> bytes:
    store: Any = site.backend.store
    return b"\n".join([data async for _, data in store.read_raw(site.school.slug)])


async def raw_everything(site: Site) -> bytes:
    """Every row of every table of the SQLite file, and the file itself; or
    every key of the Redis server with every value it holds."""
    target = parse_store_url(site.store_url)
    if isinstance(target, SqliteUrl):
        connection = sqlite3.connect(target.path)
        try:
            tables = [
                r[0]
                for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            rows = [
                repr(row).encode()
                for t in tables
                for row in connection.execute(f'SELECT * FROM "{t}"')
            ]
        finally:
            connection.close()
        files = [Path(f"{target.path}{suffix}") for suffix in ("", "-wal")]
        return b"\n".join(rows + [f.read_bytes() for f in files if f.exists()])
    client = aioredis.Redis.from_url(site.store_url)
    found: list[bytes] = []
    try:
        async for key in client.scan_iter(count=1000):
            found.append(key)
            kind = (await client.type(key)).decode()
            if kind == "string":
                found.append(await client.get(key) or b"")
            elif kind == "hash":
                found += [k + b"=" + v for k, v in (await client.hgetall(key)).items()]
            elif kind == "stream":
                for _, fields in await client.xrange(key):
                    found += list(fields.values())
            elif kind == "list":
                found += await client.lrange(key, 0, -1)
            elif kind in ("set", "zset"):
                found += list(
                    await (client.smembers(key) if kind == "set" else client.zrange(key, 0, -1))
                )
    finally:
        await client.aclose()
    return b"\n".join(found)


def absent(secrets: list[str], data: bytes, where: str) -> None:
    for secret in secrets:
        for form in {secret, secret.lower()}:
            assert form.encode() not in data, f"{secret!r} is still in {where}"


async def until(check: Any) -> None:
    """Wait for the server to fold what another process appended."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        assert time.monotonic() < deadline, "the server did not catch up"
        await asyncio.sleep(0.1)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hallpass.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the tests ---------------------------------------------------------------------------


async def test_a_deleted_student_appears_nowhere_afterwards(site: Site) -> None:
    student = await new_student(site)
    await history(site, student)
    admin = await site.signed_in("admin")
    session = await site.signed_in(student.user.username, PASSWORD)
    try:
        # Before: the admin sees them, by name, in an export and a view.
        record = await admin.get(f"/api/exports/students/{student.user.id}/record.json")
        assert record.status_code == 200 and student.user.name in record.text
        listing = await admin.get("/api/passes", params={"student": student.user.id})
        assert student.user.name in listing.text and student.marker in listing.text
        absent(student.secrets, await raw_stream(site), "the event stream")
        everything = await raw_everything(site)
        assert all(secret.encode() in everything for secret in student.secrets)

        done = run_cli(
            "student", "delete", site.school.slug, student.user.username,
            "--by", "registrar", "--store", site.store_url,
        )  # fmt: skip

        assert done.returncode == 0, done.stderr
        certificate = done.stdout
        for secret in student.secrets:
            assert secret in certificate
        body, digest_line = certificate.rstrip("\n").rsplit("\n", 1)
        digest = digest_line.rsplit(" ", 1)[1]
        assert hashlib.sha256((body + "\n").encode()).hexdigest() == digest
        assert "Deleted by:   registrar" in certificate
        assert "Kept:         2 passes and 1 request" in certificate
        assert student.user.id not in certificate  # it ties no history to the person

        # The directory knows them no more, and their session is gone.
        directory = site.backend.directory
        user = student.user
        assert await directory.get_user(user.school, user.id) is None
        assert await directory.user_by_username(user.school, user.username) is None
        assert user.number is not None and user.email is not None
        assert await directory.user_by_number(user.school, user.number) is None
        assert await directory.user_by_email(user.school, user.email) is None
        assert user.id not in {u.id for u in await directory.users(user.school)}
        assert (await session.get("/api/me")).status_code == 401

        # The audit log keeps the digest, under the certificate's id.
        (entry, *_) = [
            logged.entry
            for logged in await site.backend.audit.page(user.school)
            if logged.entry.action == STUDENT_DELETED
        ]
        assert entry.actor == OPERATOR + "registrar"
        assert f"sha256={digest}" in entry.detail
        assert entry.subject in certificate

        # Nothing anywhere in the store holds their name, username, number or email.
        absent(student.secrets, await raw_everything(site), "the store")
        stream = await raw_stream(site)
        absent(student.secrets, stream, "the event stream")
        assert student.marker.encode() in stream  # until retention trims it (privacy.md)

        # The server, another process, folds the deletion: views show neither name nor note.
        async def shown_without_them() -> bool:
            answer = await admin.get("/api/passes", params={"student": user.id})
            return answer.status_code == 200 and student.marker not in answer.text

        await until(shown_without_them)
        listing = await admin.get("/api/passes", params={"student": user.id})
        assert len(listing.json()) == 2
        assert {p["student"]["name"] for p in listing.json()} == {"Unknown"}
        absent(student.secrets, listing.content, "the pass listing")
        requests = await admin.get("/api/requests", params={"student": user.id})
        assert requests.status_code == 200
        absent([*student.secrets, student.marker], requests.content, "the requests")

        # No export or report shows them.
        exported = await admin.get(
            "/api/exports/passes.csv", params={"from": "2000-01-01", "to": "2100-01-01"}
        )
        assert exported.status_code == 200 and user.id in exported.text
        absent([*student.secrets, student.marker], exported.content, "the pass history")
        for by in ("passes", "minutes"):
            report = await admin.get(
                "/api/reports/students",
                params={"from": "2000-01-01", "to": "2100-01-01", "by": by, "limit": "100"},
            )
            assert report.status_code == 200
            assert user.id not in report.text
        gone = await admin.get(f"/api/exports/students/{user.id}/record.json")
        assert gone.status_code == 404
        audit = await admin.get("/api/audit", params={"limit": "500"})
        absent(student.secrets, audit.content, "the audit log")
    finally:
        await admin.aclose()
        await session.aclose()


async def test_a_student_with_a_pass_out_is_not_deleted_until_it_ends(site: Site) -> None:
    student = await new_student(site)
    teacher = await site.signed_in("teacher1")
    rooms = site.school.rooms
    try:
        made = await teacher.post(
            "/api/passes",
            json={
                "origin": rooms["Room 1"],
                "destination": rooms["Room 2"],
                "student": student.user.id,
            },
        )
        assert made.status_code == 201, made.text
        before = await site.backend.store.version(site.school.slug)

        with pytest.raises(Refused) as refused:
            await delete_student(site.backend, site.school.slug, student.user.number or "", "op")

        assert refused.value.code == "invalid_state"
        assert student.user.name in refused.value.message
        assert await site.backend.directory.get_user(site.school.slug, student.user.id)
        assert await site.backend.store.version(site.school.slug) == before
        assert (await teacher.post(f"/api/passes/{made.json()['id']}/end")).status_code == 200

        async def ended_in_store() -> bool:
            return await site.backend.store.version(site.school.slug) > before

        await until(ended_in_store)
        certificate = await delete_student(
            site.backend, site.school.slug, student.user.number or "", "op"
        )
        assert certificate.passes == 1 and certificate.notes == 0
        assert await site.backend.directory.get_user(site.school.slug, student.user.id) is None
    finally:
        await teacher.aclose()


async def test_only_a_student_of_the_school_is_deleted(site: Site) -> None:
    for who in ("nobody-here", "teacher1", "admin"):
        done = run_cli("student", "delete", site.school.slug, who, "--store", site.store_url)
        assert done.returncode == 1
        assert done.stdout == ""
        assert done.stderr.startswith("hallpass: ") and done.stderr.count("\n") == 1
    assert await site.backend.directory.get_user(site.school.slug, site.school.users["teacher1"])
    missing = run_cli("student", "delete", "no-such-school", "x", "--store", site.store_url)
    assert missing.returncode == 1 and "no-such-school" in missing.stderr


# --- the directory's part, on both backends ------------------------------------------------


async def test_the_directory_removes_a_user_with_its_indexes_and_sessions(
    store_url: str, new_school: Any
) -> None:
    backend = await open_backend(store_url)
    try:
        directory = backend.directory
        slug = new_school()
        await directory.add_school(School(slug=slug, name="S"))
        tag = uuid.uuid4().hex[:8]
        gone = User(
            id=f"u-gone-{tag}",
            school=slug,
            username=f"gone-{tag}",
            name="Gone",
            role="student",
            number=f"G-{tag}",
            email=f"Gone.{tag}@Example.org",
        )
        kept = msgspec.structs.replace(
            gone, id=f"u-kept-{tag}", username=f"kept-{tag}", number=f"K-{tag}", email=None
        )
        await directory.save_users(slug, [gone, kept], [])
        now = time.time()
        for token, user in (("t1", gone), ("t2", gone), ("t3", kept)):
            session = Session(
                token_hash=f"{token}-{tag}", school=slug, user=user.id, created=now, seen=now
            )
            await directory.put_session(session, 3600)

        removed = await directory.delete_user(slug, gone.id)

        assert removed == gone
        assert await directory.get_user(slug, gone.id) is None
        assert await directory.user_by_username(slug, gone.username) is None
        assert await directory.user_by_number(slug, f"G-{tag}") is None
        assert await directory.user_by_email(slug, f"gone.{tag}@example.org") is None
        assert await directory.get_session(f"t1-{tag}") is None
        assert await directory.get_session(f"t2-{tag}") is None
        assert await directory.get_session(f"t3-{tag}") is not None
        assert await directory.get_user(slug, kept.id) == kept
        assert await directory.delete_user(slug, gone.id) is None
        # The username, number and email are free again.
        await directory.add_user(msgspec.structs.replace(gone, id=f"u-new-{tag}"))
    finally:
        await backend.close()
