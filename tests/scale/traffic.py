"""Clients that keep sending through the proxy while the test breaks things, and the
checks that nothing acknowledged was lost or stored twice.

A `Sender` behaves as a well-written client must: one message at a time, each until
acknowledged; on any failure (socket dropped, 4408, an error frame, a refused
handshake) it reconnects through the proxy (which picks a live instance), resumes from
the last revision it has, and sends the same client_msg_id again, so a message that
committed before the failure is acknowledged as a duplicate instead of stored twice."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.live_server import DEMO_PASSWORD
from tests.realtime.conftest import MARIA

FRAME_TIMEOUT_SECONDS = 10.0
GIVE_UP_AFTER_SECONDS = 60.0
RETRY_PAUSE_SECONDS = 0.2
# What a dropped or refused connection looks like from the client's side.
CONNECTION_TROUBLE = (ConnectionClosed, InvalidHandshake, OSError, TimeoutError)


class Refused(Exception):
    """The server answered a frame with an error: try again later."""


@dataclass
class Endpoint:
    """Where clients connect: the proxy's https and wss URLs and its certificate."""

    base_url: str
    ws_url: str
    tls: ssl.SSLContext

    def http(self, token: str = "") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            base_url=self.base_url, verify=self.tls, headers=headers, timeout=30
        )


async def sign_in(endpoint: Endpoint, email: str) -> str:
    async with endpoint.http() as http:
        response = await http.post(
            "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}
        )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def new_patient_thread(endpoint: Endpoint, token: str) -> str:
    """A new thread about the demo patient Maria: her care team and her portal account."""
    async with endpoint.http(token) as http:
        found = await http.get("/api/v1/patients", params={"mrn": MARIA})
        patient = found.json()["patients"][0]["id"]
        created = await http.post(
            "/api/v1/conversations", json={"kind": "patient", "patient_id": patient}
        )
    assert created.status_code == 201, created.text
    return created.json()["id"]


@dataclass
class Sender:
    endpoint: Endpoint
    name: str
    token: str
    conversation: str
    socket: ClientConnection | None = None
    cursor: int = 0  # the last revision of the conversation this client has
    seen: set[int] = field(default_factory=set)  # seqs received, live or on resume
    acked: dict[str, int] = field(default_factory=dict)  # client_msg_id -> seq
    reconnects: int = 0

    async def connect(self) -> None:
        """Open a socket through the proxy, authenticate, resume from the cursor."""
        self.socket = await websockets.connect(
            self.endpoint.ws_url,
            ssl=self.endpoint.tls,
            open_timeout=FRAME_TIMEOUT_SECONDS,
            close_timeout=1,  # giving up on a stuck socket must not wait for its goodbye
        )
        await self._send({"type": "auth", "token": self.token})
        await self._until("ready")
        await self._send({"type": "resume", "cursors": {self.conversation: self.cursor}})
        await self._until("resumed")

    async def send_until_acked(self, body: str) -> None:
        client_msg_id = f"{self.name}-{uuid.uuid4().hex[:12]}"
        frame = {
            "type": "send",
            "conversation_id": self.conversation,
            "body": body,
            "client_msg_id": client_msg_id,
        }
        deadline = time.monotonic() + GIVE_UP_AFTER_SECONDS
        while True:
            try:
                if self.socket is None:
                    await self.connect()
                await self._send(frame)
                ack = await self._until("ack", client_msg_id=client_msg_id)
                self.acked[client_msg_id] = ack["seq"]
                return
            except (*CONNECTION_TROUBLE, Refused):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name}: {body!r} never acknowledged") from None
                await self.drop()
                self.reconnects += 1
                await asyncio.sleep(RETRY_PAUSE_SECONDS)

    async def receive_until(self, seq: int) -> None:
        """Read (live) until the message with this seq has arrived."""
        while seq not in self.seen:
            await self._until("message.created")

    async def catch_up(self) -> None:
        """A fresh socket that resumes: afterwards this client has everything."""
        await self.drop()
        await self.connect()

    async def drop(self) -> None:
        socket, self.socket = self.socket, None
        if socket is not None:
            await socket.close()

    async def _send(self, frame: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(frame))

    async def _until(self, frame_type: str, **expected: str) -> dict[str, Any]:
        """Read frames (recording every message) until one of this type and fields."""
        assert self.socket is not None
        while True:
            raw = await asyncio.wait_for(self.socket.recv(), FRAME_TIMEOUT_SECONDS)
            frame = json.loads(raw)
            if frame["type"] in ("message.created", "message.updated"):
                if frame["conversation_id"] == self.conversation:
                    self.seen.add(frame["message"]["seq"])
                    self.cursor = max(self.cursor, frame["revision"])
            elif frame["type"] == "error":  # one frame in flight: it is about ours
                raise Refused(frame.get("code"))
            if frame["type"] == frame_type and all(frame.get(k) == v for k, v in expected.items()):
                return frame


async def all_messages(endpoint: Endpoint, token: str, conversation: str) -> list[dict[str, Any]]:
    """Every message of the conversation, in seq order, over REST."""
    found: list[dict[str, Any]] = []
    async with endpoint.http(token) as http:
        while True:
            response = await http.get(
                f"/api/v1/conversations/{conversation}/messages",
                params={"after": found[-1]["seq"] if found else 0, "limit": 100},
            )
            assert response.status_code == 200, response.text
            page = response.json()["messages"]
            if not page:
                return found
            found.extend(page)


async def assert_nothing_lost_or_doubled(
    endpoint: Endpoint, senders: list[Sender], expected: int
) -> None:
    """Every acknowledged message is stored exactly once, nothing else was stored, and
    every client, after resuming, has the complete sequence."""
    for sender in senders:
        await sender.catch_up()
    stored = await all_messages(endpoint, senders[0].token, senders[0].conversation)
    acked = {client_msg_id for sender in senders for client_msg_id in sender.acked}
    assert len(acked) == expected
    assert [m["seq"] for m in stored] == list(range(1, expected + 1))
    assert sorted(m["client_msg_id"] for m in stored) == sorted(acked)
    for sender in senders:
        missing = set(range(1, expected + 1)) - sender.seen
        assert not missing, f"{sender.name} lacks seqs {sorted(missing)[:10]}"
        for client_msg_id, seq in sender.acked.items():
            assert stored[seq - 1]["client_msg_id"] == client_msg_id
