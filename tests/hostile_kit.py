"""Helpers shared by the hostile-input tests (test_hostile_*, test_matrix,
test_schemathesis)."""

from __future__ import annotations

import httpx

DEMO_PASSWORD = "demo"  # every demo user's (API.md, "The demo school")


def cookie_of(client: httpx.AsyncClient) -> str:
    """The `Cookie` header that carries `client`'s session."""
    return f"hallpass_session={client.cookies['hallpass_session']}"
