"""Browser-facing protections: the Origin check and the security headers.

Both are pure ASGI middleware (not BaseHTTPMiddleware, which buffers and
slows every response) so they wrap streamed bodies and errors alike.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hallpass.config import Settings
from hallpass.web.errors import error_response

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# No inline script or style anywhere: the pages load their code from files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        host = (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:  # a port that is not a number
        return None
    return (host, port) if host else None


def _same_site(origin: tuple[str, int], target: tuple[str, int]) -> bool:
    if origin == target:
        return True
    # A proxy that ends TLS may hand us http while the page was https: same
    # host on the two default ports is the same site.
    defaults = (80, 443)
    return origin[0] == target[0] and origin[1] in defaults and target[1] in defaults


def origin_allowed(conn: HTTPConnection, settings: Settings | None = None) -> bool:
    """API.md: a request without `Origin` is judged by its session alone; an
    `Origin` naming another site than the Host the request came to (or the
    public URL's) is refused. `settings` defaults to the app's."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    if settings is None:
        from hallpass.web.context import services

        settings = services(conn).settings
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return False  # "null" (a sandboxed frame, a file) and anything odd
    if settings.public_origin is not None and f"{scheme}://{parts.netloc.lower()}" == (
        settings.public_origin
    ):
        return True
    origin_at = _host_port(parts.netloc, scheme)
    host = conn.headers.get("host")
    target = _host_port(host, conn.url.scheme) if host else None
    return origin_at is not None and target is not None and _same_site(origin_at, target)


class OriginCheck:
    """Refuse unsafe methods whose Origin names another site: 403 bad_origin."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            conn = HTTPConnection(scope)
            if not origin_allowed(conn, self.settings):
                response = error_response(
                    403,
                    "bad_origin",
                    "This request came from another website, so it was refused.",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Add the security headers to every HTTP response, and keep API answers
    (personal data) out of every cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_api = path == "/api" or path.startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = Headers(raw=headers)
                for name, value in SECURITY_HEADERS:
                    if name.decode() not in present:
                        headers.append((name, value))
                if is_api:
                    headers = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                elif "cache-control" not in present:
                    # Pages and files have no build step to fingerprint them:
                    # revalidate every time (cheap with ETags), never go stale.
                    headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
