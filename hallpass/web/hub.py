"""The WebSocket hub: `GET /ws` (API.md, "Live updates").

One `Hub` per process. Per school it keeps a `SchoolHub` (hub_school.py),
the one listener on that school's runtime, which fans each change out to the
clients that may see it. Per connection it keeps a `Client` (hub_client.py),
which sends at once while the socket keeps up and queues (bounded) when it
does not. The connection's own task reads what the client sends:
`{"type": "ping"}` is answered with `{"type": "pong"}`, a frame above
`max_frame` bytes closes the socket (1009), anything else is ignored.

One timer beats for the whole process: every `heartbeat_seconds` each client
gets `{"type": "heartbeat", "position": P}` (idle kiosk screens stay open
through proxies), and the sessions behind the sockets are looked up again, so
a socket whose session ended (signed out, expired, account disabled) is
closed with 4401.

Close codes a page may act on: 4401 sign in again; 1013 too far behind,
reconnect with `after`; 1001 the server is going away, reconnect; 1009 the
client sent too much.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, cast

import msgspec
from starlette.requests import HTTPConnection
from starlette.routing import WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from hallpass import metrics
from hallpass.config import ConfigError, Settings
from hallpass.service.names import Names
from hallpass.service.runtime import Schools
from hallpass.service.ws_protocol import PREPARED_FRAMES
from hallpass.web.errors import error_response
from hallpass.web.hub_client import GOING_AWAY, SESSION_ENDED, TOO_BIG, Client
from hallpass.web.hub_client import Send as ClientSend
from hallpass.web.hub_messages import PONG, is_ping, parse_position
from hallpass.web.hub_school import SchoolHub
from hallpass.web.security import origin_allowed

if TYPE_CHECKING:
    from hallpass.service.services import Services

log = logging.getLogger(__name__)

# The cookie that names a session (hallpass.web.auth.SESSION_COOKIE; auth
# imports the services, which import this module, so it is not imported here).
_SESSION_COOKIE = "hallpass_session"
# How long shutting down waits for the clients to take their close frames.
_CLOSE_SECONDS = 2.0


class HubSettings(msgspec.Struct, frozen=True, kw_only=True):
    queue: int = 256  # messages queued for one client before it is dropped (HALLPASS_WS_QUEUE)
    heartbeat_seconds: float = 20.0  # HALLPASS_WS_HEARTBEAT_SECONDS
    buffer: int = 10_000  # changes kept per school for clients that resume (HALLPASS_WS_BUFFER)
    max_frame: int = 4096  # bytes a client may send in one frame
    # Live sockets one person may hold at once in this process (a board, a
    # kiosk, a few tabs), so one session cannot hold thousands of sockets
    # against the server (HALLPASS_WS_PER_USER; 0: no limit).
    per_user: int = 20

    @classmethod
    def of(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> HubSettings:
        """The queue size from the service's settings; the heartbeat and the
        buffer from HALLPASS_WS_HEARTBEAT_SECONDS and HALLPASS_WS_BUFFER."""
        environ = os.environ if environ is None else environ
        raw: dict[str, str | int] = {"queue": settings.ws_queue}
        for field, name in (
            ("heartbeat_seconds", "HALLPASS_WS_HEARTBEAT_SECONDS"),
            ("buffer", "HALLPASS_WS_BUFFER"),
            ("per_user", "HALLPASS_WS_PER_USER"),
        ):
            value = environ.get(name)
            if value:
                raw[field] = value
        try:
            hub = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as error:
            raise ConfigError(f"WebSocket settings: {error}") from None
        if hub.heartbeat_seconds <= 0 or hub.buffer < 1 or hub.queue < 1:
            raise ConfigError(
                "HALLPASS_WS_HEARTBEAT_SECONDS, HALLPASS_WS_BUFFER and HALLPASS_WS_QUEUE "
                "must be more than 0"
            )
        if hub.per_user < 0:
            raise ConfigError("HALLPASS_WS_PER_USER must be 0 (no limit) or more")
        return hub


class Hub:
    def __init__(
        self, schools: Schools, names: Names, settings: Settings | HubSettings | None = None
    ) -> None:
        self.schools = schools
        self.names = names
        if isinstance(settings, HubSettings):
            self.settings = settings
        elif settings is None:
            self.settings = HubSettings()
        else:
            self.settings = HubSettings.of(settings)
        self._hubs: dict[str, SchoolHub] = {}
        self._starting: dict[str, asyncio.Task[SchoolHub]] = {}
        # Each open socket's client and its school's hub: all the hub keeps of
        # a connection (the session check needs only the client's key).
        self._connections: dict[Client, SchoolHub] = {}
        # The process's services (the same for every connection), for the
        # session checks; known from the first connection on.
        self._services: Services | None = None
        self._per_user: dict[str, int] = {}  # user id -> live sockets (HubSettings.per_user)
        self._beat: asyncio.Task[None] | None = None
        self._closed = False

    # --- schools -------------------------------------------------------------------

    async def school(self, slug: str) -> SchoolHub:
        """The school's hub, started (runtime loaded, names read) on first use."""
        hub = self._hubs.get(slug)
        if hub is not None:
            return hub
        task = self._starting.get(slug)
        if task is None:
            task = asyncio.create_task(self._start(slug), name=f"hub start {slug}")
            self._starting[slug] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._starting.pop(slug, None)

    async def _start(self, slug: str) -> SchoolHub:
        runtime = await self.schools.get(slug)
        await self.names.reload(slug, force=True)
        # Synchronous from here: the hub starts at the runtime's current version.
        hub = SchoolHub(runtime, self.names, buffer_size=self.settings.buffer)
        self._hubs[slug] = hub
        if self._beat is None:
            self._beat = asyncio.create_task(self._heartbeats(), name="hub heartbeats")
        return hub

    # --- one connection ------------------------------------------------------------

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run one `/ws` connection (the raw ASGI app's call) to its end."""
        admitted = await self._admit(WebSocket(scope, receive, send), send)
        if admitted is None:
            return
        # From here on only the raw ASGI calls: a connection open all day
        # should hold as little as it can (docs/performance.md). What the
        # client sends is read right here, not in a helper coroutine whose
        # frame would be held as long as the socket is open.
        client, hub = admitted
        self._connections[client] = hub
        metrics.client_connected(client.actor.role)
        limit = self.settings.max_frame
        try:
            while _read(await receive(), client, limit):
                pass
        finally:
            self._give_back(client.actor.id)
            hub.leave(client)
            del self._connections[client]
            metrics.client_disconnected(client.actor.role)
            # The socket is done: our close went out, the peer's was answered,
            # or the connection broke. Whatever was still being sent is moot.
            client.abandon()

    async def _admit(self, websocket: WebSocket, send: Send) -> tuple[Client, SchoolHub] | None:
        """The handshake: check the Origin and the session, accept, and join
        the school's hub; None when the connection was refused or closed."""
        from hallpass.web.auth import actor_of, session_user  # see _SESSION_COOKIE
        from hallpass.web.context import services

        if not origin_allowed(websocket):
            await _deny(
                websocket,
                403,
                "bad_origin",
                "This page came from another website, so it was refused.",
            )
            return None
        svc = self._services = services(websocket)
        # Looked up by the token itself, not through current_user, which
        # would remember the User in the handshake's scope (held by the
        # server for the socket's life) when only its Actor is needed.
        key = websocket.cookies.get(_SESSION_COOKIE, "")
        user = await session_user(svc, key)
        if user is None or self._closed:
            await websocket.accept()
            if user is None:
                await websocket.close(SESSION_ENDED, "Sign in to see live updates.")
            else:
                await websocket.close(GOING_AWAY, "The server is restarting.")
            return None
        try:
            hub = await self.school(user.school)
        except Exception:
            log.exception("could not start live updates for %s", user.school)
            await _deny(
                websocket,
                503,
                "store_unavailable",
                "Live updates are unavailable for a moment; the page will try again.",
            )
            return None
        if not self._take_place(user.id):
            await _deny(
                websocket,
                429,
                "too_many_connections",
                "You have too many live screens open; close one and try again.",
            )
            return None
        try:
            await websocket.accept()
        except BaseException:
            self._give_back(user.id)
            raise
        client = Client(
            actor_of(user),
            cast(ClientSend, send),
            max_queue=self.settings.queue,
            key=key,
            write_frame=(websocket.scope.get("extensions") or {}).get(PREPARED_FRAMES),
        )
        # Synchronous, right after the accept: the snapshot (or the missed
        # changes) and the first live change meet with nothing in between.
        hub.join(client, parse_position(websocket.query_params.get("after")))
        return client, hub

    def _take_place(self, user_id: str) -> bool:
        """Count one more live socket for this person, unless they hold the
        most they may already. Synchronous: handshakes racing in cannot all
        pass the check before any of them counts."""
        held = self._per_user.get(user_id, 0)
        if 0 < self.settings.per_user <= held:
            return False
        self._per_user[user_id] = held + 1
        return True

    def _give_back(self, user_id: str) -> None:
        held = self._per_user.pop(user_id, 1) - 1
        if held > 0:
            self._per_user[user_id] = held

    # --- the beat --------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            for hub in tuple(self._hubs.values()):
                hub.heartbeat()
            try:
                await self.check_sessions()
            except Exception:
                log.exception("checking the live sockets' sessions failed")

    async def check_sessions(self) -> None:
        """Close (4401) every socket whose session has ended. Sockets on one
        session (a wall of boards signed in once) cost one look-up."""
        from hallpass.web.auth import session_user

        svc = self._services
        if svc is None:
            return  # no socket was ever admitted
        groups: dict[str, list[Client]] = {}
        for client in self._connections:
            if not client.closing:
                groups.setdefault(client.key, []).append(client)
        for key, clients in groups.items():
            if clients[0] not in self._connections:
                continue
            try:
                user = await session_user(svc, key)
            except Exception:
                log.warning("could not check a live socket's session; keeping it", exc_info=True)
                continue
            if user is None:
                for client in clients:
                    client.close(SESSION_ENDED, "Your session ended; sign in again.")
                    hub = self._connections.get(client)
                    if hub is not None:
                        hub.leave(client)

    # --- shutting down ---------------------------------------------------------------

    async def close(self) -> None:
        """Close every socket (1001, going away) and stop listening."""
        self._closed = True
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None
        for starting in self._starting.values():
            starting.cancel()
        for hub in self._hubs.values():
            hub.close()
            await hub.wait_closed()
        self._hubs.clear()
        clients = [c for c in self._connections if c.busy]
        if clients:
            # The close frames go out unless a client has stopped reading.
            await asyncio.wait(
                [asyncio.ensure_future(c.closed()) for c in clients], timeout=_CLOSE_SECONDS
            )
            for client in clients:
                client.abandon()

    @property
    def connections(self) -> int:
        return len(self._connections)


def _read(message: Message, client: Client, limit: int) -> bool:
    """Act on one thing the client sent: pings, and frames that must stay
    small. False once the socket is gone."""
    if message["type"] == "websocket.disconnect":
        return False
    text: str | None = message.get("text")
    if text is None:
        data: bytes = message.get("bytes") or b""
        if len(data) > limit:
            client.close(TOO_BIG, "Messages to the server must be small.")
        return True  # binary frames mean nothing here
    # Characters are at least one byte each: only a long text needs encoding.
    if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
        client.close(TOO_BIG, "Messages to the server must be small.")
    elif is_ping(text):
        client.push(PONG)
    return True


async def _deny(websocket: WebSocket, status: int, code: str, message: str) -> None:
    """Refuse the handshake with an HTTP answer carrying API.md's error body
    (where the server supports it; else a bare 403)."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(error_response(status, code, message))
    else:
        await websocket.close()


class _Endpoint:
    """A raw ASGI app rather than a Starlette function endpoint, so that the
    hub can send through the raw `send`. A plain function that hands back the
    hub's coroutine: an `async def` here would hold one more frame for as
    long as the socket is open."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
        from hallpass.web.context import services  # see _SESSION_COOKIE

        return services(HTTPConnection(scope)).hub.serve(scope, receive, send)


websocket_route = WebSocketRoute("/ws", _Endpoint())
