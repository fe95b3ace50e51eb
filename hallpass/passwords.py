"""Password hashing (argon2id) and teachers' PIN keys.

Hashing is deliberately slow, so every call that hashes has an `_async`
twin that runs it in a worker thread: the event loop keeps serving others.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's password storage cheat sheet, argon2id baseline: 19 MiB, 2 passes,
# 1 lane. Raising any of them later is safe: `needs_rehash` reports old hashes
# so sign-in can upgrade them.
MEMORY_COST_KIB = 19456
TIME_COST = 2
PARALLELISM = 1

# Longer inputs only cost hashing time; no person types a password this long.
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)

_PIN = re.compile(r"[0-9]{4,6}")


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string, salt and parameters included) of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; False for a wrong password, an empty or
    garbage hash, or an over-long password. Never raises for those."""
    if not password_hash or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (or is
    not an argon2 hash at all) and should be replaced at the next sign-in."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True


@cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def dummy_verify(password: str) -> bool:
    """Spend the time a real check would, for a username that does not exist,
    so response times do not reveal which usernames do. Always False."""
    verify_password(_dummy_hash(), password)
    return False


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)


async def dummy_verify_async(password: str) -> bool:
    return await asyncio.to_thread(dummy_verify, password)


# --- teachers' PINs --------------------------------------------------------------


def new_school_secret() -> str:
    """A random key for a school's PIN index, made once when the school is added."""
    return secrets.token_hex(32)


def valid_pin(pin: str) -> bool:
    """A PIN is 4 to 6 ASCII digits."""
    return _PIN.fullmatch(pin) is not None


def pin_key(school_secret: str, pin: str) -> str:
    """The key a PIN is stored and looked up under: HMAC-SHA256 with the
    school's secret. PINs are unique within a school, so the key must be
    deterministic (no salt); the secret keeps a stolen directory from being
    reversed by trying all million PINs."""
    if not school_secret:
        raise ValueError("the school has no secret to key PINs with")
    return hmac.new(school_secret.encode(), pin.encode(), hashlib.sha256).hexdigest()
