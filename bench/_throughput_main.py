"""Command throughput (`bench/throughput`): passes created and ended per second
through the HTTP API by concurrent signed-in students, for each store,
against a bare Starlette endpoint answering the same JSON through the same
server setup, in the same run (the framework's floor); and scale-out: one
against two `hallpass serve` processes on one Redis.

    bench/throughput                      the whole run (about 4 minutes)
    bench/throughput --rounds 1 --duration 5 --warmup 2     a quick look
    bench/throughput --profile /tmp/prof  py-spy profiles of the servers

Each setup runs in fresh processes: the floor (bench/_floor_app.py);
`hallpass serve` on an SQLite file; `hallpass serve` and `hallpass worker`
on a redis-server of the run's own (append-only file, fsync every second);
the same with two `serve` processes, the clients spread over both. The load
generator (bench/_throughput_load.py) is a process of its own. Setups are
interleaved round by round and each keeps its best round: the machines here
are shared and noisy, and someone else's burst should not count against one
setup. Each student signs in once per store; sessions outlive the servers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._throughput_load import Client, Outcome, Plan
from bench._throughput_procs import (
    Child,
    Profiler,
    run_generator,
    start_floor,
    start_redis,
    start_serve,
    start_worker,
)
from bench._throughput_school import BenchSchool, sample_answers, seed, sign_in

GOAL = 0.5  # create-pass throughput against the floor's


@dataclass(frozen=True)
class Setup:
    key: str
    label: str
    store: str  # "floor", "sqlite" or "redis"
    serves: int = 1


FLOOR = Setup("floor", "Starlette floor", "floor")
SQLITE = Setup("sqlite", "Hallpass, SQLite", "sqlite")
REDIS = Setup("redis", "Hallpass, Redis (+ worker)", "redis")
REDIS_TWO = Setup("redis2", "Hallpass, Redis, 2 serve (+ worker)", "redis", serves=2)


@dataclass(frozen=True)
class Run:
    setup: Setup
    outcome: Outcome

    @property
    def window(self) -> float:
        return self.outcome.window

    @property
    def creates(self) -> float:
        return self.outcome.create.count / self.window

    @property
    def commands(self) -> float:
        return (self.outcome.create.count + self.outcome.end.count) / self.window

    @property
    def server_ms(self) -> float:
        """The server processes' CPU time per command, in milliseconds."""
        count = self.outcome.create.count + self.outcome.end.count
        return self.outcome.cpu["server"] / max(1, count) * 1000

    def core_share(self, name: str) -> float:
        return self.outcome.cpu.get(name, 0.0) / self.window * 100

    def cpu_text(self) -> str:
        names = ("server", "generator", "redis", "worker")
        return ", ".join(
            f"{name} {self.core_share(name):.0f}%" for name in names if name in self.outcome.cpu
        )

    def line(self) -> str:
        c, e = self.outcome.create, self.outcome.end
        text = (
            f"{self.setup.label}: {self.commands:,.0f} commands/s ({self.creates:,.0f} creates/s); "
            f"create p50 {c.p50_ms:.1f} ms p99 {c.p99_ms:.1f} ms; "
            f"end p50 {e.p50_ms:.1f} ms p99 {e.p99_ms:.1f} ms; "
            f"server CPU {self.server_ms:.2f} ms/command; CPU use: {self.cpu_text()}"
        )
        if self.outcome.errors:
            text += f"; {self.outcome.errors} ERRORS, e.g. {self.outcome.error_samples[0]}"
        return text


@dataclass
class Store:
    """A store prepared for the run: its URL, the school in it, the sessions."""

    url: str
    school: BenchSchool
    tokens: list[str]


@contextmanager
def servers(
    setup: Setup, stores: dict[str, Store], sample: Path, folder: Path
) -> Iterator[tuple[list[Child], dict[str, list[int]]]]:
    """The setup's processes, started fresh; yields the web servers and the
    pids to watch by name."""
    with ExitStack() as stack:
        watch: dict[str, list[int]] = {}
        if setup.store == "floor":
            floor = start_floor(sample, stores["sqlite"].url, folder)
            stack.callback(floor.stop)
            web = [floor]
        else:
            url = stores[setup.store].url
            if setup.store == "redis":
                worker = start_worker(url, folder)
                stack.callback(worker.stop)
                watch["worker"] = [worker.pid]
            web = []
            for i in range(setup.serves):
                served = start_serve(url, folder, name=f"serve-{setup.key}-{i + 1}")
                stack.callback(served.stop)
                web.append(served)
        watch["server"] = [w.pid for w in web]
        yield web, watch


