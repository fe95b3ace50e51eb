"""One school's fan-out in this process: from folded events to the clients
that may see each change.

The school's runtime is the one reader of its stream in the process; this
hub is one listener on it. A listener runs on the fold's path, so it only
notes which pass or request an event touched. Right after (the same
event-loop turn's callbacks), `flush` encodes each touched item's view once,
keeps it in a bounded buffer for clients that resume, and hands the same text
to every client that may see it, found through indexes (hub_audience.py:
staff, students by id, kiosks by room) rather than by asking every client. The events of one
append (a pass created and started) fold in one turn, so receivers get the
pass once, as it looks after the last of them.

A client joins in one synchronous step: flush, then its snapshot or its missed
changes, then into the indexes. No event can fold in between, so nothing is
missed or sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from datetime import datetime

import msgspec

from hallpass import metrics
from hallpass.events.store import StoredEvent
from hallpass.projections.records import PassRecord, RequestRecord
from hallpass.projections.state import SchoolState
from hallpass.rules.commands import STAFF, Actor
from hallpass.service.names import Names
from hallpass.service.runtime import SchoolRuntime
from hallpass.service.views import pass_view, request_view
from hallpass.service.visibility import may_see_pass, may_see_request
from hallpass.service.ws_protocol import text_frame
from hallpass.web.hub_audience import Audience, Receivers
from hallpass.web.hub_client import GOING_AWAY, Client
from hallpass.web.hub_messages import (
    Heartbeat,
    PassChanged,
    RequestChanged,
    Snapshot,
    encode,
    position,
)

log = logging.getLogger(__name__)

# How long changes wait for the directory when they name someone this process
# does not know yet (a student added a moment ago); after that they go out
# with the name unknown rather than hold the school's board any longer.
NAME_WAIT_SECONDS = 1.0
# An id the directory did not know is not waited for again for this long
# (a deleted student's old passes must not stall every flush).
NAME_RETRY_SECONDS = 60.0

Record = PassRecord | RequestRecord
Key = tuple[bool, str]  # (is a pass, its id)


class Change:
    """One message in the buffer: its version, the item as it was then (for
    visibility checks on resume), and the encoded text."""

    __slots__ = ("record", "text", "version")

    def __init__(self, version: int, record: Record, text: str) -> None:
        self.version = version
        self.record = record
        self.text = text

    def visible_to(self, actor: Actor) -> bool:
        record = self.record
        if isinstance(record, PassRecord):
            return may_see_pass(actor, record)
        return may_see_request(actor, record)


def live_passes(state: SchoolState) -> Iterator[PassRecord]:
    """Passes a snapshot shows: active, pending, waiting, scheduled."""
    passes = state.passes
    for group in (state.active, state.pending, state.line, state.scheduled):
        for pass_id in group:
            yield passes[pass_id]


def open_requests(state: SchoolState) -> Iterator[RequestRecord]:
    requests = state.requests
    for request_id in state.open_requests:
        yield requests[request_id]


class SchoolHub:
    def __init__(self, runtime: SchoolRuntime, names: Names, *, buffer_size: int) -> None:
        self.school = runtime.school
        self.runtime = runtime
        self.names = names
        self.buffer_size = buffer_size
        version = runtime.state.version
        self._buffer: deque[Change] = deque()
        # A client may resume from any position >= this: every change after
        # it is still in the buffer.
        self._covered_from = version
        # Every change up to this version has been handed to the clients.
        self._position = version
        self._dirty: dict[Key, int] = {}  # touched items -> version of their last event
        self._dirty_since: datetime | None = None  # the oldest noted change's time (metrics)
        self._flush_handle: asyncio.Handle | None = None
        self._waiting_for_names: asyncio.Task[None] | None = None
        self._unknown: dict[str, float] = {}  # ids a reload did not resolve -> when
        self.audience = Audience()
        self._staff_snapshot: tuple[int, str] | None = None
        self._closed = False
        self._unlisten = runtime.listen(self._on_event)

    # --- the fold's side -------------------------------------------------------

    def _on_event(self, stored: StoredEvent, state: SchoolState) -> None:
        event = stored.event
        request_id: str | None = getattr(event, "request_id", None)
        pass_id: str | None = getattr(event, "pass_id", None)
        if request_id is None and pass_id is None:
            return  # rooms, policies, markers: nothing a live screen shows
        # Re-inserted at the end, the dict stays ordered by each item's last change.
        dirty = self._dirty
        if not dirty:
            self._dirty_since = event.at
        if request_id is not None:
            dirty.pop((False, request_id), None)
            dirty[(False, request_id)] = stored.version
        if pass_id is not None:
            dirty.pop((True, pass_id), None)
            dirty[(True, pass_id)] = stored.version
        if self._flush_handle is None and self._waiting_for_names is None:
            self._flush_handle = asyncio.get_running_loop().call_soon(self.flush)

    # --- delivering ------------------------------------------------------------

    def flush(self, *, force: bool = False) -> None:
        """Deliver every noted change. Unless forced, wait (in the background)
        for a directory reload first when a change names someone unknown."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._dirty:
            return
        state = self.runtime.state
        names = self.names.known(self.school)
        if not force:
            if self._waiting_for_names is not None:
                return
            unknown = self._unknown_people(state, names)
            if unknown:
                self._waiting_for_names = asyncio.create_task(
                    self._resolve(unknown), name=f"hub names {self.school}"
                )
                return
        dirty, self._dirty = self._dirty, {}
        for (is_pass, item_id), version in dirty.items():
            if is_pass:
                record: Record | None = state.passes.get(item_id)
                if record is None:
                    continue  # a request's accept names its pass before it exists
                assert isinstance(record, PassRecord)
                view = PassChanged(position(version), pass_view(record, names))
                text = encode(view)
                self._keep(Change(version, msgspec.structs.replace(record), text))
                self._deliver(self.audience.of_pass(record), text)
            else:
                request = state.requests.get(item_id)
                if request is None:
                    continue
                text = encode(RequestChanged(position(version), request_view(request, names)))
                self._keep(Change(version, msgspec.structs.replace(request), text))
                self._deliver(self.audience.of_request(request), text)
        self._position = state.version
        if self._dirty_since is not None:
            metrics.fanout_delay(self._dirty_since)
            self._dirty_since = None

    def _keep(self, change: Change) -> None:
        buffer = self._buffer
        buffer.append(change)
        if len(buffer) > self.buffer_size:
            self._covered_from = buffer.popleft().version

    def _deliver(self, receivers: Receivers, text: str) -> None:
        dropped: list[Client] = []
        frame = text_frame(text)  # framed once for all of them
        for clients in receivers:
            if clients:
                for client in clients:
                    if not client.push(text, frame):
                        dropped.append(client)
        if dropped:
            metrics.clients_dropped(len(dropped))
        for client in dropped:
            self.leave(client)

    # --- names -------------------------------------------------------------------

    def _unknown_people(self, state: SchoolState, names: dict[str, str]) -> set[str]:
        now = time.monotonic()
        unknown: set[str] = set()
        for is_pass, item_id in self._dirty:
            record: Record | None = (
                state.passes.get(item_id) if is_pass else state.requests.get(item_id)
            )
            if record is None:
                continue
            people = (
                (record.student,)
                if isinstance(record, PassRecord)
                else (record.student, record.teacher)
            )
            for person in people:
                if person not in names and now - self._unknown.get(person, -1e9) > (
                    NAME_RETRY_SECONDS
                ):
                    unknown.add(person)
        return unknown

    async def _resolve(self, people: set[str]) -> None:
        """Reload the school's names (briefly), then deliver what waited."""
        try:
            await asyncio.wait_for(self.names.reload(self.school, force=True), NAME_WAIT_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("could not load the names of %s; sending changes without them", self.school)
        names = self.names.known(self.school)
        now = time.monotonic()
        for person in people:
            if person not in names:
                self._unknown[person] = now
        self._waiting_for_names = None
        self._staff_snapshot = None  # names may have changed
        self.flush(force=True)

    # --- clients -----------------------------------------------------------------

    def join(self, client: Client, after: int | None) -> None:
        """Start `client` off: the changes after `after` it may see, when the
        buffer still holds them all, else a snapshot; then follow."""
        self.flush(force=True)
        missed = self._missed(client, after)
        if missed is None:
            client.push(self.snapshot(client.actor))
        else:
            for text in missed:
                client.push(text)
        self.audience.add(client)

    def leave(self, client: Client) -> None:
        self.audience.remove(client)

    def _missed(self, client: Client, after: int | None) -> list[str] | None:
        """The texts to resume from `after`, or None for a snapshot: no
        `after`, one ahead of the stream or older than the buffer, or more
        missed changes than the client's queue holds."""
        if after is None or after > self.runtime.state.version or after < self._covered_from:
            return None
        actor = client.actor
        missed: list[str] = []
        for change in reversed(self._buffer):
            if change.version <= after:
                break
            if change.visible_to(actor):
                missed.append(change.text)
                if len(missed) >= client.max_queue:
                    return None
        missed.reverse()
        return missed

    def snapshot(self, actor: Actor) -> str:
        """Every live item `actor` may see, encoded, at the current position.
        Call after a forced flush (join does)."""
        state = self.runtime.state
        staff = actor.role in STAFF
        cached = self._staff_snapshot
        if staff and cached is not None and cached[0] == state.version:
            return cached[1]  # a thousand boards connecting after a restart share one
        names = self.names.known(self.school)
        text = encode(
            Snapshot(
                position(state.version),
                [pass_view(r, names) for r in live_passes(state) if may_see_pass(actor, r)],
                [request_view(r, names) for r in open_requests(state) if may_see_request(actor, r)],
            )
        )
        if staff:
            self._staff_snapshot = (state.version, text)
        return text

    def heartbeat(self) -> None:
        """Tell every client where the stream is, after every change up to
        there (so a heartbeat's position is a safe place to resume from)."""
        self.flush()
        at = self._position if self._dirty else self.runtime.state.version
        text = encode(Heartbeat(position(at)))
        self._deliver((self.audience.everyone,), text)

    @property
    def clients(self) -> frozenset[Client]:
        return frozenset(self.audience.everyone)

    def close(self) -> None:
        """Stop listening and close every client's socket (going away)."""
        if self._closed:
            return
        self._closed = True
        self._unlisten()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._waiting_for_names is not None:
            self._waiting_for_names.cancel()
        for client in tuple(self.audience.everyone):
            client.close(GOING_AWAY, "The server is restarting; reconnect in a moment.")
            self.leave(client)

    async def wait_closed(self) -> None:
        """After `close`: wait for the directory look-up it cancelled, if any."""
        task = self._waiting_for_names
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._waiting_for_names = None
