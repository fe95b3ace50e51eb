"""One live connection as the hub sees it: who it is, and how its messages
leave.

Pushing never waits. A push first writes the message's frame, made once for
every receiver, straight to the socket when it can take it now (nearly
always; hallpass.service.ws_protocol). Else it runs the socket's `send` right
away, as far as it goes: with the connection writable that writes the frame
and finishes on the spot, with no task, no future and no queue. Only when the send has to wait (the client reads slower than it
is sent to) does a task take over that send, and later messages queue behind
it, bounded. A client whose queue is full is behind for good (a laptop gone to
sleep on the wifi, a stalled tab); it is dropped with close code 1013 ("try
again later") and resumes from its last position when it reconnects, so the
others never wait for it (DESIGN.md, point 5).

Why not a writer task per client: a change then wakes every client's task at
once, and thousands of wake-ups in flight (handles, futures, coroutines) are
what the garbage collector then spends its time on (docs/performance.md).

The send path must not need a current task (uvicorn's and Starlette's don't):
its first steps run inside the push, outside any task.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from hallpass.rules.commands import Actor

log = logging.getLogger(__name__)

# The connection's ASGI `send` (an async function: its calls are coroutines).
Send = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
# Writes a ready-made frame if the socket can take it now (ws_protocol.write_frame).
WriteFrame = Callable[[bytes], bool]

OVERFLOW = 1013  # "try again later": the client fell too far behind
GOING_AWAY = 1001  # the server is shutting down
TOO_BIG = 1009  # the client sent a frame above the limit
SESSION_ENDED = 4401  # signed out, or never signed in: sign in again

# What breaks a send when the peer is gone: uvicorn's ClientDisconnected is an
# OSError; Starlette and uvicorn raise RuntimeError on a socket already closed.
_GONE = (OSError, RuntimeError)


class Client:
    """`send` is the connection's ASGI send, after the handshake, and
    `write_frame` its server's shortcut for frames made once for many sockets
    (None when the server has none). A closed client takes no more messages;
    `closed` waits for its last frame."""

    __slots__ = (
        "_backlog",
        "_closing",
        "_send",
        "_task",
        "_write_frame",
        "actor",
        "key",
        "max_queue",
    )

    def __init__(
        self,
        actor: Actor,
        send: Send,
        *,
        max_queue: int,
        key: str = "",
        write_frame: WriteFrame | None = None,
    ) -> None:
        self.actor = actor
        self.max_queue = max_queue
        # What the hub groups clients by for the session check (the session
        # cookie): a thousand boards on one sign-in cost one look-up.
        self.key = key
        self._send = send
        self._write_frame = write_frame
        # Messages waiting behind a send that could not finish at once; None
        # while nothing waits (most of the time: a deque costs half a KiB).
        self._backlog: deque[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing: tuple[int, str] | None = None

    @property
    def closing(self) -> bool:
        return self._closing is not None

    @property
    def queued(self) -> int:
        return len(self._backlog) if self._backlog is not None else 0

    @property
    def busy(self) -> bool:
        """Whether a task is sending (the socket made a send wait)."""
        return self._task is not None

    def push(self, text: str, frame: bytes | None = None) -> bool:
        """Send or queue a message (`frame`: the same, framed by
        ws_protocol.text_frame, for a fan-out); False when the client is
        closing or was just dropped (full queue, or its socket is gone):
        forget it then."""
        if self._closing is not None:
            return False
        if self._task is not None:
            backlog = self._backlog
            assert backlog is not None
            if len(backlog) >= self.max_queue:
                self.close(OVERFLOW, "Too far behind; reconnect to catch up.")
                return False
            backlog.append(text)
            return True
        try:
            write = self._write_frame
            if frame is not None and write is not None and write(frame):
                return True
            coroutine = self._send({"type": "websocket.send", "text": text})
            waiting = coroutine.send(None)
        except StopIteration:
            return True  # sent
        except _GONE as error:
            log.debug("live client gone while sending: %r", error)
            self._closing = (GOING_AWAY, "")
            return False
        except Exception:
            # Never let one socket's failure stop the fan-out to the others.
            log.exception("sending to a live client failed; dropping it")
            self._closing = (GOING_AWAY, "")
            return False
        self._backlog = deque()
        self._task = asyncio.get_running_loop().create_task(self._finish(coroutine, waiting))
        return True

    def close(self, code: int, reason: str) -> None:
        """Send nothing more: drop what is queued, and close the socket with
        `code` (once the send under way, if any, is done)."""
        if self._closing is not None:
            return
        self._closing = (code, reason)
        if self._backlog is not None:
            self._backlog.clear()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._finish(None, None))

    async def closed(self) -> None:
        """Wait until what this client was sending is sent (or abandoned)."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)

    def abandon(self) -> None:
        """The peer is gone: stop whatever is under way, send nothing more."""
        self._closing = self._closing or (GOING_AWAY, "")
        if self._backlog is not None:
            self._backlog.clear()
        if self._task is not None:
            self._task.cancel()

    async def _finish(self, coroutine: Coroutine[Any, Any, None] | None, waiting: object) -> None:
        """Finish the send that had to wait, then send what queued behind it;
        then the close, when one was asked for."""
        try:
            if coroutine is not None:
                await _resume(coroutine, waiting)
            backlog = self._backlog
            while backlog and self._closing is None:
                await self._send({"type": "websocket.send", "text": backlog.popleft()})
            if self._closing is not None:
                code, reason = self._closing
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except _GONE as error:
            log.debug("live client gone while sending: %r", error)
            self._closing = self._closing or (GOING_AWAY, "")
        except Exception:
            log.exception("sending to a live client failed; dropping it")
            self._closing = self._closing or (GOING_AWAY, "")
        finally:
            self._backlog = None
            self._task = None


class _Suspended:
    """Awaiting this hands the event loop a coroutine's own bare yield."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, None]:
        yield self.value


async def _resume(coroutine: Coroutine[Any, Any, None], waiting: object) -> None:
    """Run a coroutine that was started outside any task, and suspended on
    `waiting` (a future, or None for a bare yield), to its end in this task.
    What Task does for the coroutines it runs: pass the yielded future to the
    loop, resume when it is done, pass exceptions (cancellation) in."""
    while True:
        try:
            await _Suspended(waiting)
        except BaseException as error:
            try:
                waiting = coroutine.throw(error)
            except StopIteration:
                return
            continue
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return
