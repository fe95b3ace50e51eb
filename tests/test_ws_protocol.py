"""hallpass.service.ws_protocol: uvicorn's WebSocket protocol holding less per
socket. Its queue and flag behave as asyncio's do; under a real uvicorn
server the protocol serves the ASGI messages as uvicorn's own does, and lets
go of the handshake once answered."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hallpass.config import load_settings
from hallpass.service.serve import uvicorn_config
from hallpass.service.ws_protocol import (
    PREPARED_FRAMES,
    Flag,
    Inbox,
    LeanWebSocketProtocol,
    text_frame,
)

PATIENCE = 20.0  # a safety net against a hang; nothing asserts on time


async def test_the_inbox_hands_out_items_in_order_and_waits_when_empty() -> None:
    inbox = Inbox(asyncio.get_running_loop())
    assert inbox.empty()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert inbox.qsize() == 2
    assert await inbox.get() == 1
    assert await inbox.get() == 2
    assert inbox.empty()
    getter = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not getter.done()
    inbox.put_nowait("late")
    assert await asyncio.wait_for(getter, PATIENCE) == "late"


async def test_a_cancelled_getter_loses_no_item() -> None:
    inbox = Inbox(asyncio.get_running_loop())
    first = asyncio.ensure_future(inbox.get())
    second = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("only")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    with contextlib.suppress(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, PATIENCE) == "only"
    assert inbox.empty()


async def test_the_flag_holds_waiters_until_set() -> None:
    flag = Flag(asyncio.get_running_loop(), True)
    assert await flag.wait()
    flag.clear()
    assert not flag.is_set()
    waiters = [asyncio.ensure_future(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    flag.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), PATIENCE) == [True] * 3


async def test_a_cancelled_flag_waiter_leaves_the_others() -> None:
    flag = Flag(asyncio.get_running_loop())
    gone = asyncio.ensure_future(flag.wait())
    kept = asyncio.ensure_future(flag.wait())
    await asyncio.sleep(0)
    gone.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await gone
    flag.set()
    assert await asyncio.wait_for(kept, PATIENCE)


def test_hallpass_serve_runs_the_lean_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLPASS_STORE", "sqlite:///unused.db")
    config = uvicorn_config(load_settings())
    assert config.ws is LeanWebSocketProtocol


# --- under a real uvicorn --------------------------------------------------------


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Accepts, reports what the scope carried, echoes text and bytes,
    closes with 4001 when told "close", and writes "frame X" back as a frame
    made by `text_frame`, through the scope's extension."""
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    cookie = dict(scope["headers"]).get(b"cookie", b"").decode()
    await send({"type": "websocket.send", "text": f"cookie={cookie} path={scope['path']}"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await send({"type": "websocket.close", "code": 4001, "reason": "asked"})
            continue
        if (message.get("text") or "").startswith("frame "):
            written = scope["extensions"][PREPARED_FRAMES](text_frame(message["text"][6:]))
            await send({"type": "websocket.send", "text": f"written={written}"})
            continue
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[tuple[str, uvicorn.Server]]:
    port = free_port()
    config = uvicorn.Config(
        echo_app,
        host="127.0.0.1",
        port=port,
        ws=LeanWebSocketProtocol,
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"ws://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, PATIENCE)


def lean_connections(server: uvicorn.Server) -> list[LeanWebSocketProtocol]:
    return [c for c in server.server_state.connections if isinstance(c, LeanWebSocketProtocol)]


async def test_messages_flow_both_ways_and_the_handshake_is_let_go() -> None:
    async with (
        echo_server() as (url, server),
        connect(url + "/ws?x=1", additional_headers={"Cookie": "a=b"}) as ws,
    ):
        greeting = await asyncio.wait_for(ws.recv(), PATIENCE)
        assert greeting == "cookie=a=b path=/ws"
        for text in ("one", "two", "x" * 5000):
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), PATIENCE) == text
        await ws.send(b"\x00\x01")
        assert await asyncio.wait_for(ws.recv(), PATIENCE) == b"\x00\x01"
        await ws.ping()
        (protocol,) = lean_connections(server)
        assert protocol.request is None
        assert protocol.response is None
        assert isinstance(protocol.queue, Inbox) and protocol.queue.empty()


async def test_the_apps_close_reaches_the_client() -> None:
    async with echo_server() as (url, _server), connect(url + "/ws") as ws:
        await asyncio.wait_for(ws.recv(), PATIENCE)
        await ws.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), PATIENCE)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "asked")


async def test_a_client_that_leaves_ends_the_apps_receive() -> None:
    async with echo_server() as (url, server):
        ws = await connect(url + "/ws")
        await asyncio.wait_for(ws.recv(), PATIENCE)
        await ws.close()
        for _ in range(int(PATIENCE / 0.02)):
            if not lean_connections(server):
                break
            await asyncio.sleep(0.02)
        assert not lean_connections(server)


@pytest.mark.parametrize("size", [5, 125, 126, 5000, 70_000])
async def test_a_prepared_frame_arrives_as_the_same_text_in_order(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte: lengths count bytes
    async with (
        echo_server() as (url, _server),
        connect(url + "/ws", max_size=None, compression=None) as ws,
    ):
        await asyncio.wait_for(ws.recv(), PATIENCE)
        await ws.send("frame " + text)
        assert await asyncio.wait_for(ws.recv(), PATIENCE) == text
        assert await asyncio.wait_for(ws.recv(), PATIENCE) == "written=True"
        await ws.send("after")
        assert await asyncio.wait_for(ws.recv(), PATIENCE) == "after"


async def test_a_prepared_frame_is_refused_on_a_compressed_socket() -> None:
    # hallpass serve turns compression off; a frame made for all would not
    # be what this socket's extension expects.
    async with echo_server() as (url, _server), connect(url + "/ws") as ws:
        await asyncio.wait_for(ws.recv(), PATIENCE)
        await ws.send("frame hello")
        assert await asyncio.wait_for(ws.recv(), PATIENCE) == "written=False"


async def test_a_prepared_frame_is_refused_when_the_socket_cannot_take_it_now() -> None:
    async with echo_server() as (url, server), connect(url + "/ws", compression=None) as ws:
        await asyncio.wait_for(ws.recv(), PATIENCE)
        (protocol,) = lean_connections(server)
        frame = text_frame("hello")
        protocol.pause_writing()  # the socket's buffer is full: `send` would wait
        assert protocol.write_frame(frame) is False
        protocol.resume_writing()
        assert protocol.write_frame(frame) is True
        assert await asyncio.wait_for(ws.recv(), PATIENCE) == "hello"
        await ws.send("close")  # the app closes: no frame may follow its close
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), PATIENCE)
        assert protocol.write_frame(frame) is False
