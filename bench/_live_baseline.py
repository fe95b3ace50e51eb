"""The live benchmark's baseline: the least a WebSocket broadcast can cost in
Python. A `websockets` server (asyncio, uvloop like uvicorn) greets each client
with one message, and on a trigger broadcasts one message of a given size to
every client with `websockets.broadcast` (one encoding, one write each).

The trigger is a text message from a control client: "broadcast TOKEN SIZE".

    python -m bench._live_baseline PORT
"""

from __future__ import annotations

import json
import resource
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

clients: set[ServerConnection] = set()


def message(token: str, size: int) -> str:
    """A pass-shaped message of exactly `size` bytes carrying `token`."""
    head = {"type": "pass", "position": token, "token": token, "pad": ""}
    bare = len(json.dumps(head, separators=(",", ":")))
    head["pad"] = "x" * max(0, size - bare)
    return json.dumps(head, separators=(",", ":"))


async def handler(connection: ServerConnection) -> None:
    if connection.request is not None and connection.request.path == "/control":
        async for text in connection:
            verb, token, size = str(text).split()
            assert verb == "broadcast"
            broadcast(clients, message(token, int(size)))
        return
    clients.add(connection)
    try:
        await connection.send('{"type":"snapshot","position":"0","passes":[],"requests":[]}')
        await connection.wait_closed()
    finally:
        clients.discard(connection)


async def main(port: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # As uvicorn is run: no per-message compression, pings every 20 seconds.
    async with serve(handler, "127.0.0.1", port, compression=None, backlog=4096) as server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1])))
