"""`huddle serve` as a deployment starts and stops it: it refuses a database whose schema
is behind or ahead of its code, and on SIGTERM it tells WebSocket clients to reconnect
(1012) and exits within its grace period."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from huddle.cli import SHUTDOWN_GRACE_SECONDS
from huddle.migrate import head_revision
from huddle.realtime.protocol import CLOSE_SERVICE_RESTART
from tests.live_server import DEMO_PASSWORD, HUDDLE, ServerProcess, run_huddle, server_environment


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = server_environment(tmp_path)
    run_huddle(env, "signing-keys", "init")
    run_huddle(env, "keys", "init")
    return env


def serve_refused(env: dict[str, str]) -> str:
    """Start `huddle serve`; it must exit at once with status 2 and one line."""
    done = subprocess.run(
        [str(HUDDLE), "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("huddle:")]
    return line


def test_serve_refuses_a_database_without_a_schema(env: dict[str, str]) -> None:
    assert serve_refused(env) == (
        "huddle: the database has no schema yet: run `huddle db upgrade`, then start the server"
    )


def test_serve_refuses_a_database_behind_its_migrations(env: dict[str, str]) -> None:
    run_huddle(env, "db", "upgrade")
    run_huddle(env, "db", "downgrade", "-1")
    line = serve_refused(env)
    assert f"behind this version's {head_revision()}" in line
    assert "run `huddle db upgrade`" in line


def test_serve_refuses_a_database_a_later_release_migrated(env: dict[str, str]) -> None:
    run_huddle(env, "db", "upgrade")
    database = env["HUDDLE_DATABASE_URL"].removeprefix("sqlite+aiosqlite:///")
    with sqlite3.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = '9001_from_the_future'")
    line = serve_refused(env)
    assert "at 9001_from_the_future, newer than this version knows" in line
    assert "deploy that release" in line


async def close_code(socket: ClientConnection) -> int | None:
    """Read until the server closes the socket; the code it closed with."""
    try:
        while True:
            await socket.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def slow_sign_in(http: httpx.AsyncClient, started: asyncio.Event) -> httpx.Response:
    """A sign-in whose body trickles in over about a second: in flight at SIGTERM."""
    body = json.dumps({"email": "care@example.org", "password": DEMO_PASSWORD}).encode()

    async def trickle() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8):
            yield body[start : start + 8]
            started.set()
            await asyncio.sleep(0.1)

    return await http.post("/api/v1/auth/login", content=trickle())


async def test_sigterm_drains_requests_closes_sockets_with_1012_and_exits_in_time(
    env: dict[str, str], tmp_path: Path
) -> None:
    run_huddle(env, "db", "upgrade")
    run_huddle(env, "demo")
    server = ServerProcess(env, tmp_path / "serve.log")
    server.start()
    assert server.process is not None
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            login = await http.post(
                "/api/v1/auth/login", json={"email": "pcp@example.org", "password": DEMO_PASSWORD}
            )
            socket = await websockets.connect(server.ws_url)
            await socket.send(json.dumps({"type": "auth", "token": login.json()["access_token"]}))
            assert json.loads(await socket.recv())["type"] == "ready"
            started = asyncio.Event()
            in_flight = asyncio.create_task(slow_sign_in(http, started))
            await started.wait()

            stopping = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            assert await close_code(socket) == CLOSE_SERVICE_RESTART
            assert (await in_flight).status_code == 200  # drained, not cut off
            with pytest.raises(httpx.ConnectError):  # and nothing new is accepted
                await http.get("/health")
            status = await asyncio.to_thread(server.process.wait, SHUTDOWN_GRACE_SECONDS + 10)
        took = time.monotonic() - stopping
    finally:
        server.kill()
    # uvicorn re-raises the signal once shut down: "terminated by SIGTERM", as expected.
    assert status in (0, -signal.SIGTERM)
    assert took < SHUTDOWN_GRACE_SECONDS, f"shutdown took {took:.1f} s"
    log = (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete" in log
    assert '"level": "ERROR"' not in log, log[-2000:]
