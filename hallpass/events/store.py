"""The event store contract that both backends keep.

A school's stream is a sequence of events numbered 1, 2, 3, ... ; an event's
number is its `version`, and the stream's version is the number of its last
event (0 when empty). The version is also the position the API hands to
clients, written as a decimal string.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import msgspec

from hallpass.events.types import AnyEvent, Event


class StoredEvent(msgspec.Struct, frozen=True, array_like=True):
    version: int
    event: AnyEvent


class VersionConflict(Exception):
    """The stream moved on since the caller read it: catch up, decide again."""

    def __init__(self, school: str, expected: int, actual: int) -> None:
        super().__init__(f"stream of {school!r} is at version {actual}, not {expected}")
        self.school = school
        self.expected = expected
        self.actual = actual


class StoreUnavailable(Exception):
    """The backend cannot be reached; nothing was written."""


class TrimRefused(Exception):
    """No snapshot of the school's state covers the events a trim would remove,
    so a process starting later could not rebuild the state: nothing was removed."""


class EventStore(Protocol):
    async def append(self, school: str, events: Sequence[Event], expected_version: int) -> int:
        """Append all of `events` at once if the stream is at `expected_version`,
        else raise VersionConflict and append nothing. Returns the new version."""

    def read(self, school: str, after: int = 0) -> AsyncIterator[StoredEvent]:
        """Every event with version > `after`, in order, up to the version
        current when the read began; then the iterator ends."""

    def follow(self, school: str, after: int = 0) -> AsyncIterator[StoredEvent]:
        """Like `read`, then waits for new events and yields each as it is
        appended, exactly once and in order; never ends by itself."""

    async def version(self, school: str) -> int:
        """The stream's current version (0 for a school with no events)."""

    async def trim(self, school: str, before_version: int) -> int:
        """Remove every event with version <= `before_version` (retention:
        hallpass.retention) and return how many went. The stream's version
        stays; `read` and `follow` from below the cut start at the first kept
        event. Raises TrimRefused, removing nothing, unless the school's state
        snapshot (hallpass.events.snapshots) is at `before_version` or later."""

    async def start_after(self, school: str, version: int) -> None:
        """Start the stream of `school`, which has none yet, after `version`,
        as if its first `version` events had been trimmed: the first append
        expects `version`, reads begin at the event after it (the import of
        a school whose history retention trimmed: hallpass.transfer). Raises
        VersionConflict when the school already has a stream, and
        TrimRefused unless its state snapshot is at `version` or later (as
        `trim` does: a process must be able to load the school)."""

    async def close(self) -> None: ...
