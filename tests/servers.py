"""Real servers for integration tests: uvicorn in a child process, over TCP.

    async with running_server(store_url, env={"HALLPASS_DEMO": "1"}) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            user = await login(client, "demo", "teacher1", "demo")

The child gets a clean HALLPASS_* environment: the store URL, development
mode, and whatever `env` adds. Its output goes to a log file, shown when it
fails to start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    ws_url: str  # ws://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        """What the server has printed so far (its log)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def server_env(store_url: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HALLPASS_")}
    clean.update({"HALLPASS_STORE": store_url, "HALLPASS_ENV": "development"})
    clean.update(env or {})
    return clean


@asynccontextmanager
async def running_server(
    store_url: str, *, env: Mapping[str, str] | None = None
) -> AsyncIterator[Server]:
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in finally
        prefix=f"hallpass-server-{port}-", suffix=".log", delete=False
    )
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "hallpass.web.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--lifespan",
        "on",
        "--no-access-log",
        # The WebSocket protocol `hallpass serve` runs, with compression off as there.
        "--ws",
        "hallpass.service.ws_protocol:LeanWebSocketProtocol",
        "--ws-per-message-deflate",
        "false",
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=server_env(store_url, env),
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = Server(
        url=f"http://127.0.0.1:{port}",
        ws_url=f"ws://127.0.0.1:{port}",
        process=process,
        log_path=Path(log_file.name),
    )
    try:
        await _wait_until_healthy(server)
        yield server
    finally:
        server.stop()
        log_file.close()
        server.log_path.unlink(missing_ok=True)


async def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(base_url=server.url, timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {server.process.returncode}:\n{server.output()}"
                )
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become healthy:\n{server.output()}")
            await asyncio.sleep(0.05)


async def login(
    client: httpx.AsyncClient, school: str, username: str, password: str
) -> dict[str, Any]:
    """Sign `client` in (it keeps the cookie); returns the User. Fails loudly."""
    response = await client.post(
        "/api/session", json={"school": school, "username": username, "password": password}
    )
    assert response.status_code == 200, f"sign-in as {username} failed: {response.text}"
    user: dict[str, Any] = response.json()["user"]
    return user


# --- a small school of one's own ------------------------------------------------


@dataclass
class SeededSchool:
    slug: str
    password: str  # every seeded user's
    users: dict[str, str]  # username -> user id
    rooms: dict[str, str]  # room name -> room id


SEEDED_USERS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("admin", "admin", {}),
    ("teacher1", "teacher", {}),
    ("teacher2", "teacher", {}),
    ("student1", "student", {"number": "1001"}),
    ("student2", "student", {"number": "1002"}),
    ("student3", "student", {"number": "1003"}),
    ("gone", "student", {"number": "1099"}),  # made inactive
    ("kiosk1", "kiosk", {}),
)


def day_end_ahead(zone: str = "America/Chicago") -> str:
    """A school day's end ("HH:MM") an hour from now in `zone` (23:59 when
    that is tomorrow). A school's clock ends its day at `day_ends_at` (16:00
    by default), ending every pass out: a test that met that moment, or a
    school first seen by its ticker after it, would see its passes ended
    midway. With the end an hour ahead, no test's run reaches it."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    ahead = now + timedelta(hours=1)
    return ahead.strftime("%H:%M") if ahead.date() == now.date() else "23:59"


async def seed_school(
    store_url: str, slug: str | None = None, password: str = "correct horse"
) -> SeededSchool:
    """A fresh school (unique slug by default) with three rooms and the users
    of SEEDED_USERS, written straight into the store as the CLI would; so
    tests sharing one Redis never touch each other's people or throttles."""
    import uuid

    import msgspec

    from hallpass.backend import open_backend
    from hallpass.events.types import Policies
    from hallpass.passwords import hash_password_async
    from hallpass.provision import add_room, add_school, add_user
    from hallpass.service.runtime import SchoolRuntime

    slug = slug or f"t-{uuid.uuid4().hex[:10]}"
    backend = await open_backend(store_url)
    try:
        # The default policies, with the day's end an hour ahead (day_end_ahead).
        policies = Policies(timezone="America/Chicago", day_ends_at=day_end_ahead())
        school = await add_school(backend, slug, f"School {slug}", policies=policies)
        runtime = await SchoolRuntime.load(backend.store, slug)
        try:
            rooms = {
                name: (await add_room(runtime, name)).id for name in ("Room 1", "Room 2", "Library")
            }
        finally:
            await runtime.close()
        password_hash = await hash_password_async(password)
        users: dict[str, str] = {}
        for username, role, extra in SEEDED_USERS:
            room = rooms["Room 1"] if role == "kiosk" else None
            user = await add_user(
                backend.directory,
                school,
                username=username,
                role=role,
                name=username.title(),
                password_hash=password_hash,
                room=room,
                **extra,
            )
            if username == "gone":
                await backend.directory.update_user(msgspec.structs.replace(user, active=False))
            users[username] = user.id
    finally:
        await backend.close()
    return SeededSchool(slug=slug, password=password, users=users, rooms=rooms)