def measure(
    setup: Setup,
    stores: dict[str, Store],
    sample: Path,
    folder: Path,
    args: argparse.Namespace,
    extra_watch: dict[str, list[int]],
    profiler: Profiler,
    round_number: int,
) -> Run:
    store = stores["sqlite" if setup.store == "floor" else setup.store]
    with servers(setup, stores, sample, folder) as (web, watch):
        clients = [
            Client(cookie=token, target=i % len(web)) for i, token in enumerate(store.tokens)
        ]
        plan = Plan(
            targets=[w.url for w in web],
            clients=clients,
            origin=store.school.origin,
            destination=store.school.destination,
            warmup=args.warmup,
            duration=args.duration,
            watch={**watch, **(extra_watch if setup.store == "redis" else {})},
        )
        profiler.start(f"{setup.key}-round{round_number}", watch["server"])
        try:
            raw = run_generator(msgspec.json.encode(plan), folder)
        finally:
            profiler.stop()
    return Run(setup, msgspec.json.decode(raw, type=Outcome))


def prepare(kind: str, url: str, clients: int, folder: Path) -> Store:
    school = seed(url, clients)
    serve = start_serve(url, folder, name=f"serve-{kind}-sign-in")
    try:
        tokens = sign_in(serve.url, school.usernames)
    finally:
        serve.stop()
    return Store(url, school, tokens)


def write_sample(store: Store, folder: Path) -> Path:
    """Hallpass's own answers, for the floor to send the same bytes."""
    serve = start_serve(store.url, folder, name="serve-sample")
    try:
        answers = sample_answers(serve.url, store.tokens[0], store.school)
    finally:
        serve.stop()
    path = folder / "sample.json"
    path.write_text(json.dumps(answers))
    return path


# --- the report --------------------------------------------------------------------


def machine() -> str:
    memory = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1]) // 1024
    return f"{os.cpu_count()} CPUs, {memory} MiB RAM, Python {platform.python_version()}"


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def commit_ms(folder: Path, commits: int = 50) -> float:
    """The median time of a durable SQLite commit (WAL, synchronous=FULL, as
    the event store commits) on the disk the run's SQLite store is on."""
    path = folder / "fsync-probe.db"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        times = []
        for i in range(commits):
            began = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO t VALUES (?, ?)", (i, b"x" * 400))
            connection.execute("COMMIT")
            times.append(time.perf_counter() - began)
    finally:
        connection.close()
    return statistics.median(times) * 1000


def ratio(run: Run | None, base: Run | None) -> float | None:
    if run is None or base is None or base.creates == 0:
        return None
    return run.creates / base.creates


def verdict(value: float | None) -> str:
    if value is None:
        return "not measured"
    return f"{value:.2f} ({'met' if value >= GOAL else 'missed'})"


