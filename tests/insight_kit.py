"""A school with a few days of history behind a real server, for the tests of
reports, exports and the audit log over HTTP.

`insight_server(store_url)` seeds two schools (servers.seed_school), gives the
first thirty more students (with the ids the simulation of reports_kit uses,
so the reports can name them) and the simulation's history, written straight
into its stream as another process would, sets `teacher1`'s own room to the
simulation's classroom "c1", and starts uvicorn on the store.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from reports_kit import simulate
from servers import SeededSchool, login, running_server, seed_school

from hallpass.backend import Backend, open_backend
from hallpass.directory.model import User
from hallpass.events.store import StoredEvent
from hallpass.exports import BOM
from hallpass.projections.state import SchoolState, replay
from hallpass.reports.aggregates import Aggregates, fold

SIMULATED_STUDENTS = 30
CLASSROOM = "c1"
CHUNK = 500


@dataclass
class Insight:
    url: str
    backend: Backend
    school: SeededSchool  # with the simulated history
    other: SeededSchool
    students: dict[str, User]  # the simulated students, by id
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def client(self, username: str, other: bool = False) -> httpx.AsyncClient:
        """A client signed in as `username` of the school (or of the other one)."""
        seeded = self.other if other else self.school
        key = f"{seeded.slug}/{username}"
        if key not in self.clients:
            client = httpx.AsyncClient(base_url=self.url, timeout=60)
            await login(client, seeded.slug, username, seeded.password)
            self.clients[key] = client
        return self.clients[key]

    async def events(self) -> list[StoredEvent]:
        return [s async for s in self.backend.store.read(self.school.slug)]

    async def state(self) -> SchoolState:
        return replay(await self.events())

    async def aggregates(self) -> Aggregates:
        aggregates = Aggregates()
        for stored in await self.events():
            fold(aggregates, stored)
        return aggregates

    async def audit(self, slug: str | None = None) -> list[Any]:
        page = await self.backend.audit.page(slug or self.school.slug, limit=500)
        return [logged.entry for logged in page]


def as_json(value: Any) -> Any:
    """What `value` looks like once the API has sent it."""
    return msgspec.json.decode(msgspec.json.encode(value))


def read_csv(answer: httpx.Response) -> list[list[str]]:
    """The rows of a CSV answer, header first (checked to be what it should)."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv"), answer.headers
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    text = answer.content.decode("utf-8")
    assert text.startswith(BOM)
    return list(csv.reader(io.StringIO(text.removeprefix(BOM))))


async def _history(backend: Backend, seeded: SeededSchool) -> dict[str, User]:
    slug = seeded.slug
    students = {}
    for n in range(SIMULATED_STUDENTS):
        user = User(
            id=f"s{n}",
            school=slug,
            username=f"sim{n}",
            name=f"Simulated Student {n}",
            role="student",
            number=f"SIM-{n:03d}",
        )
        await backend.directory.add_user(user)
        students[user.id] = user
    events = [s.event for s in simulate(21, students=SIMULATED_STUDENTS, days=4)]
    version = await backend.store.version(slug)
    for start in range(0, len(events), CHUNK):
        version = await backend.store.append(slug, events[start : start + CHUNK], version)
    teacher = await backend.directory.get_user(slug, seeded.users["teacher1"])
    assert teacher is not None
    await backend.directory.update_user(msgspec.structs.replace(teacher, room=CLASSROOM))
    return students


@contextlib.asynccontextmanager
async def insight_server(store_url: str) -> AsyncIterator[Insight]:
    school = await seed_school(store_url)
    other = await seed_school(store_url)
    backend = await open_backend(store_url)
    try:
        students = await _history(backend, school)
        async with running_server(store_url) as server:
            insight = Insight(server.url, backend, school, other, students)
            try:
                yield insight
            finally:
                for client in insight.clients.values():
                    await client.aclose()
    finally:
        await backend.close()
