"""Fixtures shared by the whole suite: a real redis-server, and event stores.

`redis_url`       a redis-server for the session (no persistence), as a URL
`redis_server`    a factory for a test's own redis-server (persistence, restarts)
`new_school`      a factory of unique school slugs; `school` is one of them
`store_backend`   "sqlite" or "redis": tests that use it run once for each
`open_store`      opens another store object on the test's backend (the same
                  SQLite file or Redis server), as another process would
`store`           the first store object on the test's backend
`store_url`       the URL naming the test's backend, for a child process
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis

from hallpass.events.redis import RedisEventStore
from hallpass.events.sqlite import SqliteEventStore
from hallpass.events.store import EventStore
from hallpass.events.urls import SqliteUrl, parse_store_url

# Small pages, so that every contract test also crosses page boundaries.
TEST_PAGE_SIZE = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A redis-server child process on loopback, in its own folder."""

    def __init__(self, folder: Path, *args: str, port: int | None = None) -> None:
        self.folder = folder
        self.args = args
        self.port = port or _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("redis-server is not on PATH: run scripts/bootstrap --test")
        self.folder.mkdir(parents=True, exist_ok=True)
        # A --flag given again in `args` wins over these defaults.
        command = [executable, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        command += ["--logfile", str(self.folder / "redis.log"), *self.args]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        self._wait_for_ping()

    def _wait_for_ping(self, seconds: float = 10.0) -> None:
        assert self.process is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + seconds
        try:
            while True:
                if self.process.poll() is not None:
                    log = self.folder / "redis.log"
                    text = log.read_text() if log.exists() else ""
                    pytest.fail(f"redis-server exited with {self.process.returncode}:\n{text}")
                try:
                    if client.ping():
                        return
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"redis-server on port {self.port} did not answer PING")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """`redis_server("--appendonly", "yes")` starts a server of the test's own
    (stop() and start() again keep its port and folder); all stop afterwards."""
    servers: list[RedisServer] = []

    def start(*args: str) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers)}", *args)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def new_school() -> Callable[[], str]:
    """Unique school slugs, so tests sharing a Redis server never collide."""
    return lambda: f"school-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def school(new_school: Callable[[], str]) -> str:
    return new_school()


@pytest.fixture(params=["sqlite", "redis"])
def store_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend


@pytest.fixture
def store_url(store_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if store_backend == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return f"sqlite:///{tmp_path / 'hallpass.db'}"


@pytest.fixture
async def open_store(store_url: str) -> AsyncIterator[Callable[[], Awaitable[EventStore]]]:
    """Each call opens one more store object on the same data; all are closed
    afterwards (closing one twice is harmless)."""
    opened: list[EventStore] = []
    target = parse_store_url(store_url)

    async def open_one() -> EventStore:
        store: EventStore
        if isinstance(target, SqliteUrl):
            store = await SqliteEventStore.open(target.path, page_size=TEST_PAGE_SIZE)
        else:
            store = RedisEventStore.from_url(target.url, page_size=TEST_PAGE_SIZE)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: Callable[[], Awaitable[EventStore]]) -> EventStore:
    return await open_store()
