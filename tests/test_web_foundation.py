"""The web foundation through a real uvicorn: headers, the Origin check,
errors as JSON, the pages, the OpenAPI document, health, idempotency, and a
503 when Redis goes away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from conftest import RedisServer
from openapi_spec_validator import validate
from servers import SeededSchool, Server, login, running_server, seed_school

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pages of the test's own, so these tests do not hang on the real pages."""
    folder = tmp_path_factory.mktemp("web")
    (folder / "index.html").write_text("<!doctype html><title>sign in</title>")
    (folder / "student.html").write_text("<!doctype html><title>student</title>")
    (folder / "app.js").write_text("export const x = 1;\n")
    (folder / "app.css").write_text("body { margin: 0 }\n")
    (folder / "icon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    return folder


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory, web_dir: Path
) -> AsyncIterator[tuple[Server, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('foundation') / 'hallpass.db'}"
    async with running_server(url, env={"HALLPASS_WEB_DIR": str(web_dir)}) as running:
        yield running, url


@pytest.fixture
async def school(server: tuple[Server, str]) -> SeededSchool:
    return await seed_school(server[1])


@pytest.fixture
def client(server: tuple[Server, str]) -> Callable[[], httpx.AsyncClient]:
    return lambda: httpx.AsyncClient(base_url=server[0].url, timeout=30)


# --- headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/me"),
        ("GET", "/healthz"),
        ("GET", "/"),
        ("GET", "/static/app.js"),
        ("GET", "/no/such/page"),
        ("POST", "/api/session"),
    ],
)
async def test_every_response_carries_the_security_headers(
    client: Callable[[], httpx.AsyncClient], method: str, path: str
) -> None:
    async with client() as c:
        response = await c.request(method, path, headers={"Origin": "https://evil.example"})
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("same-origin", "no-referrer")
    assert response.headers["x-frame-options"] == "DENY"
    if path.startswith("/api/"):
        assert response.headers["cache-control"] == "no-store"


async def test_a_request_id_is_kept_when_sane_and_replaced_when_not(
    client: Callable[[], httpx.AsyncClient],
) -> None:
    async with client() as c:
        kept = await c.get("/healthz", headers={"X-Request-ID": "proxy-1234"})
        replaced = await c.get("/healthz", headers={"X-Request-ID": "<script>" * 3})
    assert kept.headers["x-request-id"] == "proxy-1234"
    assert replaced.headers["x-request-id"] not in ("", "<script>" * 3)


# --- the Origin check ----------------------------------------------------------------


async def test_a_foreign_origin_is_refused_and_changes_nothing(
    client: Callable[[], httpx.AsyncClient], school: SeededSchool
) -> None:
    async with client() as c:
        before = await login(c, school.slug, "student1", school.password)
        for origin in ("https://evil.example", "null", f"{c.base_url}.evil.example"):
            response = await c.patch(
                "/api/me/settings", json={"language": "es"}, headers={"Origin": origin}
            )
            assert response.status_code == 403, origin
            assert response.json()["error"]["code"] == "bad_origin"
        signed_out = await c.delete("/api/session", headers={"Origin": "https://evil.example"})
        assert signed_out.status_code == 403
        assert (await c.get("/api/me")).json() == before


async def test_a_foreign_origin_cannot_sign_in(
    client: Callable[[], httpx.AsyncClient], school: SeededSchool
) -> None:
    body = {"school": school.slug, "username": "student1", "password": school.password}
    async with client() as c:
        response = await c.post(
            "/api/session", json=body, headers={"Origin": "http://evil.example"}
        )
        assert response.status_code == 403
        assert "set-cookie" not in response.headers


async def test_the_same_origin_and_no_origin_are_judged_by_the_session(
    client: Callable[[], httpx.AsyncClient], school: SeededSchool
) -> None:
    async with client() as c:
        anonymous = await c.patch("/api/me/settings", json={"language": "es"})
        assert anonymous.status_code == 401  # no Origin, no session
        await login(c, school.slug, "student1", school.password)
        same = await c.patch(
            "/api/me/settings", json={"language": "es"}, headers={"Origin": str(c.base_url)}
        )
        assert same.status_code == 200
        scriptlike = await c.patch("/api/me/settings", json={"language": "en"})
        assert scriptlike.status_code == 200
        assert scriptlike.json()["settings"]["language"] == "en"


# --- errors as JSON ------------------------------------------------------------------


async def test_an_unknown_api_path_is_a_json_404(client: Callable[[], httpx.AsyncClient]) -> None:
    async with client() as c:
        response = await c.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_a_wrong_method_is_a_json_405(client: Callable[[], httpx.AsyncClient]) -> None:
    async with client() as c:
        response = await c.put("/api/me")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


# --- pages ----------------------------------------------------------------------------


