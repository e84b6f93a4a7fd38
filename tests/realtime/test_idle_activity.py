"""Automatic logoff on the socket: only what the person does (send, typing, a read
receipt not marked passive) restarts the session's idle clock; connecting, resume,
presence and passive receipts do not, and an idle session is closed on them all the
same. The app runs in this process with a movable clock (the protocol tests' real
server processes cannot move time), driven through ASGI directly."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from huddle.actor import Role
from huddle.realtime import protocol
from tests.conftest import Clinic, Server, bearer, sign_in
from tests.messaging.conftest import make_thread

FRAME_TIMEOUT_SECONDS = 10.0


class AsgiSocket:
    """A WebSocket client speaking ASGI to the app under test."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def connect(self, token: str) -> dict[str, Any]:
        scope = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "scheme": "ws",
            "path": "/ws",
            "raw_path": b"/ws",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
            "client": (self.server.address, 40000),
            "server": ("testserver", 80),
            "subprotocols": [],
        }
        self.task = asyncio.create_task(
            self.server.app(scope, self.to_app.get, self.from_app.put)  # type: ignore[arg-type]
        )
        await self.to_app.put({"type": "websocket.connect"})
        assert (await self._next_message())["type"] == "websocket.accept"
        await self.send({"type": "auth", "token": token})
        return await self.next("ready")

    async def send(self, frame: dict[str, Any]) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": json.dumps(frame)})

    async def next(self, frame_type: str) -> dict[str, Any]:
        """The next frame of `frame_type` (others skipped); a close is returned as
        {"type": "close", "code": ...}."""
        while True:
            message = await self._next_message()
            if message["type"] == "websocket.close":
                return {"type": "close", "code": message["code"]}
            frame = json.loads(message["text"])
            if frame["type"] in (frame_type, "error"):
                return frame

    async def close(self) -> None:
        await self.to_app.put({"type": "websocket.disconnect", "code": 1000})
        if self.task is not None:
            await asyncio.wait_for(self.task, FRAME_TIMEOUT_SECONDS)

    async def _next_message(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.from_app.get(), FRAME_TIMEOUT_SECONDS)


async def shorten_idle_timeout(server: Server, clinic: Clinic, minutes: int) -> None:
    admin = await sign_in(server.client, clinic.email(Role.ADMIN))
    patched = await server.client.patch(
        "/api/v1/organization",
        json={"idle_timeout_minutes": minutes},
        headers=bearer(admin["access_token"]),
    )
    assert patched.status_code == 200, patched.text


async def test_passive_frames_do_not_keep_an_idle_session_alive(
    server: Server, clinic: Clinic
) -> None:
    thread = await make_thread(server, clinic)
    await shorten_idle_timeout(server, clinic, 5)
    care = bearer((await sign_in(server.client, clinic.email(Role.CARE_MANAGER)))["access_token"])
    started = await server.client.post(
        "/api/v1/conversations",
        json={"kind": "patient", "patient_id": thread.patient_id},
        headers=care,
    )
    conversation = started.json()["id"]
    pcp = await sign_in(server.client, clinic.email(Role.PCP))
    socket = AsgiSocket(server)
    ready = await socket.connect(pcp["access_token"])
    try:
        for _ in range(2):  # 4 minutes of frames the client sends by itself
            server.clock.advance(timedelta(minutes=2))
            sent = await server.client.post(
                f"/api/v1/conversations/{conversation}/messages",
                json={"body": "Any news?"},
                headers=care,
            )
            seq = sent.json()["seq"]
            await socket.send({"type": "resume", "cursors": ready["conversations"]})
            assert (await socket.next("resumed"))["type"] == "resumed"
            await socket.send({"type": "presence", "status": "online"})
            await socket.send(
                {"type": "read", "conversation_id": conversation, "seq": seq, "passive": True}
            )
            assert (await socket.next("read"))["read_seq"] == seq

        server.clock.advance(timedelta(minutes=1, seconds=30))  # 5.5 min after sign-in
        await socket.send(
            {"type": "read", "conversation_id": conversation, "seq": seq, "passive": True}
        )
        refused = await socket.next("read")
        assert (refused["type"], refused["code"]) == ("error", "session_idle")
        assert (await socket.next("close"))["code"] == protocol.CLOSE_AUTH
    finally:
        await socket.close()
    me = await server.client.get("/api/v1/me", headers=bearer(pcp["access_token"]))
    assert me.json()["error"]["code"] == "session_revoked"


async def test_a_read_receipt_the_person_caused_is_activity(server: Server, clinic: Clinic) -> None:
    thread = await make_thread(server, clinic)
    await shorten_idle_timeout(server, clinic, 5)
    pcp = await sign_in(server.client, clinic.email(Role.PCP))
    started = await server.client.post(
        "/api/v1/conversations",
        json={"kind": "patient", "patient_id": thread.patient_id},
        headers=bearer(pcp["access_token"]),
    )
    conversation = started.json()["id"]
    socket = AsgiSocket(server)
    await socket.connect(pcp["access_token"])
    try:
        for _ in range(3):  # 12 minutes, a receipt every 4
            server.clock.advance(timedelta(minutes=4))
            await socket.send({"type": "read", "conversation_id": conversation, "seq": 0})
            assert (await socket.next("read"))["type"] == "read"
    finally:
        await socket.close()
    me = await server.client.get("/api/v1/me", headers=bearer(pcp["access_token"]))
    assert me.status_code == 200
