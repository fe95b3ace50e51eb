"""Every benchmark in bench/, one after another, and docs/performance.md
brought up to date with their figures (`bench/all`).

    bench/all                      everything (about 10 minutes on 2 cores)
    bench/all --only throughput    one benchmark; the others' figures stay
    bench/all --quick              small runs, to see that everything works

The convention every benchmark follows: `bench/NAME --markdown FILE` writes
the figures of its run to FILE as markdown (a table, a line per goal that
starts with "Goal:", and the command). FILE is either one block, or several
blocks each wrapped as

    <!-- bench:KEY -->
    ...
    <!-- /bench:KEY -->

docs/performance.md keeps each block between the same two markers; this
command replaces what is between them and leaves everything else (the
explanations, what bounds each figure) as it was written. A block the
document has no markers for yet is added at the end under a heading of its
own. A benchmark without `--markdown` still runs: its output goes in as
text. The block `machine` at the top says where and when the figures were
measured, and gathers every "Goal:" line.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCUMENT = REPO / "docs" / "performance.md"
BLOCK = re.compile(r"<!-- bench:(?P<key>[\w-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=key) -->", re.S)
PACKAGES = ("starlette", "uvicorn", "httptools", "uvloop", "msgspec", "redis", "websockets")


@dataclass(frozen=True)
class Bench:
    name: str  # bench/NAME
    title: str  # the heading of its section when the document has none yet
    args: tuple[str, ...] = ()  # what bench/all runs it with
    quick: tuple[str, ...] = ()  # with --quick instead


# The document's order; a block's key is the bench's name unless it writes
# its own markers (bench/throughput writes `throughput` and `scale-out`).
BENCHES = (
    Bench(
        "throughput",
        "Command throughput (`bench/throughput`)",
        quick=("--rounds", "1", "--warmup", "1", "--duration", "3"),
    ),
    Bench(
        "coldstart", "Cold start (`bench/coldstart`)", quick=("--events", "100000", "--runs", "1")
    ),
    Bench(
        "live",
        "Live fan-out (`bench/live`)",
        quick=("--clients", "100", "--rounds", "5"),
    ),
    Bench("replay", "Replay (`bench/replay`)", quick=("--events", "100000", "--runs", "2")),
    Bench("reports", "Reports (`bench/reports`)", quick=("--days", "20", "--runs", "2")),
)
TITLES = {"scale-out": "Scale-out (`bench/throughput`)"}


# --- running ---------------------------------------------------------------------


def takes_markdown(script: Path) -> bool:
    shown = subprocess.run(
        [str(script), "--help"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return "--markdown" in shown.stdout


def run(bench: Bench, quick: bool, folder: Path) -> tuple[dict[str, str], float]:
    """Run one benchmark, its output shown as it goes; its blocks by key."""
    script = REPO / "bench" / bench.name
    if not script.exists():
        return {bench.name: f"Not measured: `bench/{bench.name}` is not there yet.\n"}, 0.0
    args = list(bench.quick if quick else bench.args)
    output = folder / f"{bench.name}.md"
    markdown = takes_markdown(script)
    if markdown:
        args += ["--markdown", str(output)]
    command = " ".join([f"bench/{bench.name}", *args[: len(args) - 2 * markdown]])
    print(f"\n=== {command}", flush=True)
    began = time.monotonic()
    process = subprocess.Popen(
        [str(script), *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    printed: list[str] = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        printed.append(line)
    status = process.wait()
    seconds = time.monotonic() - began
    if status != 0:
        tail = "".join(printed[-15:])
        return {bench.name: f"Failed (exit {status}): `{command}`\n\n```text\n{tail}```\n"}, seconds
    if markdown and output.exists():
        return blocks_of(output.read_text(), bench.name), seconds
    text = "".join(printed)
    return {bench.name: f"```text\n{text}```\n\nCommand: `{command}`\n"}, seconds


def blocks_of(text: str, default_key: str) -> dict[str, str]:
    found = {m["key"]: m["body"] for m in BLOCK.finditer(text)}
    return found or {default_key: text if text.endswith("\n") else text + "\n"}


# --- the document ----------------------------------------------------------------


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def redis_version() -> str:
    executable = shutil.which("redis-server")
    if executable is None:
        return "not installed"
    shown = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"v=(\S+)", shown.stdout)
    return match[1] if match else "?"


def machine_block(
    started: datetime, minutes: float, command: str, load: str, ran: list[str], goals: list[str]
) -> str:
    memory = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1]) / 1024**2
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in PACKAGES)
    every = len(ran) == len(BENCHES)
    scope = "every benchmark" if every else "only " + ", ".join(f"`bench/{n}`" for n in ran)
    lines = [
        f"Measured by `{command}` on {started:%Y-%m-%d %H:%M} UTC, in {minutes:.0f} min"
        f" ({scope}{'' if every else '; the other figures are from earlier runs'}).",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {cpu_model()}, {os.cpu_count()} cores (`nproc`) |",
        f"| memory | {memory:.1f} GiB |",
        f"| system | Linux {platform.release()} |",
        f"| Python | {platform.python_version()} |",
        f"| packages | {versions}, redis-server {redis_version()} |",
        f"| load average at the start (1, 5, 15 min) | {load} |",
        "",
    ]
    if goals:
        lines += ["Goals, with the figures of the sections below:", ""]
        lines += [f"- {goal}" for goal in goals]
        lines.append("")
    return "\n".join(lines)


def goal_lines(blocks: dict[str, str]) -> list[str]:
    goals = []
    for key, body in blocks.items():
        for line in body.splitlines():
            stripped = line.strip()
            if stripped.startswith("Goal:"):
                goals.append(f"{TITLES.get(key) or title_of(key)}: {stripped[5:].strip()}")
    return goals


def title_of(key: str) -> str:
    for bench in BENCHES:
        if bench.name == key:
            return bench.title
    return TITLES.get(key, key)


def wrap(key: str, body: str) -> str:
    return f"<!-- bench:{key} -->\n{body.rstrip()}\n<!-- /bench:{key} -->"


def update(document: str, blocks: dict[str, str]) -> str:
    """`document` with each block's figures replaced (or added at the end)."""
    if not document.strip():
        document = (
            "# Performance\n\nWhat the benchmarks in `bench/` measure, the figures of their "
            "last run (`bench/all`), and what bounds them.\n"
        )
    if "<!-- bench:machine -->" not in document and "machine" in blocks:
        first = document.find("\n## ")
        head, rest = (document, "") if first < 0 else (document[:first], document[first:])
        document = f"{head.rstrip()}\n\n{wrap('machine', '')}\n{rest}"
    for key, body in blocks.items():
        pattern = re.compile(
            rf"<!-- bench:{re.escape(key)} -->\n.*?<!-- /bench:{re.escape(key)} -->", re.S
        )
        heading = f"\n## {title_of(key)}\n"
        found = pattern.search(document)
        if found:
            document = f"{document[: found.start()]}{wrap(key, body)}{document[found.end() :]}"
        elif heading in document:
            # A section written by hand without markers yet: the figures go
            # at its end, where its author may move them.
            start = document.index(heading) + len(heading)
            end = document.find("\n## ", start)
            end = len(document) if end < 0 else end
            section = f"{document[start:end].rstrip()}\n\n{wrap(key, body)}\n"
            document = f"{document[:start]}{section}{document[end:]}"
        else:
            document = f"{document.rstrip()}\n\n## {title_of(key)}\n\n{wrap(key, body)}\n"
    return document if document.endswith("\n") else document + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/all", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", nargs="+", choices=[b.name for b in BENCHES], help="run only these"
    )
    parser.add_argument("--quick", action="store_true", help="small runs: to check, not to quote")
    parser.add_argument(
        "--output", type=Path, default=DOCUMENT, help="default: docs/performance.md"
    )
    args = parser.parse_args()
    command = " ".join(["bench/all", *sys.argv[1:]])
    started = datetime.now(UTC)
    began = time.monotonic()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    chosen = [b for b in BENCHES if args.only is None or b.name in args.only]
    blocks: dict[str, str] = {}
    took: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hallpass-bench-all-") as tmp:
        for bench in chosen:
            found, seconds = run(bench, args.quick, Path(tmp))
            blocks.update(found)
            took[bench.name] = seconds
    minutes = (time.monotonic() - began) / 60
    document = args.output.read_text() if args.output.exists() else ""
    # Goals already in the document (benchmarks not run this time) still count.
    kept = {m["key"]: m["body"] for m in BLOCK.finditer(document) if m["key"] != "machine"}
    goals = goal_lines({**kept, **blocks})
    blocks = {
        "machine": machine_block(started, minutes, command, load, [b.name for b in chosen], goals),
        **blocks,
    }
    args.output.write_text(update(document, blocks))
    print(
        f"\nwrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}"
        f" in {minutes:.1f} minutes ("
        + ", ".join(f"{name} {seconds / 60:.1f}" for name, seconds in took.items())
        + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