def table(runs: list[Run], base: Run | None, label: str) -> str:
    """One row a run; the last column is its creates/s over `base`'s."""
    rows = [
        "| setup | commands/s | creates/s | create p50 / p99 ms | end p50 / p99 ms "
        f"| server CPU ms/command | CPU use (% of one core) | {label} |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for run in runs:
        c, e = run.outcome.create, run.outcome.end
        share = None if run is base else ratio(run, base)
        rows.append(
            f"| {run.setup.label} | {run.commands:,.0f} | {run.creates:,.0f} "
            f"| {c.p50_ms:.1f} / {c.p99_ms:.1f} | {e.p50_ms:.1f} / {e.p99_ms:.1f} "
            f"| {run.server_ms:.2f} | {run.cpu_text()} "
            f"| {'-' if share is None else f'{share:.2f}'} |"
        )
    return "\n".join(rows)


def throughput_block(best: dict[str, Run], args: argparse.Namespace, facts: Facts) -> str:
    floor = best.get("floor")
    measured = [best[s.key] for s in (FLOOR, SQLITE, REDIS) if s.key in best]
    lines = [
        f"{args.clients} students, each on its own keep-alive connection, each creating a pass "
        f"and ending it in a loop: {args.duration:g} s measured after {args.warmup:g} s of "
        f"warm-up, best of {args.rounds} interleaved round(s). Load average at the start: "
        f"{facts.load}.",
        "",
        table(measured, floor, "creates/s / floor's"),
        "",
    ]
    if floor is not None:
        lines += [
            f"Goal: create-pass throughput at least {GOAL} of the framework floor's "
            f"(2-core machine). SQLite: {verdict(ratio(best.get('sqlite'), floor))}; "
            f"Redis: {verdict(ratio(best.get('redis'), floor))}.",
            "",
        ]
        ours = best.get("sqlite") or best.get("redis")
        if ours is not None:
            lines += [
                f"Same answers on both sides: Hallpass sent {ours.outcome.create.mean_bytes:.0f} "
                f"B (create) and {ours.outcome.end.mean_bytes:.0f} B (end), the floor "
                f"{floor.outcome.create.mean_bytes:.0f} B and "
                f"{floor.outcome.end.mean_bytes:.0f} B.",
                "",
            ]
    if facts.commit_ms is not None:
        lines += [
            f"A durable SQLite commit (WAL, `synchronous=FULL`, as the event store commits) "
            f"on this disk took {facts.commit_ms:.2f} ms (median of 50, measured once before "
            "the rounds; it varies with what else the disk is doing). Every SQLite command "
            "waits for one, and a school's commands take turns.",
            "",
        ]
    errors = sum(run.outcome.errors for run in best.values())
    if errors:
        lines += [f"**{errors} commands failed** during the measured runs (see the output).", ""]
    lines.append(f"Command: `{facts.command}`")
    return "\n".join(lines) + "\n"


def scale_out_block(best: dict[str, Run], facts: Facts) -> str:
    one, two = best["redis"], best["redis2"]
    return (
        "\n".join(
            [
                "The same load on one Redis through one `hallpass serve` and through two "
                "(the clients spread evenly over both), with one `hallpass worker` each "
                "time, in the same run as the command throughput.",
                "",
                table([one, two], one, "creates/s / one's"),
                "",
                f"Two processes against one: {two.commands / one.commands:.2f} times the "
                "commands per second.",
                "",
                f"Command: `{facts.command}`",
            ]
        )
        + "\n"
    )


@dataclass(frozen=True)
class Facts:
    command: str
    load: str
    commit_ms: float | None


def markdown(best: dict[str, Run], args: argparse.Namespace, facts: Facts) -> str:
    """The blocks docs/performance.md keeps (bench/_all.py)."""
    blocks = [
        f"<!-- bench:throughput -->\n{throughput_block(best, args, facts)}<!-- /bench:throughput -->"
    ]
    if "redis" in best and "redis2" in best:
        blocks.append(
            f"<!-- bench:scale-out -->\n{scale_out_block(best, facts)}<!-- /bench:scale-out -->"
        )
    return "\n\n".join(blocks) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent students")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not counted")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; each setup keeps its best")
    parser.add_argument(
        "--setups",
        nargs="+",
        choices=[s.key for s in (FLOOR, SQLITE, REDIS, REDIS_TWO)],
        default=[s.key for s in (FLOOR, SQLITE, REDIS, REDIS_TWO)],
    )
    parser.add_argument("--profile", type=Path, help="a folder for py-spy profiles of the servers")
    parser.add_argument("--markdown", type=Path, help="write the report's sections to this file")
    args = parser.parse_args()
    shown = [a for a in sys.argv[1:] if a not in ("--markdown", str(args.markdown))]
    command = " ".join(["bench/throughput", *shown])
    setups = [s for s in (FLOOR, SQLITE, REDIS, REDIS_TWO) if s.key in args.setups]
    started_load = load()
    print(f"machine: {machine()}; load average {started_load}")
    print(f"command: {command}", flush=True)
    commit: float | None = None

    began = time.monotonic()
    best: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="hallpass-throughput-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        stores: dict[str, Store] = {}
        stores["sqlite"] = prepare(
            "sqlite", f"sqlite:///{folder / 'bench.db'}", args.clients, folder
        )
        extra: dict[str, list[int]] = {}
        if any(s.store == "redis" for s in setups):
            redis_child, redis_url = start_redis(folder)
            stack.callback(redis_child.stop)
            extra["redis"] = [redis_child.pid]
            stores["redis"] = prepare("redis", redis_url, args.clients, folder)
        sample = write_sample(stores["sqlite"], folder)
        if SQLITE in setups:
            commit = commit_ms(folder)
        print(f"prepared in {time.monotonic() - began:.0f} s", flush=True)
        profiler = Profiler(args.profile)
        for round_number in range(1, args.rounds + 1):
            for setup in setups:
                run = measure(setup, stores, sample, folder, args, extra, profiler, round_number)
                print(f"round {round_number}: {run.line()}", flush=True)
                if setup.key not in best or run.commands > best[setup.key].commands:
                    best[setup.key] = run

    print()
    report = markdown(best, args, Facts(command, started_load, commit))
    print(report)
    print(f"(took {time.monotonic() - began:.0f} s)")
    if args.markdown:
        args.markdown.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
