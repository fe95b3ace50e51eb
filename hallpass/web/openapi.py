"""The OpenAPI 3.1 document, built from the same endpoint table as the router.

Schemas come from msgspec (JSON Schema 2020-12, which OpenAPI 3.1 speaks), so
a body or answer type changed in code is changed in the document too. Each
error code an endpoint may answer is listed under its status, every one
described by the one `Error` schema of API.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from hallpass.web.endpoint import Endpoint

REF_TEMPLATE = "#/components/schemas/{name}"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The status each stable code is answered with (API.md and docs/api.md).
# A rule's refusal that is not listed here is a 409, as Rejection's default.
CODE_STATUS: dict[str, int] = {
    "unauthenticated": 401,
    "bad_credentials": 401,
    "forbidden": 403,
    "bad_origin": 403,
    "bad_pin": 403,
    "password_signin_disabled": 403,
    "not_found": 404,
    "payload_too_large": 413,
    "invalid": 422,
    "unknown_room": 422,
    "too_many_attempts": 429,
    "store_unavailable": 503,
    "not_ready": 503,
}
STATUS_WORDS = {
    200: "OK",
    201: "Created",
    204: "No content",
    401: "Not signed in, or wrong credentials",
    403: "Not allowed",
    404: "Not found (nor anything of another school)",
    405: "Method not allowed",
    409: "Refused by the school's rules or the item's state; nothing changed",
    413: "Body too large",
    422: "Invalid input; the message names the field",
    429: "Too many failed attempts; see Retry-After",
    503: "The event store is unreachable; nothing was written",
}

DESCRIPTION = """\
Hallpass, a self-hosted digital hall pass system. `docs/api.md` is the text a
person reads; this document is generated from the same endpoint table the
server routes with.

Every error is `{"error": {"code", "message"}}` with a stable snake_case code.
Authentication is the `hallpass_session` cookie set by `POST /api/session`.
Unsafe requests whose `Origin` names another site are refused (403 `bad_origin`).
A POST may carry an `Idempotency-Key` header (up to 100 characters).

Live updates: `GET /ws?after=POSITION` upgrades to a WebSocket, authenticated
by the session cookie. The server sends JSON text messages: `snapshot`
(`position`, `passes`, `requests`), then `pass` and `request` changes, each
with the stream `position` after it. Reconnecting with `after` set to the last
position seen delivers every later change exactly once, in order, or a fresh
snapshot.
"""


class ErrorDetail(msgspec.Struct):
    code: str
    message: str


class Error(msgspec.Struct):
    error: ErrorDetail


def status_of(code: str) -> int:
    return CODE_STATUS.get(code, 409)


def _openapi_path(path: str) -> tuple[str, list[str]]:
    """Starlette's "/api/passes/{id:str}" as "/api/passes/{id}", and its parameter names."""
    names: list[str] = []

    def plain(match: re.Match[str]) -> str:
        names.append(match[1])
        return "{" + match[1] + "}"

    return re.sub(r"\{(\w+)(?::\w+)?\}", plain, path), names


def _implicit_errors(endpoint: Endpoint) -> list[str]:
    codes: list[str] = []
    if endpoint.roles:
        codes.append("unauthenticated")
        codes.append("forbidden")
    if endpoint.method in UNSAFE:
        codes.append("bad_origin")
    if endpoint.body is not None:
        codes += ["invalid", "payload_too_large"]
    if endpoint.path.startswith("/api/"):
        codes.append("store_unavailable")
    return codes


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", path)
    return "_".join([method.lower(), *words])


