"""The audit log: one append-only log per school in the backend, on SQLite and
on Redis; admins read it over HTTP, page by page; changes of rooms and of the
policies are in it with who and when.

(Exports, the students report and deletions check their own entries in
test_exports_api.py, test_reports_api.py and test_deletion.py.)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from api_kit import assert_error
from servers import REPO, SeededSchool, login, running_server, seed_school

from hallpass.audit import (
    OPERATOR,
    POLICIES_SET,
    ROOM_ADDED,
    ROOM_CHANGED,
    AuditEntry,
    AuditLog,
    record,
)
from hallpass.backend import Backend, open_backend

T0 = datetime(2025, 9, 1, 14, tzinfo=UTC)


def entry(n: int, action: str = "export.passes") -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(minutes=n),
        actor=f"user_{n}",
        action=action,
        subject=f"s{n}",
        detail=f"from=2025-09-0{n % 9 + 1}",
    )


@pytest.fixture
async def backend(store_url: str) -> AsyncIterator[Backend]:
    opened = await open_backend(store_url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_entries_come_back_newest_first_page_by_page(backend: Backend, school: str) -> None:
    log: AuditLog = backend.audit
    ids = [await log.append(school, entry(n)) for n in range(7)]
    assert len(set(ids)) == 7

    first = await log.page(school, limit=3)
    second = await log.page(school, before=first[-1].id, limit=3)
    third = await log.page(school, before=second[-1].id, limit=3)

    assert [e.entry for e in first + second + third] == [entry(n) for n in reversed(range(7))]
    assert [e.id for e in first + second + third] == list(reversed(ids))
    assert len(third) == 1
    assert await log.page(school, before=third[-1].id) == []


async def test_each_school_has_its_own_log(
    backend: Backend, school: str, new_school: object
) -> None:
    other = new_school()  # type: ignore[operator]
    await backend.audit.append(school, entry(1))
    await backend.audit.append(other, entry(2))
    assert [e.entry for e in await backend.audit.page(school)] == [entry(1)]
    assert [e.entry for e in await backend.audit.page(other)] == [entry(2)]


async def test_another_process_reads_what_one_wrote(store_url: str, school: str) -> None:
    first = await open_backend(store_url)
    try:
        await record(first.audit, school, "operator:it", ROOM_ADDED, "room_1", "Gym")
    finally:
        await first.close()
    second = await open_backend(store_url)
    try:
        (found,) = await second.audit.page(school)
    finally:
        await second.close()
    assert (found.entry.actor, found.entry.action, found.entry.subject, found.entry.detail) == (
        "operator:it",
        ROOM_ADDED,
        "room_1",
        "Gym",
    )
    assert abs(found.entry.at - datetime.now(UTC)) < timedelta(minutes=5)


async def test_a_malformed_page_is_refused(backend: Backend, school: str) -> None:
    await backend.audit.append(school, entry(1))
    for before in ("", "abc", "1-2-3", "-1", "9" * 40, "1 OR 1=1"):
        with pytest.raises(ValueError):
            await backend.audit.page(school, before=before or "x")
    for limit in (0, 501):
        with pytest.raises(ValueError):
            await backend.audit.page(school, limit=limit)


def test_the_log_offers_no_way_to_change_or_remove_an_entry() -> None:
    calls = {name for name in dir(AuditLog) if not name.startswith("_")}
    assert calls == {"append", "page", "close"}


# --- over HTTP ----------------------------------------------------------------------------


class Site:
    def __init__(self, url: str, backend: Backend, school: SeededSchool) -> None:
        self.url = url
        self.backend = backend
        self.school = school
        self.clients: dict[str, httpx.AsyncClient] = {}

    async def client(self, username: str, school: SeededSchool | None = None) -> httpx.AsyncClient:
        seeded = school or self.school
        key = f"{seeded.slug}/{username}"
        if key not in self.clients:
            self.clients[key] = httpx.AsyncClient(base_url=self.url, timeout=60)
            await login(self.clients[key], seeded.slug, username, seeded.password)
        return self.clients[key]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
async def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('audit') / 'hallpass.db'}"
    seeded = await seed_school(url)
    backend = await open_backend(url)
    try:
        async with running_server(url) as server:
            found = Site(server.url, backend, seeded)
            try:
                yield found
            finally:
                for client in found.clients.values():
                    await client.aclose()
    finally:
        await backend.close()


async def test_changes_of_rooms_and_policies_are_audited(site: Site) -> None:
    admin = await site.client("admin")
    added = await admin.post("/api/rooms", json={"name": "Audit Lab", "capacity": 2})
    assert added.status_code == 201, added.text
    room = added.json()["id"]
    changed = await admin.patch(f"/api/rooms/{room}", json={"capacity": 3})
    assert changed.status_code == 200
    same = await admin.patch(f"/api/rooms/{room}", json={"capacity": 3})  # no change: no entry
    assert same.status_code == 200
    policies = await admin.put("/api/policies", json={"daily_limit": 4})
    assert policies.status_code == 200, policies.text
    refused = await admin.put("/api/policies", json={"daily_limit": "four"})
    assert refused.status_code == 422

    answer = await admin.get("/api/audit", params={"limit": "3"})

    assert answer.status_code == 200, answer.text
    entries = answer.json()["entries"]
    assert [(e["action"], e["subject"]) for e in entries] == [
        (POLICIES_SET, "school"),
        (ROOM_CHANGED, room),
        (ROOM_ADDED, room),
    ]
    admin_id = site.school.users["admin"]
    assert {e["actor"]["id"] for e in entries} == {admin_id}
    assert {e["actor"]["name"] for e in entries} == {"Admin"}
    assert '"capacity":3' in entries[1]["detail"] and "Audit Lab" in entries[2]["detail"]
    assert '"daily_limit":4' in entries[0]["detail"]
    for e in entries:
        assert abs(datetime.fromisoformat(e["at"]) - datetime.now(UTC)) < timedelta(minutes=5)


async def test_the_log_is_read_page_by_page(site: Site) -> None:
    for n in range(5):
        await site.backend.audit.append(site.school.slug, entry(n))
    admin = await site.client("admin")
    seen: list[str] = []
    following: str | None = None
    while True:
        params = {"limit": "2", **({"before": following} if following else {})}
        answer = await admin.get("/api/audit", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen += [e["id"] for e in page["entries"]]
        following = page["next"]
        if following is None:
            break
    everything = await site.backend.audit.page(site.school.slug, limit=500)
    assert seen == [logged.id for logged in everything]
    assert len(seen) >= 5


async def test_only_admins_read_it_and_only_their_schools(site: Site) -> None:
    for username in ("teacher1", "student1", "kiosk1"):
        assert_error(await (await site.client(username)).get("/api/audit"), 403, "forbidden")
    anonymous = httpx.AsyncClient(base_url=site.url)
    try:
        assert_error(await anonymous.get("/api/audit"), 401, "unauthenticated")
    finally:
        await anonymous.aclose()
    other = await seed_school(site.backend.url)
    await site.backend.audit.append(site.school.slug, entry(8, "export.student"))
    other_admin = await site.client("admin", other)
    answer = await other_admin.get("/api/audit")
    assert answer.status_code == 200
    assert answer.json() == {"entries": [], "next": None}


async def test_a_malformed_page_is_a_422(site: Site) -> None:
    admin = await site.client("admin")
    for params in ({"before": "not-an-id"}, {"limit": "0"}, {"limit": "501"}):
        assert_error(await admin.get("/api/audit", params=params), 422, "invalid")


async def test_a_room_added_on_the_command_line_is_audited(store_url: str) -> None:
    seeded = await seed_school(store_url)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hallpass.cli",
            "room",
            "add",
            seeded.slug,
            "Gym",
            "--store",
            store_url,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    backend = await open_backend(store_url)
    try:
        (newest, *_) = await backend.audit.page(seeded.slug)
    finally:
        await backend.close()
    assert (newest.entry.action, newest.entry.detail) == (ROOM_ADDED, "Gym")
    assert newest.entry.subject in done.stdout
    assert newest.entry.actor.startswith(OPERATOR)
