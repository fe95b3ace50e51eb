"""uvicorn's WebSocket protocol (`websockets-sansio`), holding less for each
open socket: `hallpass serve` runs it (hallpass.service.serve).

A board or kiosk keeps its socket open all day, idle but for a message now
and then, so what the server holds per connection is what bounds how many
boards one process serves (docs/performance.md, "Memory"). Measured with
tracemalloc, uvicorn's protocol holds about 8 KiB a connection that an open
socket never uses again:

- the handshake's request (a `websockets` Request: its headers as a dict of
  lists and a list of pairs) and response, kept for the socket's life though
  the scope holds the headers the app needs (about 4 KiB);
- an `asyncio.Queue` for what the client sends and an `asyncio.Event` for
  "the socket is writable": five deques of 760 bytes each, allocated up
  front, for a queue that holds at most a message or two (about 4 KiB).

This subclass lets go of the first once the handshake is answered (and
empties the request's headers, which `websockets`' parser still holds), and
replaces the second with `Inbox` and `Flag`: the same calls, storage made
only when needed.

It adds one thing: the hub's fan-out sends one message to thousands of
sockets, and uvicorn's `send` frames it again for each (encode the text,
build the frame, join the writes), which is most of the fan-out's cost per
socket. A server's frames are not masked, so the frame is the same bytes for
every socket without an extension (compression is off, hallpass.service.serve):
the hub makes it once (`text_frame`) and `write_frame`, which the connection's
scope offers as the ASGI extension `PREPARED_FRAMES`, writes it as is when the
socket can take it now, or says no, and the hub sends through `send` as usual.
Everything else is uvicorn's: the handshake, the keepalive pings, the close
handshake, the ASGI messages.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State

# The scope's extension holding the socket's `write_frame` (ASGI's extensions).
PREPARED_FRAMES = "hallpass.prepared_frames"


def text_frame(text: str) -> bytes:
    """A whole, unmasked text frame of `text`: what a server writes for it."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class Inbox:
    """What `asyncio.Queue` does for uvicorn's protocol (`put_nowait`, `get`,
    `empty`; unbounded), with nothing allocated while it is empty and no one
    waits: an idle socket holds one pending future, not four deques."""

    __slots__ = ("_items", "_loop", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[Any] | None = None
        self._waiters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiters = self._waiters
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
                    break

    async def get(self) -> Any:
        while not self._items:
            waiter = self._loop.create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                self._forget(waiter)
                # Woken and cancelled at once: the item goes to the next
                # getter, as with asyncio.Queue.
                self._wake_next()
                raise
            self._forget(waiter)
        items = self._items
        item = items.popleft()
        if not items:
            self._items = None
        return item

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        waiters = self._waiters
        if waiters is not None:
            waiters.remove(waiter)
            if not waiters:
                self._waiters = None

    def _wake_next(self) -> None:
        if self._items and self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
                    return


class Flag:
    """What `asyncio.Event` does for uvicorn's protocol (`set`, `clear`,
    `is_set`, `wait`), with no deque: waiters are rare (a send while the
    socket's buffer is full) and get a list only then."""

    __slots__ = ("_loop", "_value", "_waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop, value: bool = False) -> None:
        self._loop = loop
        self._value = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = self._loop.create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
                if not self._waiters:
                    self._waiters = None
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol, minus what an open socket
    never uses again (see the module's docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.queue = Inbox(self.loop)  # type: ignore[assignment]
        self.writable = Flag(self.loop, True)  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # a handshake refused before the app has no scope
            self.scope["extensions"][PREPARED_FRAMES] = self.write_frame  # type: ignore[assignment]
        # The scope has the request's path and headers; uvicorn reads the
        # request only here. `websockets` keeps the request too, as a local
        # of its parser's generator, for the socket's life: its headers (the
        # bulk of it) are emptied, as nothing reads them again.
        self.request = None  # type: ignore[assignment]
        event.headers.clear()

    def start_keepalive(self) -> None:
        # uvicorn starts the pings right after it has sent the handshake's
        # response (the accept), its last use of the response.
        self.response = None  # type: ignore[assignment]
        super().start_keepalive()

    def write_frame(self, frame: bytes) -> bool:
        """Write a frame made by `text_frame` if the socket can take it now:
        open, not closing, no extension, and not paused by a full buffer
        (then the caller sends the text through `send`, which waits)."""
        if (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.writable.is_set()
            and self.conn.state is State.OPEN
            and not self.conn.extensions
            and not self.transport.is_closing()
        ):
            self.transport.write(frame)
            return True
        return False
