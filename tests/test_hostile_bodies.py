"""Hostile request bodies against a real server: too large (by Content-Length,
chunked, or a length announced and never sent), nested a hundred thousand
levels deep, garbage bytes, invalid UTF-8, a wrong content type. Each is
refused with API.md's error (413 `payload_too_large`, 422 `invalid`), never
a 500; nothing is appended to the school's stream; and the service goes on
answering normally.

The server runs with its own HALLPASS_BODY_LIMIT (larger than the default),
so the tests also prove that the configured limit is the one enforced, to
the byte, and leave room inside it for 100,000 levels of nesting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from hostile_kit import DEMO_PASSWORD
from servers import Server, login, running_server
from starlette.requests import Request

from hallpass.backend import Backend, open_backend
from hallpass.events.types import SYSTEM
from hallpass.web.app import all_endpoints
from hallpass.web.body import read_body
from hallpass.web.errors import ApiError

LIMIT = 150_000  # bytes: HALLPASS_BODY_LIMIT for this module's server
DEEP = 100_000  # levels of nesting


@dataclass
class Site:
    server: Server
    backend: Backend
    admin: httpx.AsyncClient
    student: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    rooms: dict[str, str]

    def caller(self, roles: tuple[str, ...]) -> httpx.AsyncClient:
        """Someone the endpoint's roles let in, so its body is read."""
        return self.admin if not roles or "admin" in roles else self.student

    async def version(self) -> int:
        return await self.backend.store.version("demo")

    @contextlib.asynccontextmanager
    async def unchanged(self) -> AsyncIterator[None]:
        """Nothing but the clock's own events is appended inside the block."""
        before = await self.version()
        yield
        after = [s.event async for s in self.backend.store.read("demo", before)]
        assert [e for e in after if e.actor != SYSTEM] == []


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('bodies') / 'hallpass.db'}"
    env = {"HALLPASS_DEMO": "1", "HALLPASS_BODY_LIMIT": str(LIMIT)}
    async with running_server(url, env=env) as server:
        admin, student, anonymous = (
            httpx.AsyncClient(base_url=server.url, timeout=60) for _ in range(3)
        )
        backend = await open_backend(url)
        try:
            await login(admin, "demo", "admin", DEMO_PASSWORD)
            await login(student, "demo", "student21", DEMO_PASSWORD)
            rooms = {r["name"]: r["id"] for r in (await admin.get("/api/rooms")).json()}
            yield Site(server, backend, admin, student, anonymous, rooms)
        finally:
            for client in (admin, student, anonymous):
                await client.aclose()
            await backend.close()


