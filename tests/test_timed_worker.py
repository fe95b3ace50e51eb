"""The arq worker's jobs, run in this process against a real Redis.

What the queue holds proves the scheduling: one tick job per school and
second, and a job deferred to each scheduled pass's exact start. That passes
really start on time, with the worker as its own process, is
tests/test_processes.py's to show.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from arq.utils import to_unix_ms
from arq.worker import Worker, create_worker
from conftest import RedisServer
from redis.asyncio import Redis

from hallpass.backend import Backend, open_backend
from hallpass.events.types import Policies
from hallpass.provision import add_room, add_school
from hallpass.rules.commands import Actor, CreatePass, Rejection
from hallpass.service.runtime import SchoolRuntime
from hallpass.worker import LATE_BY, QUEUE, start_job_id, worker_settings

# arq 0.28 closes its pool with redis-py 5's deprecated close(); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def eventually(check: Callable[[], Any], seconds: float = 8.0) -> Any:
    """Wait until `await check()` is truthy and return it; fail after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"still not true after {seconds} s: {check.__doc__ or check}")
        await asyncio.sleep(0.05)


@pytest.fixture
def url(redis_server: Callable[..., RedisServer]) -> str:
    """A Redis of this test's own: the queue's keys are then all this test's."""
    return redis_server().url


@pytest.fixture
async def backend(url: str) -> AsyncIterator[Backend]:
    async with await open_backend(url) as opened:
        yield opened


@pytest.fixture
async def redis(url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(url)
    yield client
    await client.aclose()


@pytest.fixture
async def worker(url: str) -> AsyncIterator[Worker]:
    running = create_worker(worker_settings(url, relist_seconds=0.2), handle_signals=False)
    task = asyncio.create_task(running.async_run())
    yield running
    await running.close()  # without signal handlers, close() stops the main task
    with pytest.raises(asyncio.CancelledError):
        await task


async def add_test_school(backend: Backend, slug: str) -> SchoolRuntime:
    await add_school(backend, slug, "Test School", "America/Chicago", Policies(day_ends_at="23:59"))
    runtime = await SchoolRuntime.load(backend.store, slug)
    await add_room(runtime, "Room 101")
    await add_room(runtime, "Room 102")
    return runtime


async def tick_results(redis: Redis, school: str) -> list[int]:
    """The seconds whose tick job for `school` has run (arq keeps results)."""
    keys = await redis.keys(f"arq:result:tick:{school}:*")
    return sorted(int(key.rsplit(b":", 1)[1]) for key in keys)


async def test_every_school_gets_one_tick_job_a_second(
    backend: Backend, redis: Redis, worker: Worker, new_school: Callable[[], str]
) -> None:
    first = await add_test_school(backend, new_school())
    await first.close()
    second = await add_test_school(backend, new_school())  # may come after the worker listed
    await second.close()

    for school in (first.school, second.school):

        async def three_ticks(school: str = school) -> bool:
            return len(await tick_results(redis, school)) >= 3

        await eventually(three_ticks)
        seconds = await tick_results(redis, school)
        assert len(seconds) == len(set(seconds))  # one job id per second
        now = int(datetime.now(UTC).timestamp())
        assert all(now - 60 <= s <= now + 1 for s in seconds)


async def test_a_scheduled_pass_gets_a_job_deferred_to_its_start(
    backend: Backend, redis: Redis, worker: Worker, school: str
) -> None:
    runtime = await add_test_school(backend, school)
    try:
        origin, destination = list(runtime.state.rooms)[:2]
        start_at = datetime.now(UTC) + timedelta(minutes=30)
        result = await runtime.execute(
            CreatePass(
                actor=Actor("s1", "student"),
                pass_id="p1",
                student="s1",
                origin=origin,
                destination=destination,
                start_at=start_at,
            )
        )
        assert not isinstance(result, Rejection)
        assert runtime.state.passes["p1"].state == "scheduled"
    finally:
        await runtime.close()

    async def deferred() -> float | None:
        score: float | None = await redis.zscore(QUEUE, start_job_id(school, "p1"))
        return score

    score = await eventually(deferred)
    assert score == to_unix_ms(start_at + LATE_BY)
