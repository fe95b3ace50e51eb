"""Replay speed: can the fold keep up with msgspec's decoder?

Makes a synthetic school year with the real rules (bench/_school.py), encodes
every event as JSON, then times, on the same bytes in the same run:
  decode  every event decoded by one msgspec Decoder (the baseline)
  fold    decoded and folded with `evolve` into a fresh state
Each runs a few times, interleaved, and each 20,000-event chunk keeps its best
time. For reference it also times decoding while keeping every event (no fold,
but the memory a replay holds on to), which bounds what any fold in Python can
reach against a decoder that throws its objects away. The ratio fold/decode is the figure that matters (goal: at least 0.5).
Run with `bench/replay` (`--events N` for a quick run).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _school import SchoolYear

from hallpass.events.types import AnyEvent
from hallpass.projections.state import evolve, initial_state

GOAL = 0.5
CHUNK = 20_000


def make_events(count: int) -> tuple[list[bytes], Counter[str]]:
    encode = msgspec.json.Encoder().encode
    data: list[bytes] = []
    kinds: Counter[str] = Counter()
    for event in SchoolYear().events(count):
        data.append(encode(event))
        kinds[type(event).__name__] += 1
        if len(data) >= count:
            break
    return data, kinds


def time_decode(data: list[bytes], chunks: list[tuple[int, int]]) -> list[float]:
    """Seconds to decode each chunk of `data`."""
    decode = msgspec.json.Decoder(AnyEvent).decode
    clock = time.perf_counter
    times = []
    for lo, hi in chunks:
        part = data[lo:hi]
        start = clock()
        for raw in part:
            decode(raw)
        times.append(clock() - start)
    return times


def time_keep(data: list[bytes], chunks: list[tuple[int, int]]) -> list[float]:
    """Seconds to decode each chunk and keep every event: no fold at all, but
    the memory a replay must hold on to. A reference, not a goal."""
    decode = msgspec.json.Decoder(AnyEvent).decode
    clock = time.perf_counter
    kept: list[object] = []
    keep = kept.append
    times = []
    for lo, hi in chunks:
        part = data[lo:hi]
        start = clock()
        for raw in part:
            keep(decode(raw))
        times.append(clock() - start)
    return times


def time_fold(data: list[bytes], chunks: list[tuple[int, int]]) -> list[float]:
    """Seconds to decode and fold each chunk of `data`, into one fresh state."""
    decode = msgspec.json.Decoder(AnyEvent).decode
    clock = time.perf_counter
    state = initial_state()
    times = []
    for lo, hi in chunks:
        part = data[lo:hi]
        start = clock()
        for raw in part:
            evolve(state, decode(raw))
        times.append(clock() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to replay")
    parser.add_argument("--runs", type=int, default=5, help="runs of each, best kept")
    # bench/all's convention (bench/_all.py): the run's figures as markdown.
    parser.add_argument("--markdown", type=Path, help="write the figures as markdown to FILE")
    args = parser.parse_args()

    started = time.perf_counter()
    data, kinds = make_events(args.events)
    size = sum(map(len, data))
    print(
        f"made {len(data):,} events ({size / 1e6:.0f} MB of JSON, {size / len(data):.0f} B each)"
        f" in {time.perf_counter() - started:.1f} s by decide and tick;"
        f" {kinds['PassCreated']:,} passes, {kinds['PassQueued']:,} queued,"
        f" {kinds['DayEnded']:,} school days",
        flush=True,
    )
    # Machines here are shared and noisy: run both several times, interleaved,
    # and keep each chunk's best time, so that a burst of someone else's work
    # during one run does not count against either.
    chunks = [(lo, min(lo + CHUNK, len(data))) for lo in range(0, len(data), CHUNK)]
    best_decode = [float("inf")] * len(chunks)
    best_keep = [float("inf")] * len(chunks)
    best_fold = [float("inf")] * len(chunks)
    for run in range(1, args.runs + 1):
        gc.collect()
        decode_times = time_decode(data, chunks)
        gc.collect()
        best_keep = list(map(min, best_keep, time_keep(data, chunks)))
        gc.collect()
        fold_times = time_fold(data, chunks)
        best_decode = list(map(min, best_decode, decode_times))
        best_fold = list(map(min, best_fold, fold_times))
        print(
            f"  run {run}: decode {len(data) / sum(decode_times):>11,.0f} events/s"
            f"   fold {len(data) / sum(fold_times):>11,.0f} events/s",
            flush=True,
        )
    decode_rate = len(data) / sum(best_decode)
    keep_rate = len(data) / sum(best_keep)
    fold_rate = len(data) / sum(best_fold)
    ratio = fold_rate / decode_rate
    print(f"decode only        {decode_rate:>11,.0f} events/s")
    print(
        f"decode + keep      {keep_rate:>11,.0f} events/s"
        f"  (reference: no fold, every event kept; ratio {keep_rate / decode_rate:.2f})"
    )
    print(f"decode + evolve    {fold_rate:>11,.0f} events/s")
    print(f"ratio fold/decode  {ratio:.2f} (goal >= {GOAL}; best of {args.runs} per chunk)")
    if args.markdown:
        write_markdown(args, len(data), size, decode_rate, keep_rate, fold_rate)
    return 0


# --- bench/all's section (bench/_all.py) ---------------------------------------


def write_markdown(
    args: argparse.Namespace,
    events: int,
    size: int,
    decode_rate: float,
    keep_rate: float,
    fold_rate: float,
) -> None:
    ratio = fold_rate / decode_rate
    command = " ".join(["bench/replay", *(a for a in sys.argv[1:] if a != "--markdown")])
    command = command.replace(f" {args.markdown}", "")
    lines = [
        f"{events:,} events of a synthetic school year ({size / 1e6:.0f} MB of JSON), "
        f"best of {args.runs} runs per chunk of {CHUNK:,}.",
        "",
        "| | events/s | / decode only |",
        "| --- | ---: | ---: |",
        f"| decode only (the baseline) | {decode_rate:,.0f} | 1.00 |",
        f"| decode + keep (reference) | {keep_rate:,.0f} | {keep_rate / decode_rate:.2f} |",
        f"| decode + evolve | {fold_rate:,.0f} | {ratio:.2f} |",
        "",
        f"Goal: fold at least {GOAL} of decode-only: {ratio:.2f} "
        f"({'met' if ratio >= GOAL else 'missed'}).",
        "",
        f"Command: `{command}`",
    ]
    args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
