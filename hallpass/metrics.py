"""What a process counts for Prometheus, and the small functions that count it.

One registry per process (`REGISTRY`), not prometheus_client's global one, so
that what a library registers there never leaks into Hallpass's answer. The
web processes serve it at `GET /metrics` (hallpass.web.routes.metrics); the
worker, which has no HTTP server, through prometheus_client's own
(`serve_http`, `hallpass worker --metrics-port`).

Every recording function here is cheap: a counter or a histogram bucket, no
I/O and no per-client work, since some run on the fan-out's path. The one
that reads the store, `sample_store_lag`, runs at scrape time (web) or every
few seconds in a task of its own (worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

if TYPE_CHECKING:  # the runtime imports this module to count its commands
    from hallpass.service.runtime import SchoolRuntime

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

# The standard process figures (memory, CPU, open files), Python's version and
# its garbage collector, as prometheus_client's default registry has them.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

ROLES = ("student", "teacher", "admin", "kiosk")

# Seconds. Commands and ticks are an append or two (milliseconds on a healthy
# store); the top buckets catch a store that stalls.
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A change reaches the screens' queues within a blink; a second or more means trouble.
_DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

INFO = Info("hallpass", "The running Hallpass release", registry=REGISTRY)

COMMANDS = Counter(
    "hallpass_commands",
    "Commands decided, by command type (rejected ones included)",
    ["command"],
    registry=REGISTRY,
)
REJECTIONS = Counter(
    "hallpass_rejections",
    "Commands the school's rules refused, by command type and API.md's code",
    ["command", "code"],
    registry=REGISTRY,
)
COMMAND_SECONDS = Histogram(
    "hallpass_command_seconds",
    "Time to decide a command and append its events, retries after conflicts included",
    registry=REGISTRY,
    buckets=_FAST_BUCKETS,
)
CLIENTS = Gauge(
    "hallpass_clients",
    "Open live-update WebSocket connections, by role",
    ["role"],
    registry=REGISTRY,
)
CLIENTS_DROPPED = Counter(
    "hallpass_clients_dropped",
    "Live-update connections the fan-out let go: too far behind (queue full) or gone",
    registry=REGISTRY,
)
FANOUT_DELAY = Histogram(
    "hallpass_fanout_delay_seconds",
    "From a change's moment (its event's time) to its hand-off to the screens' sockets "
    "(or queues, for a socket still busy); one sample per delivery round, its oldest change",
    registry=REGISTRY,
    buckets=_DELIVERY_BUCKETS,
)
STORE_LAG = Gauge(
    "hallpass_store_lag_events",
    "Events in a school's stream that this process has not folded yet (sampled)",
    ["school"],
    registry=REGISTRY,
)
TICK_SECONDS = Histogram(
    "hallpass_tick_seconds",
    "Time of one school's tick (scheduled starts, overtime, expiry, end of day)",
    registry=REGISTRY,
    buckets=_FAST_BUCKETS,
)
TICK_FAILURES = Counter(
    "hallpass_tick_failures",
    "Ticks of a school that raised (the next tick tries again)",
    registry=REGISTRY,
)

for _role in ROLES:  # so that a role with no one connected reads 0, not nothing
    CLIENTS.labels(_role)

with contextlib.suppress(metadata.PackageNotFoundError):
    INFO.info({"version": metadata.version("hallpass")})


# --- recording ---------------------------------------------------------------------


def command_done(command: str, rejection: str | None, seconds: float) -> None:
    """One command decided: its type (the command's class name), the
    rejection's code or None when it was accepted, and how long it took."""
    COMMANDS.labels(command).inc()
    if rejection is not None:
        REJECTIONS.labels(command, rejection).inc()
    COMMAND_SECONDS.observe(seconds)


def client_connected(role: str) -> None:
    CLIENTS.labels(role).inc()


def client_disconnected(role: str) -> None:
    CLIENTS.labels(role).dec()


def clients_dropped(count: int) -> None:
    CLIENTS_DROPPED.inc(count)


def fanout_delay(since: datetime) -> None:
    """A delivery round handed changes over; `since` is the oldest one's time."""
    # A clock that stepped back (or a test's fake one) must not make a negative sample.
    FANOUT_DELAY.observe(max(0.0, (datetime.now(UTC) - since).total_seconds()))


@contextlib.contextmanager
def timed_tick() -> Iterator[None]:
    """`with timed_tick(): await runtime.run_tick()`: its time, and a failure if it raises."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as error:
        if not isinstance(error, asyncio.CancelledError):  # a shutdown is no failure
            TICK_FAILURES.inc()
        raise
    finally:
        TICK_SECONDS.observe(time.perf_counter() - started)


# --- store lag ---------------------------------------------------------------------

# How often the worker samples the lag (the web processes do it at each scrape).
LAG_SAMPLE_SECONDS = 10.0


async def sample_store_lag(runtimes: Iterable[SchoolRuntime]) -> None:
    """Set each loaded school's lag: its stream's version less the version
    its runtime has folded. A school whose store does not answer is left out
    (its old figure would claim a lag that nobody measured)."""
    runtimes = list(runtimes)
    versions = await asyncio.gather(
        *(r.store.version(r.school) for r in runtimes), return_exceptions=True
    )
    STORE_LAG.clear()
    for runtime, stored in zip(runtimes, versions, strict=True):
        if isinstance(stored, BaseException):
            log.debug("no store version for %s: %r", runtime.school, stored)
            continue
        # The store is read first, so a fold in between can only make this smaller.
        STORE_LAG.labels(runtime.school).set(max(0, stored - runtime.state.version))


async def keep_sampling_store_lag(
    runtimes: Callable[[], Iterable[SchoolRuntime]], every: float = LAG_SAMPLE_SECONDS
) -> None:
    """Sample the lag every `every` seconds until cancelled (the worker's way)."""
    while True:
        try:
            await sample_store_lag(runtimes())
        except Exception:  # the sampler must not die of one bad round
            log.exception("sampling the store lag failed")
        await asyncio.sleep(every)


# --- exposing ----------------------------------------------------------------------


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The registry in the format the scraper asked for (Prometheus text, or
    OpenMetrics when its Accept header prefers it), and its content type."""
    encode, content_type = choose_encoder(accept or "")
    return encode(REGISTRY), content_type


def serve_http(host: str, port: int) -> None:
    """Serve the registry at http://host:port/ from a thread (the worker's
    way: it has no web server of its own). Raises OSError when the port is taken."""
    start_http_server(port, addr=host, registry=REGISTRY)
    log.info("metrics at http://%s:%d/metrics", host, port)
