"""The live benchmark's baseline: the least a WebSocket broadcast can cost in
Python, triggered the way a Hallpass command is, by an HTTP POST.

A `websockets` server (asyncio on uvloop, as `hallpass serve` runs) greets
each client with one message. Beside it in the same event loop, uvicorn (the
HTTP server Hallpass runs on) serves a bare ASGI app: `POST /broadcast` with
`{"token": ..., "size": ...}` broadcasts one message of that size to every
client with `websockets.broadcast` and answers with the message, as a command
answers with its pass. No framework, no session, no store: what is left of
"a request comes in, every screen gets a message" when nothing else is done.

    python -m bench._live_baseline WS_PORT HTTP_PORT
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from typing import Any

import uvicorn
from websockets.asyncio.server import ServerConnection, broadcast, serve

clients: set[ServerConnection] = set()


def message(token: str, size: int) -> str:
    """A pass-shaped message of exactly `size` bytes carrying `token`."""
    head = {"type": "pass", "position": token, "token": token, "pad": ""}
    bare = len(json.dumps(head, separators=(",", ":")))
    head["pad"] = "x" * max(0, size - bare)
    return json.dumps(head, separators=(",", ":"))


async def handler(connection: ServerConnection) -> None:
    clients.add(connection)
    try:
        await connection.send('{"type":"snapshot","position":"0","passes":[],"requests":[]}')
        await connection.wait_closed()
    finally:
        clients.discard(connection)


async def trigger(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The bare ASGI app: POST /broadcast."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    asked = json.loads(body)
    text = message(asked["token"], int(asked["size"]))
    broadcast(clients, text)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


async def main(ws_port: int, http_port: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    http = uvicorn.Server(
        uvicorn.Config(
            trigger,
            host="127.0.0.1",
            port=http_port,
            lifespan="off",
            access_log=False,
            log_level="warning",
            server_header=False,
        )
    )
    # As uvicorn is run: no per-message compression, pings every 20 seconds.
    async with serve(handler, "127.0.0.1", ws_port, compression=None, backlog=4096):
        serving = asyncio.ensure_future(http.serve())
        while not http.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await serving


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2])))
