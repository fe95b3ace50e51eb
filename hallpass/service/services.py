"""Everything a web process holds for its lifetime, opened and closed as one.

`open_services(settings)` is the composition root: it opens the store named
by the settings, the ephemeral keys beside it, the per-school runtimes, the
names cache, the WebSocket hub and (on the embedded store) the in-process
ticker. Route modules reach the result through `hallpass.web.context.services`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from hallpass.backend import Backend, open_backend
from hallpass.config import Settings
from hallpass.deletion import forget_erased
from hallpass.service.ephemeral import Ephemeral, ephemeral_key, open_ephemeral
from hallpass.service.names import Names
from hallpass.service.runtime import Clock, Schools, utc_now
from hallpass.service.ticker import Ticker
from hallpass.web.hub import Hub

log = logging.getLogger(__name__)

# Where a development deployment keeps its generated key: every process of the
# deployment reads the same one. A century is "until someone deletes it".
_DEV_KEY = ephemeral_key(None, "secret-key")
_DEV_KEY_TTL = 100 * 365 * 24 * 3600.0


@dataclass
class Services:
    settings: Settings
    backend: Backend
    schools: Schools
    names: Names
    ephemeral: Ephemeral
    hub: Hub
    ticker: Ticker | None
    # The deployment's secret (HALLPASS_SECRET_KEY or the development key);
    # use `subkey(purpose)` rather than this directly.
    secret: bytes

    def subkey(self, purpose: str) -> bytes:
        """A key for one purpose only (device cookies, ids, ...), so that a
        value made for one purpose is never valid for another."""
        return hmac.new(self.secret, purpose.encode(), hashlib.sha256).digest()

    async def close(self) -> None:
        # The reverse of opening; each step runs even when an earlier one fails.
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.backend.close)
            stack.push_async_callback(self.ephemeral.close)
            stack.push_async_callback(self.schools.close)
            stack.push_async_callback(self.hub.close)
            if self.ticker is not None:
                stack.push_async_callback(self.ticker.close)


async def deployment_secret(settings: Settings, ephemeral: Ephemeral) -> bytes:
    """HALLPASS_SECRET_KEY, or in development a random key kept in the store
    (made by whichever process asks first)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    if settings.production:  # config.check refuses this already; never fall through
        raise RuntimeError("production mode needs HALLPASS_SECRET_KEY")
    await ephemeral.put_if_absent(_DEV_KEY, secrets.token_bytes(32), _DEV_KEY_TTL)
    key = await ephemeral.get(_DEV_KEY)
    if key is None:  # deleted between the two calls: fall back to this process's own
        log.warning("the development secret key vanished; using a key for this process only")
        return secrets.token_bytes(32)
    return key


async def open_services(settings: Settings, clock: Clock = utc_now) -> Services:
    async with contextlib.AsyncExitStack() as stack:
        backend = await open_backend(settings.store)
        stack.push_async_callback(backend.close)
        ephemeral = await open_ephemeral(settings.store)
        stack.push_async_callback(ephemeral.close)
        secret = await deployment_secret(settings, ephemeral)
        if settings.demo:
            from hallpass.demo import ensure_demo

            if await ensure_demo(backend):
                log.info("added the demo school")
        schools = Schools(backend.store, clock, follow=True)
        stack.push_async_callback(schools.close)
        names = Names(backend.directory)
        schools.on_load.append(forget_erased(names))  # a deleted student's name goes too
        hub = Hub(schools, names, settings)
        stack.push_async_callback(hub.close)
        ticker: Ticker | None = None
        if backend.kind == "sqlite":
            # The embedded store has no worker process: the timed jobs run here.
            ticker = Ticker(schools, backend.directory, clock)
            # One round before the first request: what the clock made due
            # while no process ran (a day's end gone by) is appended first,
            # never onto passes made in the service's first second.
            try:
                await ticker.tick_all()
            except Exception:
                log.exception("the first round of timed jobs failed; the ticker tries again")
            ticker.start()
            stack.push_async_callback(ticker.close)
        services = Services(
            settings=settings,
            backend=backend,
            schools=schools,
            names=names,
            ephemeral=ephemeral,
            hub=hub,
            ticker=ticker,
            secret=secret,
        )
        stack.pop_all()
        return services
    raise AssertionError("unreachable")  # pragma: no cover
