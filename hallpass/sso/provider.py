"""Where a school's OpenID Connect provider keeps its endpoints and its keys.

The discovery document (`{issuer}/.well-known/openid-configuration`) and the
key set it names are fetched when first needed and kept for an hour, so a
school's morning rush of sign-ins costs the provider two requests. A provider
rotates its signing keys by publishing the new one first; a token signed by
a key we have not seen (an unknown `kid`) makes us fetch the set again at once.
That refetch needs no rate limit of its own: ID tokens reach us only from the
provider's token endpoint, never from a browser, so no one else can ask for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import httpx
import msgspec
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

T = TypeVar("T")

DISCOVERY_PATH = "/.well-known/openid-configuration"
CACHE_SECONDS = 3600.0
HTTP_TIMEOUT_SECONDS = 10.0
# A discovery document or key set is a few KiB; more is not a provider's.
MAX_DOCUMENT_BYTES = 512 * 1024
# A provider on this machine may speak plain http (a test's, or a developer's).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class ProviderError(Exception):
    """The provider cannot be used now: unreachable, or its documents are wrong.
    The message is for the log and for the operator, not for a student."""


def check_provider_url(url: str, what: str) -> str:
    """`url` when it is https (or http to this machine), else ValueError:
    tokens and secrets never travel in the clear."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        host, parts = "", urlsplit("")
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS)
    if not host or not secure or parts.fragment or " " in url:
        raise ValueError(
            f"{what}: {url!r} is not an https address such as https://accounts.google.com"
        )
    return url


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + DISCOVERY_PATH


class ProviderMetadata(msgspec.Struct, kw_only=True):
    """What we use of a discovery document (OpenID Connect Discovery 1.0, 3)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    # The defaults are the specification's for a provider that leaves them out.
    id_token_signing_alg_values_supported: list[str] = msgspec.field(
        default_factory=lambda: ["RS256"]
    )
    token_endpoint_auth_methods_supported: list[str] = msgspec.field(
        default_factory=lambda: ["client_secret_basic"]
    )


@dataclass
class _Cached(Generic[T]):
    value: T
    fetched: float


class Providers:
    """Discovery documents and key sets by URL, each kept for `ttl` seconds.
    One per process; safe to share between requests (a race only fetches twice)."""

    def __init__(
        self,
        *,
        ttl: float = CACHE_SECONDS,
        timeout: float = HTTP_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._clock = clock
        self._metadata: dict[str, _Cached[ProviderMetadata]] = {}
        self._keys: dict[str, _Cached[KeySet]] = {}

    def client(self) -> httpx.AsyncClient:
        """An HTTP client for talking to providers (also the token exchange)."""
        return httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)

    def _fresh(self, entry: _Cached[T] | None) -> T | None:
        if entry is None or self._clock() - entry.fetched >= self.ttl:
            return None
        return entry.value

    async def metadata(self, issuer: str) -> ProviderMetadata:
        """The provider's discovery document, checked: it must name the same
        issuer (ID tokens are then held to its exact spelling) and secure
        endpoints."""
        cached = self._fresh(self._metadata.get(issuer))
        if cached is not None:
            return cached
        url = discovery_url(check_provider_url(issuer, "issuer"))
        try:
            found = msgspec.json.decode(await self._get(url), type=ProviderMetadata)
        except msgspec.DecodeError as error:  # ValidationError is one too
            raise ProviderError(f"the discovery document at {url} is not usable: {error}") from None
        if found.issuer.rstrip("/") != issuer.rstrip("/"):
            raise ProviderError(
                f"the discovery document at {url} names the issuer {found.issuer!r}, not {issuer!r}"
            )
        try:
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                check_provider_url(getattr(found, name), name)
        except ValueError as error:
            raise ProviderError(f"the discovery document at {url}: {error}") from None
        self._metadata[issuer] = _Cached(found, self._clock())
        return found

    async def keys(self, metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys; `refresh` fetches them again now."""
        cached = None if refresh else self._fresh(self._keys.get(metadata.jwks_uri))
        if cached is not None:
            return cached
        body = await self._get(metadata.jwks_uri)
        try:
            keys = KeySet.import_key_set(json.loads(body))
        except (ValueError, TypeError, KeyError, JoseError) as error:
            raise ProviderError(
                f"the key set at {metadata.jwks_uri} is not usable: {error}"
            ) from None
        self._keys[metadata.jwks_uri] = _Cached(keys, self._clock())
        return keys

    async def _get(self, url: str) -> bytes:
        try:
            async with self.client() as client:
                response = await client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise ProviderError(f"{url} cannot be reached: {error!r}") from None
        if response.status_code != 200:
            raise ProviderError(f"{url} answered {response.status_code}")
        if len(response.content) > MAX_DOCUMENT_BYTES:
            raise ProviderError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
        return response.content
