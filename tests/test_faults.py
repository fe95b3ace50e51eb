"""Faults, each bounded in time: a web process killed, Redis killed, Redis
frozen, a client that stops reading, the worker killed mid-tick.

Real processes throughout: redis-server with the persistence the README
recommends, two `hallpass serve` (shared by the module's tests, each test with
a school of its own), `hallpass worker`, and `websockets` clients. Each test
prints the figures docs/reliability.md gives (`pytest tests/test_faults.py
-s`); none asserts on how long anything took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from conftest import RedisServer
from fault_kit import (
    Attempt,
    Board,
    Command,
    Deployment,
    Scene,
    Serve,
    Stalled,
    Truth,
    add_students,
    bounded,
    check_acknowledged,
    converge,
    cookie_of,
    frozen,
    half_applied,
    impossible,
    kill_redis,
    outage,
    read_truth,
    refusals,
    report,
    signed_in,
    socket_buffer_limit,
    spread,
    unavailable_answers,
    written_by_a_failed_attempt,
)
from processes import start_worker
from servers import seed_school

from hallpass.backend import open_backend
from hallpass.events.types import PassStarted

# The persistence the README recommends: an append-only file, written on
# every command and fsynced every second.
AOF = ("--appendonly", "yes", "--appendfsync", "everysec")
QUEUE = 16  # HALLPASS_WS_QUEUE: messages queued for a client before it is dropped
REDIS_TIMEOUT = "1"  # HALLPASS_REDIS_TIMEOUT: a frozen Redis shows within a second
ENV = {"HALLPASS_WS_QUEUE": str(QUEUE), "HALLPASS_REDIS_TIMEOUT": REDIS_TIMEOUT}
LOAD_SECONDS = 1.5  # of load before a fault, and again after it
WALKERS = 6
BOUND = 60.0  # seconds any one test may take, start-up of its school included


@pytest.fixture(scope="module")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    folder = tmp_path_factory.mktemp("faults")
    redis = RedisServer(folder / "redis", *AOF)
    redis.start()
    serves = [Serve(redis.url, folder, f"serve{n}", ENV) for n in (1, 2)]
    running = Deployment(redis, serves, folder)
    try:
        await running.ensure_up()
        yield running
    finally:
        running.stop()


def acknowledged(commands: list[Command]) -> list[Command]:
    return [c for c in commands if c.acknowledged]


def check_load(scene: Scene, commands: list[Command], truth: Truth) -> None:
    """What every fault must leave: each acknowledged command's events in
    the stream, whole; no pass that nobody was told about; only the answers
    an outage may give; boards that saw nothing twice or out of order."""
    assert check_acknowledged(commands, truth, scene.student_ids) == []
    assert half_applied(truth.events) == []
    assert impossible(truth.state) == []
    assert refusals(commands) == []
    for answer in unavailable_answers(commands):
        assert answer.code == "store_unavailable" and answer.message.endswith("."), answer
    for board in scene.boards:
        assert board.problems == []


def no_answer(commands: list[Command]) -> list[Attempt]:
    """Attempts that got no HTTP answer at all (a request the server held
    past the client's timeout, or a connection that broke)."""
    return [a for c in commands for a in c.attempts if a.status == 0]


def load_figures(commands: list[Command]) -> dict[str, Any]:
    unavailable = unavailable_answers(commands)
    return {
        "commands_checked": sum(c.settled for c in commands),
        "commands_retried": sum(bool(c.failures) for c in commands),
        "answers_503": len(unavailable),
        "answer_times_503": spread(a.took for a in unavailable),
        "attempts_without_answer": len(no_answer(commands)),
        # Written although the attempt was answered 503 or not at all: Redis
        # ran it before it died, or ran what was sent to it once thawed.
        "commands_written_by_a_failed_attempt": sum(map(written_by_a_failed_attempt, commands)),
        "ends_whose_retry_found_them_done_409": sum(c.found_done for c in commands),
    }


def board_figures(scene: Scene, converged: float) -> dict[str, Any]:
    return {
        "boards": len(scene.boards),
        "board_reconnections": sum(b.connections - 1 for b in scene.boards),
        "board_close_codes": sorted({str(code) for b in scene.boards for code in b.closes}),
        "boards_converged_after_load_s": round(converged, 2),
    }


# --- a web process killed ----------------------------------------------------------


async def test_a_serve_killed_mid_load_its_clients_resume_with_nothing_missed_or_doubled(
    deployment: Deployment,
) -> None:
    await deployment.ensure_up()
    victim = deployment.serves[0]
    async with bounded(BOUND, "the serve kill test"):
        scene = await Scene.open(deployment.url, deployment.urls, walkers=WALKERS)
        try:
            scene.load.start()
            await asyncio.sleep(LOAD_SECONDS)
            killed_at = time.time()
            victim.kill()  # SIGKILL: no goodbyes to its sockets, requests cut mid-way
            await asyncio.sleep(0.5)
            await victim.start()  # the same port, as behind a load balancer
            up_at = time.time()
            await asyncio.sleep(LOAD_SECONDS)
            commands = await scene.load.finish()
            converged = await converge(scene.boards, deployment.url, scene.school.slug)
            truth = await scene.truth()
        finally:
            await scene.close()

    check_load(scene, commands, truth)
    on_victim = [b for b in scene.boards if b.ws_url == victim.ws_url]
    for board in on_victim:
        assert board.connections >= 2, f"{board.name} never reconnected"
    acked = acknowledged(commands)
    assert [c for c in acked if c.acked_at > up_at]
    gaps = []
    for board in on_victim:
        before = max(t for t, _ in board.received if t < killed_at)
        after = min(t for t, _ in board.received if t > up_at)
        gaps.append(after - before)
    report(
        "serve SIGKILL and restart",
        {
            "serve_down_s": round(up_at - killed_at, 2),
            "seen_by_the_walkers_on_it": outage(scene.load.commands_via(victim.url), up_at),
            "resumed_with_snapshot": sum(b.snapshots - 1 for b in on_victim),
            "resumed_with_missed_changes": sum(b.resumed for b in on_victim),
            "board_silence_across_restart_s": [round(g, 2) for g in gaps],
            **load_figures(commands),
            **board_figures(scene, converged),
        },
    )


# --- Redis killed --------------------------------------------------------------------


async def test_redis_killed_mid_load_keeps_every_acknowledged_command(
    deployment: Deployment,
) -> None:
    await deployment.ensure_up()
    redis = deployment.redis
    async with bounded(BOUND, "the Redis kill test"):
        scene = await Scene.open(deployment.url, deployment.urls, walkers=WALKERS)
        try:
            scene.load.start()
            await asyncio.sleep(LOAD_SECONDS)
            killed_at = time.time()
            kill_redis(redis)  # SIGKILL: no chance to flush or save
            await asyncio.sleep(1.0)
            redis.start()  # the same folder: it loads its append-only file
            back_at = time.time()
            await asyncio.sleep(LOAD_SECONDS)
            commands = await scene.load.finish()
            converged = await converge(scene.boards, deployment.url, scene.school.slug)
            truth = await scene.truth()
        finally:
            await scene.close()

    check_load(scene, commands, truth)
    assert no_answer(commands) == []  # the web processes answered throughout
    acked = acknowledged(commands)
    before_kill = [c for c in acked if c.acked_at < killed_at]
    assert before_kill and [c for c in acked if c.acked_at > back_at]
    report(
        "redis SIGKILL and restart (appendonly yes, appendfsync everysec)",
        {
            "acknowledged_before_kill": len(before_kill),
            "acknowledged_in_last_second_before_kill": sum(
                killed_at - 1 <= c.acked_at < killed_at for c in acked
            ),
            "redis_down_s": round(back_at - killed_at, 2),
            **outage(commands, back_at),
            **load_figures(commands),
            **board_figures(scene, converged),
        },
    )


# --- Redis frozen --------------------------------------------------------------------

FREEZE_SECONDS = 3.0


async def test_redis_frozen_answers_503_then_recovers_without_a_restart(
    deployment: Deployment,
) -> None:
    await deployment.ensure_up()
    probe_url = deployment.serves[0].url
    async with bounded(BOUND, "the Redis freeze test"):
        scene = await Scene.open(deployment.url, deployment.urls, walkers=WALKERS)
        try:
            scene.load.start()
            await asyncio.sleep(LOAD_SECONDS)
            frozen_at = time.time()
            with frozen(deployment.redis):
                await asyncio.sleep(FREEZE_SECONDS / 2)
                # The process stays alive and says so; readiness says the store is not.
                async with httpx.AsyncClient(base_url=probe_url, timeout=10) as probe:
                    health = await probe.get("/healthz")
                    ready = await probe.get("/readyz")
                await asyncio.sleep(FREEZE_SECONDS / 2)
            thawed_at = time.time()
            await asyncio.sleep(LOAD_SECONDS)
            commands = await scene.load.finish()
            converged = await converge(scene.boards, deployment.url, scene.school.slug)
            truth = await scene.truth()
        finally:
            await scene.close()

    assert health.status_code == 200
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "store_unavailable"
    check_load(scene, commands, truth)
    assert no_answer(commands) == []  # answered 503 in time, not held
    during = [a for a in unavailable_answers(commands) if frozen_at <= a.sent <= thawed_at]
    assert during, "nothing answered 503 while Redis was frozen"
    report(
        f"redis SIGSTOP for {FREEZE_SECONDS:g} s, then SIGCONT "
        f"(HALLPASS_REDIS_TIMEOUT={REDIS_TIMEOUT})",
        {
            "answers_503_sent_while_frozen": len(during),
            **outage(commands, thawed_at),
            **load_figures(commands),
            **board_figures(scene, converged),
        },
    )


# --- a client that stops reading ---------------------------------------------------

# A student with a very long name makes every message about their passes big,
# so the buffers between the server and a client that stops reading fill
# after a few dozen messages rather than thousands. (The directory takes it;
# the API's forms would not.)
BIG_NAME = 256 * 1024


async def test_a_client_that_stops_reading_is_dropped_and_the_others_keep_pace(
    deployment: Deployment,
) -> None:
    await deployment.ensure_up()
    url = deployment.url
    serve = deployment.serves[-1]
    school = await seed_school(url)
    async with await open_backend(url) as backend:
        user = await backend.directory.get_user(school.slug, school.users["student2"])
        assert user is not None
        await backend.directory.update_user(msgspec.structs.replace(user, name="N" * BIG_NAME))
    rooms = school.rooms
    # Enough to fill the kernel's buffers and uvicorn's on the way to the
    # stalled client, and then its queue.
    rounds = (socket_buffer_limit() + 2 * 2**20) // (2 * BIG_NAME) + QUEUE // 2 + 2
    sent: dict[tuple[str, str], float] = {}  # (small pass, state) -> time.time() when asked
    made: list[str] = []

    async def act(teacher: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
        answer = await teacher.post(path, json=body)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    async def traffic(teacher: httpx.AsyncClient, count: int) -> None:
        """Each round: a big pass out and back (student2, Room 2 to the
        Library: the kiosk of Room 1 does not see it), and a small one
        (student1, from Room 1) whose arrival on the boards is timed."""
        for _ in range(count):
            big = await act(
                teacher,
                "/api/passes",
                {
                    "origin": rooms["Room 2"],
                    "destination": rooms["Library"],
                    "student": school.users["student2"],
                },
            )
            await act(teacher, f"/api/passes/{big['id']}/end", {})
            made.append(big["id"])
            asked = time.time()
            small = await act(
                teacher,
                "/api/passes",
                {
                    "origin": rooms["Room 1"],
                    "destination": rooms["Library"],
                    "student": school.users["student1"],
                },
            )
            sent[(small["id"], "active")] = asked
            sent[(small["id"], "ended")] = time.time()
            await act(teacher, f"/api/passes/{small['id']}/end", {})
            made.append(small["id"])

    def latencies(board: Board, since: float, until: float) -> list[float]:
        arrived = {
            (m["pass"]["id"], m["pass"]["state"]): t
            for t, m in board.received
            if m["type"] == "pass"
        }
        return [arrived[k] - t for k, t in sent.items() if since <= t < until and k in arrived]

    async with bounded(BOUND, "the slow client test"):
        teacher = await signed_in(serve.url, school, "teacher1")
        kiosk_http = await signed_in(serve.url, school, "kiosk1")
        kiosk_room = rooms["Room 1"]
        boards = [
            Board(
                "kiosk",
                serve.ws_url,
                cookie_of(kiosk_http),
                serve.url,
                lambda p: kiosk_room in (p.origin, p.destination),
            ),
            Board("teacher", serve.ws_url, cookie_of(teacher), serve.url, lambda p: True),
        ]
        stalled = Stalled()
        try:
            for board in boards:
                board.start()
                await board.opened()
            alone_from = time.time()
            await traffic(teacher, rounds // 2)
            stalled_from = time.time()
            await stalled.open(serve.ws_url, cookie_of(teacher), serve.url)
            await traffic(teacher, rounds)
            stalled_until = time.time()
            await converge(boards, url, school.slug)
            truth = await read_truth(url, school.slug)
            got, code = await stalled.drain()
        finally:
            await stalled.close()
            for board in boards:
                await board.close()
            await teacher.aclose()
            await kiosk_http.aclose()

    assert code == 1013, f"the stalled client was not dropped for falling behind (close {code})"
    messages = 4 * rounds  # what the stalled client would have been sent in full
    assert got < messages
    for board in boards:
        assert board.problems == []
        assert board.connections == 1  # never dropped
        shown = [
            (m["pass"]["id"], m["pass"]["state"]) for _, m in board.received if m["type"] == "pass"
        ]
        expected = [
            (p, state)
            for p in made
            for state in ("active", "ended")
            if board.sees(truth.state.passes[p])
        ]
        assert shown == expected  # every change, once, in order
    report(
        f"a client that stops reading (HALLPASS_WS_QUEUE={QUEUE})",
        {
            "messages_sent_while_stalled": messages,
            "messages_the_stalled_client_got_before_its_close": got,
            "stalled_client_close_code": code,
            "big_message_bytes": BIG_NAME,
            **{
                f"{board.name}_latency_{phase}": spread(latencies(board, since, until))
                for board in boards
                for phase, since, until in (
                    ("alone", alone_from, stalled_from),
                    ("beside_stalled_client", stalled_from, stalled_until),
                )
            },
        },
    )


# --- the worker killed mid-tick ------------------------------------------------------

SCHEDULED = 8  # passes, due in pairs at 4 moments
STAGGER = timedelta(milliseconds=400)
# A start this far ahead is truly scheduled (the rules count 5 s ahead as "now").
AHEAD = timedelta(seconds=6.5)


async def test_the_worker_killed_mid_tick_loses_no_start_and_doubles_none(
    deployment: Deployment,
) -> None:
    await deployment.ensure_up()
    url = deployment.url
    school = await seed_school(url)
    students = await add_students(url, school, SCHEDULED)
    rooms = school.rooms

    async def starts() -> dict[str, int]:
        truth = await read_truth(url, school.slug)
        counted: dict[str, int] = {}
        for stored in truth.events:
            if isinstance(stored.event, PassStarted):
                counted[stored.event.pass_id] = counted.get(stored.event.pass_id, 0) + 1
        return counted

    workers = []
    async with bounded(BOUND, "the worker kill test"):
        try:
            workers.append(await start_worker(url, deployment.folder, name="worker1"))
            teacher = await signed_in(deployment.serves[-1].url, school, "teacher1")
            base = datetime.now(UTC) + AHEAD
            passes: dict[str, datetime] = {}
            for n, username in enumerate(students):
                start_at = base + STAGGER * (n // 2)
                answer = await teacher.post(
                    "/api/passes",
                    json={
                        "origin": rooms["Room 1"],
                        "destination": rooms["Library"],
                        "student": school.users[username],
                        "start_at": start_at.isoformat(),
                    },
                )
                assert answer.status_code == 201, answer.text
                assert answer.json()["state"] == "scheduled"
                passes[answer.json()["id"]] = start_at
            await teacher.aclose()

            # Kill it the moment the first start is in the stream: the burst is under way.
            while not await starts():
                await asyncio.sleep(0.01)
            workers[0].kill()
            killed_at = datetime.now(UTC)
            before_kill = await starts()
            assert len(before_kill) < SCHEDULED, "the kill came after the burst"
            # Let the rest come due with no worker: nothing starts them meanwhile.
            last_due = max(passes.values())
            await asyncio.sleep(max(0.0, (last_due - datetime.now(UTC)).total_seconds()) + 0.5)
            assert await starts() == before_kill
            restarting = time.monotonic()
            workers.append(await start_worker(url, deployment.folder, name="worker2"))
            ready_at = time.monotonic()
            while len(await starts()) < SCHEDULED:
                await asyncio.sleep(0.05)
            all_started = time.monotonic()
            await asyncio.sleep(2.0)  # a few more ticks: none may start anything twice
            counted = await starts()
            truth = await read_truth(url, school.slug)
        finally:
            for worker in workers:
                worker.stop()

    assert counted == {pass_id: 1 for pass_id in passes}
    assert impossible(truth.state) == []
    for pass_id, start_at in passes.items():
        record = truth.state.passes[pass_id]
        assert record.state == "active" and record.started_at is not None
        assert record.started_at >= start_at
    late = [
        (truth.state.passes[p].started_at - start_at).total_seconds()  # type: ignore[operator]
        for p, start_at in passes.items()
        if p not in before_kill
    ]
    report(
        "worker SIGKILL mid-burst and restart",
        {
            "scheduled_passes": SCHEDULED,
            "started_before_the_kill": len(before_kill),
            "started_by_the_restarted_worker": SCHEDULED - len(before_kill),
            "kill_after_first_due_ms": round(
                (killed_at - min(passes.values())).total_seconds() * 1000
            ),
            "worker_restart_to_ready_s": round(ready_at - restarting, 2),
            "worker_restart_to_all_started_s": round(all_started - restarting, 2),
            "starts_after_restart_late_by": spread(late),
        },
    )
