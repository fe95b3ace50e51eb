"""Identifiers, made at the edge (the HTTP layer, the command line) and put in
commands, so that `decide` stays deterministic."""

from __future__ import annotations

import re
import secrets

# 80 random bits: collisions stay out of reach even for a district's lifetime
# of passes, and the id still fits comfortably in a URL.
RANDOM_BYTES = 10

_KIND = re.compile(r"[a-z]+")


def new_id(kind: str) -> str:
    """A fresh id such as "room_3f9a0c1d2e4b5a6978c1": the kind, an
    underscore, then random hex (URL-safe, no escaping needed)."""
    if _KIND.fullmatch(kind) is None:
        raise ValueError(f"an id kind is lowercase letters, not {kind!r}")
    return f"{kind}_{secrets.token_hex(RANDOM_BYTES)}"
