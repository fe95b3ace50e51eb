"""The foundation's pieces without a server: settings, ephemeral keys on both
backends (a real SQLite file and the real Redis), body messages, the document."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest
from openapi_spec_validator import validate

from hallpass.config import ConfigError, load_settings
from hallpass.service.ephemeral import Ephemeral, ephemeral_key, open_ephemeral
from hallpass.web.app import all_endpoints, check_endpoints, lax_bodies
from hallpass.web.body import explain
from hallpass.web.endpoint import Endpoint
from hallpass.web.openapi import build_document

# --- settings --------------------------------------------------------------------


def test_defaults_are_development_with_safe_values() -> None:
    settings = load_settings({})
    assert settings.env == "development"
    assert not settings.demo
    assert settings.session_idle_seconds < settings.session_lifetime_seconds
    assert settings.secret_key is None


def test_values_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "HALLPASS_STORE": "redis://127.0.0.1:1/0",
            "HALLPASS_DEMO": "1",
            "HALLPASS_SESSION_IDLE_SECONDS": "90",
            "HALLPASS_PUBLIC_URL": "https://hallpass.example.org/",
        }
    )
    assert settings.store == "redis://127.0.0.1:1/0"
    assert settings.demo is True
    assert settings.session_idle_seconds == 90
    assert settings.public_origin == "https://hallpass.example.org"
    assert settings.public_https


def test_a_malformed_value_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="HALLPASS_BODY_LIMIT"):
        load_settings({"HALLPASS_BODY_LIMIT": "lots"})


def test_production_refuses_to_start_without_a_secret_key() -> None:
    with pytest.raises(ConfigError, match="HALLPASS_SECRET_KEY"):
        load_settings({"HALLPASS_ENV": "production"})


def test_production_refuses_the_demo_school() -> None:
    with pytest.raises(ConfigError, match="HALLPASS_DEMO"):
        load_settings(
            {"HALLPASS_ENV": "production", "HALLPASS_SECRET_KEY": "k" * 32, "HALLPASS_DEMO": "1"}
        )


def test_production_with_a_secret_key_starts() -> None:
    settings = load_settings({"HALLPASS_ENV": "production", "HALLPASS_SECRET_KEY": "k" * 32})
    assert settings.production


def test_a_public_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match="HALLPASS_PUBLIC_URL"):
        load_settings({"HALLPASS_PUBLIC_URL": "hallpass.example.org"})


# --- ephemeral keys, on both backends ---------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
async def ephemeral(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ephemeral]:
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
    else:
        url = f"sqlite:///{tmp_path / 'hallpass.db'}"
    opened = await open_ephemeral(url)
    yield opened
    await opened.close()


def fresh(name: str) -> str:
    return ephemeral_key(f"s-{uuid.uuid4().hex[:8]}", name)


async def test_put_then_get_then_delete(ephemeral: Ephemeral) -> None:
    key = fresh("k")
    assert await ephemeral.get(key) is None
    await ephemeral.put(key, b"\x00value", 60)
    assert await ephemeral.get(key) == b"\x00value"
    await ephemeral.delete(key)
    assert await ephemeral.get(key) is None


async def test_put_if_absent_sets_only_once(ephemeral: Ephemeral) -> None:
    key = fresh("claim")
    results = await asyncio.gather(*(ephemeral.put_if_absent(key, b"%d" % i, 60) for i in range(8)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert await ephemeral.get(key) == b"%d" % winner


async def test_incr_counts_from_one_atomically(ephemeral: Ephemeral) -> None:
    key = fresh("count")
    counts = await asyncio.gather(*(ephemeral.incr(key, 60) for _ in range(10)))
    assert sorted(counts) == list(range(1, 11))
    assert await ephemeral.get(key) == b"10"


async def test_keys_expire_after_their_ttl(ephemeral: Ephemeral) -> None:
    key, counter, claim = fresh("short"), fresh("short-count"), fresh("short-claim")
    await ephemeral.put(key, b"v", 0.2)
    await ephemeral.incr(counter, 0.2)
    assert await ephemeral.put_if_absent(claim, b"first", 0.2)
    await asyncio.sleep(0.4)
    assert await ephemeral.get(key) is None
    assert await ephemeral.incr(counter, 60) == 1  # a new window
    assert await ephemeral.put_if_absent(claim, b"second", 60)
    assert await ephemeral.get(claim) == b"second"


async def test_later_increments_do_not_extend_the_window(ephemeral: Ephemeral) -> None:
    key = fresh("window")
    await ephemeral.incr(key, 0.3)
    await asyncio.sleep(0.15)
    await ephemeral.incr(key, 0.3)
    await asyncio.sleep(0.3)
    assert await ephemeral.get(key) is None


# --- body messages ---------------------------------------------------------------


class Sample(msgspec.Struct, forbid_unknown_fields=True):
    minutes: int
    language: str = "en"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"minutes": "5"}', "minutes: expected an integer, got a string."),
        (b"{}", "minutes: this field is required."),
        (b'{"minutes": 5, "colour": 1}', "colour: there is no such field."),
        (b"[]", "The body: expected an object, got a list."),
    ],
)
def test_validation_messages_name_the_field(body: bytes, expected: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(body, type=Sample, strict=True)
    assert explain(str(caught.value), Sample) == expected


# --- the endpoint table and its document ------------------------------------------


def test_every_endpoint_body_forbids_unknown_fields() -> None:
    # A body that ignores unknown fields would drop a misspelt field silently.
    assert lax_bodies(all_endpoints()) == []


def test_a_body_that_allows_unknown_fields_is_found() -> None:
    class Loose(msgspec.Struct):
        name: str

    async def handler(request: object) -> None:  # pragma: no cover - never called
        raise AssertionError

    endpoint = Endpoint(method="POST", path="/x", handler=handler, summary="x", body=Loose)  # type: ignore[arg-type]
    assert lax_bodies([endpoint]) == ["POST /x (Loose)"]


def test_an_endpoint_listed_twice_is_refused_at_start() -> None:
    twice = [e for e in all_endpoints() if e.path == "/api/me"] * 2
    with pytest.raises(ValueError, match="listed twice"):
        check_endpoints(twice)


def test_the_document_is_valid_openapi_3_1() -> None:
    document = build_document(all_endpoints())
    validate(document)
    assert document["openapi"].startswith("3.1")
    login = document["paths"]["/api/session"]["post"]
    assert "too_many_attempts" in login["responses"]["429"]["description"]
    assert login["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LoginBody"
    }
    assert "/ws" in document["paths"]
    assert {"/healthz", "/readyz", "/api/me", "/api/me/settings"} <= set(document["paths"])


# --- the catch-all -----------------------------------------------------------------


async def test_an_unexpected_error_is_a_json_500_with_the_headers() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.routing import Route

    from hallpass.web.app import CatchAll
    from hallpass.web.context import RequestId
    from hallpass.web.security import SecurityHeaders

    async def broken(request: Request) -> None:
        raise RuntimeError("a bug")

    app = Starlette(
        routes=[Route("/api/broken", broken)],
        middleware=[Middleware(SecurityHeaders), Middleware(RequestId), Middleware(CatchAll)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/broken")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert "a bug" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


# --- the Origin rule ---------------------------------------------------------------


def _conn(host: str, origin: str | None, scheme: str = "http") -> object:
    from starlette.requests import HTTPConnection

    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {"type": "http", "scheme": scheme, "path": "/", "headers": headers}
    return HTTPConnection(scope)


@pytest.mark.parametrize(
    ("host", "origin", "scheme", "allowed"),
    [
        ("school.example", None, "http", True),  # judged by the session
        ("school.example", "http://school.example", "http", True),
        ("school.example:8000", "http://school.example:8000", "http", True),
        ("school.example", "https://school.example", "http", True),  # a TLS-ending proxy
        ("school.example:8000", "http://school.example:9000", "http", False),
        ("school.example", "https://evil.example", "http", False),
        ("school.example", "https://school.example.evil.example", "https", False),
        ("school.example", "null", "http", False),
        ("internal:8000", "https://hallpass.example.org", "http", True),  # the public URL
        ("internal:8000", "https://hallpass.example.org:444", "http", False),
    ],
)
def test_which_origins_are_the_same_site(
    host: str, origin: str | None, scheme: str, allowed: bool
) -> None:
    from hallpass.config import Settings
    from hallpass.web.security import origin_allowed

    settings = Settings(public_url="https://hallpass.example.org")
    assert origin_allowed(_conn(host, origin, scheme), settings) is allowed  # type: ignore[arg-type]