def assert_error(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["message"].strip(), error
    message: str = error["message"]
    return message


# Every endpoint that reads a body, from the app's own table.
WITH_BODY = [(e.method, e.path, e.roles) for e in all_endpoints() if e.body is not None]


def address(path: str) -> str:
    return path.replace("{id}", "x").replace("{school}", "demo")


def padded(size: int) -> bytes:
    """A well-formed JSON object of exactly `size` bytes."""
    head = b'{"note": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


# --- too large ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "roles"), WITH_BODY, ids=[f"{m} {p}" for m, p, _ in WITH_BODY]
)
async def test_a_body_over_the_limit_is_refused_by_its_length_and_as_it_streams(
    site: Site, method: str, path: str, roles: tuple[str, ...]
) -> None:
    caller = site.caller(roles)
    async with site.unchanged():
        by_length = await caller.request(method, address(path), content=padded(LIMIT + 1))
        assert_error(by_length, 413, "payload_too_large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            body = padded(LIMIT + 1)
            for start in range(0, len(body), 8192):
                yield body[start : start + 8192]

        streamed = await caller.request(method, address(path), content=chunks())
        assert_error(streamed, 413, "payload_too_large")


async def test_the_limit_is_exact_to_the_byte(site: Site) -> None:
    settings = b'{"language": "en"}'
    at_limit = settings + b" " * (LIMIT - len(settings))  # whitespace is still JSON
    answer = await site.admin.patch(
        "/api/me/settings", content=at_limit, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    over = await site.admin.patch(
        "/api/me/settings", content=at_limit + b" ", headers={"content-type": "application/json"}
    )
    assert_error(over, 413, "payload_too_large")


@pytest.mark.parametrize(
    "announced",
    [
        b"Content-Length: 10737418240\r\n",
        b"Content-Length: %d\r\nExpect: 100-continue\r\n" % (LIMIT + 1),
    ],
    ids=["10 GB", "waiting for 100 Continue"],
)
async def test_a_length_over_the_limit_is_refused_before_any_of_it_is_sent(
    site: Site, announced: bytes
) -> None:
    """A client that announces too much and sends nothing (yet) gets its 413
    at once: the server neither waits for the body nor asks for it."""
    host, port = site.server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST /api/session HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Content-Type: application/json\r\n" + announced + b"\r\n"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        assert head.startswith(b"HTTP/1.1 413 "), head
        assert b"connection: close" in head.lower(), head
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_a_refusal_that_never_reads_the_body_still_answers_cleanly(site: Site) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 10_000

    for body in (padded(LIMIT), chunks()):
        refused = await site.anonymous.post("/api/passes", content=body, headers=JSON)
        assert_error(refused, 401, "unauthenticated")
        assert (await site.anonymous.get("/healthz")).status_code == 200


async def test_an_endless_upload_is_cut_off(site: Site) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"note": "'
        while sent < 64 * LIMIT:  # a bound, so a broken server fails rather than hangs
            sent += 65536
            yield b"x" * 65536

    try:
        answer = await site.admin.post("/api/passes", content=endless())
    except httpx.TransportError:
        pass  # the server closed the connection on the upload: also refused
    else:
        assert_error(answer, 413, "payload_too_large")
    assert sent < 64 * LIMIT  # it stopped reading long before the end


# --- malformed ----------------------------------------------------------------------

JSON = {"content-type": "application/json"}

MALFORMED: dict[str, tuple[bytes, dict[str, str]]] = {
    "100,000 open brackets": (b"[" * DEEP, JSON),
    "75,000 brackets, opened and closed": (b"[" * 75_000 + b"]" * 75_000, JSON),
    "100,000 nested objects": (b'{"a":' * (DEEP // 5), JSON),
    "a deep list inside a field": (
        b'{"keep_apart": [' + b"[" * 60_000 + b"]" * 60_000 + b"]}",
        JSON,
    ),
    "a deep value under an unknown field": (b'{"zz": ' + b"[" * DEEP, JSON),
    "garbage bytes": (bytes(range(256)) * 40, JSON),
    "NUL bytes": (b"\x00" * 1000, JSON),
    "invalid UTF-8 in a string": (
        b'{"school": "\xff\xfe\xfd", "username": "a", "password": "b"}',
        JSON,
    ),
    "a lone surrogate escape": (b'{"school": "\\ud800", "username": "a", "password": "b"}', JSON),
    "UTF-16": ('{"school": "demo"}'.encode("utf-16"), JSON),
    "trailing garbage": (b'{"pause": false} and then some', JSON),
    "a number too large for any integer": (b'{"minutes": ' + b"9" * 5000 + b"}", JSON),
    "a float where an integer goes": (b'{"minutes": 1e400}', JSON),
    "text/plain": (b'{"pause": false}', {"content-type": "text/plain"}),
    "a form": (b"pause=false", {"content-type": "application/x-www-form-urlencoded"}),
    "multipart": (
        b'--b\r\nContent-Disposition: form-data; name="pause"\r\n\r\nfalse\r\n--b--\r\n',
        {"content-type": "multipart/form-data; boundary=b"},
    ),
}
# Where each is sent: signing in (anyone may), a student's settings, an
# admin's policies and sweep, a pass.
TARGETS = [
    ("POST", "/api/session"),
    ("PATCH", "/api/me/settings"),
    ("PUT", "/api/policies"),
    ("POST", "/api/hall/sweep"),
    ("POST", "/api/passes"),
]


@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_a_malformed_body_is_invalid_and_changes_nothing(site: Site, kind: str) -> None:
    body, headers = MALFORMED[kind]
    assert len(body) <= LIMIT
    async with site.unchanged():
        for method, path in TARGETS:
            client = site.anonymous if path == "/api/session" else site.admin
            answer = await client.request(method, path, content=body, headers=headers)
            message = assert_error(answer, 422, "invalid")
            if "content-type" in headers and not headers["content-type"].endswith("/json"):
                assert message.startswith("Content-Type:"), message
    assert (await site.admin.get("/api/hall")).json() == {"paused": False}


async def test_a_json_body_with_its_charset_or_no_type_named_is_read(site: Site) -> None:
    for headers in ({"content-type": "application/json; charset=utf-8"}, {}):
        answer = await site.admin.patch(
            "/api/me/settings", content=b'{"language": "es"}', headers=headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["settings"]["language"] == "es"


class _Lax(msgspec.Struct):
    """A body type that would skip unknown fields (none of the app's do)."""

    name: str = ""


def _request(body: bytes) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    return Request(scope, receive)


async def test_deep_nesting_is_invalid_even_where_a_body_type_skips_unknown_fields() -> None:
    """The one way a deep body could reach Python's recursion limit: a value
    skipped under an unknown field. read_body answers 422 for it too."""
    with pytest.raises(ApiError) as refused:
        await read_body(_request(b'{"other": ' + b"[" * DEEP), _Lax, limit=2 * DEEP)
    assert (refused.value.status, refused.value.code) == (422, "invalid")


# --- and afterwards -----------------------------------------------------------------


async def test_the_service_answers_normally_after_all_of_it(site: Site) -> None:
    attacks: list[Callable[[], Awaitable[httpx.Response]]] = [
        lambda: site.anonymous.post("/api/session", content=b"[" * DEEP, headers=JSON),
        lambda: site.admin.post("/api/passes", content=padded(LIMIT + 1)),
        lambda: site.anonymous.post("/api/session", content=bytes(range(256)) * 100, headers=JSON),
    ]
    # All at once, a few rounds of them.
    answers = await asyncio.gather(*(attack() for _ in range(10) for attack in attacks))
    assert {a.status_code for a in answers} <= {413, 422}
    assert (await site.anonymous.get("/healthz")).json() == {"status": "ok"}
    assert (await site.anonymous.get("/readyz")).status_code == 200
    async with httpx.AsyncClient(base_url=site.server.url) as teacher:
        await login(teacher, "demo", "teacher1", DEMO_PASSWORD)
        made = await teacher.post(
            "/api/passes",
            json={
                "origin": site.rooms["Room 101"],
                "destination": site.rooms["Library"],
                "student_number": "100033",
            },
        )
        assert made.status_code == 201, made.text
        assert (await teacher.post(f"/api/passes/{made.json()['id']}/end")).status_code == 200
    assert "Traceback" not in site.server.output()
