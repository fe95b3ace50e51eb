"""hallpass.metrics and the /metrics guard, in this process: the store lag of
a runtime that has not folded everything (a real SQLite store), commands
counted by the runtime, ticks timed, and who may read the figures.

The registry is the process's own and other tests run commands too, so each
test reads differences around what it does.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request

from hallpass import metrics
from hallpass.events.sqlite import SqliteEventStore
from hallpass.ids import new_id
from hallpass.rules.commands import Actor, AddRoom, EndPass, Rejection
from hallpass.service.runtime import SchoolRuntime
from hallpass.web.routes.metrics import allowed

ADMIN = Actor(id="admin-1", role="admin")
TOKEN = "a-long-enough-metrics-token"


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def add_room(name: str) -> AddRoom:
    return AddRoom(actor=ADMIN, room_id=new_id("room"), name=name)


# --- store lag ---------------------------------------------------------------------


async def test_the_lag_is_what_the_stream_has_that_the_runtime_has_not_folded(
    tmp_path: Path, school: str
) -> None:
    path = tmp_path / "hallpass.db"
    behind_store = await SqliteEventStore.open(path)
    writer_store = await SqliteEventStore.open(path)  # another process, as it were
    try:
        behind = await SchoolRuntime.load(behind_store, school)  # not following
        writer = await SchoolRuntime.load(writer_store, school)
        for name in ("Library", "Office", "Gym"):
            assert not isinstance(await writer.execute(add_room(name)), Rejection)
        stream = await writer_store.version(school)

        await metrics.sample_store_lag([behind])
        assert sample("hallpass_store_lag_events", school=school) == stream - behind.state.version
        assert behind.state.version < stream  # so the figure above is a real lag

        await behind.catch_up(stream)
        await metrics.sample_store_lag([behind])
        assert sample("hallpass_store_lag_events", school=school) == 0
    finally:
        await behind_store.close()
        await writer_store.close()


async def test_a_school_whose_store_does_not_answer_is_left_out(
    tmp_path: Path, school: str
) -> None:
    store = await SqliteEventStore.open(tmp_path / "hallpass.db")
    runtime = await SchoolRuntime.load(store, school)
    await metrics.sample_store_lag([runtime])
    assert metrics.REGISTRY.get_sample_value("hallpass_store_lag_events", {"school": school}) == 0
    await store.close()
    await metrics.sample_store_lag([runtime])  # version() now raises
    assert (
        metrics.REGISTRY.get_sample_value("hallpass_store_lag_events", {"school": school}) is None
    )


# --- commands and ticks -------------------------------------------------------------


async def test_the_runtime_counts_commands_by_type_and_rejections_by_code(
    tmp_path: Path, school: str
) -> None:
    store = await SqliteEventStore.open(tmp_path / "hallpass.db")
    try:
        runtime = await SchoolRuntime.load(store, school)
        before = {
            "add": sample("hallpass_commands_total", command="AddRoom"),
            "end": sample("hallpass_commands_total", command="EndPass"),
            "timed": sample("hallpass_command_seconds_count"),
        }
        assert not isinstance(await runtime.execute(add_room("Library")), Rejection)
        refused = await runtime.execute(EndPass(actor=ADMIN, pass_id="no-such-pass"))
        assert isinstance(refused, Rejection)
        rejected_before = sample("hallpass_rejections_total", command="EndPass", code=refused.code)
        again = await runtime.execute(EndPass(actor=ADMIN, pass_id="no-such-pass"))
        assert isinstance(again, Rejection)
        assert again.code == refused.code

        assert sample("hallpass_commands_total", command="AddRoom") == before["add"] + 1
        assert sample("hallpass_commands_total", command="EndPass") == before["end"] + 2
        assert (
            sample("hallpass_rejections_total", command="EndPass", code=refused.code)
            == rejected_before + 1
        )
        assert sample("hallpass_rejections_total", command="AddRoom", code=refused.code) == 0
        assert sample("hallpass_command_seconds_count") == before["timed"] + 3
        # Ticks are the clock's doing, not commands.
        commands = sample("hallpass_commands_total", command="AddRoom")
        await runtime.run_tick()
        assert sample("hallpass_commands_total", command="AddRoom") == commands
    finally:
        await store.close()


async def test_a_tick_is_timed_and_a_failing_one_counted() -> None:
    count, failures = sample("hallpass_tick_seconds_count"), sample("hallpass_tick_failures_total")
    with metrics.timed_tick():
        await asyncio.sleep(0)
    assert sample("hallpass_tick_seconds_count") == count + 1
    assert sample("hallpass_tick_failures_total") == failures

    with pytest.raises(ValueError), metrics.timed_tick():
        raise ValueError("the store said no")
    assert sample("hallpass_tick_seconds_count") == count + 2
    assert sample("hallpass_tick_failures_total") == failures + 1

    # A tick cut short by a shutdown is no failure.
    with pytest.raises(asyncio.CancelledError), metrics.timed_tick():
        raise asyncio.CancelledError
    assert sample("hallpass_tick_failures_total") == failures + 1


def test_a_change_from_the_future_counts_as_no_delay() -> None:
    count, total = (
        sample("hallpass_fanout_delay_seconds_count"),
        sample("hallpass_fanout_delay_seconds_sum"),
    )
    metrics.fanout_delay(datetime.now(UTC) + timedelta(minutes=5))  # a clock that stepped
    assert sample("hallpass_fanout_delay_seconds_count") == count + 1
    assert sample("hallpass_fanout_delay_seconds_sum") == total


def test_clients_are_counted_up_and_down_by_role() -> None:
    before = sample("hallpass_clients", role="kiosk")
    metrics.client_connected("kiosk")
    metrics.client_connected("kiosk")
    assert sample("hallpass_clients", role="kiosk") == before + 2
    metrics.client_disconnected("kiosk")
    assert sample("hallpass_clients", role="kiosk") == before + 1
    metrics.client_disconnected("kiosk")


# --- exposing -----------------------------------------------------------------------


def test_prometheus_text_by_default_and_openmetrics_when_asked() -> None:
    text, content_type = metrics.exposition(None)
    assert content_type.startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(text.decode())}
    assert {"hallpass_commands", "hallpass_clients", "hallpass_tick_seconds"} <= names

    body, content_type = metrics.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def request_from(host: str | None, authorization: str | None = None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "headers": headers,
        "client": None if host is None else (host, 40000),
    }
    return Request(scope)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1"])
def test_this_machine_may_read_them_with_or_without_a_token(host: str) -> None:
    assert allowed(request_from(host), None)
    assert allowed(request_from(host), TOKEN)


@pytest.mark.parametrize("host", ["10.0.0.7", "203.0.113.9", "2001:db8::1", "testclient", None])
def test_others_need_the_token(host: str | None) -> None:
    token = TOKEN
    assert not allowed(request_from(host), None)
    assert not allowed(request_from(host, f"Bearer {token}"), None)  # none configured
    assert not allowed(request_from(host), token)
    assert not allowed(request_from(host, f"Bearer {token}-not"), token)
    assert not allowed(request_from(host, f"Basic {token}"), token)
    assert not allowed(request_from(host, "Bearer "), token)
    assert allowed(request_from(host, f"Bearer {token}"), token)
    assert allowed(request_from(host, f"bearer {token}"), token)  # the scheme has no case
