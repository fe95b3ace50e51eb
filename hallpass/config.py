"""The service's settings, read from `HALLPASS_*` environment variables.

Every setting has a safe default for a developer's machine. Production mode
(`HALLPASS_ENV=production`) refuses what is only safe there: demo data, and a
missing secret key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import msgspec

Environment = Literal["development", "production"]

DEFAULT_STORE = "sqlite:///hallpass.db"
# The repository's own pages; a packaged install points HALLPASS_WEB_DIR elsewhere.
DEFAULT_WEB_DIR = str(Path(__file__).resolve().parent.parent / "web")

PREFIX = "HALLPASS_"


class ConfigError(Exception):
    """A setting is missing or wrong; the message says which and how to fix it."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    # Where events and the directory live (API.md, "Command line").
    store: str = DEFAULT_STORE
    # The address people type, e.g. https://hallpass.example.org. Its origin is
    # also accepted in `Origin` headers, and an https URL makes cookies Secure.
    public_url: str | None = None
    env: Environment = "development"
    # HMAC key for device cookies. In development a random key kept in the
    # store stands in (all processes share it); production requires one.
    secret_key: str | None = None
    # Add the demo school at start-up when it is missing.
    demo: bool = False

    # A session ends after this long without a request (a school period and
    # then some: a board left open over lunch survives), and in any case this
    # long after sign-in (one school day; the next morning starts afresh).
    session_idle_seconds: float = 2 * 3600
    session_lifetime_seconds: float = 14 * 3600
    # A device cookie lets a device that signed in before bypass an account's
    # lock (OWASP's device cookie pattern); it lasts a school year.
    device_cookie_days: float = 200

    # Sign-in throttling (failures within the window).
    login_window_seconds: float = 15 * 60
    login_account_failures: int = 5
    login_address_failures: int = 50
    login_lock_seconds: float = 30  # the first lock; doubles with each failure after
    login_lock_max_seconds: float = 15 * 60

    # Lets a scraper on another machine read GET /metrics (Authorization:
    # Bearer); without it only this machine may.
    metrics_token: str | None = None

    body_limit: int = 64 * 1024  # bytes
    ws_queue: int = 256  # messages queued for one WebSocket client before it is dropped
    web_dir: str = DEFAULT_WEB_DIR

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def public_origin(self) -> str | None:
        """`scheme://host[:port]` of the public URL, lower-cased, or None."""
        if not self.public_url:
            return None
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def public_https(self) -> bool:
        return bool(self.public_url) and urlsplit(self.public_url or "").scheme.lower() == "https"


def _env_name(field: str) -> str:
    return PREFIX + field.upper()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (`os.environ` by default), checked.

    Raises ConfigError naming the variable when a value is malformed or when
    production mode lacks what it needs."""
    environ = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for field in msgspec.structs.fields(Settings):
        value = environ.get(_env_name(field.name))
        if value is not None and value != "":
            raw[field.name] = value
    try:
        # strict=False lets msgspec read "1", "true", "3600" from strings.
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as error:
        raise ConfigError(_explain(str(error))) from None
    check(settings)
    return settings


def _explain(message: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.body_limit`"; name the variable instead.
    text, _, where = message.partition(" - at `$.")
    if where:
        return f"{_env_name(where.rstrip('`'))}: {text}"
    return message


def check(settings: Settings) -> None:
    """Raise ConfigError for settings the service must not start with."""
    if settings.public_url is not None:
        parts = urlsplit(settings.public_url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"HALLPASS_PUBLIC_URL: {settings.public_url!r} is not an http(s) URL "
                "such as https://hallpass.example.org"
            )
    for name in ("session_idle_seconds", "session_lifetime_seconds", "body_limit", "ws_queue"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{_env_name(name)}: must be more than 0")
    if settings.production:
        if settings.demo:
            raise ConfigError(
                "HALLPASS_DEMO: the demo school (with the well-known password 'demo') "
                "is refused in production mode"
            )
        if not settings.secret_key:
            raise ConfigError(
                "HALLPASS_SECRET_KEY: production mode needs a secret key; make one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
    if settings.secret_key is not None and len(settings.secret_key) < 16:
        raise ConfigError("HALLPASS_SECRET_KEY: use at least 16 random characters")
