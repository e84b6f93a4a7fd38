"""The one WebSocket endpoint, `/ws`; the protocol is in docs/realtime.md."""

from __future__ import annotations

from typing import Any

from litestar import WebSocket, websocket

from huddle.realtime.connection import Connection


@websocket("/ws")
async def realtime(socket: WebSocket[Any, Any, Any]) -> None:
    """Authenticate in the first frame, then resume, send, read, type; receive events."""
    await Connection(socket, socket.app.state.runtime).run()
