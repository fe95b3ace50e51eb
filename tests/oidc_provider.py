"""A small but real OpenID Connect provider for tests, served over HTTP by
uvicorn in a thread of the test process.

    with running_provider() as provider:
        provider.redirect_uris.add(f"{server.url}/api/sso/callback")
        provider.email = "student1@example.org"     # who "signs in" next
        provider.misbehave = Misbehave(audience="someone-else")

It has what a relying party uses: a discovery document, a key set (an RSA key
made for the test session), an authorization endpoint that signs in
`provider.email` at once (no page) and sends the browser back with a code,
and a token endpoint that checks the client's id and secret, the code (once),
the redirect URI and the PKCE verifier before it hands out an RS256 ID token.
`misbehave` makes the tokens wrong in one way each, to prove they are refused.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    """RFC 7636's S256 code challenge, written out here rather than borrowed
    from the library the service uses, so a mistake there shows."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def _new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class Misbehave:
    """How the provider's next answers are wrong; the defaults are all right."""

    issuer: str | None = None  # the ID token's iss instead of the provider's own
    audience: str | None = None  # its aud instead of the client's id
    nonce: str | None = None  # its nonce instead of the one the client sent
    expires_in: int = 300  # seconds from now; negative: expired already
    other_key: bool = False  # signed by another key that carries the real key's kid
    email_verified: bool | None = True  # None: the claim is left out
    no_email: bool = False
    deny: str | None = None  # the authorization endpoint answers this OAuth error


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    email: str


@dataclass
class OidcProvider:
    port: int = field(default_factory=_free_port)
    client_id: str = "hallpass-test-client"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redirect_uris: set[str] = field(default_factory=set)
    email: str = "student1@example.org"
    misbehave: Misbehave = field(default_factory=Misbehave)
    auth_methods: list[str] = field(
        default_factory=lambda: ["client_secret_basic", "client_secret_post"]
    )
    key: RSAKey = field(default_factory=lambda: _new_key("key-1"))
    hits: Counter[str] = field(default_factory=Counter)
    authorizations: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, Grant] = field(default_factory=dict)
    _rotations: int = 1

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/authorize"

    def reset(self, email: str = "student1@example.org") -> None:
        """A well-behaved provider again, signing in `email`; counters cleared."""
        self.email = email
        self.misbehave = Misbehave()
        self.hits.clear()
        self.authorizations.clear()
        self.token_requests.clear()

    def rotate_key(self) -> None:
        """A new signing key with a new kid; the old one is no longer published."""
        self._rotations += 1
        self.key = _new_key(f"key-{self._rotations}")

    # --- the endpoints ----------------------------------------------------------

    async def discovery(self, request: Request) -> Response:
        self.hits["discovery"] += 1
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.authorization_endpoint,
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": self.auth_methods,
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        self.hits["jwks"] += 1
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        self.hits["authorize"] += 1
        query = dict(request.query_params)
        self.authorizations.append(query)
        redirect_uri = query.get("redirect_uri", "")
        # Never redirect to an address the client did not register (RFC 6749, 4.1.2.1).
        if query.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return JSONResponse({"error": "invalid_request"}, 400)
        state = query.get("state", "")
        problem = None
        if query.get("response_type") != "code":
            problem = "unsupported_response_type"
        elif "openid" not in query.get("scope", "").split():
            problem = "invalid_scope"
        elif not query.get("nonce") or not state:
            problem = "invalid_request"
        elif query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            problem = "invalid_request"  # this provider insists on PKCE
        elif self.misbehave.deny:
            problem = self.misbehave.deny
        if problem is not None:
            return RedirectResponse(
                f"{redirect_uri}?{urlencode({'error': problem, 'state': state})}", 302
            )
        code = secrets.token_urlsafe(24)
        self._codes[code] = Grant(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            challenge=query["code_challenge"],
            nonce=query["nonce"],
            email=self.email,
        )
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", 302)

    async def token(self, request: Request) -> Response:
        self.hits["token"] += 1
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        self.token_requests.append(form)
        if not self._client_authenticated(request, form):
            return JSONResponse({"error": "invalid_client"}, 401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        grant = self._codes.pop(form.get("code", ""), None)  # a code works once
        if (
            grant is None
            or grant.redirect_uri != form.get("redirect_uri")
            or s256(form.get("code_verifier", "")) != grant.challenge
        ):
            return JSONResponse({"error": "invalid_grant"}, 400)
        access_token = secrets.token_urlsafe(24)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self._id_token(grant, access_token),
            }
        )

    def _client_authenticated(self, request: Request, form: dict[str, str]) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic ") and "client_secret_basic" in self.auth_methods:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        elif "client_secret" in form and "client_secret_post" in self.auth_methods:
            client_id, secret = form.get("client_id", ""), form["client_secret"]
        else:
            return False
        return client_id == self.client_id and secrets.compare_digest(secret, self.client_secret)

    def _id_token(self, grant: Grant, access_token: str) -> str:
        bad = self.misbehave
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": bad.issuer or self.issuer,
            "aud": bad.audience or grant.client_id,
            "sub": hashlib.sha256(grant.email.encode()).hexdigest()[:20],
            "nonce": bad.nonce or grant.nonce,
            "iat": now if bad.expires_in > 0 else now - 600,
            "exp": now + bad.expires_in,
            # OpenID Connect Core 3.1.3.6: the left half of the access token's SHA-256.
            "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
        }
        if not bad.no_email:
            claims["email"] = grant.email
        if bad.email_verified is not None:
            claims["email_verified"] = bad.email_verified
        key = _new_key(self.key.kid or "") if bad.other_key else self.key
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
            ]
        )


@contextmanager
def running_provider() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    config = uvicorn.Config(
        provider.app(), host="127.0.0.1", port=provider.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="oidc-provider", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test OpenID Connect provider did not start")
        time.sleep(0.01)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(START_TIMEOUT)
