"""Who is asking: sessions behind the `hallpass_session` cookie, and the
device cookies that let a person's own device past an account's lock.

A session token is 256 random bits; the directory stores only its sha256, so
a copy of the store cannot be replayed as cookies. A session ends after
`session_idle_seconds` without a request and `session_lifetime_seconds`
after sign-in, whichever comes first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import msgspec
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from hallpass.directory.model import Session, User
from hallpass.rules.commands import Actor
from hallpass.service.services import Services
from hallpass.web.context import services
from hallpass.web.errors import ApiError

SESSION_COOKIE = "hallpass_session"
DEVICE_COOKIE = "hallpass_device"
# The device cookie is only ever needed by sign-in.
DEVICE_COOKIE_PATH = "/api/session"
# A shared cart Chromebook remembers its last few people, not the whole school.
DEVICE_MAX_USERS = 8
ALL_ROLES: tuple[str, ...] = ("student", "teacher", "admin", "kiosk")

_USER_KEY = "hallpass.user"
_MISSING = object()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_https(conn: HTTPConnection, svc: Services | None = None) -> bool:
    """Served over https: the request's scheme (uvicorn applies a trusted
    proxy's X-Forwarded-Proto to it), or an https public URL."""
    svc = svc or services(conn)
    return conn.url.scheme in ("https", "wss") or svc.settings.public_https


def actor_of(user: User) -> Actor:
    return Actor(id=user.id, role=user.role, room=user.room)


# --- sessions --------------------------------------------------------------------


def _remember(conn: HTTPConnection, user: User | None) -> None:
    conn.scope.setdefault("state", {})[_USER_KEY] = user


async def current_user(conn: HTTPConnection, *, touch: bool = True) -> User | None:
    """The signed-in user of this request or WebSocket handshake, or None
    (no cookie, unknown or expired session, user gone or inactive). Looked
    up once per request. Using a session resets its idle clock, and so does
    the hub's heartbeat check of an open socket: a board or kiosk on screen
    stays signed in until the session's lifetime ends (docs/api.md). A check
    that should not count as use passes touch=False."""
    cached: Any = conn.scope.get("state", {}).get(_USER_KEY, _MISSING)
    if cached is not _MISSING:
        return cached if isinstance(cached, User) else None
    user = await _session_user(conn, touch)
    _remember(conn, user)
    return user


async def _session_user(conn: HTTPConnection, touch: bool) -> User | None:
    token = conn.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await session_user(services(conn), token, touch=touch)


async def session_user(svc: Services, token: str, *, touch: bool = True) -> User | None:
    """The user signed in with session `token` (the cookie's value), or None;
    what `current_user` looks up, without a request to remember it on (the
    hub holds a socket's token for hours, not the handshake's scope)."""
    if not token or len(token) > 128:
        return None
    settings = svc.settings
    directory = svc.backend.directory
    hashed = token_hash(token)
    session = await directory.get_session(hashed)
    if session is None:
        return None
    now = time.time()
    age = now - session.created
    if (
        age >= settings.session_lifetime_seconds
        or now - session.seen >= settings.session_idle_seconds
    ):
        await directory.delete_session(hashed)
        return None
    user = await directory.get_user(session.school, session.user)
    if user is None or not user.active:
        await directory.delete_session(hashed)
        return None
    # Write the "seen" time back only now and then: one write per request
    # would double the cost of every read.
    touch_every = min(60.0, settings.session_idle_seconds / 10)
    if touch and now - session.seen >= touch_every:
        renewed = msgspec.structs.replace(session, seen=now)
        ttl = min(settings.session_idle_seconds, settings.session_lifetime_seconds - age)
        await directory.put_session(renewed, ttl)
    return user


async def require_user(conn: HTTPConnection, roles: tuple[str, ...] = ()) -> User:
    """The signed-in user, whose role is one of `roles` (any role when empty);
    else 401 `unauthenticated` or 403 `forbidden`."""
    user = await current_user(conn)
    if user is None:
        raise ApiError(401, "unauthenticated", "Please sign in first.")
    if roles and user.role not in roles:
        raise ApiError(403, "forbidden", "Your account is not allowed to do that.")
    return user


async def start_session(conn: HTTPConnection, user: User) -> str:
    """A new session for `user`; the session this request came with (if any)
    is deleted, so a token that was planted or seen before sign-in is dead."""
    svc = services(conn)
    directory = svc.backend.directory
    old = conn.cookies.get(SESSION_COOKIE)
    if old and len(old) <= 128:
        await directory.delete_session(token_hash(old))
    token = secrets.token_urlsafe(32)
    now = time.time()
    session = Session(
        token_hash=token_hash(token), school=user.school, user=user.id, created=now, seen=now
    )
    ttl = min(svc.settings.session_idle_seconds, svc.settings.session_lifetime_seconds)
    await directory.put_session(session, ttl)
    _remember(conn, user)
    return token


async def end_session(conn: HTTPConnection) -> None:
    token = conn.cookies.get(SESSION_COOKIE)
    if token and len(token) <= 128:
        await services(conn).backend.directory.delete_session(token_hash(token))
    _remember(conn, None)


def set_session_cookie(response: Response, conn: HTTPConnection, token: str) -> None:
    svc = services(conn)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(svc.settings.session_lifetime_seconds),
        path="/",
        secure=is_https(conn, svc),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, conn: HTTPConnection) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=is_https(conn), httponly=True, samesite="lax"
    )


# --- device cookies (OWASP's "device cookie" pattern) ---------------------------


class Device(msgspec.Struct, array_like=True):
    nonce: str  # this device's own name, kept across re-issues
    issued: float  # unix seconds
    users: list[tuple[str, str]]  # (school, user id), most recent first

    def knows(self, user: User) -> bool:
        return (user.school, user.id) in {tuple(u) for u in self.users}


_device_decoder = msgspec.msgpack.Decoder(Device)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(svc: Services, payload: bytes) -> bytes:
    return hmac.new(svc.subkey("device-cookie"), payload, hashlib.sha256).digest()


def read_device(conn: HTTPConnection) -> Device | None:
    """The request's device cookie when its signature holds and it is not too old."""
    svc = services(conn)
    value = conn.cookies.get(DEVICE_COOKIE)
    if not value or len(value) > 2048 or value.count(".") != 1:
        return None
    body, signature = value.split(".")
    try:
        payload, mac = _unb64(body), _unb64(signature)
    except ValueError:
        return None
    if not hmac.compare_digest(mac, _sign(svc, payload)):
        return None
    try:
        device = _device_decoder.decode(payload)
    except msgspec.DecodeError:
        return None
    if time.time() - device.issued > svc.settings.device_cookie_days * 86400:
        return None
    return device


def set_device_cookie(
    response: Response, conn: HTTPConnection, user: User, previous: Device | None
) -> None:
    """Remember on this device that `user` signed in here."""
    svc = services(conn)
    entry = (user.school, user.id)
    known = [tuple(u) for u in previous.users] if previous else []
    users = [entry, *(u for u in known if u != entry)][:DEVICE_MAX_USERS]
    nonce = previous.nonce if previous else secrets.token_urlsafe(16)
    device = Device(nonce=nonce, issued=time.time(), users=[(s, u) for s, u in users])
    payload = msgspec.msgpack.encode(device)
    response.set_cookie(
        DEVICE_COOKIE,
        f"{_b64(payload)}.{_b64(_sign(svc, payload))}",
        max_age=int(svc.settings.device_cookie_days * 86400),
        path=DEVICE_COOKIE_PATH,
        secure=is_https(conn, svc),
        httponly=True,
        samesite="strict",
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
