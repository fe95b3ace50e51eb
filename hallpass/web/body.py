"""Request bodies: bounded in size, decoded strictly, every fault named.

`read_body(request, Type)` is the one way a handler reads JSON. A malformed
body, a wrong type, a missing or an unknown field is a 422 `invalid` whose
sentence names the field ("minutes: expected an integer, got a string"), so a
person (or a script's author) knows what to fix. `BodyLimit` bounds every
request body before any handler sees it: by Content-Length up front, and by
counting while the body streams in (a chunked upload has no length).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hallpass.web.context import services
from hallpass.web.errors import ApiError, error_response

T = TypeVar("T")

DEFAULT_LIMIT = 64 * 1024


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"The request body is larger than the {limit} bytes allowed."
    )


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid", message)


# API.md: bodies are JSON. A form or text/plain body (what a page of another
# site may send without asking first) is refused whatever it holds; a script
# that names no type at all is taken at its word.
NOT_JSON_TYPE = "Content-Type: send the body as application/json."


def is_json_type(content_type: str | None) -> bool:
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_, strict=True)
    return decoder


async def read_body(request: Request, type_: type[T], limit: int | None = None) -> T:
    """The body decoded as `type_` (a msgspec Struct with forbid_unknown_fields,
    or any type msgspec decodes), at most `limit` bytes (the deployment's
    HALLPASS_BODY_LIMIT by default). An empty body reads as `{}`, so a body
    whose fields are all optional may be left out."""
    if limit is None:
        limit = services(request).settings.body_limit
    body = await request.body()
    if len(body) > limit:
        raise too_large(limit)
    if not body.strip():
        body = b"{}"
    elif not is_json_type(request.headers.get("content-type")):
        raise invalid(NOT_JSON_TYPE)
    try:
        value: T = _decoder(type_).decode(body)
    except msgspec.ValidationError as error:
        raise invalid(explain(str(error), type_)) from None
    except msgspec.DecodeError:
        raise invalid("The request body is not valid JSON.") from None
    except RecursionError:  # a deep value skipped under a field a lax type ignores
        raise invalid("The request body is nested too deeply.") from None
    return value


# --- turning msgspec's messages into sentences ---------------------------------

_AT = re.compile(r"^(?P<text>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "null": "null",
    "array": "a list",
    "object": "an object",
    "datetime": "a date and time with its offset, such as 2025-01-31T09:30:00Z",
    "date": "a date such as 2025-01-31",
    "time": "a time such as 09:30",
}


def _words(name: str) -> str:
    return _TYPE_WORDS.get(name, name)


def _field_name(path: str) -> str:
    # "$.favorites[2]" arrives as ".favorites[2]"; "$" alone (the body) as "".
    return path[1:] if path.startswith(".") else path


def explain(message: str, type_: Any = None) -> str:
    """msgspec's validation message as a sentence that starts with the field."""
    match = _AT.match(message)
    assert match is not None  # the pattern matches any text
    text, path = match["text"], match["path"] or ""
    field = _field_name(path)

    def at(name: str) -> str:
        return f"{field}.{name}" if field else name

    if m := re.fullmatch(r"Object missing required field `(.+)`", text):
        return f"{at(m[1])}: this field is required."
    if m := re.fullmatch(r"Object contains unknown field `(.+)`", text):
        return f"{at(m[1])}: there is no such field."
    subject = field or "The body"
    if m := re.fullmatch(r"Expected `(\w+)`, got `(\w+)`", text):
        return f"{subject}: expected {_words(m[1])}, got {_words(m[2])}."
    if m := re.fullmatch(r"Expected `str` of length ([<>]=) (\d+)", text):
        bound = "at most" if m[1] == "<=" else "at least"
        return f"{subject}: must be {bound} {m[2]} characters long."
    if m := re.fullmatch(r"Expected `(?:array|object)` of length ([<>]=) (\d+)", text):
        bound = "at most" if m[1] == "<=" else "at least"
        return f"{subject}: must have {bound} {m[2]} items."
    if m := re.fullmatch(r"Expected `(?:int|float)` ([<>]=?) (\S+)", text):
        words = {"<=": "at most", ">=": "at least", "<": "less than", ">": "more than"}
        return f"{subject}: must be {words[m[1]]} {m[2]}."
    if m := re.fullmatch(r"Expected `str` matching regex '(.*)'", text):
        return f"{subject}: has the wrong form."
    if re.fullmatch(r"Invalid enum value .*", text):
        choices = _literal_choices(type_, path)
        if choices:
            return f"{subject}: must be one of {', '.join(repr(c) for c in choices)}."
        return f"{subject}: is not one of the allowed values."
    if "datetime" in text or "RFC3339" in text:
        return f"{subject}: expected {_words('datetime')}."
    return f"{subject}: {text[:1].lower()}{text[1:]}."


