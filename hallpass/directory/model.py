"""The school's directory: schools, people, sessions. Personal data lives here,
never in the event log (DESIGN.md, point 7)."""

from __future__ import annotations

from typing import Literal

import msgspec

from hallpass.rules.commands import Role

Language = Literal["en", "es"]
Appearance = Literal["light", "dark", "system"]


class SsoConfig(msgspec.Struct, kw_only=True):
    """A school's OpenID Connect provider (docs/sso.md)."""

    issuer: str  # e.g. https://accounts.google.com; discovery is read from it
    client_id: str
    # Kept in the directory only: never in an event, never in an API answer.
    client_secret: str
    # When set, only addresses @domain may sign in (a provider serving many
    # organisations, such as Google, vouches for addresses of all of them).
    domain: str | None = None


class School(msgspec.Struct, kw_only=True):
    slug: str
    name: str
    timezone: str = "America/Chicago"
    # A random key for the school's PIN index (HMAC), made when the school is added.
    secret: str = ""
    sso: SsoConfig | None = None  # single sign-on, when the school set it up
    password_signin: bool = True  # False: people sign in with SSO only


class Settings(msgspec.Struct, kw_only=True):
    language: Language = "en"
    appearance: Appearance = "system"
    favorites: list[str] = []


class User(msgspec.Struct, kw_only=True):
    id: str
    school: str
    username: str
    name: str
    role: Role
    number: str | None = None  # a student's number, as printed on the ID card
    room: str | None = None  # a kiosk's room id
    password_hash: str = ""  # argon2id; empty: password sign-in impossible
    pin_key: str | None = None  # HMAC of a teacher's PIN with the school's secret
    settings: Settings = msgspec.field(default_factory=Settings)
    active: bool = True
    # The roster's stable key (OneRoster sourcedId) for people a school
    # information system manages; None for people added by hand.
    source_id: str | None = None
    email: str | None = None


class Session(msgspec.Struct, kw_only=True):
    token_hash: str  # sha256 of the cookie's token; the token itself is never stored
    school: str
    user: str
    created: float  # unix seconds
    seen: float


# What Lua's `%s` calls space: the Redis directory trims the same characters.
_EMAIL_SPACE = " \t\n\v\f\r"


def email_key(email: str | None) -> str | None:
    """An email as the directory indexes and matches it: trimmed, with ASCII
    letters lower-cased (Redis's Lua lower-cases those only, so both backends
    agree); None for no address. Providers differ in case, people do not."""
    if email is None:
        return None
    key = email.strip(_EMAIL_SPACE).encode().lower().decode()
    return key or None


class DuplicateUser(Exception):
    """Username, student number or PIN already taken in that school."""


class UnknownSchool(Exception):
    pass
