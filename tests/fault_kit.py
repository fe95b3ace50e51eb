"""What the fault tests (tests/test_faults.py) are made of: processes to kill,
freeze and start again; people who keep acting and retry the way the pages
do; live boards that reconnect and resume; the truth from a fresh replay of
the stream; and the figures each test reports for docs/reliability.md.

Nothing here asserts on how long anything takes: times are measured and
reported, and every wait has a generous bound so a broken server fails the
test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from conftest import RedisServer
from processes import START_TIMEOUT, Child, hallpass
from servers import REPO, SeededSchool, free_port, login, server_env

from hallpass.backend import open_backend
from hallpass.events.redis import RedisEventStore
from hallpass.events.store import StoredEvent
from hallpass.events.types import PassCreated, PassQueued, PassStarted
from hallpass.passwords import hash_password_async
from hallpass.projections.records import PassRecord
from hallpass.projections.state import SchoolState, replay
from hallpass.provision import add_user

# The most any one wait may take before the test fails (a safety net).
PATIENCE = 30.0
# How often a person retries a command that got no answer or a 503. The pages
# back off from 0.6 s; a short pause measures the outage more finely.
RETRY_SECONDS = 0.1
LIVE_STATES = frozenset({"scheduled", "pending", "waiting", "active"})
# Env for every `hallpass serve` of the fault tests: heartbeats often, so a
# board that sees no change still learns the stream's position quickly.
SERVE_ENV = {"HALLPASS_WS_HEARTBEAT_SECONDS": "0.5"}


@asynccontextmanager
async def bounded(seconds: float, what: str) -> AsyncIterator[None]:
    """Fail (rather than hang) when the block takes more than `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        pytest.fail(f"{what} did not finish within {seconds} s")


def report(name: str, figures: Mapping[str, Any]) -> None:
    """Print the figures of one fault (seen with `pytest -s`), and append
    them as a JSON line to $HALLPASS_FAULT_FIGURES when it is set."""
    line = json.dumps({"fault": name, **figures}, sort_keys=False)
    print(f"\nfault figures: {line}")
    path = os.environ.get("HALLPASS_FAULT_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


def spread(values: Iterable[float]) -> dict[str, float | int]:
    """Count, median, 95th percentile and maximum, in milliseconds."""
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return {"n": 0}
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ms[-1], 1),
    }


# --- processes -----------------------------------------------------------------


def kill_redis(server: RedisServer) -> None:
    """SIGKILL: Redis gets no chance to flush or save anything."""
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    server.process = None


def signal_redis(server: RedisServer, signum: signal.Signals) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signum)


@contextlib.contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    """SIGSTOP for the block, SIGCONT after it (also when the block fails)."""
    signal_redis(server, signal.SIGSTOP)
    try:
        yield
    finally:
        signal_redis(server, signal.SIGCONT)


class Serve:
    """`hallpass serve` on a port of its own that it keeps across restarts,
    as a process behind a load balancer's fixed address would."""

    def __init__(
        self, store_url: str, folder: Path, name: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.store_url = store_url
        self.folder = folder
        self.name = name
        self.env = {**SERVE_ENV, **(env or {})}
        self.port = free_port()
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start it and wait until GET /healthz answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        log_path = self.folder / f"{self.name}.log"
        command = hallpass(
            "serve", "--host", "127.0.0.1", "--port", str(self.port), "--store", self.store_url
        )
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                env=server_env(self.store_url, self.env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        self.child = Child(self.name, process, log_path)
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            while True:
                self.child.check_alive()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{self.name} did not start:\n{self.child.output()}")
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.child is not None
        self.child.kill()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def output(self) -> str:
        return self.child.output() if self.child is not None else ""


class Deployment:
    """One Redis and the web processes on it, shared by the fault tests of a
    module (each test seeds a school of its own). A test that leaves a
    process down (say, failing mid-fault) does not take the next one with it:
    `ensure_up` starts whatever is not running."""

    def __init__(self, redis: RedisServer, serves: list[Serve], folder: Path) -> None:
        self.redis = redis
        self.serves = serves
        self.folder = folder

    @property
    def url(self) -> str:
        return self.redis.url

    @property
    def urls(self) -> list[tuple[str, str]]:
        return [(s.url, s.ws_url) for s in self.serves]

    async def ensure_up(self) -> None:
        if self.redis.process is None:
            self.redis.start()
        down = [s for s in self.serves if s.child is None or s.child.process.poll() is not None]
        await asyncio.gather(*(s.start() for s in down))

    def stop(self) -> None:
        for serve in self.serves:
            serve.stop()
        self.redis.stop()


# --- people --------------------------------------------------------------------


async def add_students(store_url: str, school: SeededSchool, count: int) -> list[str]:
    """`count` more students (walker1, walker2, ...) with the school's password;
    their usernames, also added to `school.users`."""
    backend = await open_backend(store_url)
    try:
        found = await backend.directory.get_school(school.slug)
        assert found is not None
        password_hash = await hash_password_async(school.password)
        names = []
        for n in range(1, count + 1):
            username = f"walker{n}"
            user = await add_user(
                backend.directory,
                found,
                username=username,
                role="student",
                name=f"Walker {n}",
                password_hash=password_hash,
                number=str(2000 + n),
            )
            school.users[username] = user.id
            names.append(username)
        return names
    finally:
        await backend.close()


async def signed_in(url: str, school: SeededSchool, username: str) -> httpx.AsyncClient:
    """An HTTP client of the server at `url`, signed in as `username`."""
    client = httpx.AsyncClient(base_url=url, headers={"Origin": url}, timeout=PATIENCE)
    await login(client, school.slug, username, school.password)
    return client


def cookie_of(client: httpx.AsyncClient) -> str:
    return f"hallpass_session={client.cookies['hallpass_session']}"


@dataclass
class Attempt:
    sent: float  # time.time() when sent
    took: float  # seconds until the answer (or the failure)
    status: int  # 0: no answer at all (the connection failed)
    code: str = ""
    message: str = ""


@dataclass
class Command:
    """One thing a person asked for, with every attempt it took."""

    kind: str  # "create" or "end"
    key: str  # the Idempotency-Key, the same on every attempt
    pass_id: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    answer: dict[str, Any] | None = None  # the 2xx answer's body

    @property
    def acknowledged(self) -> bool:
        return self.answer is not None

    @property
    def found_done(self) -> bool:
        """An end whose attempt had no clear outcome (no answer, or a 503
        after the events were written) and whose retry found the pass ended
        already: 409 invalid_state. Answers of status 5xx are not remembered
        (API.md), so the retry runs again rather than replaying a success."""
        last = self.attempts[-1] if self.attempts else None
        return (
            self.kind == "end"
            and last is not None
            and (last.status, last.code) == (409, "invalid_state")
            and any(retryable(a) for a in self.attempts[:-1])
        )

    @property
    def settled(self) -> bool:
        return self.acknowledged or self.found_done

    @property
    def acked_at(self) -> float:
        last = self.attempts[-1]
        return last.sent + last.took

    @property
    def failures(self) -> list[Attempt]:
        return [a for a in self.attempts if not 200 <= a.status < 300]


# A 503 (the store cannot be reached) and no answer at all are what a fault
# may cause; a retry with the same key is then safe (API.md, "Idempotency").
def retryable(attempt: Attempt) -> bool:
    return attempt.status in (0, 503)


async def command(
    client: httpx.AsyncClient, kind: str, path: str, body: Mapping[str, Any], stop_at: float
) -> Command:
    """POST until it is answered 2xx, retrying with the same Idempotency-Key
    after no answer or a 503; any other answer ends it unacknowledged."""
    done = Command(kind, str(uuid.uuid4()))
    while True:
        sent, started = time.time(), time.monotonic()
        try:
            answer = await client.post(
                path, json=dict(body), headers={"Idempotency-Key": done.key}, timeout=10.0
            )
        except httpx.TransportError as error:
            done.attempts.append(Attempt(sent, time.monotonic() - started, 0, type(error).__name__))
        else:
            took = time.monotonic() - started
            if 200 <= answer.status_code < 300:
                done.attempts.append(Attempt(sent, took, answer.status_code))
                done.answer = answer.json()
                done.pass_id = done.answer["id"]
                return done
            body_error = answer.json().get("error", {})
            code, message = body_error.get("code", ""), body_error.get("message", "")
            done.attempts.append(Attempt(sent, took, answer.status_code, code, message))
            if not retryable(done.attempts[-1]):
                return done
        if time.monotonic() > stop_at:
            return done  # unacknowledged: the test reports it
        await asyncio.sleep(RETRY_SECONDS)


class Walker:
    """A student who takes a pass and comes back, again and again, until told
    to stop (finishing the command under way)."""

    def __init__(self, client: httpx.AsyncClient, origin: str, destination: str) -> None:
        self.client = client
        self.via = str(client.base_url).rstrip("/")  # the server it talks to
        self.origin = origin
        self.destination = destination
        self.commands: list[Command] = []

    async def run(self, stop: asyncio.Event, give_up_at: float) -> None:
        while not stop.is_set():
            made = await command(
                self.client,
                "create",
                "/api/passes",
                {"origin": self.origin, "destination": self.destination},
                give_up_at,
            )
            self.commands.append(made)
            if not made.acknowledged:
                return
            ended = await command(
                self.client, "end", f"/api/passes/{made.pass_id}/end", {}, give_up_at
            )
            ended.pass_id = made.pass_id
            self.commands.append(ended)
            if not ended.settled:
                return


class Load:
    """Walkers running side by side."""

    def __init__(self, walkers: list[Walker]) -> None:
        self.walkers = walkers
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        give_up_at = time.monotonic() + PATIENCE
        self.tasks = [asyncio.create_task(w.run(self.stop, give_up_at)) for w in self.walkers]

    async def finish(self) -> list[Command]:
        self.stop.set()
        await asyncio.gather(*self.tasks)
        return self.commands

    @property
    def commands(self) -> list[Command]:
        return [c for w in self.walkers for c in w.commands]

    def commands_via(self, url: str) -> list[Command]:
        return [c for w in self.walkers if w.via == url for c in w.commands]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for walker in self.walkers:
            await walker.client.aclose()


def written_by_a_failed_attempt(command: Command) -> bool:
    """Whether an attempt answered 503 (or not at all) wrote the command's
    events: the pass shows them from before the last failed attempt."""
    if command.found_done:
        return True
    if not command.failures or command.answer is None:
        return False
    at = command.answer["created_at" if command.kind == "create" else "ended_at"]
    return at is not None and datetime.fromisoformat(at).timestamp() < command.failures[-1].sent


def refusals(commands: Iterable[Command]) -> list[Attempt]:
    """Answers that are neither 2xx nor what an outage may cause (an end
    retried after an unclear outcome may find its pass ended already)."""
    return [
        a
        for c in commands
        for a in (c.failures[:-1] if c.found_done else c.failures)
        if not retryable(a)
    ]


def unavailable_answers(commands: Iterable[Command]) -> list[Attempt]:
    return [a for c in commands for a in c.failures if a.status == 503]


def outage(commands: Iterable[Command], over_at: float) -> dict[str, float]:
    """How the people saw a fault that ended at `over_at` (time.time()):
    from the first attempt that failed (503 or no answer) to the answer of the
    last; from `over_at` to the first success answered after it; and the
    longest any command took from its first attempt to its answer."""
    commands = list(commands)
    failed = [a for c in commands for a in c.failures if retryable(a)]
    assert failed, "no attempt failed: the fault went unnoticed"
    succeeded = [a.sent + a.took for c in commands for a in c.attempts if 200 <= a.status < 300]
    back = min(t for t in succeeded if t > over_at)
    retried = [c for c in commands if c.failures and c.settled]
    return {
        "failing_for_s": round(
            max(a.sent + a.took for a in failed) - min(a.sent for a in failed), 2
        ),
        "first_success_after_recovery_s": round(back - over_at, 2),
        "longest_command_s": round(max(c.acked_at - c.attempts[0].sent for c in retried), 2),
    }


# --- live boards ---------------------------------------------------------------


Sees = Callable[[PassRecord], bool]


class Board:
    """A live screen: follows /ws, and when the socket drops, reconnects with
    `after` set to the last position it saw (as the pages do). It keeps the
    live passes it was shown and notes anything out of order or doubled."""

    def __init__(self, name: str, ws_url: str, cookie: str, origin: str, sees: Sees) -> None:
        self.name = name
        self.ws_url = ws_url
        self.cookie = cookie
        self.origin = origin
        self.sees = sees
        self.passes: dict[str, str] = {}  # live pass id -> state
        self.position = -1
        self.connections = 0
        self.snapshots = 0
        self.resumed = 0  # reconnections answered with missed changes, not a snapshot
        self.closes: list[int | None] = []  # close codes of dropped sockets
        self.problems: list[str] = []
        self.received: list[tuple[float, dict[str, Any]]] = []  # (time.time(), message)
        self._seen: set[tuple[str, int]] = set()  # (pass id, position) of changes
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"board {self.name}")

    async def opened(self) -> None:
        """Wait for the first message of the first connection."""
        await asyncio.wait_for(self._opened.wait(), PATIENCE)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            after = f"?after={self.position}" if self.position >= 0 else ""
            try:
                async with websockets.connect(
                    f"{self.ws_url}/ws{after}",
                    additional_headers={"Origin": self.origin, "Cookie": self.cookie},
                    open_timeout=5,
                    max_size=None,
                ) as connection:
                    self.connections += 1
                    first = True
                    async for text in connection:
                        self._apply(json.loads(text), first=first)
                        first = False
            except websockets.ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd else None)
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                pass  # the server is not there (yet): try again
            else:
                self.closes.append(None)
            await asyncio.sleep(RETRY_SECONDS)

    def _apply(self, message: dict[str, Any], *, first: bool) -> None:
        self.received.append((time.time(), message))
        kind = message["type"]
        if kind == "snapshot":
            self.snapshots += 1
            self.passes = {p["id"]: p["state"] for p in message["passes"]}
            self._moved_to(int(message["position"]), strictly=False, what="snapshot")
        elif kind == "pass":
            if first and self.connections > 1:
                self.resumed += 1
            record = message["pass"]
            at = int(message["position"])
            if (record["id"], at) in self._seen:
                self.problems.append(f"{self.name}: {record['id']} at {at} came twice")
            self._seen.add((record["id"], at))
            self._moved_to(at, strictly=True, what=f"pass {record['id']}")
            if record["state"] in LIVE_STATES:
                self.passes[record["id"]] = record["state"]
            else:
                self.passes.pop(record["id"], None)
        elif kind == "heartbeat":
            self._moved_to(int(message["position"]), strictly=False, what="heartbeat")
        if not self._opened.is_set():
            self._opened.set()

    def _moved_to(self, at: int, *, strictly: bool, what: str) -> None:
        # In these tests each event touches one pass, so every change has a
        # position of its own: later changes come with larger positions.
        if at < self.position or (strictly and at == self.position):
            self.problems.append(f"{self.name}: {what} at {at} after position {self.position}")
        self.position = max(self.position, at)

    def shows(self, truth: SchoolState) -> bool:
        return self.position >= truth.version and self.passes == expected_board(truth, self.sees)


def expected_board(truth: SchoolState, sees: Sees) -> dict[str, str]:
    return {p.id: p.state for p in truth.passes.values() if p.state in LIVE_STATES and sees(p)}


# --- the truth -----------------------------------------------------------------


@dataclass
class Truth:
    events: list[StoredEvent]
    state: SchoolState


async def read_truth(store_url: str, school: str) -> Truth:
    """The school's stream read afresh, and the state a replay of it gives."""
    store = RedisEventStore.from_url(store_url)
    try:
        events = [stored async for stored in store.read(school)]
    finally:
        await store.close()
    return Truth(events, replay(events))


async def converge(boards: list[Board], store_url: str, school: str) -> float:
    """Seconds until every board shows what a fresh replay shows."""
    started = time.monotonic()
    while True:
        truth = await read_truth(store_url, school)
        if all(board.shows(truth.state) for board in boards):
            return time.monotonic() - started
        if time.monotonic() - started > PATIENCE:
            behind = {
                b.name: (
                    b.position,
                    truth.state.version,
                    b.passes,
                    expected_board(truth.state, b.sees),
                )
                for b in boards
                if not b.shows(truth.state)
            }
            pytest.fail(f"boards did not converge to the truth: {behind}")
        await asyncio.sleep(0.05)


def half_applied(events: list[StoredEvent]) -> list[str]:
    """Commands whose events are not all there: a pass created to start now
    must be followed, in the same append, by its start or its place in line."""
    problems = []
    for here, following in zip(events, [*events[1:], None], strict=True):
        created = here.event
        if not isinstance(created, PassCreated) or created.start_at or created.needs_approval:
            continue
        after = following.event if following is not None else None
        if not (isinstance(after, PassStarted | PassQueued) and after.pass_id == created.pass_id):
            problems.append(f"v{here.version}: {created.pass_id} created but not started or queued")
    return problems


def impossible(state: SchoolState) -> list[str]:
    """States no sequence of whole commands can leave behind."""
    problems = []
    records = list(state.passes.values())
    live: dict[str, list[str]] = {}
    for p in records:
        if p.state in ("pending", "waiting", "active"):
            live.setdefault(p.student, []).append(p.id)
        if p.state == "scheduled" and p.start_at is None:
            problems.append(f"{p.id}: scheduled with no start time (its start is missing)")
        if p.state in ("active", "ended") and p.started_at is None:
            problems.append(f"{p.id}: {p.state} but never started")
        if p.state == "ended" and p.ended_at is None:
            problems.append(f"{p.id}: ended with no end time")
    problems += [f"{s}: several live passes {ids}" for s, ids in live.items() if len(ids) > 1]
    if state.live != {s: ids[0] for s, ids in live.items()}:
        problems.append("the index of live passes disagrees with the passes")
    for name in ("scheduled", "pending", "active"):
        if set(getattr(state, name)) != {p.id for p in records if p.state == name}:
            problems.append(f"the index of {name} passes disagrees with the passes")
    return problems


def check_acknowledged(commands: list[Command], truth: Truth, students: set[str]) -> list[str]:
    """Every acknowledged command's effect is in the stream, and the stream
    holds no pass of these students that no acknowledged command made."""
    problems = []
    passes = truth.state.passes
    for c in commands:
        if not c.settled:
            tried = [(a.status, a.code, round(a.took, 2)) for a in c.attempts]
            problems.append(f"{c.kind} of {c.pass_id} was never acknowledged: {tried}")
            continue
        assert c.pass_id is not None
        record = passes.get(c.pass_id)
        if record is None:
            problems.append(f"acknowledged {c.kind} of {c.pass_id} is not in the stream")
        elif c.kind == "end" and record.state != "ended":  # acknowledged, or found done
            problems.append(f"acknowledged end of {c.pass_id}, but it is {record.state}")
    made = {c.pass_id for c in commands if c.kind == "create" and c.acknowledged}
    theirs = {p.id for p in passes.values() if p.student in students}
    if theirs != made:
        problems.append(
            f"passes nobody was told about: {theirs - made}; acknowledged but missing: {made - theirs}"
        )
    return problems


# --- a scene: people acting, boards watching -----------------------------------


class Scene:
    """A seeded school with `walkers` students taking passes through the
    given servers (in turn), and four boards: a teacher's on the first and
    on the last server, the Room 1 kiosk's on the first, a walker's own on
    the last."""

    def __init__(self, store_url: str, school: SeededSchool, students: list[str]) -> None:
        self.store_url = store_url
        self.school = school
        self.students = students
        self.load = Load([])
        self.boards: list[Board] = []

    @classmethod
    async def open(cls, store_url: str, urls: list[tuple[str, str]], walkers: int) -> Scene:
        """`urls`: (http URL, ws URL) of each server."""
        from servers import seed_school

        school = await seed_school(store_url)
        students = await add_students(store_url, school, walkers)
        scene = cls(store_url, school, students)
        rooms = school.rooms
        try:
            for n, username in enumerate(students):
                url = urls[n % len(urls)][0]
                origin = rooms["Room 1"] if n % 2 == 0 else rooms["Room 2"]
                client = await signed_in(url, school, username)
                scene.load.walkers.append(Walker(client, origin, rooms["Library"]))
            first, last = urls[0], urls[-1]
            kiosk_room, own = rooms["Room 1"], school.users[students[-1]]
            for name, username, (http, ws), sees in (
                ("teacher on the first", "teacher1", first, _everything),
                ("kiosk on the first", "kiosk1", first, _room(kiosk_room)),
                ("teacher on the last", "teacher2", last, _everything),
                ("walker on the last", students[-1], last, _student(own)),
            ):
                client = await signed_in(http, school, username)
                board = Board(name, ws, cookie_of(client), http, sees)
                await client.aclose()  # the session lives on in the board's cookie
                scene.boards.append(board)
                board.start()
            for board in scene.boards:
                await board.opened()
        except BaseException:
            await scene.close()
            raise
        return scene

    @property
    def student_ids(self) -> set[str]:
        return {self.school.users[s] for s in self.students}

    async def truth(self) -> Truth:
        return await read_truth(self.store_url, self.school.slug)

    async def close(self) -> None:
        await self.load.close()
        for board in self.boards:
            await board.close()


def _everything(record: PassRecord) -> bool:
    return True


def _room(room: str) -> Sees:
    return lambda record: room in (record.origin, record.destination)


def _student(student: str) -> Sees:
    return lambda record: record.student == student


# --- a client that stops reading -----------------------------------------------


class Stalled:
    """A `websockets` client that stops reading once connected: its own
    buffer takes one frame before it pauses the socket, and the socket's
    receive buffer is tiny, so whatever the server sends piles up on the
    server's side. `drain()` reads again, to the end."""

    def __init__(self) -> None:
        self.connection: websockets.ClientConnection | None = None

    async def open(self, ws_url: str, cookie: str, origin: str) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        host, port = ws_url.removeprefix("ws://").rsplit(":", 1)
        await loop.sock_connect(sock, (host, int(port)))
        self.connection = await websockets.connect(
            f"{ws_url}/ws",
            sock=sock,
            additional_headers={"Origin": origin, "Cookie": cookie},
            max_queue=1,
            max_size=None,
            open_timeout=PATIENCE,
        )

    async def drain(self) -> tuple[int, int | None]:
        """Read everything that reached this client: (messages, close code)."""
        assert self.connection is not None
        count = 0
        try:
            while True:
                await asyncio.wait_for(self.connection.recv(), PATIENCE)
                count += 1
        except websockets.ConnectionClosed as closed:
            return count, closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()


def socket_buffer_limit() -> int:
    """The most a TCP socket on this machine may buffer for sending."""
    return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
