"""The web application: routes from every endpoint table, the middleware, the
error handlers, and a lifespan that opens and closes the Services.

    uvicorn --factory hallpass.web.app:create_app

Middleware, outermost first (all pure ASGI, so streamed bodies pass through):
security headers, request id, the catch-all for unexpected errors, the
Origin check, the body size limit. Error answers made by any of them still
carry the security headers and the request id.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import msgspec
from redis import exceptions as redis_errors
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hallpass.config import Settings, check, load_settings
from hallpass.events.store import StoreUnavailable
from hallpass.service.services import open_services
from hallpass.web import hub
from hallpass.web.auth import require_user
from hallpass.web.body import BodyLimit
from hallpass.web.context import RequestId
from hallpass.web.endpoint import Endpoint, Handler, routes
from hallpass.web.errors import ApiError, error_response
from hallpass.web.json import json_response
from hallpass.web.openapi import build_document
from hallpass.web.routes import (
    audit,
    exports,
    health,
    passes,
    reports,
    requests,
    rooms,
    school,
    school_info,
    session,
    sso,
    users,
)
from hallpass.web.routes import metrics as metrics_route
from hallpass.web.security import OriginCheck, SecurityHeaders
from hallpass.web.static import page_routes
from hallpass.web.throttle import TooManyAttempts

log = logging.getLogger("hallpass.web")

# Every module whose `endpoints` the app serves (and documents).
ROUTE_MODULES = (
    *(session, health, rooms, passes, requests, school, sso, school_info, users),
    *(reports, exports, audit),
)

STORE_UNAVAILABLE_MESSAGE = (
    "The school's records cannot be reached right now, so nothing was changed. "
    "Please try again in a moment."
)
INTERNAL_MESSAGE = "Something went wrong on our side. It has been logged; please try again."


def all_endpoints() -> list[Endpoint]:
    found: list[Endpoint] = []
    for module in ROUTE_MODULES:
        found += module.endpoints
    return found


def check_endpoints(endpoints: Sequence[Endpoint]) -> None:
    """Fail at start-up, not at a request, when the table is wrong."""
    seen: set[tuple[str, str]] = set()
    for e in endpoints:
        if (e.method, e.path) in seen:
            raise ValueError(f"{e.method} {e.path} is listed twice")
        seen.add((e.method, e.path))


def lax_bodies(endpoints: Sequence[Endpoint]) -> list[str]:
    """Endpoints whose body struct ignores unknown fields, so a misspelt field
    would be silently dropped instead of answered with a 422 naming it."""
    return [
        f"{e.method} {e.path} ({e.body.__name__})"
        for e in endpoints
        if isinstance(e.body, type)
        and issubclass(e.body, msgspec.Struct)
        and not e.body.__struct_config__.forbid_unknown_fields
    ]


def guarded(endpoint: Endpoint) -> Endpoint:
    """The endpoint with its `roles` enforced before its handler runs, so the
    table the document is built from is also what the server does."""
    if not endpoint.roles:
        return endpoint
    inner, roles = endpoint.handler, endpoint.roles

    async def handler(request: Request) -> Response:
        await require_user(request, roles)
        return await inner(request)

    handler.__name__ = getattr(inner, "__name__", "handler")
    return msgspec.structs.replace(endpoint, handler=handler)


# --- errors ----------------------------------------------------------------------


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = error_response(exc.status, exc.code, exc.message)
    if isinstance(exc, TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def on_store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    response = error_response(503, "store_unavailable", STORE_UNAVAILABLE_MESSAGE)
    response.headers["Retry-After"] = "2"
    return response


async def on_sqlite_error(request: Request, exc: Exception) -> Response:
    # "database is locked" and friends: the file is busy or unreadable.
    log.error("SQLite error on %s %s", request.method, request.url.path, exc_info=exc)
    return await on_store_unavailable(request, exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        response = error_response(404, "not_found", "There is nothing at this address.")
    elif exc.status_code == 405:
        response = error_response(
            405, "method_not_allowed", f"{request.method} is not allowed at this address."
        )
    else:
        response = error_response(exc.status_code, "invalid", str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


class CatchAll:
    """A 500 with API.md's error body for anything no handler expected (and a
    log line with the request id to find it by); never a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            rid = scope.get("state", {}).get("request_id", "")
            log.exception("unexpected error on %s %s [%s]", scope["method"], scope["path"], rid)
            if started:
                raise
            response = error_response(500, "internal", INTERNAL_MESSAGE)
            await response(scope, receive, send)


# --- the app ---------------------------------------------------------------------


class HallpassApp(Starlette):
    """Starlette, with the live socket handed straight to the hub: an idle
    board or kiosk then holds no frames of the HTTP middleware for hours (about
    5 KiB a connection), and each push skips their send wrappers. The hub makes
    its own Origin and session checks; security headers are for HTTP answers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == hub.websocket_route.path:
            scope["app"] = self
            await hub.websocket_route.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> HallpassApp:
    if settings is None:
        settings = load_settings()
    else:
        check(settings)
    endpoints = all_endpoints()
    check_endpoints(endpoints)
    for lax in lax_bodies(endpoints):
        log.error("%s: its body struct should forbid unknown fields", lax)
    document = json_response(build_document(endpoints))

    async def openapi(request: Request) -> Response:
        return document

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await open_services(settings)
        app.state.services = services
        try:
            yield
        finally:
            await services.close()

    table: list[BaseRoute] = [
        *routes([guarded(e) for e in endpoints]),
        Route("/openapi.json", openapi, methods=["GET"]),
        metrics_route.route,
        hub.websocket_route,
        *page_routes(settings.web_dir),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(RequestId),
        Middleware(CatchAll),
        Middleware(OriginCheck, settings=settings),
        Middleware(BodyLimit, limit=settings.body_limit),
    ]
    handlers: dict[type[Exception] | int, Handler | object] = {
        ApiError: on_api_error,
        StoreUnavailable: on_store_unavailable,
        redis_errors.ConnectionError: on_store_unavailable,
        redis_errors.TimeoutError: on_store_unavailable,
        sqlite3.OperationalError: on_sqlite_error,
        HTTPException: on_http_exception,
    }
    return HallpassApp(
        routes=table,
        middleware=middleware,
        exception_handlers=handlers,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
