"""open_backend: one URL opens the event store and the directory together."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hallpass.backend import STORE_ENV, default_store_url, open_backend
from hallpass.directory.model import School
from hallpass.events.types import RoomAdded

EVENT = RoomAdded(at=datetime(2025, 1, 6, 8, 0, tzinfo=UTC), actor="system", room="r1", name="A")


async def test_a_relative_sqlite_url_is_a_file_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with await open_backend("sqlite:///relative.db") as backend:
        assert backend.kind == "sqlite"
        assert backend.url == "sqlite:///relative.db"
        await backend.directory.add_school(School(slug="lincoln", name="Lincoln"))
        await backend.store.append("lincoln", [EVENT], 0)
    assert (tmp_path / "relative.db").is_file()

    # Reopened by its absolute path (four slashes), both halves kept their data.
    async with await open_backend(f"sqlite:///{tmp_path / 'relative.db'}") as backend:
        assert await backend.directory.get_school("lincoln") is not None
        assert await backend.store.version("lincoln") == 1


async def test_without_a_url_the_environment_then_the_current_folder_decide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STORE_ENV, raising=False)
    assert default_store_url() == f"sqlite:///{tmp_path / 'hallpass.db'}"
    async with await open_backend(None) as backend:
        assert backend.url == f"sqlite:///{tmp_path / 'hallpass.db'}"
    assert (tmp_path / "hallpass.db").is_file()

    monkeypatch.setenv(STORE_ENV, "sqlite:///from-env.db")
    async with await open_backend(None) as backend:
        assert backend.url == "sqlite:///from-env.db"
    assert (tmp_path / "from-env.db").is_file()


async def test_a_redis_url_opens_both_halves_on_redis(
    redis_url: str, new_school: Callable[[], str]
) -> None:
    slug = new_school()
    async with await open_backend(redis_url) as backend:
        assert backend.kind == "redis"
        await backend.directory.add_school(School(slug=slug, name="On Redis"))
        assert await backend.store.append(slug, [EVENT], 0) == 1
        assert await backend.directory.get_school(slug) is not None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("/var/lib/hallpass.db", "not a store URL"),
        ("hallpass.db", "not a store URL"),
        ("postgres://db/hallpass", "not a store URL"),
        ("sqlite://", "names no file"),
    ],
)
async def test_a_url_it_cannot_use_is_a_sentence(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        await open_backend(url)


async def test_a_sqlite_file_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        await open_backend(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    assert not (tmp_path / "missing").exists()


async def test_a_folder_is_not_a_sqlite_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="folder"):
        await open_backend(f"sqlite:///{tmp_path}")
