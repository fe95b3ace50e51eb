"""People's names for views, from the directory, kept in memory per school.

Names change rarely; a miss (a new student) reloads the school's list, at most
once per `min_reload` seconds so a burst of unknown ids cannot hammer the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from hallpass.directory.base import Directory


class Names:
    def __init__(self, directory: Directory, min_reload: float = 2.0) -> None:
        self.directory = directory
        self.min_reload = min_reload
        self._names: dict[str, dict[str, str]] = {}
        self._loaded_at: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def known(self, school: str) -> dict[str, str]:
        """The names already in memory (no I/O): for the hub's hot path."""
        return self._names.setdefault(school, {})

    async def of(self, school: str, ids: Iterable[str]) -> dict[str, str]:
        names = self.known(school)
        if any(i not in names for i in ids):
            await self.reload(school)
        return names

    async def reload(self, school: str, force: bool = False) -> None:
        async with self._lock:
            last = self._loaded_at.get(school, 0.0)
            if not force and time.monotonic() - last < self.min_reload:
                return
            users = await self.directory.users(school)
            names = self.known(school)
            names.clear()
            names.update({u.id: u.name for u in users})
            self._loaded_at[school] = time.monotonic()

    def forget(self, school: str, user_id: str) -> None:
        self.known(school).pop(user_id, None)

    def remember(self, school: str, user_id: str, name: str) -> None:
        self.known(school)[user_id] = name
