"""The arq worker: the timed jobs of a Redis store (`hallpass worker`).

Every second a cron job (unique across workers: arq gives it one job id per
run time) enqueues one `tick_school` job per school with the id
`tick:{school}:{epoch second}`, so however many workers run, each school's
tick of a given second runs once. Each worker also follows every school's
stream and, for each pass scheduled to start at a set time, enqueues a
`tick_school` job deferred to that moment with the id `start:{school}:{pass}`,
which makes the start exact rather than up to a second late.

Two more cron jobs keep the schools' history (hallpass.retention): every
minute, the snapshots that are due; every hour, the trims retention says are
due. Being cron jobs, each runs in one worker at a time.

A tick is decided from the stream and appended conditionally (the same path as
commands), so a worker killed mid-tick and started again loses nothing and
doubles nothing: the next tick finds the stream as it is and appends only what
is still due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import create_worker, func, run_worker

from hallpass import metrics, retention
from hallpass.backend import Backend, open_backend
from hallpass.service.runtime import Schools
from hallpass.service.starts import SchoolWatch

log = logging.getLogger(__name__)

QUEUE = "hallpass:timed"
RELIST_SECONDS = 5.0
# A tick that could not start within this long is dropped: a newer one is due.
TICK_EXPIRES = timedelta(seconds=10)
# A job id stays taken this long after its job ran. Only the cron job (unique
# per second across workers) enqueues a tick, within a second of its moment,
# so a few seconds keep ids unique while results stay few.
KEEP_RESULT_SECONDS = 10
# Run a start job a hair after its moment, so that the tick's `now` is past it.
LATE_BY = timedelta(milliseconds=5)
# How often a worker looks for due jobs; a deferred start runs at most this late.
POLL_SECONDS = 0.1
# Encoding a school year's snapshot takes about a second on a busy machine,
# and a first trim reads the whole stream for the reports: give them time.
SNAPSHOT_JOB_TIMEOUT = 300
RETENTION_JOB_TIMEOUT = 3600


def tick_job_id(school: str, second: int) -> str:
    return f"tick:{school}:{second}"


def start_job_id(school: str, pass_id: str) -> str:
    return f"start:{school}:{pass_id}"


# --- jobs ------------------------------------------------------------------------


async def tick_school(ctx: dict[str, Any], school: str) -> int:
    """Append whatever the clock makes due in `school`; the number of events."""
    schools: Schools = ctx["schools"]
    runtime = await schools.get(school)
    with metrics.timed_tick():
        return len(await runtime.run_tick())


def cron_second(ctx: dict[str, Any]) -> int:
    """The epoch second this cron run was due: arq's unique cron job id ends
    with that moment in milliseconds, the same in every worker."""
    job_id = str(ctx["job_id"])
    tail = job_id.rsplit(":", 1)[-1]
    return int(tail) // 1000 if tail.isdigit() else int(ctx["score"]) // 1000


async def tick_every_school(ctx: dict[str, Any]) -> int:
    """The cron job: one tick job per school for this second."""
    redis: ArqRedis = ctx["redis"]
    timed: TimedJobs = ctx["timed"]
    second = cron_second(ctx)
    await asyncio.gather(
        *(
            redis.enqueue_job(
                "tick_school",
                school,
                _job_id=tick_job_id(school, second),
                _queue_name=QUEUE,
                _expires=TICK_EXPIRES,
            )
            for school in timed.watch.slugs
        )
    )
    return len(timed.watch.slugs)


async def snapshot_every_school(ctx: dict[str, Any]) -> int:
    """The cron job writing the snapshots that are due; how many schools it saw."""
    schools: Schools = ctx["schools"]
    runtimes = schools.loaded()
    await retention.keep_history(runtimes, retention=False)
    return len(runtimes)


async def retention_every_school(ctx: dict[str, Any]) -> int:
    """The cron job trimming what retention says is due (and writing snapshots)."""
    schools: Schools = ctx["schools"]
    runtimes = schools.loaded()
    await retention.keep_history(runtimes, retention=True)
    return len(runtimes)


# --- following the schools ---------------------------------------------------------


class TimedJobs:
    """A worker's view of the schools: keeps the list current and defers a
    tick to every scheduled start it hears of."""

    def __init__(
        self,
        schools: Schools,
        backend: Backend,
        redis: ArqRedis,
        relist_seconds: float = RELIST_SECONDS,
    ) -> None:
        self.redis = redis
        self.relist_seconds = relist_seconds
        self.watch = SchoolWatch(schools, backend.directory, self._heard_start)
        self._pending: set[asyncio.Task[None]] = set()
        self._relister: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.watch.refresh()
        except Exception:  # Redis may come up after the worker: keep trying
            log.exception("cannot list the schools yet; trying again shortly")
        self._relister = asyncio.create_task(self._relist(), name="hallpass relist schools")

    async def close(self) -> None:
        if self._relister is not None:
            self._relister.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relister
        self.watch.close()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def _relist(self) -> None:
        while True:
            await asyncio.sleep(self.relist_seconds)
            try:
                await self.watch.refresh()
            except Exception:
                log.exception("cannot list the schools; keeping the known ones")

    def _heard_start(self, school: str, pass_id: str, start_at: datetime) -> None:
        # Called on the fold's path, which must not wait: enqueue in a task.
        task = asyncio.create_task(self._defer_start(school, pass_id, start_at))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _defer_start(self, school: str, pass_id: str, start_at: datetime) -> None:
        try:
            # Another worker (or this one, hearing it twice) may have enqueued
            # it already: arq then refuses the same id and returns None.
            await self.redis.enqueue_job(
                "tick_school",
                school,
                _job_id=start_job_id(school, pass_id),
                _queue_name=QUEUE,
                _defer_until=start_at + LATE_BY,
            )
        except Exception:
            # The cron's tick of that second still starts the pass.
            log.exception("cannot defer the start of %s in %s", pass_id, school)


async def startup(ctx: dict[str, Any]) -> None:
    backend = await open_backend(ctx["store_url"])
    schools = Schools(backend.store)
    timed = TimedJobs(schools, backend, ctx["redis"], ctx.get("relist_seconds", RELIST_SECONDS))
    ctx.update(backend=backend, schools=schools, timed=timed)
    await timed.start()
    ctx["lag_sampler"] = asyncio.create_task(
        metrics.keep_sampling_store_lag(schools.loaded), name="hallpass store lag"
    )
    count = len(timed.watch.slugs)
    log.info("hallpass worker ready: following %d school%s", count, "" if count == 1 else "s")


async def shutdown(ctx: dict[str, Any]) -> None:
    sampler: asyncio.Task[None] | None = ctx.get("lag_sampler")
    if sampler is not None:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    timed: TimedJobs | None = ctx.get("timed")
    if timed is not None:
        await timed.close()
    schools: Schools | None = ctx.get("schools")
    if schools is not None:
        await schools.close()
    backend: Backend | None = ctx.get("backend")
    if backend is not None:
        await backend.close()


def worker_settings(store_url: str, *, relist_seconds: float = RELIST_SECONDS) -> dict[str, Any]:
    """arq's Worker arguments for the Redis store at `store_url` (a dict, as
    arq's `create_worker` and `run_worker` accept, so nothing is shared
    between workers made from it)."""
    return {
        "queue_name": QUEUE,
        "redis_settings": RedisSettings.from_dsn(store_url),
        "ctx": {"store_url": store_url, "relist_seconds": relist_seconds},
        "functions": [
            func(tick_school, name="tick_school", keep_result=KEEP_RESULT_SECONDS, max_tries=3)
        ],
        "cron_jobs": [
            cron(
                tick_every_school,
                name="cron:tick_every_school",
                second=None,  # every second
                microsecond=0,
                unique=True,
                keep_result=KEEP_RESULT_SECONDS,
            ),
            cron(
                snapshot_every_school,
                name="cron:snapshot_every_school",
                second=30,  # every minute, away from the second's tick
                unique=True,
                timeout=SNAPSHOT_JOB_TIMEOUT,
            ),
            cron(
                retention_every_school,
                name="cron:retention_every_school",
                minute=23,  # hourly; a cutoff moves at midnight, so trims come at night
                second=40,
                unique=True,
                timeout=RETENTION_JOB_TIMEOUT,
            ),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "poll_delay": POLL_SECONDS,
        "max_jobs": 50,
        "job_timeout": 30,
        "log_results": False,
    }


def run(store_url: str) -> None:
    """Run the worker on the Redis store at `store_url` until SIGTERM or
    SIGINT, in an event loop of its own."""
    run_worker(worker_settings(store_url))


async def run_async(store_url: str) -> None:
    """The same inside the running event loop (the command line's)."""
    worker = create_worker(worker_settings(store_url))
    try:
        # arq's SIGTERM and SIGINT handlers cancel its main task: that is the way out.
        with contextlib.suppress(asyncio.CancelledError):
            await worker.async_run()
    finally:
        await worker.close()
