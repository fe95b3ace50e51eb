"""One table of endpoints feeds both the router and the OpenAPI document, so the
two cannot drift apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    method: str  # "GET", "POST", ...
    path: str  # Starlette syntax: "/api/passes/{id}"
    handler: Handler
    summary: str
    roles: tuple[str, ...] = ()  # who may call it; () means anyone, signed in or not
    body: Any = None  # a msgspec type the body decodes to, or None
    response: Any = None  # a msgspec type of the success answer, or None (no body)
    status: int = 200  # the success status
    query: tuple[str, ...] = ()  # query parameters, for the document
    errors: tuple[str, ...] = ()  # error codes it may answer, for the document


def routes(endpoints: Sequence[Endpoint]) -> list[Route]:
    """Starlette routes, one per path, dispatching on the method."""
    by_path: dict[str, dict[str, Handler]] = {}
    for e in endpoints:
        by_path.setdefault(e.path, {})[e.method] = e.handler
    return [
        Route(path, _dispatch(handlers), methods=list(handlers))
        for path, handlers in by_path.items()
    ]


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    if len(handlers) == 1:
        return next(iter(handlers.values()))

    async def dispatch(request: Request) -> Response:
        # Starlette answers HEAD through the GET handler.
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return dispatch
