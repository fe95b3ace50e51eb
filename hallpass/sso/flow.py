"""The authorization-code flow with PKCE, from Hallpass's side (the relying party).

1. `begin`: a random state, nonce and PKCE verifier; the browser is sent to
   the provider with the state, the nonce and the verifier's S256 challenge.
   The rest (`Pending`) waits in the ephemeral store for FLOW_SECONDS, keyed
   by the state's hash, and a cookie binds it to the browser that began it.
2. `take_pending`: the provider sends the browser back with `code` and
   `state`; the state must be known, unused, and begun in this browser (else
   someone could sign a victim into the attacker's account).
3. `exchange_code`: the code and the verifier go to the token endpoint, with
   the client's secret.
4. `verified_claims`: the ID token's signature is checked against the
   provider's keys, then (Authlib's CodeIDToken) its issuer, audience, nonce,
   expiry, issue time, `azp` and `at_hash`.
5. `email_of`: the verified email address the school's directory is searched by.

Every refusal is an SsoError whose code the sign-in page shows as a sentence
(MESSAGES); its detail is for the log only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from authlib.common.urls import add_params_to_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from hallpass.directory.model import SsoConfig, email_key
from hallpass.service.ephemeral import Ephemeral, ephemeral_key
from hallpass.sso.provider import ProviderMetadata, Providers

SCOPES = "openid email profile"
# How long a person may take at the provider's sign-in page.
FLOW_SECONDS = 600.0
# Clock skew allowed between the provider and us when judging exp and iat.
LEEWAY_SECONDS = 60
# Public-key signatures only: with a shared-secret algorithm (HS256) whoever
# holds the client secret could mint tokens, and a confused library could
# take the provider's public key for the secret.
SIGNING_ALGORITHMS = (
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "EdDSA"),
)
MAX_STATE_LENGTH = 256

MESSAGES: dict[str, str] = {
    "sso_not_configured": (
        "Your school has not set up signing in with a school account. "
        "Please sign in with your username and password."
    ),
    "sso_state_invalid": (
        "That sign-in has expired or was already used. Please start signing in again."
    ),
    "sso_denied": "Your school's sign-in service did not sign you in. Please try again.",
    "sso_provider_error": (
        "Your school's sign-in service could not be reached or gave an answer we cannot use. "
        "Please try again in a moment; if it keeps happening, tell your school's IT staff."
    ),
    "sso_token_invalid": (
        "The answer from your school's sign-in service did not pass our checks, so you "
        "were not signed in. Please try again, and tell your school's IT staff if it "
        "keeps happening."
    ),
    "sso_no_email": (
        "Your school account has no verified email address, so we cannot tell who you are. "
        "Please tell your school's IT staff."
    ),
    "sso_wrong_domain": (
        "That account is not one of your school's. Please sign in with your school account."
    ),
    "sso_unknown_user": (
        "There is no active Hallpass account with your school email address at this school. "
        "Please ask your school's office to add you."
    ),
}


class SsoError(Exception):
    """A refused sign-in: `code` is one of MESSAGES; `detail` says why, for the log."""

    def __init__(self, code: str, detail: str = "") -> None:
        assert code in MESSAGES, code
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def message(self) -> str:
        return MESSAGES[self.code]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- 1. the authorization request -------------------------------------------------


class Pending(msgspec.Struct, kw_only=True):
    """A begun sign-in, kept server-side until the provider sends the person back."""

    school: str
    nonce: str
    verifier: str  # the PKCE code_verifier; only its S256 hash left this server
    redirect_uri: str  # sent again, the same, with the code
    browser: str  # sha256 of the binding cookie of the browser that began it


@dataclass(frozen=True)
class Begun:
    state: str
    browser: str  # the binding cookie's value, for that browser only
    url: str  # where to send the browser: the provider's authorization endpoint
    pending: Pending


def begin(school: str, config: SsoConfig, metadata: ProviderMetadata, redirect_uri: str) -> Begun:
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)  # 64 characters; RFC 7636 asks 43 to 128
    browser = secrets.token_urlsafe(32)
    params = [
        ("response_type", "code"),
        ("client_id", config.client_id),
        ("redirect_uri", redirect_uri),
        ("scope", SCOPES),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", create_s256_code_challenge(verifier)),
        ("code_challenge_method", "S256"),
    ]
    url: str = add_params_to_uri(metadata.authorization_endpoint, params)
    pending = Pending(
        school=school,
        nonce=nonce,
        verifier=verifier,
        redirect_uri=redirect_uri,
        browser=_sha256(browser),
    )
    return Begun(state=state, browser=browser, url=url, pending=pending)


# --- 2. the way back ------------------------------------------------------------


def flow_key(state: str) -> str:
    # The hash, so that a copy of the ephemeral store holds no usable state.
    return ephemeral_key(None, "sso", "flow", _sha256(state))


async def save_pending(ephemeral: Ephemeral, begun: Begun) -> None:
    await ephemeral.put(flow_key(begun.state), msgspec.json.encode(begun.pending), FLOW_SECONDS)


_pending = msgspec.json.Decoder(Pending)


async def take_pending(ephemeral: Ephemeral, state: str, browser: str | None) -> Pending:
    """The sign-in `state` names, at most once. Refused (sso_state_invalid) when
    the state is unknown, expired or used, or the browser is not the one that
    began it; a stranger's try does not use the state up."""
    if not state or len(state) > MAX_STATE_LENGTH:
        raise SsoError("sso_state_invalid", "no usable state")
    key = flow_key(state)
    data = await ephemeral.get(key)
    if data is None:
        raise SsoError("sso_state_invalid", "unknown, expired or used state")
    pending = _pending.decode(data)
    if not browser or not hmac.compare_digest(pending.browser, _sha256(browser)):
        raise SsoError("sso_state_invalid", "the state was begun in another browser")
    # Two callbacks with one state at once: only one claims it.
    if not await ephemeral.put_if_absent(key + ":used", b"1", FLOW_SECONDS):
        raise SsoError("sso_state_invalid", "the state was used already")
    await ephemeral.delete(key)
    return pending


