"""A real Huddle server process for browser tests, set up the way `make run` does it
(signing keys, migrations, demo clinic) but in a temporary directory on a free port.

The web client must already be built (`make web`); the tests drive it in Chromium.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.live_server import ServerProcess, load_demo, run_huddle, server_environment
from tests.services import CHROMIUM, chromium_problem, skip_or_fail

REPO = Path(__file__).resolve().parents[2]
WEB_DIST = REPO / "clients" / "web" / "dist"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """HUDDLE_* settings of the test server: its own database, keys and port."""
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail(
            f"the web client is not built ({WEB_DIST / 'index.html'} is missing): run `make web`",
            pytrace=False,
        )
    home = tmp_path_factory.mktemp("live-server")
    env = server_environment(home, HUDDLE_WEB_DIST_DIR=str(WEB_DIST))
    # The page's origin must be the public URL's, or its WebSocket is refused (4403).
    env["HUDDLE_PUBLIC_URL"] = f"http://127.0.0.1:{env['HUDDLE_PORT']}"
    return env


@pytest.fixture(scope="session")
def huddle_cli(server_env: dict[str, str]) -> Callable[..., str]:
    """Runs `huddle ARGS...` against the test server's database, with extra env vars."""

    def run(*args: str, **extra_env: str) -> str:
        return run_huddle(server_env | extra_env, *args)

    return run


@pytest.fixture(scope="session")
def live_server(
    server_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a running `huddle serve` with the demo clinic loaded."""
    load_demo(server_env)
    server = ServerProcess(server_env, tmp_path_factory.mktemp("live-server-log") / "serve.log")
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if reason := chromium_problem():
        skip_or_fail(reason)
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await playwright.stop()


@pytest.fixture
async def page(browser: Browser, live_server: str) -> AsyncIterator[Page]:
    """A fresh page in its own browser context (no shared storage) with URLs relative to
    the live server."""
    context = await browser.new_context(base_url=live_server)
    try:
        yield await context.new_page()
    finally:
        await context.close()
