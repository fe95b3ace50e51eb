"""`Idempotency-Key`: a retried command gets its first answer, and runs once.

API.md: a POST may carry an `Idempotency-Key` (up to 100 characters); a retry
with the same key by the same user within a day gets the first answer again
and changes nothing more. Records are scoped to (school, user, key), kept in
the ephemeral store (shared by every process), and claimed with put-if-absent
so that two copies of one request arriving at once run it only once.

Answers of status 5xx are not remembered: the outcome is unknown, so the
retry runs again; `derived_id` makes sure that it then finds what the first
attempt made (the same key derives the same new id) instead of a second pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from hallpass.directory.model import User
from hallpass.ids import new_id
from hallpass.service.ephemeral import Ephemeral, ephemeral_key
from hallpass.web.context import services
from hallpass.web.errors import ApiError, error_response

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 100
REMEMBER_SECONDS = 24 * 3600.0
# A claim is a lease: it lapses this long after it was last renewed, and its
# request renews it every RENEW_SECONDS while it runs. So a claim that nobody
# holds any more (its process was killed mid-way; the store went away before
# the claim could be released; or a frozen Redis wrote the claim only after
# its request had given up) frees the key within seconds, not a minute.
CLAIM_SECONDS = 5.0
RENEW_SECONDS = 1.0
# How long a duplicate that arrives mid-way waits for the first to finish.
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
REPLAYED_HEADER = "Idempotent-Replayed"


class _Record(msgspec.Struct, array_like=True):
    state: Literal["running", "done"]
    fingerprint: str  # the method, path and body the key was first used with
    status: int = 0
    content_type: str = ""
    body: bytes = b""


_decoder = msgspec.msgpack.Decoder(_Record)


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, or None; 422 `invalid` when malformed."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            422, "invalid", f"Idempotency-Key: must be 1 to {MAX_KEY_LENGTH} characters long."
        )
    return key


def derived_id(kind: str, school: str, user_id: str, key: str | None) -> str:
    """The id a request makes: deterministic from its Idempotency-Key (the
    same key of the same user always names the same new thing), else random.
    Same shape as `new_id(kind)`."""
    if key is None:
        return new_id(kind)
    material = msgspec.json.encode(["hallpass derived id", kind, school, user_id, key])
    return f"{kind}_{hashlib.sha256(material).hexdigest()[:20]}"


async def idempotent(
    request: Request, user: User, run: Callable[[], Awaitable[Response]]
) -> Response:
    """`run()`, or the answer it gave the first time this user sent this key."""
    key = idempotency_key(request)
    if key is None:
        return await run()
    ephemeral = services(request).ephemeral
    slot = ephemeral_key(user.school, "idem", user.id, hashlib.sha256(key.encode()).hexdigest())
    body = await request.body()
    fingerprint = hashlib.sha256(
        msgspec.json.encode([request.method, request.url.path, body.hex()])
    ).hexdigest()

    claim = msgspec.msgpack.encode(_Record("running", fingerprint))
    deadline = time.monotonic() + WAIT_SECONDS
    while not await ephemeral.put_if_absent(slot, claim, CLAIM_SECONDS):
        stored = await ephemeral.get(slot)
        if stored is None:
            continue  # it expired or was released just now: claim it
        record = _decoder.decode(stored)
        if record.fingerprint != fingerprint:
            raise ApiError(
                422,
                "invalid",
                "Idempotency-Key: this key was already used for a different request.",
            )
        if record.state == "done":
            return _replay(record)
        if time.monotonic() > deadline:
            raise ApiError(
                409,
                "in_progress",
                "This request is still being handled; try again in a moment.",
            )
        await asyncio.sleep(POLL_SECONDS)

    done_running = asyncio.Event()
    renewal = asyncio.create_task(_renew(ephemeral, slot, claim, done_running))
    try:
        try:
            response = await run()
        except ApiError as error:
            response = error_response(error.status, error.code, error.message)
        except BaseException:
            renewal.cancel()  # the claim is released below: no answer to protect
            raise
        # Let a renewal under way finish rather than cancel it: a claim
        # written after the answer below would hide that answer.
        done_running.set()
        await renewal
    except BaseException:
        # Release the claim so a retry runs again; if the store is what failed,
        # the claim expires by itself.
        with contextlib.suppress(Exception):
            await ephemeral.delete(slot)
        raise
    if response.status_code >= 500:
        await ephemeral.delete(slot)
        return response
    done = _Record(
        "done",
        fingerprint,
        status=response.status_code,
        content_type=response.headers.get("content-type", ""),
        body=bytes(response.body),
    )
    await ephemeral.put(slot, msgspec.msgpack.encode(done), REMEMBER_SECONDS)
    return response


async def _renew(ephemeral: Ephemeral, slot: str, claim: bytes, done: asyncio.Event) -> None:
    """Renew the claim every RENEW_SECONDS until `done` is set."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), RENEW_SECONDS)
            return
        with contextlib.suppress(Exception):  # a store in trouble: the request will find out
            await ephemeral.put(slot, claim, CLAIM_SECONDS)


def _replay(record: _Record) -> Response:
    headers = {REPLAYED_HEADER: "true"}
    if record.content_type:
        headers["content-type"] = record.content_type
    return Response(record.body, record.status, headers)
