"""The live fan-out benchmark (`bench/live`): how long from a command sent over
HTTP until the last of N connected boards has the change, against a bare
`websockets` broadcast of a message of the same size to the same N clients,
measured in the same run; and the server's memory per idle connection.

    bench/live                      N = 100, 1000, 5000 (a few minutes)
    bench/live --clients 100        a quick run

For each N: (1) a real `hallpass serve --demo` on a fresh SQLite file, N
teacher boards (one session cookie) spread over client processes
(bench/_live_clients.py); per round a teacher creates a pass and then ends it
through HTTP, and each command's latency runs from sending it until the last
board got the matching pass message. (2) The baseline
(bench/_live_baseline.py), up at the same time with N clients of its own, and
a broadcast of a message of the same size after each command, triggered the
same way (an HTTP POST from the same kind of client, answered by uvicorn and
a bare ASGI app): the two take turns, so load from elsewhere on the machine
weighs on both alike. (3) VmRSS
of each server before and after its N idle clients connected (and got their
first message), divided by N. Also each server's CPU time per command or
broadcast: on a busy machine it moves much less than the latencies do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
SETTLE_SECONDS = 1.0  # let a server finish its work before reading its memory
ROUND_TIMEOUT = 60.0
START_TIMEOUT = 180.0
# Rounds run and not counted after the clients connect: the first changes
# after thousands of connections meet a garbage collector that has just been
# given a lot to look at (both servers alike).
WARM_UP_ROUNDS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Worker:
    """One client process (bench/_live_clients.py), driven by JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench._live_clients",
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a client process died (exit {await self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ask(do="quit"), 10)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()


class Crowd:
    """N clients spread evenly over the client processes."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    @classmethod
    async def start(cls, count: int) -> Crowd:
        return cls([await Worker.start() for _ in range(count)])

    async def connect(self, url: str, headers: dict[str, str], n: int) -> None:
        count = len(self.workers)
        shares = [n // count + (i < n % count) for i in range(count)]
        asks = [
            w.ask(do="connect", url=url, headers=headers, n=k)
            for w, k in zip(self.workers, shares, strict=True)
            if k
        ]
        await asyncio.gather(*asks)

    async def measure(
        self, tokens: list[str], send: Callable[[], Awaitable[Any]]
    ) -> tuple[float, int, Any]:
        """Arm every client to look for a message holding all `tokens`, then
        run `send`: the seconds from just before `send` until the last client
        had it, the message's size, and what `send` returned."""
        await asyncio.gather(*(w.ask(do="expect", tokens=tokens) for w in self.workers))
        started = time.monotonic()
        result = await send()
        answers = await asyncio.gather(
            *(w.ask(do="wait", timeout=ROUND_TIMEOUT) for w in self.workers)
        )
        if any(a["count"] < a["clients"] for a in answers):
            raise RuntimeError(f"not every client saw {tokens} within {ROUND_TIMEOUT} s")
        last = max(a["last"] for a in answers)
        return last - started, max(a["size"] for a in answers), result

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers))


@dataclass
class Result:
    clients: int
    latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the server's, over all the rounds
    answers: list[float] = field(default_factory=list)  # until each command's HTTP answer
    rss_before: int = 0
    rss_after: int = 0
    size: int = 0

    @property
    def per_connection_kib(self) -> float:
        return (self.rss_after - self.rss_before) / self.clients

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    @property
    def cpu_ms(self) -> float:
        """The server's CPU time per command (or broadcast)."""
        return self.cpu_seconds / len(self.latencies) * 1000


async def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(base_url=url) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()}")
            await asyncio.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.asynccontextmanager