async def test_the_home_page_signs_in_or_sends_people_to_their_page(
    client: Callable[[], httpx.AsyncClient], school: SeededSchool
) -> None:
    async with client() as c:
        anonymous = await c.get("/")
        assert anonymous.status_code == 200
        assert "sign in" in anonymous.text
        assert anonymous.headers["content-type"].startswith("text/html")
        await login(c, school.slug, "student1", school.password)
        student = await c.get("/")
        assert student.status_code == 303
        assert student.headers["location"] == "/student"
        page = await c.get("/student")
        assert page.status_code == 200 and "student" in page.text
        # A role whose page is not there yet lands on sign-in rather than a 404.
        await login(c, school.slug, "teacher1", school.password)
        assert (await c.get("/")).status_code == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/app.js", "text/javascript"),
        ("/static/app.css", "text/css"),
        ("/static/icon.svg", "image/svg+xml"),
        ("/static/index.html", "text/html"),
    ],
)
async def test_files_are_served_with_their_content_types(
    client: Callable[[], httpx.AsyncClient], path: str, content_type: str
) -> None:
    async with client() as c:
        response = await c.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type


# --- the document and health ---------------------------------------------------------


async def test_the_served_document_is_valid_openapi(
    client: Callable[[], httpx.AsyncClient],
) -> None:
    async with client() as c:
        response = await c.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    paths = document["paths"]
    assert {"/api/session", "/api/me", "/api/me/settings", "/healthz", "/readyz", "/ws"} <= set(
        paths
    )
    assert "/api/passes" in paths and "/api/rooms/{id}" in paths
    schema = paths["/api/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    user = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert set(user["properties"]) == {"id", "name", "role", "school", "number", "room", "settings"}


async def test_health_and_readiness(
    client: Callable[[], httpx.AsyncClient], school: SeededSchool
) -> None:
    async with client() as c:
        await login(c, school.slug, "student1", school.password)
        await c.get("/api/rooms")  # loads the school's runtime
        assert (await c.get("/healthz")).json() == {"status": "ok"}
        ready = await c.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["schools"] >= 1


# --- idempotency ---------------------------------------------------------------------


async def test_a_retried_post_gets_the_first_answer_and_changes_nothing(
    client: Callable[[], httpx.AsyncClient], school: SeededSchool
) -> None:
    async with client() as c:
        await login(c, school.slug, "admin", school.password)
        rooms_before = len((await c.get("/api/rooms")).json())
        key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
        first = await c.post("/api/rooms", json={"name": "Gym"}, headers=key)
        again = await c.post("/api/rooms", json={"name": "Gym"}, headers=key)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.headers.get("idempotent-replayed") == "true"
        assert len((await c.get("/api/rooms")).json()) == rooms_before + 1

        other_body = await c.post("/api/rooms", json={"name": "Pool"}, headers=key)
        assert other_body.status_code == 422
        too_long = await c.post(
            "/api/rooms", json={"name": "Pool"}, headers={"Idempotency-Key": "k" * 101}
        )
        assert too_long.status_code == 422
        assert too_long.json()["error"]["message"].startswith("Idempotency-Key")
        assert len((await c.get("/api/rooms")).json()) == rooms_before + 1


async def test_concurrent_duplicates_run_once(
    client: Callable[[], httpx.AsyncClient], school: SeededSchool
) -> None:
    async with client() as c:
        await login(c, school.slug, "admin", school.password)
        rooms_before = len((await c.get("/api/rooms")).json())
        key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
        answers = await asyncio.gather(
            *(c.post("/api/rooms", json={"name": "Art"}, headers=key) for _ in range(6))
        )
        assert {a.status_code for a in answers} == {201}
        assert len({a.json()["id"] for a in answers}) == 1
        assert len((await c.get("/api/rooms")).json()) == rooms_before + 1


async def test_keys_belong_to_their_user(
    client: Callable[[], httpx.AsyncClient], school: SeededSchool
) -> None:
    key = {"Idempotency-Key": "the-same-key"}
    async with client() as c:
        await login(c, school.slug, "admin", school.password)
        first = await c.post("/api/rooms", json={"name": "Band"}, headers=key)
    async with client() as d:
        await login(d, school.slug, "student1", school.password)
        other_user = await d.post("/api/rooms", json={"name": "Band"}, headers=key)
    assert first.status_code == 201
    assert other_user.status_code == 403  # ran for this user, not replayed


# --- the store going away --------------------------------------------------------------


async def test_an_unreachable_redis_is_a_503_not_a_500(
    redis_server: Callable[..., RedisServer],
) -> None:
    redis = redis_server()
    school = await seed_school(redis.url)
    async with (
        running_server(redis.url) as running,
        httpx.AsyncClient(base_url=running.url, timeout=30) as c,
    ):
        await login(c, school.slug, "student1", school.password)
        redis.stop()
        me = await c.get("/api/me")
        assert me.status_code == 503
        error = me.json()["error"]
        assert error["code"] == "store_unavailable"
        assert error["message"].endswith(".")
        settings = await c.patch("/api/me/settings", json={"language": "es"})
        assert settings.status_code == 503
        signing_in = await c.post(
            "/api/session",
            json={"school": school.slug, "username": "student2", "password": school.password},
        )
        assert signing_in.status_code == 503
        assert (await c.get("/healthz")).status_code == 200
        not_ready = await c.get("/readyz")
        assert not_ready.status_code == 503
