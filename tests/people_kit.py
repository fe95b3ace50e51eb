"""A real uvicorn over one store, and small schools of their own made beside it,
for the API tests of people, the school's facts and room counts.

    site = Site(server.url, store_url)
    home = await site.school()              # a fresh SeededSchool (servers.py)
    admin = await site.client(home, "admin")

Each test takes schools of its own (unique slugs), so the tests of a module
share one server and never see each other's people or passes; on Redis they
share the session's server the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from servers import SeededSchool, login, running_server, seed_school


class Site:
    def __init__(self, url: str, store_url: str) -> None:
        self.url = url
        self.store_url = store_url
        self._clients: list[httpx.AsyncClient] = []

    async def school(self) -> SeededSchool:
        return await seed_school(self.store_url)

    async def client(
        self, school: SeededSchool, username: str, password: str | None = None
    ) -> httpx.AsyncClient:
        """A new client signed in as `username` of `school`."""
        client = self.anonymous()
        await login(client, school.slug, username, password or school.password)
        return client

    def anonymous(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.url, timeout=30)
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


@contextlib.asynccontextmanager
async def serve(store_url: str) -> AsyncIterator[Site]:
    async with running_server(store_url) as server:
        site = Site(server.url, store_url)
        try:
            yield site
        finally:
            await site.close()


def store_url_of(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The store URL of a fixture parametrized "sqlite"/"redis" (the session's Redis)."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('people') / 'hallpass.db'}"


def error_of(answer: httpx.Response, status: int, code: str) -> str:
    """The answer is API.md's error with this status and code; returns its sentence."""
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert message.strip()
    return message
