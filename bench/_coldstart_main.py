"""Cold start (`bench/coldstart`): how long until a fresh `hallpass serve`
serves a school that has a year behind it, from the stream alone and with a
snapshot, on SQLite and on Redis.

    bench/coldstart                  # 2,000,000 events, 3 runs of each; about 10 minutes
    bench/coldstart --events 200000  # a quick run

The school year is a 3,000-student school's, made by the real rules
(bench/_school.py, cached after the first run: bench/_coldstart_data.py) and
appended to a fresh SQLite file and to a redis-server of the benchmark's own,
with the school and a teacher in the directory. Each run starts a new
`hallpass serve` process and times, from its start: `up`, when /healthz
first answers; `board`, when a teacher who signs in as soon as it is up gets
GET /api/board, whose answer needs the school loaded (the position it carries
is checked against the stream's version). The server's CPU time until then is
read from /proc: on a busy machine it moves much less than the wall clock.
"From the stream" runs have no snapshot; "from a snapshot" runs have one at
the stream's end (runs alternate, so load from elsewhere weighs on both).
Before the runs, the same process times the parts in place: the whole
replay, encoding the state (what a snapshot writer blocks its event loop
for), and decoding it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _coldstart_data as data

from hallpass.backend import open_backend
from hallpass.events.snapshots import snapshot_key, snapshots_of
from hallpass.projections.snapshot import decode_state, encode_state
from hallpass.service.restore import restore, saves_done

GOAL_SECONDS = 3.0
ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Start:
    up: float  # seconds until /healthz answered
    board: float  # seconds until the board answered
    cpu: float  # the server's CPU seconds until then
    rss_mb: float  # its resident memory then


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class OwnRedis:
    """A redis-server of the benchmark's own: loopback, a free port, no persistence."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        command = [executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        command += ["--appendonly", "no", "--dir", str(folder)]
        command += ["--logfile", str(folder / "redis.log")]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# --- the snapshot, put in place or taken away between runs -------------------------------


def drop_snapshot(url: str) -> None:
    if url.startswith("redis://"):
        client = redis.Redis.from_url(url)
        client.delete(snapshot_key(data.SLUG))
        client.close()
    else:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.execute("DELETE FROM snapshots WHERE school = ?", (data.SLUG,))


async def put_snapshot(url: str, version: int, snapshot: bytes) -> None:
    async with await open_backend(url) as backend:
        snapshots = snapshots_of(backend.store)
        assert snapshots is not None
        await snapshots.save(data.SLUG, version, snapshot)


# --- in place: where the time goes --------------------------------------------------------


async def parts(url: str) -> tuple[int, int, bytes, dict[str, float]]:
    """The stream's version, the school's passes, its snapshot, and the
    seconds of each part (best of two, CPU time of this process)."""
    drop_snapshot(url)
    clock = time.process_time
    took: dict[str, float] = {}
    async with await open_backend(url) as backend:
        started = clock()
        state = await restore(backend.store, data.SLUG)
        took["replay"] = clock() - started
        await saves_done()  # the snapshot the replay left behind
        for _ in range(2):
            started = clock()
            snapshot = encode_state(state)
            took["encode"] = min(took.get("encode", 1e9), clock() - started)
        for _ in range(2):
            started = clock()
            again = decode_state(snapshot)
            took["decode"] = min(took.get("decode", 1e9), clock() - started)
        assert again == state
        return state.version, len(state.passes), snapshot, took


# --- a fresh process --------------------------------------------------------------------------


async def cold_start(url: str, version: int, logs: Path) -> Start:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(ROOT / ".venv/bin/hallpass"), "serve", "--port", str(port), "--store", url]
    with (logs / "serve.log").open("ab") as log:
        started = time.perf_counter()
        server = subprocess.Popen(command, stdout=log, stderr=log, cwd=logs)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"hallpass serve exited; see {logs / 'serve.log'}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.01)
            up = time.perf_counter() - started
            signed_in = await client.post(
                "/api/session",
                json={"school": data.SLUG, "username": data.TEACHER, "password": data.PASSWORD},
            )
            signed_in.raise_for_status()
            board = await client.get("/api/board")
            board.raise_for_status()
            served = time.perf_counter() - started
            cpu, memory = cpu_seconds(server.pid), rss_mb(server.pid)
            # At the stream's end or past it: the server's ticker may have
            # appended what its clock made due (the year's scheduled passes expire).
            position = int(board.json()["position"])
            if position < version:
                raise RuntimeError(f"the board is at {position}, the stream at {version}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    return Start(up=up, board=served, cpu=cpu, rss_mb=memory)


# --- the report ---------------------------------------------------------------------------------


def machine() -> str:
    memory = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1]) // 1024
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} CPUs ({model}), {memory} MiB RAM, Linux {platform.release()},"
        f" Python {platform.python_version()}"
    )


@dataclass
class Measured:
    """One store's figures."""

    store: str
    appended_s: float
    parts: dict[str, float]  # CPU seconds in place: replay, encode, decode
    snapshot_mb: float
    streamed: list[Start]
    snapshotted: list[Start]


def best(runs: list[Start]) -> Start:
    return min(runs, key=lambda run: run.board)


