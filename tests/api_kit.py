"""The demo school behind a real uvicorn, for the domain API's integration tests.

`serve_demo(store_url)` starts the service on a fresh store with the demo
school and yields a `DemoApi`: signed-in httpx clients per demo user, the
rooms by name, the users by username, and the store itself opened beside the
server (as another process would) so a test can check what a refusal did
NOT append.

Each test module starts one server per store (module-scoped); tests in a
module share the school, so each takes its own students and leaves no pass
live behind it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import redis.asyncio as aioredis
from servers import login, running_server

from hallpass.backend import Backend, open_backend
from hallpass.events.types import SYSTEM

SCHOOL = "demo"
PASSWORD = "demo"

# The demo school's slug is fixed, so on the session's shared Redis each API
# module keeps its data in a database of its own (flushed before it starts).
REDIS_DBS = {"test_api_passes": 11, "test_api_requests": 12, "test_api_school": 13}


async def redis_db_url(base_url: str, module: str) -> str:
    """`base_url` pointed at this module's own database, emptied."""
    url = base_url.rsplit("/", 1)[0] + f"/{REDIS_DBS[module]}"
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()
    return url


def student(n: int) -> str:
    return f"student{n:02d}"


def number(n: int) -> str:
    return str(100000 + n)


class DemoApi:
    def __init__(self, url: str, backend: Backend) -> None:
        self.url = url
        self.backend = backend
        self.rooms: dict[str, str] = {}  # name -> id
        self.users: dict[str, dict[str, Any]] = {}  # username -> User (API.md)
        self._clients: dict[str, httpx.AsyncClient] = {}

    async def client(self, username: str, school: str = SCHOOL) -> httpx.AsyncClient:
        """A client signed in as `username` (kept for the module)."""
        key = f"{school}/{username}"
        if key not in self._clients:
            client = httpx.AsyncClient(base_url=self.url, timeout=30)
            self._clients[key] = client
            user = await login(client, school, username, PASSWORD)
            self.users[key if school != SCHOOL else username] = user
        return self._clients[key]

    def anonymous(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.url, timeout=30)
        self._clients[f"anonymous/{len(self._clients)}"] = client
        return client

    async def user_id(self, username: str) -> str:
        await self.client(username)
        user_id: str = self.users[username]["id"]
        return user_id

    async def load_rooms(self) -> None:
        admin = await self.client("admin")
        answer = await admin.get("/api/rooms")
        assert answer.status_code == 200, answer.text
        self.rooms = {room["name"]: room["id"] for room in answer.json()}

    async def version(self, school: str = SCHOOL) -> int:
        return await self.backend.store.version(school)

    @contextlib.asynccontextmanager
    async def unchanged(self, school: str = SCHOOL) -> AsyncIterator[None]:
        """Assert that nothing but the clock's own events (overtime, day end)
        was appended to the school's stream inside the block."""
        before = await self.version(school)
        yield
        after = [s.event async for s in self.backend.store.read(school, before)]
        assert [e for e in after if e.actor != SYSTEM] == []

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        await self.backend.close()


@contextlib.asynccontextmanager
async def serve_demo(store_url: str) -> AsyncIterator[DemoApi]:
    async with running_server(store_url, env={"HALLPASS_DEMO": "1"}) as server:
        api = DemoApi(server.url, await open_backend(store_url))
        try:
            await api.load_rooms()
            yield api
        finally:
            await api.close()


def assert_error(answer: httpx.Response, status: int, code: str) -> str:
    """The answer is API.md's error shape with this status and code; returns
    the message (a sentence for a person)."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert message.strip(), body
    return message


async def store_url_for(request: Any, tmp_path_factory: Any, module: str) -> str:
    """The store URL for a module-scoped fixture parametrized "sqlite"/"redis"."""
    if request.param == "redis":
        return await redis_db_url(request.getfixturevalue("redis_url"), module)
    return f"sqlite:///{tmp_path_factory.mktemp(module) / 'hallpass.db'}"
