"""What every request carries: the process's services and a request id."""

from __future__ import annotations

import re
import secrets
from typing import cast

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hallpass.logs import bind_request_id, unbind_request_id
from hallpass.service.services import Services

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept when it looks like one; anything else is replaced, so
# logs never carry an attacker's text.
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def services(conn: HTTPConnection) -> Services:
    """The Services of this process (opened by the app's lifespan)."""
    return cast(Services, conn.app.state.services)


def request_id(conn: HTTPConnection) -> str:
    value = conn.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else ""


class RequestId:
    """Give each HTTP request an id (the proxy's `X-Request-ID` when sane),
    keep it in `scope["state"]["request_id"]` for logs, and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = incoming if _SANE_ID.fullmatch(incoming) else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = bind_request_id(rid)  # log lines of this request name it
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            unbind_request_id(token)