def _literal_choices(type_: Any, path: str) -> tuple[Any, ...]:
    """The allowed values of the Literal at `path` in `type_`, when there is one."""
    if type_ is None:
        return ()
    info: Any = msgspec.inspect.type_info(type_)
    for step in re.findall(r"\.([^.\[]+)|\[\d+\]", path):
        info = _unwrap(info)
        if step and isinstance(info, msgspec.inspect.StructType):
            info = next((f.type for f in info.fields if f.encode_name == step), None)
        elif not step and isinstance(info, (msgspec.inspect.ListType, msgspec.inspect.SetType)):
            info = info.item_type
        else:
            return ()
    info = _unwrap(info)
    return tuple(info.values) if isinstance(info, msgspec.inspect.LiteralType) else ()


def _unwrap(info: Any) -> Any:
    # An optional field is a union with UNSET or None: look at its one real type.
    if isinstance(info, msgspec.inspect.UnionType):
        real = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        return real[0] if len(real) == 1 else info
    return info


# Up to this much of a body nobody will read is read and dropped before the
# answer goes out, so a client that is done sending reads a clean answer (a
# connection closed on unread data loses its answer to a reset). Beyond it the
# connection is closed after the answer instead: an upload may never end.
DRAIN_MOST = 1024 * 1024


class BodyLimit:
    """413 `payload_too_large` for any HTTP request body over `limit` bytes.

    An answer that is ready before the body has all arrived (a 413, or a
    refusal that never read the body) first drains up to DRAIN_MOST bytes of
    it, and closes the connection after it when there was more. A client
    waiting for `100 Continue` is not asked for its body at all: it gets the
    answer and a closed connection."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        complete = True  # no body to wait for
        headers = scope["headers"]
        waits = (b"expect", b"100-continue") in [(n, v.lower()) for n, v in headers]
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.limit:
                    error = too_large(self.limit)
                    response = error_response(error.status, error.code, error.message)
                    small = value.isdigit() and int(value) <= DRAIN_MOST
                    if not (small and not waits and await _drain(receive)):
                        response.headers["connection"] = "close"
                    await response(scope, receive, send)
                    return
                complete = value == b"0"
            elif name == b"transfer-encoding":
                complete = False

        received = 0

        async def counting_receive() -> Message:
            nonlocal received, complete
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.limit:
                    # Raised inside the handler's read, so the app's ApiError
                    # handler answers 413 (no response has started yet).
                    raise too_large(self.limit)
            return message

        async def draining_send(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start" and not complete:
                complete = not waits and await _drain(receive)
                if not complete:
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, counting_receive, draining_send)


async def _drain(receive: Receive) -> bool:
    """Read and drop the rest of a request body, DRAIN_MOST bytes at most;
    whether it ended (or the client went away) within them."""
    read = 0
    while read <= DRAIN_MOST:
        message = await receive()
        if message["type"] != "http.request":
            return True
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False
