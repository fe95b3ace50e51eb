"""The messages of `GET /ws` (API.md, "Live updates"), and their encoding.

A message is encoded to JSON once and the same text goes to every receiver.
Positions are the school's stream versions written as decimal strings
(docs/architecture.md, "Versions and positions").
"""

from __future__ import annotations

import msgspec

from hallpass.service.views import PassView, RequestView

# A version has at most this many digits; a longer `after` is garbage, not a
# number worth parsing.
_MAX_POSITION_DIGITS = 19


class Snapshot(msgspec.Struct, tag_field="type", tag="snapshot"):
    position: str
    passes: list[PassView]
    requests: list[RequestView]


class PassChanged(msgspec.Struct, tag_field="type", tag="pass"):
    position: str
    pass_: PassView = msgspec.field(name="pass")


class RequestChanged(msgspec.Struct, tag_field="type", tag="request"):
    position: str
    request: RequestView


class Heartbeat(msgspec.Struct, tag_field="type", tag="heartbeat"):
    """Sent every few seconds so proxies keep an idle screen's socket open.
    Every change up to `position` came before it: a client may resume from it."""

    position: str


class Pong(msgspec.Struct, tag_field="type", tag="pong"):
    pass


class Ping(msgspec.Struct, tag_field="type", tag="ping"):
    pass


Message = Snapshot | PassChanged | RequestChanged | Heartbeat | Pong

_encoder = msgspec.json.Encoder()
_ping_decoder = msgspec.json.Decoder(Ping)


def encode(message: Message) -> str:
    # The ASGI server wants text frames as str; decoding once here saves each
    # receiver from doing it.
    return _encoder.encode(message).decode()


def position(version: int) -> str:
    return str(version)


def parse_position(raw: str | None) -> int | None:
    """The version an `after` names, or None when it is absent or not a
    position this server could have handed out."""
    if raw is None or not raw.isascii() or not raw.isdigit():
        return None
    if len(raw) > _MAX_POSITION_DIGITS:
        return None
    return int(raw)


def is_ping(text: str) -> bool:
    """Whether a client's frame is `{"type": "ping"}`; anything else is ignored."""
    try:
        _ping_decoder.decode(text)
    except msgspec.DecodeError:  # malformed JSON, or valid JSON of another shape
        return False
    except RecursionError:  # {"type": "ping", "x": [[[[...: skipping "x" recursed too deep
        return False
    return True


PONG = encode(Pong())