def build_document(
    endpoints: Sequence[Endpoint], *, title: str = "Hallpass", version: str = "1"
) -> dict[str, Any]:
    types: list[Any] = [Error]
    for e in endpoints:
        types += [t for t in (e.body, e.response) if t is not None]
    unique = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(unique, ref_template=REF_TEMPLATE)
    schema_of = dict(zip(unique, schemas, strict=True))
    error_ref = schema_of[Error]

    collections = _collections(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        path, params = _openapi_path(e.path)
        operation: dict[str, Any] = {
            "operationId": _operation_id(e.method, path),
            "summary": e.summary,
            "tags": [_tag(path)],
        }
        parameters: list[dict[str, Any]] = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in params
        ]
        parameters += [
            {"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
            for q in e.query
        ]
        codes = [*e.errors, *_implicit_errors(e)]
        if e.method == "POST" and path.startswith("/api/") and path != "/api/session":
            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "A retry with the same key within a day gets the first answer.",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                }
            )
            codes += ["invalid", "in_progress"]  # a malformed or reused key
        if parameters:
            operation["parameters"] = parameters
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of[e.body]}},
            }
        success: dict[str, Any] = {"description": STATUS_WORDS.get(e.status, "Success")}
        if e.response is not None:
            success["content"] = {"application/json": {"schema": schema_of[e.response]}}
            links = item_links(e, endpoints, collections)
            if links:
                success["links"] = links
        responses: dict[str, Any] = {str(e.status): success}
        by_status: dict[int, list[str]] = {}
        for code in dict.fromkeys(codes):
            by_status.setdefault(status_of(code), []).append(code)
        for status, listed in sorted(by_status.items()):
            words = STATUS_WORDS.get(status, "Error")
            responses[str(status)] = {
                "description": f"{words}: " + ", ".join(f"`{c}`" for c in listed),
                "content": {"application/json": {"schema": error_ref}},
            }
        operation["responses"] = responses
        operation["security"] = [{"session": []}] if e.roles else []
        paths.setdefault(path, {})[e.method.lower()] = operation

    paths["/ws"] = {
        "get": {
            "operationId": "get_ws",
            "summary": "Live updates over a WebSocket (see the description above)",
            "tags": ["live"],
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "description": "The last position the client saw.",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "101": {"description": "Switching to the WebSocket protocol"},
                "403": {"description": "Not signed in, or the Origin names another site"},
                "429": {
                    "description": "`too_many_connections`: this person has the most live "
                    "sockets one may hold (HALLPASS_WS_PER_USER, 20 by default)"
                },
            },
            "security": [{"session": []}],
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": DESCRIPTION},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "hallpass_session"}
            },
        },
    }


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and p != "api"]
    return parts[0] if parts else "service"


# --- links: where the ids in an answer lead ----------------------------------------
# An answer that shows a pass (or a request, a room) links to every operation
# on that item, so a client (or a stateful fuzzer) can follow POST /api/passes
# to POST /api/passes/{id}/end without knowing the URL scheme. Derived from the
# table: the item types are the answers of the endpoints at "{collection}/{id}".


def item_links(
    endpoint: Endpoint, endpoints: Sequence[Endpoint], collections: dict[type, str]
) -> dict[str, Any]:
    """OpenAPI links from `endpoint`'s success answer to the operations on the
    items it shows (itself left out); `collections` is `_collections(endpoints)`
    (msgspec's type inspection is slow: each type is looked at once)."""
    links: dict[str, Any] = {}
    own_path, _ = _openapi_path(endpoint.path)
    shown = msgspec.inspect.type_info(endpoint.response)
    for item, collection in collections.items():
        for pointer in _pointers(shown, item):
            for target in endpoints:
                path, _ = _openapi_path(target.path)
                same = (target.method, path) == (endpoint.method, own_path)
                if same or not (path + "/").startswith(collection + "/{id}/"):
                    continue
                operation_id = _operation_id(target.method, path)
                name = operation_id + pointer.replace("/", "_")  # pass_0, passes_0
                links[name] = {
                    "operationId": operation_id,
                    "parameters": {"path.id": f"$response.body#{pointer}/id"},
                }
    return links


def _collections(endpoints: Sequence[Endpoint]) -> dict[type, str]:
    """Each item type and the collection path its id is put under."""
    found: dict[type, str] = {}
    for e in endpoints:
        path, _ = _openapi_path(e.path)
        info = msgspec.inspect.type_info(e.response) if e.response is not None else None
        if (
            path.endswith("/{id}")
            and isinstance(info, msgspec.inspect.StructType)
            and any(f.encode_name == "id" for f in info.fields)
        ):
            found.setdefault(info.cls, path.removesuffix("/{id}"))
    return found


def _pointers(info: msgspec.inspect.Type, item: type, at: str = "", depth: int = 0) -> list[str]:
    """JSON pointers to where an `item` sits in an answer: the answer itself, a
    field of it, or the first of a list (two levels deep at most)."""
    if isinstance(info, msgspec.inspect.StructType):
        if info.cls is item:
            return [at]
        if depth >= 2:
            return []
        return [
            p
            for f in info.fields
            for p in _pointers(f.type, item, f"{at}/{f.encode_name}", depth + 1)
        ]
    if isinstance(info, msgspec.inspect.ListType) and depth < 2:
        return _pointers(info.item_type, item, f"{at}/0", depth + 1)
    return []
