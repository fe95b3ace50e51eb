"""`GET /metrics` end to end: a real uvicorn on the embedded store (which runs
the ticker), real traffic through HTTP and WebSockets, and the worker's
metrics port on a Redis of the test's own.

Every count is read as a difference between two scrapes around the traffic
that makes it, so the tests do not depend on what ran before them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import RedisServer
from metrics_kit import PATIENCE, Samples, eventually, scrape, scrape_until
from processes import WORKER_READY, hallpass
from servers import (
    REPO,
    SeededSchool,
    Server,
    free_port,
    login,
    running_server,
    seed_school,
    server_env,
)

TOKEN = "metrics-token-for-the-tests-0123456789"
OUTSIDE = "203.0.113.9"  # TEST-NET-3: an address that is surely not this machine


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Server, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'hallpass.db'}"
    async with running_server(url) as server:
        yield server, url


@pytest.fixture
async def seeded(served: tuple[Server, str]) -> SeededSchool:
    return await seed_school(served[1])


@pytest.fixture
async def anonymous(served: tuple[Server, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served[0].url, timeout=PATIENCE) as client:
        yield client


@pytest.fixture
async def signed_in(
    served: tuple[Server, str], seeded: SeededSchool
) -> AsyncIterator[Callable[[str], Any]]:
    """`await signed_in("student1")`: an httpx client signed in as that user."""
    clients: list[httpx.AsyncClient] = []
    server = served[0]

    async def sign_in(username: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            base_url=server.url, headers={"Origin": server.url}, timeout=PATIENCE
        )
        clients.append(client)
        await login(client, seeded.slug, username, seeded.password)
        return client

    yield sign_in
    for client in clients:
        await client.aclose()


async def open_socket(server: Server, client: httpx.AsyncClient) -> Any:
    return await websockets.connect(
        server.ws_url + "/ws",
        additional_headers={
            "Origin": server.url,
            "Cookie": f"hallpass_session={client.cookies['hallpass_session']}",
        },
        open_timeout=PATIENCE,
    )


async def next_message(socket: Any, kind: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), PATIENCE))
        if message["type"] == kind:
            return message


# --- what is counted ---------------------------------------------------------------


async def test_commands_are_counted_by_type_and_rejections_by_code(
    anonymous: httpx.AsyncClient, seeded: SeededSchool, signed_in: Callable[[str], Any]
) -> None:
    student = await signed_in("student1")
    body = {"origin": seeded.rooms["Room 1"], "destination": seeded.rooms["Library"]}
    before = await scrape(anonymous)

    made = await student.post("/api/passes", json=body)
    assert made.status_code == 201, made.text
    again = await student.post("/api/passes", json=body)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_out"
    ended = await student.post(f"/api/passes/{made.json()['id']}/end")
    assert ended.status_code == 200, ended.text
    ended_again = await student.post(f"/api/passes/{made.json()['id']}/end")
    assert ended_again.json()["error"]["code"] == "invalid_state"

    after = await scrape(anonymous)

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("hallpass_commands_total", command="CreatePass") == 2
    assert grew("hallpass_commands_total", command="EndPass") == 2
    assert grew("hallpass_rejections_total", command="CreatePass", code="already_out") == 1
    assert grew("hallpass_rejections_total", command="EndPass", code="invalid_state") == 1
    assert grew("hallpass_command_seconds_count") == 4


async def test_connected_clients_are_counted_by_role(
    served: tuple[Server, str], anonymous: httpx.AsyncClient, signed_in: Callable[[str], Any]
) -> None:
    server = served[0]
    people = {
        role: await signed_in(name)
        for role, name in (("student", "student2"), ("teacher", "teacher1"), ("kiosk", "kiosk1"))
    }
    before = await scrape(anonymous)
    sockets = [await open_socket(server, people["student"]) for _ in range(2)]
    sockets += [
        await open_socket(server, people["teacher"]),
        await open_socket(server, people["kiosk"]),
    ]
    for socket in sockets:
        await next_message(socket, "snapshot")  # the hub has taken it in by then

    during = await scrape(anonymous)
    grew = {
        role: during.value("hallpass_clients", role=role)
        - before.value("hallpass_clients", role=role)
        for role in ("student", "teacher", "admin", "kiosk")
    }
    assert grew == {"student": 2, "teacher": 1, "admin": 0, "kiosk": 1}

    for socket in sockets:
        await socket.close()
    # The server sees the closes on its own time: wait for the count to fall back.
    await scrape_until(
        anonymous,
        lambda s: all(
            s.value("hallpass_clients", role=r) == before.value("hallpass_clients", role=r)
            for r in ("student", "teacher", "kiosk")
        ),
    )


async def test_fanout_delay_is_sampled_when_a_change_goes_out(
    served: tuple[Server, str],
    anonymous: httpx.AsyncClient,
    seeded: SeededSchool,
    signed_in: Callable[[str], Any],
) -> None:
    teacher = await signed_in("teacher2")
    student = await signed_in("student3")
    board = await open_socket(served[0], teacher)
    try:
        await next_message(board, "snapshot")
        before = await scrape(anonymous)
        body = {"origin": seeded.rooms["Room 2"], "destination": seeded.rooms["Room 1"]}
        made = await student.post("/api/passes", json=body)
        assert made.status_code == 201, made.text
        while (await next_message(board, "pass"))["pass"]["id"] != made.json()["id"]:
            pass
        after = await scrape(anonymous)
        await student.post(f"/api/passes/{made.json()['id']}/end")
    finally:
        await board.close()
    count = "hallpass_fanout_delay_seconds_count"
    assert after.value(count) > before.value(count)
    # Every sample falls in some bucket: the +Inf bucket counts them all.
    assert after.value("hallpass_fanout_delay_seconds_bucket", le="+Inf") == after.value(count)


async def test_store_lag_is_shown_for_each_loaded_school(
    anonymous: httpx.AsyncClient, seeded: SeededSchool, signed_in: Callable[[str], Any]
) -> None:
    student = await signed_in("student1")
    assert (await student.get("/api/rooms")).status_code == 200  # loads the school
    samples = await scrape(anonymous)
    assert samples.has("hallpass_store_lag_events", school=seeded.slug)
    # One process on the embedded store folds what it appends at once.
    assert samples.value("hallpass_store_lag_events", school=seeded.slug) == 0


async def test_the_ticker_records_how_long_ticks_take(
    anonymous: httpx.AsyncClient, seeded: SeededSchool
) -> None:
    before = await scrape(anonymous)
    after = await scrape_until(
        anonymous,
        lambda s: (
            s.value("hallpass_tick_seconds_count") > before.value("hallpass_tick_seconds_count")
        ),
    )
    assert after.value("hallpass_tick_failures_total") == before.value(
        "hallpass_tick_failures_total"
    )


async def test_the_process_figures_come_along(anonymous: httpx.AsyncClient) -> None:
    samples = await scrape(anonymous)
    assert samples.value("process_resident_memory_bytes") > 0
    assert samples.has("hallpass_info", version=metadata.version("hallpass"))


# --- who may read them -------------------------------------------------------------


async def test_without_a_token_only_this_machine_may_read_them(
    anonymous: httpx.AsyncClient,
) -> None:
    # uvicorn trusts X-Forwarded-For from loopback (a proxy on this machine):
    # the request then comes from the address the proxy names.
    answer = await anonymous.get("/metrics", headers={"X-Forwarded-For": OUTSIDE})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert "hallpass_commands" not in answer.text
    # A token offered when none is configured opens nothing.
    offered = await anonymous.get(
        "/metrics", headers={"X-Forwarded-For": OUTSIDE, "Authorization": f"Bearer {TOKEN}"}
    )
    assert offered.status_code == 403
    assert (await anonymous.get("/metrics")).status_code == 200


async def test_with_a_token_others_need_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hallpass.db'}"
    async with (
        running_server(url, env={"HALLPASS_METRICS_TOKEN": TOKEN}) as server,
        httpx.AsyncClient(base_url=server.url, timeout=PATIENCE) as client,
    ):
        outside = {"X-Forwarded-For": OUTSIDE}
        missing = await client.get("/metrics", headers=outside)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthenticated"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        wrong = await client.get(
            "/metrics", headers={**outside, "Authorization": f"Bearer {TOKEN}x"}
        )
        assert wrong.status_code == 401
        right = await client.get(
            "/metrics", headers={**outside, "Authorization": f"Bearer {TOKEN}"}
        )
        assert right.status_code == 200
        assert Samples.parse(right.text).has("hallpass_tick_seconds_count")
        assert (await client.get("/metrics")).status_code == 200  # this machine, no token


# --- the worker ----------------------------------------------------------------------


async def test_the_worker_serves_its_metrics_on_its_own_port(
    tmp_path: Path, redis_server: Callable[..., RedisServer]
) -> None:
    redis = redis_server()
    seeded = await seed_school(redis.url)
    port = free_port()
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            hallpass("worker", "--store", redis.url, "--metrics-port", str(port)),
            cwd=REPO,
            env=server_env(redis.url),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        await eventually(lambda: _worker_ready(worker, log_path))
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=PATIENCE
        ) as client:
            samples = await scrape_until(
                client,
                lambda s: (
                    s.value("hallpass_tick_seconds_count") > 0
                    and s.has("hallpass_store_lag_events", school=seeded.slug)
                ),
            )
        assert samples.value("hallpass_store_lag_events", school=seeded.slug) == 0
        assert samples.value("hallpass_tick_failures_total") == 0
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def _worker_ready(worker: subprocess.Popen[bytes], log_path: Path) -> bool:
    if worker.poll() is not None:
        raise AssertionError(f"the worker exited:\n{log_path.read_text(errors='replace')}")
    return WORKER_READY in log_path.read_text(errors="replace")


@pytest.mark.parametrize("port", ["0", "70000"])
def test_the_worker_refuses_a_metrics_port_that_is_not_one(port: str) -> None:
    store = "redis://127.0.0.1:1/0"  # never reached: the port is checked first
    done = subprocess.run(
        hallpass("worker", "--store", store, "--metrics-port", port),
        cwd=REPO,
        env=server_env(store),
        capture_output=True,
        text=True,
        timeout=PATIENCE * 3,
        check=False,
    )
    assert done.returncode == 2
    assert f"--metrics-port {port}" in done.stderr