def rows(found: Measured) -> list[tuple[str, ...]]:
    """Per source: store, from, up, served (best), median, server CPU, RSS, / goal."""
    made: list[tuple[str, ...]] = []
    for source, runs in (("the stream alone", found.streamed), ("a snapshot", found.snapshotted)):
        top = best(runs)
        made.append(
            (
                found.store,
                source,
                f"{top.up:.2f}",
                f"{top.board:.2f}",
                f"{statistics.median(run.board for run in runs):.2f}",
                f"{min(run.cpu for run in runs):.2f}",
                f"{top.rss_mb:.0f}",
                f"{top.board / GOAL_SECONDS:.2f}",
            )
        )
    return made


HEADINGS = ("store", "from", "up s", "served s", "median s", "CPU s", "RSS MB", "/ 3 s goal")


def write_markdown(
    path: Path, args: argparse.Namespace, version: int, passes: int, found: list[Measured]
) -> None:
    table = [
        "| " + " | ".join(HEADINGS) + " |",
        "| --- | --- | " + " | ".join(["---:"] * (len(HEADINGS) - 2)) + " |",
    ]
    table += ["| " + " | ".join(row) + " |" for each in found for row in rows(each)]
    parts = "; ".join(
        f"{each.store}: whole replay {each.parts['replay']:.2f}, encode"
        f" {each.parts['encode']:.2f}, decode {each.parts['decode']:.2f}"
        for each in found
    )
    goal = "; ".join(
        f"{each.store} {best(each.snapshotted).board:.2f} s"
        f" ({'met' if best(each.snapshotted).board < GOAL_SECONDS else 'missed'};"
        f" the server's CPU time {min(r.cpu for r in each.snapshotted):.2f} s)"
        for each in found
    )
    shown = [a for a in sys.argv[1:] if a not in ("--markdown", str(path))]
    lines = [
        f"A school year of {version:,} events ({passes:,} passes, 3,000 students);"
        f" {args.runs} fresh `hallpass serve` processes of each kind, the best shown;"
        f" {machine()}; load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        *table,
        "",
        f"In place, CPU seconds: {parts}; the snapshot is {found[0].snapshot_mb:.0f} MB."
        if found
        else "",
        "",
        f"Goal: a school year's cold start under {GOAL_SECONDS:g} s with a snapshot: {goal}.",
        "",
        f"Command: `{' '.join(['bench/coldstart', *shown])}`",
    ]
    path.write_text("\n".join(lines) + "\n")


async def bench(args: argparse.Namespace) -> None:
    events = data.school_year(args.events)
    folder = Path(tempfile.mkdtemp(prefix="hallpass-coldstart-"))
    own_redis = OwnRedis(folder) if "redis" in args.stores else None
    urls = {
        "sqlite": f"sqlite:///{folder / 'year.db'}",
        "redis": own_redis.url if own_redis else "",
    }
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    found: list[Measured] = []
    version = passes = 0
    try:
        for store in args.stores:
            url = urls[store]
            async with await open_backend(url) as backend:
                started = time.perf_counter()
                version = await data.fill(backend, events)
            appended = time.perf_counter() - started
            print(f"{store}: appended {version:,} events in {appended:.0f} s", flush=True)
            version, passes, snapshot, took = await parts(url)
            print(
                f"  in place (CPU s): whole replay {took['replay']:.2f}, encode the state"
                f" {took['encode']:.2f}, decode it {took['decode']:.2f};"
                f" snapshot {len(snapshot) / 1e6:.0f} MB, {passes:,} passes",
                flush=True,
            )
            streamed: list[Start] = []
            snapshotted: list[Start] = []
            for run in range(1, args.runs + 1):
                drop_snapshot(url)
                streamed.append(await cold_start(url, version, folder))
                await put_snapshot(url, version, snapshot)
                snapshotted.append(await cold_start(url, version, folder))
                print(
                    f"  run {run}: from the stream {streamed[-1].board:.2f} s,"
                    f" from a snapshot {snapshotted[-1].board:.2f} s"
                    f"  (load average {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
            found.append(
                Measured(store, appended, took, len(snapshot) / 1e6, streamed, snapshotted)
            )
    finally:
        if own_redis is not None:
            own_redis.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print(f"cold start of a school year: {version:,} events, {passes:,} passes, 3,000 students")
    print(
        f"seconds from the process's start; served = the school's board answered; best of {args.runs}"
    )
    print("{:<7} {:<17} {:>6} {:>9} {:>9} {:>6} {:>7} {:>10}".format(*HEADINGS))
    for each in found:
        for row in rows(each):
            print("{:<7} {:<17} {:>6} {:>9} {:>9} {:>6} {:>7} {:>10}".format(*row))
        ratio = best(each.streamed).board / best(each.snapshotted).board
        print(f"{each.store:<7} the stream alone / a snapshot: {ratio:.1f}x (best of each)")
    if args.markdown is not None:
        write_markdown(args.markdown, args, version, passes, found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events in the year")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes of each kind")
    parser.add_argument(
        "--stores", nargs="+", choices=("sqlite", "redis"), default=["sqlite", "redis"]
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", help="also write the figures to FILE (bench/all)"
    )
    asyncio.run(bench(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
