"""Real `huddle serve` processes for end-to-end, real-time and fault tests, set up the
way `make run` does it (keys, migrations, demo clinic) in a temporary directory on a
free port. A process can be stopped, killed and started again on the same database.
`scaled_environment` gives the settings several instances of one deployment share: a
fresh PostgreSQL database and Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import drop_postgres_database, new_postgres_database
from tests.services import REDIS_URL, postgres_problem, redis_problem, skip_or_fail

HUDDLE = Path(sys.executable).with_name("huddle")
STARTUP_TIMEOUT_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.1
DEMO_PASSWORD = "correct-violet-lantern-7"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(home: Path, **settings: str) -> dict[str, str]:
    """HUDDLE_* settings for a server of its own under `home`; nothing from the
    developer's shell (a demo password, a Redis URL) leaks in."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("HUDDLE_")}
    env.update(
        HUDDLE_DATABASE_URL=f"sqlite+aiosqlite:///{home / 'huddle.db'}",
        HUDDLE_SIGNING_KEYS_FILE=str(home / "keys.json"),
        HUDDLE_KEYRING_FILE=str(home / "keyring.json"),
        HUDDLE_ARGON2_TIME_COST="1",
        HUDDLE_ARGON2_MEMORY_KIB="1024",
        HUDDLE_ARGON2_PARALLELISM="1",
        HUDDLE_HOST="127.0.0.1",
        HUDDLE_PORT=str(free_port()),
    )
    env.update(settings)
    return env


@contextmanager
def scaled_environment(home: Path, **settings: str) -> Iterator[dict[str, str]]:
    """`server_environment` on a fresh PostgreSQL database (dropped afterwards) with
    HUDDLE_REDIS_URL set. Give each instance its own port: `another_port(env)`. Skips
    (fails, when services are required) without PostgreSQL or Redis."""
    for problem in (postgres_problem(), redis_problem()):
        if problem:
            skip_or_fail(problem)
    url, name = new_postgres_database()
    try:
        yield server_environment(
            home, HUDDLE_DATABASE_URL=url, HUDDLE_REDIS_URL=REDIS_URL, **settings
        )
    finally:
        drop_postgres_database(name)


def another_port(env: dict[str, str]) -> dict[str, str]:
    """The same settings (database, keys, Redis) for one more instance."""
    return {**env, "HUDDLE_PORT": str(free_port())}


def run_huddle(env: dict[str, str], *args: str) -> str:
    """Run one `huddle` command with these settings; fail the test with its output."""
    done = subprocess.run(
        [str(HUDDLE), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"`huddle {' '.join(args)}` exited {done.returncode}:\n{done.stdout}{done.stderr}",
            pytrace=False,
        )
    return done.stdout


def load_demo(env: dict[str, str]) -> None:
    for args in (("signing-keys", "init"), ("keys", "init"), ("db", "upgrade"), ("demo",)):
        run_huddle(env, *args)


class ServerProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['HUDDLE_PORT']}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.env['HUDDLE_PORT']}/ws"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(HUDDLE), "serve"],
                env=self.env,
                cwd=self.log_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_healthy()

    def wait_until_ready(self) -> None:
        """Poll /ready (database, migrations, event bus) until 200, with a deadline."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        answer = "no answer"
        with httpx.Client(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    response = client.get("/ready")
                    if response.status_code == 200:
                        return
                    answer = f"{response.status_code} {response.text}"
                except httpx.TransportError as exc:
                    answer = type(exc).__name__
                assert self.process is not None
                try:
                    self.process.wait(timeout=POLL_INTERVAL_SECONDS)
                except subprocess.TimeoutExpired:
                    continue
                self._fail(f"exited with status {self.process.returncode} before /ready")
        self._fail(f"was not ready within {STARTUP_TIMEOUT_SECONDS:.0f} s (last: {answer})")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no goodbyes."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        with httpx.Client(base_url=self.base_url, timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get("/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                # Waiting on the process doubles as the poll interval and notices a crash.
                try:
                    self.process.wait(timeout=POLL_INTERVAL_SECONDS)
                except subprocess.TimeoutExpired:
                    continue
                self._fail(f"exited with status {self.process.returncode} before /health")
        self.process.terminate()
        self._fail(f"did not answer /health within {STARTUP_TIMEOUT_SECONDS:.0f} s")

    def _fail(self, reason: str) -> None:
        output = self.log_path.read_text(errors="replace")[-4000:]
        pytest.fail(f"huddle serve {reason}; its output:\n{output}", pytrace=False)
