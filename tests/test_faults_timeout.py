"""HALLPASS_REDIS_TIMEOUT: how long a Redis command waits for its answer,
for every Redis client a process opens (the frozen-Redis fault test sets it)."""

from __future__ import annotations

import pytest

from hallpass.directory.redis import RedisDirectory
from hallpass.events.redis import COMMAND_TIMEOUT_SECONDS, RedisEventStore, command_timeout
from hallpass.service.ephemeral_redis import RedisEphemeral

URL = "redis://127.0.0.1:1/0"  # never connected to: clients connect lazily


def test_the_default_without_the_variable() -> None:
    assert command_timeout({}) == COMMAND_TIMEOUT_SECONDS
    assert command_timeout({"HALLPASS_REDIS_TIMEOUT": ""}) == COMMAND_TIMEOUT_SECONDS


def test_the_variable_sets_seconds() -> None:
    assert command_timeout({"HALLPASS_REDIS_TIMEOUT": "0.5"}) == 0.5


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_a_bad_value_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValueError, match="HALLPASS_REDIS_TIMEOUT"):
        command_timeout({"HALLPASS_REDIS_TIMEOUT": value})


async def test_every_redis_client_of_a_process_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLPASS_REDIS_TIMEOUT", "1.5")
    store = RedisEventStore.from_url(URL)
    directory = RedisDirectory.from_url(URL)
    ephemeral = RedisEphemeral.from_url(URL)
    try:
        for client in (store._client, directory._redis, ephemeral._redis):
            options = client.connection_pool.connection_kwargs
            assert options["socket_timeout"] == 1.5
            assert options["socket_connect_timeout"] == 1.5
        # The follower's blocking reads must not be cut by it.
        assert store._follower.connection_pool.connection_kwargs["socket_timeout"] is None
    finally:
        await store.close()
        await directory.close()
        await ephemeral.close()
