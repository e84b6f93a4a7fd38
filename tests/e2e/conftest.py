"""A real Huddle server process for browser tests, set up the way `make run` does it
(signing keys, migrations, demo clinic) but in a temporary directory on a free port.

The web client must already be built (`make web`); the tests drive it in Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.services import CHROMIUM, chromium_problem, skip_or_fail

REPO = Path(__file__).resolve().parents[2]
WEB_DIST = REPO / "clients" / "web" / "dist"
HUDDLE = Path(sys.executable).with_name("huddle")
STARTUP_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.1
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_huddle(env: dict[str, str], *args: str) -> str:
    """Run one `huddle` command against the test server's settings; fail with its output."""
    done = subprocess.run(
        [str(HUDDLE), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"`huddle {' '.join(args)}` exited {done.returncode}:\n{done.stdout}{done.stderr}",
            pytrace=False,
        )
    return done.stdout


@pytest.fixture(scope="session")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """HUDDLE_* settings of the test server: its own database, keys and port."""
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail(
            f"the web client is not built ({WEB_DIST / 'index.html'} is missing): run `make web`",
            pytrace=False,
        )
    home = tmp_path_factory.mktemp("live-server")
    # Settings from the developer's shell (a demo password, a Redis URL) must not leak in.
    env = {name: value for name, value in os.environ.items() if not name.startswith("HUDDLE_")}
    env.update(
        HUDDLE_DATABASE_URL=f"sqlite+aiosqlite:///{home / 'huddle.db'}",
        HUDDLE_SIGNING_KEYS_FILE=str(home / "keys.json"),
        HUDDLE_KEYRING_FILE=str(home / "keyring.json"),
        HUDDLE_WEB_DIST_DIR=str(WEB_DIST),
        HUDDLE_ARGON2_TIME_COST="1",
        HUDDLE_ARGON2_MEMORY_KIB="1024",
        HUDDLE_ARGON2_PARALLELISM="1",
        HUDDLE_HOST="127.0.0.1",
        HUDDLE_PORT=str(free_port()),
    )
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
    run_huddle(server_env, "signing-keys", "init")
    run_huddle(server_env, "keys", "init")
    run_huddle(server_env, "db", "upgrade")
    run_huddle(server_env, "demo", "--if-empty")

    base_url = f"http://127.0.0.1:{server_env['HUDDLE_PORT']}"
    log_path = tmp_path_factory.mktemp("live-server-log") / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(HUDDLE), "serve"],
            env=server_env,
            cwd=log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(process, base_url, log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Return once GET /health answers 200; fail with the server's output if it never does."""

    def failure(reason: str) -> None:
        output = log_path.read_text(errors="replace")[-4000:]
        pytest.fail(f"huddle serve {reason}; its output:\n{output}", pytrace=False)

    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    with httpx.Client(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            # Waiting on the process doubles as the poll interval and notices a crash at once.
            try:
                process.wait(timeout=POLL_INTERVAL_SECONDS)
            except subprocess.TimeoutExpired:
                continue
            failure(f"exited with status {process.returncode} before answering /health")
    process.terminate()
    failure(f"did not answer /health within {STARTUP_TIMEOUT_SECONDS:.0f} s")


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
