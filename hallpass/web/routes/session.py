"""Signing in and out, and the signed-in person's own account (API.md, "Session")."""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from hallpass.directory.model import Appearance, DuplicateUser, Language, Settings, User
from hallpass.passwords import (
    dummy_verify_async,
    hash_password_async,
    needs_rehash,
    pin_key,
    valid_pin,
    verify_password_async,
)
from hallpass.rules.commands import Role
from hallpass.service.ephemeral import ephemeral_key
from hallpass.web.auth import (
    ALL_ROLES,
    clear_session_cookie,
    client_address,
    end_session,
    read_device,
    require_user,
    set_device_cookie,
    set_session_cookie,
    start_session,
)
from hallpass.web.body import read_body
from hallpass.web.context import services
from hallpass.web.endpoint import Endpoint
from hallpass.web.errors import ApiError
from hallpass.web.json import json_response
from hallpass.web.throttle import account_throttle, address_throttle

MAX_FAVORITES = 20

Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Username = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
RoomId = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class LoginBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    school: Slug
    username: Username
    password: Password


class SettingsBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Any of these; what is left out stays as it is."""

    language: Language | UnsetType = UNSET
    appearance: Appearance | UnsetType = UNSET
    favorites: Annotated[list[RoomId], msgspec.Meta(max_length=100)] | UnsetType = UNSET
    pin: Annotated[str, msgspec.Meta(max_length=32)] | UnsetType = UNSET  # teachers only


class UserView(msgspec.Struct, kw_only=True):
    id: str
    name: str
    role: Role
    school: str
    number: str | None
    room: str | None
    settings: Settings


class SignedIn(msgspec.Struct, kw_only=True):
    user: UserView


def user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        name=user.name,
        role=user.role,
        school=user.school,
        number=user.number,
        room=user.room,
        settings=user.settings,
    )


BAD_CREDENTIALS = ApiError(
    401, "bad_credentials", "That school, username and password do not match an account."
)


async def sign_in(request: Request) -> Response:
    svc = services(request)
    body = await read_body(request, LoginBody)
    by_address = address_throttle(svc.ephemeral, svc.settings)
    address_key = ephemeral_key(None, "login", "address", client_address(request))
    device = read_device(request)
    if device is None:  # nothing vouches for the caller: a locked address stops here
        await by_address.check(address_key)

    directory = svc.backend.directory
    school = await directory.get_school(body.school)
    user = await directory.user_by_username(body.school, body.username) if school else None
    # A school may sign people in with its accounts only (docs/sso.md); its
    # kiosks are devices with no school account and keep their passwords.
    if school and not school.password_signin and (user is None or user.role != "kiosk"):
        raise PASSWORD_SIGNIN_DISABLED

    # A device this person signed in on before has a lock of its own, so an
    # attacker guessing their password cannot lock them out of it: not by
    # guessing this account, nor by locking the address they share (a
    # school's network is one address to the outside).
    by_account = account_throttle(svc.ephemeral, svc.settings)
    if device is not None and user is not None and device.knows(user):
        key = ephemeral_key(body.school, "login", "device", device.nonce, user.id)
    else:
        if device is not None:
            await by_address.check(address_key)
        name = hashlib.sha256(body.username.encode()).hexdigest()[:32]
        key = ephemeral_key(body.school, "login", "account", name)
    await by_account.check(key)

    if user is None:
        # As slow as a real check, so the answer's timing does not tell
        # which schools and usernames exist.
        await dummy_verify_async(body.password)
        correct = False
    else:
        correct = await verify_password_async(user.password_hash, body.password)
    if user is None or not correct or not user.active:
        await by_account.failed(key)
        await by_address.failed(address_key)
        raise BAD_CREDENTIALS

    await by_account.succeeded(key)
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password_async(body.password)
        await directory.update_user(user)
    token = await start_session(request, user)
    response = json_response(SignedIn(user=user_view(user)))
    set_session_cookie(response, request, token)
    set_device_cookie(response, request, user, device)
    return response


PASSWORD_SIGNIN_DISABLED = ApiError(
    403,
    "password_signin_disabled",
    "Your school signs you in with your school account, not a password here. "
    'Please use "Sign in with your school account".',
)


async def sign_out(request: Request) -> Response:
    await end_session(request)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response


async def me(request: Request) -> Response:
    user = await require_user(request)
    return json_response(user_view(user))


async def change_settings(request: Request) -> Response:
    user = await require_user(request)
    body = await read_body(request, SettingsBody)
    svc = services(request)
    # Check everything first: a rejected request changes nothing.
    settings = msgspec.structs.replace(user.settings)
    if not isinstance(body.language, UnsetType):
        settings.language = body.language
    if not isinstance(body.appearance, UnsetType):
        settings.appearance = body.appearance
    if not isinstance(body.favorites, UnsetType):
        settings.favorites = await _favorites(request, user, body.favorites)
    new_pin_key = user.pin_key
    if not isinstance(body.pin, UnsetType):
        new_pin_key = await _pin_key(request, user, body.pin)

    changed = msgspec.structs.replace(user, settings=settings, pin_key=new_pin_key)
    try:
        await svc.backend.directory.update_user(changed)
    except DuplicateUser:
        raise _PIN_TAKEN from None
    return json_response(user_view(changed))


_PIN_TAKEN = ApiError(
    409, "pin_taken", "That PIN is already in use at your school; choose another."
)


async def _favorites(request: Request, user: User, favorites: list[str]) -> list[str]:
    chosen = list(dict.fromkeys(favorites))  # without repeats, in the order given
    if len(chosen) > MAX_FAVORITES:
        raise ApiError(422, "invalid", f"favorites: at most {MAX_FAVORITES} rooms.")
    runtime = await services(request).schools.get(user.school)
    for room in chosen:
        if room not in runtime.state.rooms:
            raise ApiError(
                422, "unknown_room", f"favorites: there is no room with the id {room!r}."
            )
    return chosen


async def _pin_key(request: Request, user: User, pin: str) -> str:
    if user.role != "teacher":
        raise ApiError(403, "forbidden", "Only teachers have a PIN.")
    if not valid_pin(pin):
        raise ApiError(422, "invalid", "pin: a PIN is 4 to 6 digits.")
    directory = services(request).backend.directory
    school = await directory.get_school(user.school)
    if school is None:  # the school was removed under a live session
        raise ApiError(401, "unauthenticated", "Please sign in first.")
    key = pin_key(school.secret, pin)
    owner = await directory.user_by_pin_key(user.school, key)
    if owner is not None and owner.id != user.id:
        raise _PIN_TAKEN
    return key


endpoints: list[Endpoint] = [
    Endpoint(
        method="POST",
        path="/api/session",
        handler=sign_in,
        summary="Sign in: sets the session cookie",
        body=LoginBody,
        response=SignedIn,
        errors=("bad_credentials", "too_many_attempts", "invalid", "password_signin_disabled"),
    ),
    Endpoint(
        method="DELETE",
        path="/api/session",
        handler=sign_out,
        summary="Sign out: ends the session and clears its cookie",
        status=204,
    ),
    Endpoint(
        method="GET",
        path="/api/me",
        handler=me,
        summary="The signed-in user",
        roles=ALL_ROLES,
        response=UserView,
        errors=("unauthenticated",),
    ),
    Endpoint(
        method="PATCH",
        path="/api/me/settings",
        handler=change_settings,
        summary="Change one's own settings (and a teacher's PIN)",
        roles=ALL_ROLES,
        body=SettingsBody,
        response=UserView,
        errors=("unauthenticated", "forbidden", "invalid", "unknown_room", "pin_taken"),
    ),
]
