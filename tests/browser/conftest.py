"""Browser tests: Playwright driving Debian's Chromium against a real server on loopback.

Chromium is ``SCANGUARD_CHROMIUM`` or ``/usr/bin/chromium`` (``apt-get install -y chromium``).
Without it the browser tests are skipped, unless ``SCANGUARD_REQUIRE_BROWSER=1`` (CI), where
that is a failure. Every page is watched: a request to anything but 127.0.0.1 is aborted and
fails the test, and so does an error in the browser console. Screenshots go to
``var/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Route, async_playwright

from kernel.settings import Settings
from tests.support.live_server import live_server

REQUIRE_BROWSER = os.environ.get("SCANGUARD_REQUIRE_BROWSER", "") not in ("", "0", "false")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
# What a headless Chromium needs on a closed network (no background calls to Google's hosts).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def chromium_path() -> str:
    found = os.environ.get("SCANGUARD_CHROMIUM") or shutil.which("chromium") or ""
    if not found or not Path(found).exists():
        message = "no Chromium (apt-get install -y chromium, or set SCANGUARD_CHROMIUM)"
        if REQUIRE_BROWSER:
            pytest.fail(f"SCANGUARD_REQUIRE_BROWSER is set but {message}", pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass(slots=True)
class Watched:
    """A page whose requests and console are watched for the whole test."""

    page: Page
    base_url: str
    outside: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def open_watched(browser: Browser, base_url: str, viewport: dict[str, int]) -> Watched:
    context = await browser.new_context(viewport=viewport, locale="zh-CN")  # type: ignore[arg-type]  # a ViewportSize dict
    page = await context.new_page()
    watched = Watched(page, base_url)

    async def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname != "127.0.0.1" and not url.startswith(("data:", "blob:")):
            watched.outside.append(url)
            await route.abort()
        else:
            await route.continue_()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.console_errors.append(message.text)

    await page.route("**/*", only_loopback)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.console_errors.append(str(error)))
    return watched


@pytest.fixture
async def server(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    async with live_server(settings, tmp_path / "server.log") as base_url:
        yield base_url


@pytest.fixture(params=[PHONE, DESKTOP], ids=["phone", "desktop"])
async def watched(
    browser: Browser, server: str, request: pytest.FixtureRequest
) -> AsyncIterator[Watched]:
    opened = await open_watched(browser, server, request.param)
    try:
        yield opened
    finally:
        await opened.page.context.close()
    assert opened.outside == [], "the page reached beyond 127.0.0.1"
    assert opened.console_errors == [], "errors in the browser console"
