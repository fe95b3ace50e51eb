"""`GET /metrics`: this process's figures in Prometheus's text format.

The figures say how busy the schools are (commands, connected screens), so
they are not for everyone: a request from this machine (a Prometheus or an
agent beside the service, scraping each web process on its own port) is
answered, and so is one with `Authorization: Bearer <HALLPASS_METRICS_TOKEN>`
when that token is set. Behind a reverse proxy the client's address is the
one the proxy forwarded (uvicorn's proxy headers), so a visitor coming
through the proxy is not "this machine"; the example proxy configurations
refuse `/metrics` anyway (docs/deploy.md).

It is a plain route, not in the endpoint table: its answer is not JSON, and
it is no part of the API that pages and integrations use.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hallpass import metrics
from hallpass.web.context import services
from hallpass.web.errors import error_response

TOKEN_ENV = "HALLPASS_METRICS_TOKEN"

NOT_HERE = (
    "Metrics are answered to this machine only, or with the metrics token "
    f"(Authorization: Bearer, {TOKEN_ENV})."
)


def from_loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # no address, or a name (a test client's "testclient")
        return False


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def allowed(request: Request, token: str | None) -> bool:
    """Loopback, or the right bearer token when one is configured."""
    if from_loopback(request):
        return True
    offered = bearer_token(request)
    if token is None or offered is None:
        return False
    return hmac.compare_digest(offered.encode(), token.encode())


async def metrics_endpoint(request: Request) -> Response:
    svc = services(request)
    token = svc.settings.metrics_token
    if not allowed(request, token):
        if token is None:
            return error_response(403, "forbidden", NOT_HERE)
        response = error_response(401, "unauthenticated", NOT_HERE)
        response.headers["WWW-Authenticate"] = 'Bearer realm="hallpass metrics"'
        return response
    await metrics.sample_store_lag(svc.schools.loaded())
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


route = Route("/metrics", metrics_endpoint, methods=["GET"])
