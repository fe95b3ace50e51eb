"""A school's single sign-on settings, as an operator sets and reads them.

The settings live in the school's directory record (School.sso), never in an
event: the client secret is a credential, and events are kept for years and
copied into exports of a school's history.
"""

from __future__ import annotations

import re

import msgspec

from hallpass.directory.base import Directory
from hallpass.directory.model import School, SsoConfig, UnknownSchool
from hallpass.provision import InvalidInput, Refused, require_school
from hallpass.sso.flow import SCOPES
from hallpass.sso.provider import ProviderMetadata, check_provider_url

CALLBACK_PATH = "/api/sso/callback"
MAX_FIELD = 1024
_DOMAIN = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)


def check_issuer(issuer: str) -> str:
    issuer = issuer.strip()
    try:
        check_provider_url(issuer, "--issuer")
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    if "?" in issuer or len(issuer) > MAX_FIELD:
        raise InvalidInput(f"--issuer: {issuer!r} is not an issuer address (no query part).")
    return issuer


def check_client_id(client_id: str) -> str:
    client_id = client_id.strip()
    if not client_id or len(client_id) > MAX_FIELD or not client_id.isprintable():
        raise InvalidInput("--client-id: give the client ID the provider showed you.")
    return client_id


def check_secret(secret: str) -> str:
    if not secret or len(secret) > MAX_FIELD or not secret.isprintable():
        raise InvalidInput(
            "No client secret on standard input; pipe it in with --client-secret-stdin."
        )
    return secret


def check_domain(domain: str) -> str:
    """`example.org` (a leading @ is forgiven), lower-cased."""
    domain = domain.strip().removeprefix("@").lower()
    if _DOMAIN.fullmatch(domain) is None:
        raise InvalidInput(f"--domain: {domain!r} is not an email domain such as 'example.org'.")
    return domain


async def set_sso(
    directory: Directory,
    slug: str,
    *,
    issuer: str,
    client_id: str,
    client_secret: str,
    domain: str | None,
    password_signin: bool,
) -> School:
    school = await require_school(directory, slug)
    config = SsoConfig(
        issuer=check_issuer(issuer),
        client_id=check_client_id(client_id),
        client_secret=check_secret(client_secret),
        domain=None if domain is None else check_domain(domain),
    )
    changed = msgspec.structs.replace(school, sso=config, password_signin=password_signin)
    await _save(directory, changed)
    return changed


async def clear_sso(directory: Directory, slug: str) -> School:
    """No single sign-on; passwords work again (or no one could sign in)."""
    school = await require_school(directory, slug)
    changed = msgspec.structs.replace(school, sso=None, password_signin=True)
    await _save(directory, changed)
    return changed


async def _save(directory: Directory, school: School) -> None:
    try:
        await directory.update_school(school)
    except UnknownSchool:
        raise Refused("unknown_school", f"There is no school {school.slug!r}.") from None


def describe(school: School, public_url: str | None) -> str:
    """What `hallpass sso show` prints: everything but the client secret."""
    config = school.sso
    signin = "on" if school.password_signin else "off (people sign in with SSO only)"
    if config is None:
        return f"School {school.slug!r}: no single sign-on; password sign-in {signin}."
    callback = (public_url.rstrip("/") if public_url else "https://YOUR-HALLPASS") + CALLBACK_PATH
    lines = [
        f"School {school.slug!r}: single sign-on with OpenID Connect",
        f"  issuer:           {config.issuer}",
        f"  client ID:        {config.client_id}",
        "  client secret:    (set; never shown)",
        f"  email domain:     {config.domain or '(any the provider vouches for)'}",
        f"  password sign-in: {signin}",
        f"  redirect URI:     {callback}",
        f"  scopes:           {SCOPES}",
    ]
    return "\n".join(lines)


def describe_provider(metadata: ProviderMetadata, key_count: int) -> str:
    """What `hallpass sso check` prints when the provider answers."""
    return "\n".join(
        [
            f"The provider {metadata.issuer} answers:",
            f"  authorization endpoint: {metadata.authorization_endpoint}",
            f"  token endpoint:         {metadata.token_endpoint}",
            f"  signing keys:           {key_count} at {metadata.jwks_uri}",
        ]
    )
