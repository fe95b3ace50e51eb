"""Signing in with a school account: OpenID Connect (docs/sso.md, hallpass.sso.flow).

    GET /api/sso/{school}/status  {"enabled", "password_signin"}: what the sign-in page offers
    GET /api/sso/{school}/start   302 to the school's provider
    GET /api/sso/callback         where the provider sends the person back: 302 to `/`
                                  signed in, or to `/?school=S&sso_error=CODE`

The last two are pages a browser walks through, not calls a script makes: a
refusal is a redirect to the sign-in page naming the code (hallpass.sso.flow's
MESSAGES words each one), never a JSON error on an empty screen.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hallpass.directory.model import School
from hallpass.sso.flow import (
    FLOW_SECONDS,
    Pending,
    SsoError,
    begin,
    email_of,
    exchange_code,
    save_pending,
    take_pending,
    verified_claims,
)
from hallpass.sso.provider import ProviderError, Providers
from hallpass.sso.setup import CALLBACK_PATH
from hallpass.web.auth import is_https, set_session_cookie, start_session
from hallpass.web.context import services
from hallpass.web.endpoint import Endpoint
from hallpass.web.json import json_response

log = logging.getLogger("hallpass.sso")

# Binds a begun sign-in to the browser that began it; sent only to the callback.
FLOW_COOKIE = "hallpass_sso"
SIGN_IN_PAGE = "/"
MAX_SLUG = 64  # longer is no school's (provision allows 40)


class SsoStatus(msgspec.Struct, kw_only=True):
    enabled: bool  # the page shows "Sign in with your school account"
    password_signin: bool  # the page shows the username and password form


def providers(request: Request) -> Providers:
    """The process's discovery and key cache, made at first use."""
    state = request.app.state
    found = getattr(state, "sso_providers", None)
    if not isinstance(found, Providers):
        found = Providers()
        state.sso_providers = found
    return found


def redirect_uri(request: Request) -> str:
    """The callback's address as the provider must have it registered: under
    the public URL when there is one (behind a proxy the request may not know it)."""
    public_url = services(request).settings.public_url
    base = public_url if public_url else str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


def back_to_sign_in(request: Request, code: str, school: str | None) -> Response:
    query = {"school": school, "sso_error": code} if school else {"sso_error": code}
    response = RedirectResponse(f"{SIGN_IN_PAGE}?{urlencode(query)}", status_code=302)
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH, secure=is_https(request), httponly=True)
    return response


async def _school(request: Request) -> School | None:
    slug = request.path_params["school"]
    if not slug or len(slug) > MAX_SLUG:
        return None
    return await services(request).backend.directory.get_school(slug)


async def status(request: Request) -> Response:
    # An unknown school answers as a school without SSO: this does not tell
    # which schools exist.
    school = await _school(request)
    if school is None:
        return json_response(SsoStatus(enabled=False, password_signin=True))
    return json_response(
        SsoStatus(enabled=school.sso is not None, password_signin=school.password_signin)
    )


async def start(request: Request) -> Response:
    school = await _school(request)
    if school is None or school.sso is None:
        return back_to_sign_in(request, "sso_not_configured", None)
    try:
        metadata = await providers(request).metadata(school.sso.issuer)
    except ProviderError as error:
        log.warning("single sign-on for %s: %s", school.slug, error)
        return back_to_sign_in(request, "sso_provider_error", school.slug)
    begun = begin(school.slug, school.sso, metadata, redirect_uri(request))
    await save_pending(services(request).ephemeral, begun)
    response = RedirectResponse(begun.url, status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        begun.browser,
        max_age=int(FLOW_SECONDS),
        path=CALLBACK_PATH,
        secure=is_https(request),
        httponly=True,
        # Lax: the provider's redirect back is a top-level GET from its site.
        samesite="lax",
    )
    return response


async def callback(request: Request) -> Response:
    params = request.query_params
    school: str | None = None
    try:
        pending = await take_pending(
            services(request).ephemeral, params.get("state", ""), request.cookies.get(FLOW_COOKIE)
        )
        school = pending.school
        response = await _finish(request, pending)
    except SsoError as error:
        log.info("single sign-on refused (%s): %s", school or "no school", error)
        return back_to_sign_in(request, error.code, school)
    except ProviderError as error:
        log.warning("single sign-on for %s: %s", school, error)
        return back_to_sign_in(request, "sso_provider_error", school)
    response.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH, secure=is_https(request), httponly=True)
    return response


async def _finish(request: Request, pending: Pending) -> Response:
    params, slug = request.query_params, pending.school
    if "error" in params:  # the person cancelled, or the provider would not let them in
        raise SsoError("sso_denied", f"the provider answered {params['error'][:100]!r}")
    code = params.get("code")
    if not code:
        raise SsoError("sso_provider_error", "the provider sent no code")
    svc = services(request)
    directory = svc.backend.directory
    school = await directory.get_school(slug)
    if school is None or school.sso is None:  # turned off while the person was away
        raise SsoError("sso_not_configured", "no SSO settings any more")
    config = school.sso
    cache = providers(request)
    metadata = await cache.metadata(config.issuer)
    async with cache.client() as client:
        answer = await exchange_code(client, metadata, config, code, pending)
    claims = await verified_claims(
        cache,
        metadata,
        answer,
        client_id=config.client_id,
        nonce=pending.nonce,
        now=int(time.time()),
    )
    email = email_of(claims, config)
    user = await directory.user_by_email(slug, email)
    if user is None or not user.active:
        raise SsoError("sso_unknown_user", f"no active user with the email {email}")
    token = await start_session(request, user)
    log.info("single sign-on: %s of %s signed in", user.id, slug)
    response = RedirectResponse(SIGN_IN_PAGE, status_code=302)
    set_session_cookie(response, request, token)
    return response


endpoints: list[Endpoint] = [
    Endpoint(
        method="GET",
        path="/api/sso/{school}/status",
        handler=status,
        summary=(
            "Whether the school signs people in with a school account (enabled) and "
            "whether it still takes passwords (password_signin): what the sign-in page "
            "offers. An unknown school answers as one without single sign-on."
        ),
        response=SsoStatus,
    ),
    Endpoint(
        method="GET",
        path="/api/sso/{school}/start",
        handler=start,
        summary=(
            "Begin signing in with the school's OpenID Connect provider: 302 to it "
            "(a browser navigates here). Refusals are a 302 to "
            "/?school=SCHOOL&sso_error=CODE (sso_not_configured, sso_provider_error)."
        ),
        status=302,
    ),
    Endpoint(
        method="GET",
        path=CALLBACK_PATH,
        handler=callback,
        summary=(
            "Where the provider sends the person back (code, state): signed in, 302 to /. "
            "Refusals are a 302 to /?school=SCHOOL&sso_error=CODE: sso_state_invalid, "
            "sso_denied, sso_provider_error, sso_token_invalid, sso_no_email, "
            "sso_wrong_domain, sso_unknown_user, sso_not_configured."
        ),
        status=302,
        query=("code", "state", "error"),
    ),
]
