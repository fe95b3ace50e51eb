"""Store URLs name a SQLite file or a Redis server (API.md, command line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hallpass.events.redis import RedisEventStore
from hallpass.events.sqlite import SqliteEventStore
from hallpass.events.urls import RedisUrl, SqliteUrl, open_event_store, parse_store_url


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///hallpass.db", Path("hallpass.db")),
        ("sqlite:///data/hallpass.db", Path("data/hallpass.db")),
        ("sqlite:////var/lib/hallpass/hallpass.db", Path("/var/lib/hallpass/hallpass.db")),
        ("SQLite:///hallpass.db", Path("hallpass.db")),
    ],
)
def test_a_sqlite_url_names_a_file(url: str, path: Path) -> None:
    assert parse_store_url(url) == SqliteUrl(path)


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://cache.example:6380/2", "unix:///run/redis.sock"]
)
def test_a_redis_url_is_kept_whole_for_redis_py(url: str) -> None:
    assert parse_store_url(url) == RedisUrl(url)


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///", "sqlite://host/file.db", "postgres://db/hallpass", "hallpass.db"],
)
def test_a_url_naming_no_store_says_what_to_write(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        parse_store_url(url)


async def test_open_event_store_opens_the_named_backend(
    tmp_path: Path, redis_url: str, school: str
) -> None:
    embedded = await open_event_store(f"sqlite:///{tmp_path / 'hallpass.db'}")
    served = await open_event_store(redis_url)
    try:
        assert isinstance(embedded, SqliteEventStore)
        assert isinstance(served, RedisEventStore)
        assert await embedded.version(school) == 0
        assert await served.version(school) == 0
    finally:
        await embedded.close()
        await served.close()
    assert (tmp_path / "hallpass.db").exists()
