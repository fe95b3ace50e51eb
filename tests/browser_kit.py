"""What the browser tests share: headless Chromium (Debian's, driven by
Playwright), signing people in, axe-core, and a TCP relay that can cut the
network between a page and its server.

Recipe: /work/shared/BROWSER-TESTS.md. Never `playwright install`: the
tests use /usr/bin/chromium, and skip when it or axe-core is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# A safety net so a broken page fails its test instead of hanging it; the
# tests wait for what a person would see, never for a fixed time.
PATIENCE_MS = 15_000
expect.set_options(timeout=PATIENCE_MS)
PASSWORD = "demo"


def require_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/bootstrap --test installs it)")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    require_browser()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def person(
    browser: Browser,
    base_url: str,
    username: str,
    *,
    school: str = "demo",
    password: str = PASSWORD,
    color_scheme: str = "light",
    viewport: dict[str, int] | None = None,
    timezone: str | None = None,
) -> BrowserContext:
    """A browser context signed in as `username` (its own cookies)."""
    context = await browser.new_context(
        base_url=base_url,
        color_scheme=color_scheme,  # type: ignore[arg-type]
        viewport=viewport or {"width": 1280, "height": 860},
        timezone_id=timezone,
    )
    context.set_default_timeout(PATIENCE_MS)
    context.on("page", watch)
    response = await context.request.post(
        "/api/session", data={"school": school, "username": username, "password": password}
    )
    assert response.ok, f"sign-in as {username} failed: {await response.text()}"
    return context


def watch(page: Page) -> None:
    """Collects what must never happen on a page: an uncaught error, or a
    Content-Security-Policy refusal (an inline style or script is a bug)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.set_default_timeout(PATIENCE_MS)
    page.errors = errors  # type: ignore[attr-defined]


async def open_page(context: BrowserContext, path: str) -> Page:
    """Opens `path` and waits until its live connection is up."""
    page = await context.new_page()
    await page.goto(path)
    await page.wait_for_selector(".live-status[data-state='live']")
    return page


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed (npm install axe-core@4)")
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        # The page's CSP allows only scripts of its own site, so axe is served
        # as if it were one (the test answers that address itself).
        await page.route(
            "**/__test__/axe.min.js",
            lambda route: route.fulfill(path=AXE, content_type="text/javascript"),
        )
        await page.add_script_tag(url="/__test__/axe.min.js")
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return found


class Relay:
    """A TCP relay between browsers and a server, which a test can cut (every
    connection closed, new ones refused) and restore, possibly pointing it at
    another server: a network drop, or a server restart, as a page sees it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.open = True
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def cut(self) -> None:
        self.open = False
        for writer in list(self._writers):
            transport = writer.transport
            # An abort, not a polite close: the page sees the connection die.
            transport.abort()
        self._writers.clear()

    def restore(self, target_port: int | None = None) -> None:
        if target_port is not None:
            self.target_port = target_port
        self.open = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