# --- 3. the code exchange -------------------------------------------------------


class TokenAnswer(msgspec.Struct):
    id_token: str
    access_token: str | None = None


async def exchange_code(
    client: httpx.AsyncClient,
    metadata: ProviderMetadata,
    config: SsoConfig,
    code: str,
    pending: Pending,
) -> TokenAnswer:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending.redirect_uri,
        "code_verifier": pending.verifier,
    }
    methods = metadata.token_endpoint_auth_methods_supported
    auth: httpx.Auth = httpx.Auth()  # the base class adds nothing
    if "client_secret_basic" in methods:
        auth = httpx.BasicAuth(config.client_id, config.client_secret)
    elif "client_secret_post" in methods:
        form |= {"client_id": config.client_id, "client_secret": config.client_secret}
    else:
        raise SsoError(
            "sso_provider_error",
            f"the token endpoint takes neither client_secret_basic nor client_secret_post: {methods}",
        )
    try:
        response = await client.post(
            metadata.token_endpoint, data=form, auth=auth, headers={"Accept": "application/json"}
        )
    except httpx.HTTPError as error:
        raise SsoError("sso_provider_error", f"the token endpoint: {error!r}") from None
    if response.status_code != 200:
        raise SsoError(
            "sso_provider_error",
            f"the token endpoint answered {response.status_code}: {_oauth_error(response)}",
        )
    try:
        return msgspec.json.decode(response.content, type=TokenAnswer)
    except msgspec.DecodeError as error:
        raise SsoError("sso_provider_error", f"the token answer: {error}") from None


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth error code of a refusal (`invalid_grant`, ...), for the log."""
    try:
        body = response.json()
    except ValueError:
        return "(no JSON)"
    return str(body.get("error", "?"))[:100] if isinstance(body, dict) else "(no JSON object)"


# --- 4. the ID token ------------------------------------------------------------


def signing_algorithms(metadata: ProviderMetadata) -> list[str]:
    return [a for a in metadata.id_token_signing_alg_values_supported if a in SIGNING_ALGORITHMS]


def _decode(id_token: str, keys: KeySet, algorithms: Sequence[str]) -> jwt.Token:
    # Providers add header fields of their own (Entra ID's x5t): not strict.
    registry = JWSRegistry(algorithms=list(algorithms), strict_check_header=False)
    return jwt.decode(id_token, keys, registry=registry)


async def verified_claims(
    providers: Providers,
    metadata: ProviderMetadata,
    answer: TokenAnswer,
    *,
    client_id: str,
    nonce: str,
    now: int,
) -> dict[str, Any]:
    """The ID token's claims once its signature and claims hold, else SsoError
    (sso_token_invalid). ProviderError when the keys cannot be fetched."""
    algorithms = signing_algorithms(metadata)
    if not algorithms:
        raise SsoError(
            "sso_provider_error",
            "the provider signs ID tokens with none of "
            f"{', '.join(SIGNING_ALGORITHMS)}: {metadata.id_token_signing_alg_values_supported}",
        )
    keys = await providers.keys(metadata)
    try:
        try:
            token = _decode(answer.id_token, keys, algorithms)
        except InvalidKeyIdError:  # a new key: the provider has rotated them
            token = _decode(
                answer.id_token, await providers.keys(metadata, refresh=True), algorithms
            )
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": metadata.issuer},
                "aud": {"essential": True, "value": client_id},
            },
            {"nonce": nonce, "client_id": client_id, "access_token": answer.access_token},
        )
        claims.validate(now=now, leeway=LEEWAY_SECONDS)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise SsoError("sso_token_invalid", f"{type(error).__name__}: {error}") from None
    return dict(claims)


# --- 5. who it is ---------------------------------------------------------------


def email_of(claims: dict[str, Any], config: SsoConfig) -> str:
    """The address to look the person up by: the token's `email`, unless the
    provider says it is unverified, and within the school's domain if it set one."""
    email = claims.get("email")
    key = email_key(email) if isinstance(email, str) else None
    if key is None or "@" not in key:
        raise SsoError("sso_no_email", "the ID token has no email claim")
    # Some providers write the flag as a string.
    if claims.get("email_verified") in (False, "false"):
        raise SsoError("sso_no_email", f"the provider marks {key} unverified")
    if config.domain and key.rpartition("@")[2] != email_key(config.domain):
        raise SsoError("sso_wrong_domain", f"{key} is outside {config.domain}")
    return key
