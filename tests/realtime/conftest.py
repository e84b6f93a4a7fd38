"""A real server process with the demo clinic, real `websockets` clients, and a helper
that reads frames with a timeout (never a sleep)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.live_server import (
    DEMO_PASSWORD,
    ServerProcess,
    load_demo,
    scaled_environment,
    server_environment,
)

FRAME_TIMEOUT_SECONDS = 10.0
MARIA = "RCH-100001"  # the demo patient with the portal account patient@example.org


@pytest.fixture(scope="session", params=["sqlite", "postgresql+redis"])
def realtime_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The protocol tests run on both set-ups: one process on SQLite with the in-memory
    bus, and one instance of a scaled deployment (PostgreSQL, Redis event bus)."""
    yield from serve_demo(request.param, tmp_path_factory.mktemp("realtime"))


def serve_demo(setup: str, home: Path, **settings: str) -> Iterator[ServerProcess]:
    """A demo clinic served on `setup` ("sqlite" or "postgresql+redis") with `settings`."""
    if setup == "sqlite":
        yield from _serve(server_environment(home, **settings), home)
    else:
        with scaled_environment(home, **settings) as env:
            yield from _serve(env, home)


def _serve(env: dict[str, str], home: Path) -> Iterator[ServerProcess]:
    load_demo(env)
    server = ServerProcess(env, home / "serve.log")
    server.start()
    try:
        server.wait_until_ready()
        _open_around_the_clock(server)
        yield server
    finally:
        server.stop()


def _open_around_the_clock(server: ServerProcess) -> None:
    """No after-hours replies in the protocol tests, whatever day they run."""
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        login = http.post(
            "/api/v1/auth/login", json={"email": "admin@example.org", "password": DEMO_PASSWORD}
        )
        hours = {
            "clinic_days": "mon,tue,wed,thu,fri,sat,sun",
            "clinic_opens": "00:00",
            "clinic_closes": "24:00",
        }
        response = http.patch(
            "/api/v1/organization",
            json=hours,
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        assert response.status_code == 200, response.text


@dataclass
class Client:
    """One signed-in user: REST through httpx, real time through a WebSocket."""

    server: ServerProcess
    email: str
    token: str = ""
    socket: ClientConnection | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def sign_in(self) -> Client:
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            response = await http.post(
                "/api/v1/auth/login", json={"email": self.email, "password": DEMO_PASSWORD}
            )
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self

    async def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            return await http.request(method, path, headers=self.headers, **kwargs)

    async def connect(self, **options: Any) -> dict[str, Any]:
        """Open the socket (`options` go to `websockets.connect`), authenticate, and
        return the `ready` frame."""
        self.socket = await websockets.connect(self.server.ws_url, **options)
        await self.send({"type": "auth", "token": self.token})
        return await self.next("ready")

    async def send(self, frame: dict[str, Any] | str) -> None:
        assert self.socket is not None
        await self.socket.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def next(self, frame_type: str | None = None) -> dict[str, Any]:
        """The next frame (of `frame_type`, skipping others, which are kept in .frames)."""
        assert self.socket is not None
        while True:
            raw = await asyncio.wait_for(self.socket.recv(), FRAME_TIMEOUT_SECONDS)
            frame = json.loads(raw)
            self.frames.append(frame)
            if frame_type is None or frame["type"] == frame_type:
                return frame

    async def messages(self, count: int) -> list[dict[str, Any]]:
        """The next `count` message frames (created or updated)."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            frame = await self.next()
            if frame["type"] in ("message.created", "message.updated"):
                found.append(frame)
        return found

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


@pytest.fixture
async def clients(realtime_server: ServerProcess) -> AsyncIterator[Callable[..., Any]]:
    async for make in clients_of(realtime_server):
        yield make


async def clients_of(server: ServerProcess) -> AsyncIterator[Callable[..., Any]]:
    """A maker of signed-in clients of `server`; their sockets close afterwards."""
    opened: list[Client] = []

    async def make(email: str) -> Client:
        client = await Client(server, email).sign_in()
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.close()


async def maria_id(client: Client) -> str:
    found = await client.api("GET", "/api/v1/patients", params={"mrn": MARIA})
    return found.json()["patients"][0]["id"]


async def patient_thread(care_manager: Client) -> str:
    """A new patient thread about Maria: care team and her portal account."""
    response = await care_manager.api(
        "POST",
        "/api/v1/conversations",
        json={"kind": "patient", "patient_id": await maria_id(care_manager)},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def client_msg_id() -> str:
    return uuid.uuid4().hex