async def hallpass_server(
    folder: Path, server: str = "serve", app: str = "hallpass.web.app:create_app"
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """`hallpass serve --demo` on a fresh SQLite file, as an operator runs it;
    or with `server="uvloop"` the same app under uvicorn's own command line on
    uvloop (for comparison)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALLPASS_")}
    # Every board here is the same teacher's session: lift the per-person cap.
    env["HALLPASS_WS_PER_USER"] = "0"
    log_path = folder / f"server-{port}.log"
    store = f"sqlite:///{folder / f'bench-{port}.db'}"
    if server == "uvloop":
        env.update({"HALLPASS_STORE": store, "HALLPASS_DEMO": "1"})
        command = [sys.executable, "-m", "uvicorn", "--factory", app]
        command += ["--port", str(port), "--loop", "uvloop", "--lifespan", "on"]
        command += ["--ws-per-message-deflate", "false", "--no-access-log"]
    else:
        command = [sys.executable, "-m", "hallpass.cli", "serve", "--demo", "--port", str(port)]
        command += ["--store", store]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url, process, log_path)
            yield url, process
        finally:
            stop(process)


@contextlib.asynccontextmanager
async def baseline_server() -> AsyncIterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """The baseline (bench/_live_baseline.py): its WebSocket URL, the URL its
    broadcast is triggered at over HTTP, and its process."""
    port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._live_baseline", str(port), str(http_port)],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.to_thread(process.stdout.readline)
        if line.strip() != b"ready":
            raise RuntimeError(f"the baseline server did not start: {line!r}")
        yield f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{http_port}", process
    finally:
        stop(process)


@contextlib.contextmanager
def profiling(pid: int, output: Path | None) -> Iterator[None]:
    """py-spy (from PyPI; on PATH or $PY_SPY) sampling the server meanwhile."""
    if output is None:
        yield
        return
    spy = os.environ.get("PY_SPY", "py-spy")
    command = [spy, "record", "--pid", str(pid), "--output", str(output), "--format", "raw"]
    process = subprocess.Popen(
        [*command, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(1.0)
        yield
    finally:
        process.send_signal(2)
        process.wait(30)


class Hallpass:
    """The service under test, with a teacher signed in over HTTP."""

    def __init__(self, url: str, http: httpx.AsyncClient, result: Result) -> None:
        self.url = url
        self.http = http
        self.result = result
        self.body: dict[str, str] = {}
        self.headers: dict[str, str] = {}

    async def sign_in(self) -> None:
        signed = await self.http.post(
            "/api/session", json={"school": "demo", "username": "teacher1", "password": "demo"}
        )
        signed.raise_for_status()
        cookie = self.http.cookies["hallpass_session"]
        self.headers = {"Cookie": f"hallpass_session={cookie}", "Origin": self.url}
        rooms = {r["name"]: r["id"] for r in (await self.http.get("/api/rooms")).json()}
        self.body = {
            "origin": rooms["Room 102"],
            "destination": rooms["Water Fountain"],
            "student_number": "100001",
        }

    async def create(self) -> dict[str, Any]:
        began = time.monotonic()
        answer = await self.http.post("/api/passes", json=self.body)
        self.result.answers.append(time.monotonic() - began)
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made

    async def end(self, pass_id: str) -> None:
        began = time.monotonic()
        answer = await self.http.post(f"/api/passes/{pass_id}/end")
        self.result.answers.append(time.monotonic() - began)
        assert answer.status_code == 200, answer.text


async def measure(
    n: int, rounds: int, workers: int, folder: Path, profile: Path | None, server: str, app: str
) -> tuple[Result, Result]:
    """Both servers up at once, each with its own N clients, and their rounds
    taken in turns: a machine whose load drifts during the run (a shared CI
    box) then weighs on both alike, and the ratio stays fair."""
    ours, base = Result(n), Result(n)
    async with (
        hallpass_server(folder, server, app) as (url, process),
        httpx.AsyncClient(base_url=url, headers={"Origin": url}, timeout=60) as http,
        baseline_server() as (base_url, trigger_url, base_process),
        # The same kind of client as the commands': the baseline is triggered
        # the same way, by an HTTP POST on a kept-alive connection.
        httpx.AsyncClient(base_url=trigger_url, timeout=60) as base_http,
    ):
        hallpass = Hallpass(url, http, ours)
        await hallpass.sign_in()
        ws_url = url.replace("http://", "ws://") + "/ws"
        crowd, base_crowd = await Crowd.start(workers), await Crowd.start(workers)
        try:
            # One client each first: the school's hub starts with its first.
            await crowd.connect(ws_url, hallpass.headers, len(crowd.workers))
            await base_crowd.connect(base_url + "/ws", {}, len(base_crowd.workers))
            warm = await hallpass.create()
            await hallpass.end(warm["id"])
            student = warm["student"]["id"]
            await asyncio.sleep(SETTLE_SECONDS)
            ours.rss_before, base.rss_before = rss_kib(process.pid), rss_kib(base_process.pid)
            await crowd.connect(ws_url, hallpass.headers, n)
            await base_crowd.connect(base_url + "/ws", {}, n)
            await asyncio.sleep(SETTLE_SECONDS)
            ours.rss_after, base.rss_after = rss_kib(process.pid), rss_kib(base_process.pid)

            async def broadcast() -> None:
                token = f"b{len(base.latencies)}x"

                async def trigger() -> None:
                    answer = await base_http.post(
                        "/broadcast", json={"token": token, "size": ours.size}
                    )
                    answer.raise_for_status()

                seconds, size, _ = await base_crowd.measure([f'"token":"{token}"'], trigger)
                assert size == ours.size, (size, ours.size)
                base.latencies.append(seconds)

            cpu = base_cpu = 0.0
            with profiling(process.pid, profile):
                for i in range(WARM_UP_ROUNDS + rounds):
                    if i == WARM_UP_ROUNDS:
                        for result in (ours, base):
                            result.latencies.clear()
                        ours.answers.clear()
                        cpu, base_cpu = cpu_seconds(process.pid), cpu_seconds(base_process.pid)
                    seconds, ours.size, made = await crowd.measure(
                        [student, '"state":"active"'], hallpass.create
                    )
                    ours.latencies.append(seconds)
                    await broadcast()
                    pass_id = made["id"]

                    async def end_it(p: str = pass_id) -> None:
                        await hallpass.end(p)

                    seconds, _size, _ = await crowd.measure([pass_id, '"state":"ended"'], end_it)
                    ours.latencies.append(seconds)
                    await broadcast()
            ours.cpu_seconds = cpu_seconds(process.pid) - cpu
            base.cpu_seconds = cpu_seconds(base_process.pid) - base_cpu
        finally:
            await crowd.stop()
            await base_crowd.stop()
    return ours, base


def machine() -> str:
    import uvicorn

    memory = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1]) // 1024
    return (
        f"{os.cpu_count()} CPUs ({platform.machine()}), {memory} MiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"uvicorn {uvicorn.__version__}, websockets {metadata.version('websockets')}"
    )


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f}"


HEADER = (
    "| clients | hallpass p50 ms | p99 ms | baseline p50 ms | p99 ms | p99 ratio "
    "| hallpass CPU ms/command | baseline CPU ms/broadcast "
    "| hallpass KiB/connection | baseline KiB/connection |\n"
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def row(ours: Result, base: Result) -> str:
    return (
        f"| {ours.clients} | {ours.ms(0.5):.1f} | {ours.ms(0.99):.1f} | {base.ms(0.5):.1f} "
        f"| {base.ms(0.99):.1f} | {ours.ms(0.99) / base.ms(0.99):.2f} | {ours.cpu_ms:.1f} "
        f"| {base.cpu_ms:.1f} | {ours.per_connection_kib:.1f} | {base.per_connection_kib:.1f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--rounds", type=int, default=40, help="create+end rounds per N")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--profile", type=Path, help="a folder for py-spy profiles")
    parser.add_argument(
        "--server",
        choices=["serve", "uvloop"],
        default="serve",
        help="`hallpass serve` (default), or the app under uvicorn's command line on uvloop",
    )
    parser.add_argument(
        "--app",
        default="hallpass.web.app:create_app",
        help="the app factory for --server uvloop (to try a change)",
    )
    parser.add_argument("--verbose", action="store_true", help="print every latency")
    # bench/all's convention (bench/_all.py): the run's figures as markdown.
    parser.add_argument("--markdown", type=Path, help="write the figures as markdown to FILE")
    args = parser.parse_args()

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max(args.clients) + 1024
    if hard < needed:
        sys.exit(f"RLIMIT_NOFILE's hard limit {hard} is below {needed}: raise it (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it

    print(f"machine: {machine()}; {load()}")
    print(f"command: bench/live {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"{args.rounds} rounds of create + end per N; {args.workers} client processes; "
        f"server: {args.server}\n"
    )
    rows = []
    pairs: list[tuple[Result, Result]] = []  # for --markdown
    with tempfile.TemporaryDirectory(prefix="hallpass-bench-") as tmp:
        for n in args.clients:
            began = time.monotonic()
            profile = args.profile / f"hallpass-{n}.txt" if args.profile else None
            ours, base = await measure(
                n, args.rounds, args.workers, Path(tmp), profile, args.server, args.app
            )
            rows.append(row(ours, base))
            pairs.append((ours, base))
            if args.verbose:
                print("hallpass ms:", " ".join(f"{x * 1000:.0f}" for x in ours.latencies))
                print("baseline ms:", " ".join(f"{x * 1000:.0f}" for x in base.latencies))
            print(
                f"N={n}: hallpass p50 {ours.ms(0.5):.1f} ms, p99 {ours.ms(0.99):.1f} ms; "
                f"baseline p50 {base.ms(0.5):.1f} ms, p99 {base.ms(0.99):.1f} ms; "
                f"p99 ratio {ours.ms(0.99) / base.ms(0.99):.2f}; server CPU per command "
                f"{ours.cpu_ms:.1f} ms (baseline {base.cpu_ms:.1f}); memory per connection "
                f"{ours.per_connection_kib:.1f} KiB (baseline {base.per_connection_kib:.1f}); "
                f"message {ours.size} B; HTTP answer p50 "
                f"{percentile(ours.answers, 0.5) * 1000:.1f} ms; "
                f"{time.monotonic() - began:.0f} s; {load()}",
                flush=True,
            )
    print()
    print(HEADER)
    print("\n".join(rows))
    if args.markdown:
        write_markdown(args, pairs, rows)


# --- bench/all's section (bench/_all.py) ---------------------------------------

P99_GOAL = 1.5  # our p99 over the baseline's, at most
MEMORY_GOAL_KIB = 20.0  # per idle connection, at most


def write_markdown(
    args: argparse.Namespace, pairs: list[tuple[Result, Result]], rows: list[str]
) -> None:
    def met(ok: bool) -> str:
        return "met" if ok else "missed"

    p99 = "; ".join(
        f"N={o.clients}: {o.ms(0.99) / b.ms(0.99):.2f} ({met(o.ms(0.99) / b.ms(0.99) <= P99_GOAL)})"
        for o, b in pairs
    )
    memory = "; ".join(
        f"N={o.clients}: {o.per_connection_kib:.1f} KiB "
        f"({met(o.per_connection_kib <= MEMORY_GOAL_KIB)})"
        for o, _b in pairs
    )
    shown = [a for a in sys.argv[1:] if a not in ("--markdown", str(args.markdown))]
    lines = [
        f"{args.rounds} rounds of create + end per N; {args.workers} client processes; "
        f"server: {args.server}; {load()} at the end.",
        "",
        HEADER,
        *rows,
        "",
        f"Goal: p99 at most {P99_GOAL} times the baseline's: {p99}.",
        "",
        f"Goal: at most {MEMORY_GOAL_KIB:g} KiB per idle connection: {memory}.",
        "",
        f"Command: `{' '.join(['bench/live', *shown])}`",
    ]
    args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
