"""The load generator of bench/throughput, in a process of its own.

It reads one JSON plan on stdin, runs it, and writes one JSON result on
stdout (`Plan` and `Outcome` below). Each client is one signed-in student on
one HTTP/1.1 keep-alive connection, looping: create a pass, end it, with an
`Idempotency-Key`, `Origin` and JSON `Content-Type` as the pages send them.
Commands that finish inside the measuring window (after the warm-up) count.

The client is as cheap as an honest HTTP client can be, because on a small
machine it competes with the server for the cores: request bytes are built
by hand, answers are parsed by httptools (uvicorn's own parser, llhttp),
one asyncio Protocol per connection, no task per request, on uvloop. The
same client loads the framework's floor and Hallpass alike.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import httptools
import msgspec

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
    uvloop = None  # type: ignore[assignment]


class Client(msgspec.Struct, frozen=True):
    cookie: str  # the hallpass_session token
    target: int  # index into Plan.targets


class Plan(msgspec.Struct, frozen=True):
    targets: list[str]  # base URLs, http://127.0.0.1:PORT
    clients: list[Client]
    origin: str  # room ids of the pass every client makes
    destination: str
    warmup: float
    duration: float
    watch: dict[str, list[int]]  # name -> pids whose CPU time the window used


class Stats(msgspec.Struct):
    count: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_bytes: float = 0.0


class Outcome(msgspec.Struct):
    window: float  # seconds actually measured
    create: Stats
    end: Stats
    errors: int
    error_samples: list[str]
    cpu: dict[str, float]  # name -> CPU seconds in the window; "generator" is this process


class _Answer(msgspec.Struct):
    id: str = ""


_answer = msgspec.json.Decoder(_Answer)


class Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.lost: BaseException | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(error)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("the server closed the connection")
        self._fail(self.lost)

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        body, self.body = b"".join(self.body), []
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    def _fail(self, error: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.lost is not None or self.transport is None:
            raise ConnectionError("not connected")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


class Recorder:
    """Latencies and sizes of commands that finished inside the window."""

    def __init__(self) -> None:
        self.start = float("inf")
        self.stop = float("inf")
        self.latencies: dict[str, list[float]] = {"create": [], "end": []}
        self.sizes: dict[str, int] = {"create": 0, "end": 0}
        self.errors = 0
        self.error_samples: list[str] = []

    def done(self, kind: str, began: float, finished: float, size: int) -> None:
        if self.start <= finished <= self.stop:
            self.latencies[kind].append(finished - began)
            self.sizes[kind] += size

    def failed(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what[:300])

    def stats(self, kind: str) -> Stats:
        values = sorted(self.latencies[kind])
        if not values:
            return Stats()

        def at(q: float) -> float:  # nearest rank, in milliseconds
            return values[max(0, math.ceil(q * len(values)) - 1)] * 1000

        return Stats(len(values), at(0.5), at(0.99), self.sizes[kind] / len(values))


def request_bytes(path: str, host: str, cookie: str, key: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Origin: http://{host}\r\n"
        "Accept: application/json\r\n"
        "Content-Type: application/json\r\n"
        f"Cookie: hallpass_session={cookie}\r\n"
        f"Idempotency-Key: {key}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def run_client(plan: Plan, client: Client, recorder: Recorder, stopping: float) -> None:
    loop = asyncio.get_running_loop()
    url = urlsplit(plan.targets[client.target])
    host, address, port = url.netloc, url.hostname or "127.0.0.1", url.port or 80
    create_body = msgspec.json.encode({"origin": plan.origin, "destination": plan.destination})
    clock = time.monotonic
    connection: Connection | None = None
    while clock() < stopping:
        try:
            if connection is None or connection.lost is not None:
                _, connection = await loop.create_connection(Connection, address, port)
            began = clock()
            raw = request_bytes(
                "/api/passes", host, client.cookie, os.urandom(12).hex(), create_body
            )
            status, body = await connection.request(raw)
            if status != 201:
                recorder.failed(f"create {status}: {body[:200]!r}")
                await asyncio.sleep(0.1)
                continue
            recorder.done("create", began, clock(), len(body))
            pass_id = _answer.decode(body).id
            began = clock()
            raw = request_bytes(
                f"/api/passes/{pass_id}/end", host, client.cookie, os.urandom(12).hex(), b""
            )
            status, body = await connection.request(raw)
            if status != 200:
                recorder.failed(f"end {status}: {body[:200]!r}")
                await asyncio.sleep(0.1)
                continue
            recorder.done("end", began, clock(), len(body))
        except (OSError, httptools.HttpParserError, msgspec.DecodeError) as error:
            recorder.failed(f"{type(error).__name__}: {error}")
            connection = None
            await asyncio.sleep(0.1)
    if connection is not None and connection.transport is not None:
        connection.transport.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_now(watch: dict[str, list[int]]) -> dict[str, float]:
    found = {name: sum(cpu_seconds(p) for p in pids) for name, pids in watch.items()}
    found["generator"] = cpu_seconds(os.getpid())
    return found


async def run(plan: Plan) -> Outcome:
    recorder = Recorder()
    clock = time.monotonic
    begins = clock()
    recorder.start = begins + plan.warmup
    recorder.stop = recorder.start + plan.duration
    tasks = [
        asyncio.create_task(run_client(plan, c, recorder, recorder.stop)) for c in plan.clients
    ]
    await asyncio.sleep(max(0.0, recorder.start - clock()))
    cpu_start = cpu_now(plan.watch)
    window_start = clock()
    await asyncio.sleep(max(0.0, recorder.stop - clock()))
    cpu_end = cpu_now(plan.watch)
    window = clock() - window_start
    await asyncio.gather(*tasks)
    return Outcome(
        window=window,
        create=recorder.stats("create"),
        end=recorder.stats("end"),
        errors=recorder.errors,
        error_samples=recorder.error_samples,
        cpu={name: cpu_end[name] - cpu_start[name] for name in cpu_end},
    )


def main() -> None:
    plan = msgspec.json.decode(sys.stdin.buffer.read(), type=Plan)
    outcome = uvloop.run(run(plan)) if uvloop is not None else asyncio.run(run(plan))
    sys.stdout.buffer.write(msgspec.json.encode(outcome) + b"\n")


if __name__ == "__main__":
    main()
