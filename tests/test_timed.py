"""The Ticker: the embedded store's timed jobs, run in-process on a real store.

The clock the runtimes and the Ticker read is shifted forward in these tests
(never stopped: sleeps stay real), so a pass due in ten minutes comes due in
about a second and the suite stays fast.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import RedisServer

from hallpass.backend import Backend, open_backend
from hallpass.events.store import EventStore
from hallpass.events.types import DayEnded, Event, PassEnded, PassOvertime, PassStarted, Policies
from hallpass.projections.clock import at_local_time, local_day
from hallpass.provision import add_room, add_school
from hallpass.rules.commands import Actor, CreatePass, Rejection
from hallpass.service.runtime import SchoolRuntime, Schools
from hallpass.service.ticker import Ticker

TZ = "America/Chicago"
# Far from any test's moment, so the school day only ends when a test says so.
LATE = "23:59"


class ShiftedClock:
    """Real time plus an offset that a test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def shift_to(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


async def eventually(check: Callable[[], bool], seconds: float = 6.0) -> None:
    """Wait until `check()` holds; fail when it still does not after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"still not true after {seconds} s: {check.__doc__ or check}")
        await asyncio.sleep(0.02)


def student(n: int) -> Actor:
    return Actor(f"student-{n}", "student")


class School:
    """A school on a real backend with two rooms and a Ticker-ready `Schools`."""

    def __init__(self, backend: Backend, slug: str, runtime: SchoolRuntime) -> None:
        self.backend = backend
        self.slug = slug
        self.runtime = runtime
        rooms = list(runtime.state.rooms.values())
        self.origin, self.destination = rooms[0].id, rooms[1].id

    async def create(
        self, pass_id: str, n: int, *, start_at: datetime | None = None, minutes: int = 5
    ) -> str:
        result = await self.runtime.execute(
            CreatePass(
                actor=student(n),
                pass_id=pass_id,
                student=student(n).id,
                origin=self.origin,
                destination=self.destination,
                minutes=minutes,
                start_at=start_at,
            )
        )
        assert not isinstance(result, Rejection), result
        return self.runtime.state.passes[pass_id].state

    def state_of(self, pass_id: str) -> str:
        return self.runtime.state.passes[pass_id].state


async def add_test_school(
    backend: Backend, slug: str, schools: Schools, day_ends_at: str = LATE
) -> School:
    await add_school(backend, slug, "Test School", TZ, Policies(day_ends_at=day_ends_at))
    runtime = await schools.get(slug)
    await add_room(runtime, "Room 101")
    await add_room(runtime, "Room 102")
    return School(backend, slug, runtime)


async def stream(store: EventStore, school: str) -> list[Event]:
    return [stored.event async for stored in store.read(school)]


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    async with await open_backend(f"sqlite:///{tmp_path / 'hallpass.db'}") as opened:
        yield opened


@pytest.fixture
async def schools(backend: Backend, clock: ShiftedClock) -> AsyncIterator[Schools]:
    opened = Schools(backend.store, clock)
    yield opened
    await opened.close()


@pytest.fixture
async def ticker(backend: Backend, schools: Schools, clock: ShiftedClock) -> AsyncIterator[Ticker]:
    """Not started: each test starts it when its school is set up."""
    made = Ticker(schools, backend.directory, clock, relist_seconds=0.2)
    yield made
    await made.close()


async def test_a_scheduled_pass_starts_within_two_seconds_of_its_start(
    backend: Backend, schools: Schools, ticker: Ticker, clock: ShiftedClock, school: str
) -> None:
    test = await add_test_school(backend, school, schools)
    start_at = clock() + timedelta(minutes=10)
    assert await test.create("p1", 1, start_at=start_at) == "scheduled"
    ticker.start()
    await asyncio.sleep(0.3)
    assert test.state_of("p1") == "scheduled"  # ticking does not start it early

    clock.shift_to(start_at - timedelta(seconds=1))
    await eventually(lambda: test.state_of("p1") == "active")
    started_at = test.runtime.state.passes["p1"].started_at
    assert started_at is not None
    assert start_at <= started_at <= start_at + timedelta(seconds=2)


async def test_the_day_end_ends_every_active_pass_once(
    backend: Backend, schools: Schools, ticker: Ticker, clock: ShiftedClock, school: str
) -> None:
    test = await add_test_school(backend, school, schools, day_ends_at="12:00")
    noon = at_local_time(local_day(clock(), TZ), 12 * 60, TZ)
    clock.shift_to(noon - timedelta(seconds=2))
    assert [await test.create(f"p{n}", n) for n in (1, 2, 3)] == ["active"] * 3
    ticker.start()

    await eventually(lambda: all(test.state_of(f"p{n}") == "ended" for n in (1, 2, 3)))
    for n in (1, 2, 3):
        assert test.runtime.state.passes[f"p{n}"].ended_by == "system"

    # Later the same day a new pass stays out: the day ends once.
    assert await test.create("p4", 4) == "active"
    await ticker.tick_all()
    await ticker.tick_all()
    assert test.state_of("p4") == "active"
    events = await stream(backend.store, school)
    assert sum(isinstance(e, DayEnded) for e in events) == 1
    ended = [e for e in events if isinstance(e, PassEnded)]
    assert sorted(e.pass_id for e in ended) == ["p1", "p2", "p3"]
    assert {e.reason for e in ended} == {"day_end"}


async def test_overtime_is_flagged_and_then_ended_by_the_system(
    backend: Backend, schools: Schools, ticker: Ticker, clock: ShiftedClock, school: str
) -> None:
    test = await add_test_school(backend, school, schools)
    assert await test.create("p1", 1, minutes=1) == "active"
    started = test.runtime.state.passes["p1"].started_at
    assert started is not None
    ticker.start()

    clock.shift_to(started + timedelta(minutes=1, seconds=1))
    await eventually(lambda: test.runtime.state.passes["p1"].overtime)
    assert test.state_of("p1") == "active"

    grace = test.runtime.state.policies.overtime_end_minutes
    clock.shift_to(started + timedelta(minutes=1 + grace, seconds=1))
    await eventually(lambda: test.state_of("p1") == "ended")
    assert test.runtime.state.passes["p1"].ended_by == "system"
    events = await stream(backend.store, school)
    assert [type(e) for e in events if isinstance(e, PassOvertime | PassEnded)] == [
        PassOvertime,
        PassEnded,
    ]


async def test_a_school_added_while_ticking_is_ticked(
    backend: Backend,
    schools: Schools,
    ticker: Ticker,
    clock: ShiftedClock,
    new_school: Callable[[], str],
) -> None:
    ticker.start()
    await asyncio.sleep(0.3)  # the ticker has listed the (empty) directory
    test = await add_test_school(backend, new_school(), schools)
    start_at = clock() + timedelta(minutes=10)
    assert await test.create("p1", 1, start_at=start_at) == "scheduled"
    clock.shift_to(start_at - timedelta(seconds=1))
    await eventually(lambda: test.state_of("p1") == "active")


async def test_two_tickers_on_one_store_append_each_timed_event_once(
    tmp_path: Path, backend: Backend, schools: Schools, clock: ShiftedClock, school: str
) -> None:
    """Two processes' worth of runtimes and tickers on one SQLite file."""
    test = await add_test_school(backend, school, schools, day_ends_at="12:00")
    noon = at_local_time(local_day(clock(), TZ), 12 * 60, TZ)
    clock.shift_to(noon - timedelta(seconds=2))
    assert await test.create("out", 1) == "active"
    assert await test.create("later", 2, start_at=noon + timedelta(seconds=8)) == "scheduled"

    other_backend = await open_backend(f"sqlite:///{tmp_path / 'hallpass.db'}")
    other_schools = Schools(other_backend.store, clock)
    tickers = [
        Ticker(schools, backend.directory, clock),
        Ticker(other_schools, other_backend.directory, clock),
    ]
    try:
        for each in tickers:
            each.start()
        await eventually(lambda: test.state_of("out") == "ended")
        clock.shift_to(noon + timedelta(seconds=7))
        await eventually(lambda: test.state_of("later") == "active")
        await asyncio.sleep(1.5)  # both tickers tick again with nothing left to do
    finally:
        for each in tickers:
            await each.close()
        await other_schools.close()
        await other_backend.close()

    events = await stream(backend.store, school)
    assert sum(isinstance(e, DayEnded) for e in events) == 1
    assert [e.pass_id for e in events if isinstance(e, PassEnded)] == ["out"]
    assert [e.pass_id for e in events if isinstance(e, PassStarted)] == ["out", "later"]


async def test_the_ticker_outlives_an_unreachable_store(
    redis_server: Callable[..., RedisServer],
    clock: ShiftedClock,
    school: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis stops while a pass comes due: the ticks fail and are logged, and
    once Redis is back the pass starts, without restarting anything."""
    server = redis_server("--appendonly", "yes", "--appendfsync", "always")
    async with await open_backend(server.url) as redis_backend:
        redis_schools = Schools(redis_backend.store, clock)
        ticker = Ticker(redis_schools, redis_backend.directory, clock, relist_seconds=0.2)
        try:
            test = await add_test_school(redis_backend, school, redis_schools)
            start_at = clock() + timedelta(minutes=10)
            assert await test.create("p1", 1, start_at=start_at) == "scheduled"
            ticker.start()
            await asyncio.sleep(0.3)

            server.stop()
            clock.shift_to(start_at)
            with caplog.at_level(logging.ERROR, logger="hallpass.service.ticker"):
                await eventually(lambda: "failed" in caplog.text)
            assert test.state_of("p1") == "scheduled"

            server.start()
            await eventually(lambda: test.state_of("p1") == "active", seconds=10)
        finally:
            await ticker.close()
            await redis_schools.close()


async def test_serve_closes_a_day_that_ended_while_it_was_down_before_serving(
    tmp_path: Path,
) -> None:
    """The day's end came while no process ran: `serve` appends the close
    before its first answer, so it never lands on a pass made in the
    service's first second."""
    from servers import running_server

    from hallpass.projections.clock import local

    url = f"sqlite:///{tmp_path / 'hallpass.db'}"
    wall = local(datetime.now(UTC), "America/Chicago")
    if wall.hour == 0:
        pytest.skip("an hour ago is yesterday in the school's time zone")
    ended = (wall - timedelta(hours=1)).strftime("%H:%M")
    async with await open_backend(url) as backend:
        await add_school(backend, "late", "Late High", policies=Policies(day_ends_at=ended))
    async with running_server(url), await open_backend(url) as backend:
        events = [s.event async for s in backend.store.read("late")]
    assert isinstance(events[-1], DayEnded) and events[-1].day == wall.date()
