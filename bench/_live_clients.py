"""A worker process of the live benchmark: many WebSocket clients on one loop.

The parent drives it with JSON lines on stdin and reads JSON lines on stdout:

    {"do": "connect", "url": ..., "headers": {...}, "n": N}  -> {"connected": N}
    {"do": "expect", "tokens": ["...", ...]}                  -> {"ok": true}
    {"do": "wait", "timeout": S}  -> {"last": T, "count": C, "clients": N, "size": B} once every
                                     client got a text message holding all tokens
                                     (T: when the last did, time.monotonic(), which
                                     is the same clock in every process on Linux)
    {"do": "quit"}

The clients are the websockets library's sans-I/O protocol under a plain
asyncio Protocol: no task and no future per message, so the client side costs
as little as it can and the server is what gets measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from typing import Any, cast
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Origin
from websockets.uri import parse_uri


class Round:
    """What the clients look for now, and who has seen it."""

    def __init__(self) -> None:
        self.tokens: tuple[bytes, ...] = ()
        self.count = 0
        self.last = 0.0
        self.size = 0
        self.done: asyncio.Future[None] | None = None
        self.clients = 0

    def start(self, tokens: list[str], clients: int) -> None:
        self.tokens = tuple(t.encode() for t in tokens)
        self.count = 0
        self.last = 0.0
        self.clients = clients
        self.done = asyncio.get_running_loop().create_future()

    def seen(self, data: bytes) -> bool:
        tokens = self.tokens
        if not tokens:
            return False
        for token in tokens:
            if token not in data:
                return False
        self.last = time.monotonic()
        self.size = len(data)
        self.count += 1
        if self.count == self.clients and self.done is not None and not self.done.done():
            self.done.set_result(None)
        return True


class Client(asyncio.Protocol):
    def __init__(self, url: str, headers: dict[str, str], round_: Round) -> None:
        origin = headers.get("Origin")
        self.ws = ClientProtocol(
            parse_uri(url), origin=Origin(origin) if origin else None, max_size=None
        )
        self.headers = headers
        self.round = round_
        self.matched_round = -1
        self.round_number = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but write alike.
        self.transport = cast(asyncio.Transport, transport)
        request = self.ws.connect()
        for name, value in self.headers.items():
            if name != "Origin":
                request.headers[name] = value
        self.ws.send_request(request)
        self.transport.write(b"".join(self.ws.data_to_send()))

    def data_received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if event.status_code != 101 and not self.ready.done():
                    self.ready.set_exception(RuntimeError(f"handshake: {event.status_code}"))
            elif isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                if not self.ready.done():
                    self.ready.set_result(None)  # the first message: the snapshot
                elif self.matched_round != CURRENT[0] and self.round.seen(cast(bytes, event.data)):
                    self.matched_round = CURRENT[0]
        out = self.ws.data_to_send()
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def itself(self) -> Client:
        """The protocol factory for this one connection."""
        return self

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"connection lost: {exc}"))


CURRENT = [0]  # the round number, shared by every client of this process


async def connect_all(
    url: str, headers: dict[str, str], n: int, round_: Round, concurrency: int = 64
) -> list[Client]:
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    gate = asyncio.Semaphore(concurrency)
    clients: list[Client] = []

    async def one() -> None:
        async with gate:
            for attempt in range(5):
                client = Client(url, headers, round_)
                try:
                    await loop.create_connection(client.itself, host, port)
                    await asyncio.wait_for(client.ready, 60)
                except (OSError, RuntimeError, TimeoutError):
                    if client.transport is not None:
                        client.transport.abort()
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                clients.append(client)
                return

    await asyncio.gather(*(one() for _ in range(n)))
    return clients


def reply(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


async def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    round_ = Round()
    clients: list[Client] = []
    while True:
        line = await reader.readline()
        if not line:
            break
        command = json.loads(line)
        what = command["do"]
        if what == "connect":
            clients += await connect_all(command["url"], command["headers"], command["n"], round_)
            reply({"connected": len(clients)})
        elif what == "expect":
            CURRENT[0] += 1
            round_.start(command["tokens"], len(clients))
            reply({"ok": True})
        elif what == "wait":
            assert round_.done is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(round_.done), command["timeout"])
            reply(
                {
                    "last": round_.last,
                    "count": round_.count,
                    "clients": len(clients),
                    "size": round_.size,
                }
            )
        elif what == "quit":
            break
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
    reply({"bye": True})


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
