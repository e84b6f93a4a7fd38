"""The WebSocket endpoints; the protocol is in docs/realtime.md.

`/ws` authenticates in the first frame (any client). `/api/v1/ws` is the same protocol
for the web client, authenticated on the upgrade by the browser-session cookie (whose
path is /api): the page never holds a token. The cookie counts only with an Origin
header (a browser), and that Origin must be allowed, which is what stops another site
from opening a socket in the user's name.
"""

from __future__ import annotations

from typing import Any

from litestar import WebSocket, websocket

from huddle.identity.browser_session import ACCESS_COOKIE
from huddle.realtime import protocol
from huddle.realtime.connection import Closing, Connection
from huddle.realtime.shared_reads import SharedReads
from huddle.runtime import Runtime


@websocket("/ws")
async def realtime(socket: WebSocket[Any, Any, Any]) -> None:
    """Authenticate in the first frame, then resume, send, read, type; receive events."""
    await Connection(socket, socket.app.state.runtime, socket.app.state.reads).run()


@websocket("/api/v1/ws")
async def browser_realtime(socket: WebSocket[Any, Any, Any]) -> None:
    """The browser's socket: authenticated by the session cookie on the upgrade."""
    state = socket.app.state
    await CookieConnection(socket, state.runtime, state.reads).run()


class CookieConnection(Connection):
    """A connection whose credential came with the upgrade instead of a first frame.
    When the access token expires the socket closes (4401 `token_expired`); the page
    refreshes its cookies over REST, reconnects and resumes."""

    __slots__ = ("cookie_token",)

    def __init__(self, socket: WebSocket[Any, Any, Any], rt: Runtime, reads: SharedReads) -> None:
        super().__init__(socket, rt, reads)
        has_origin = socket.headers.get("origin") is not None
        self.cookie_token = socket.cookies.get(ACCESS_COOKIE) if has_origin else None

    async def _authenticate_first_frame(self) -> None:
        if not self.cookie_token:
            raise Closing(
                protocol.CLOSE_AUTH,
                protocol.error("missing_token", "Sign in first: no session cookie came along."),
            )
        await self._authenticate(self.cookie_token)
