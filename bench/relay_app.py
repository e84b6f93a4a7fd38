"""The ceiling for real-time delivery: a bare Litestar WebSocket relay, nothing else
(no auth, no database, no audit), served by uvicorn exactly as `huddle serve` is.

    uvicorn bench.relay_app:app

A socket's first frame is `{"type": "join", "rooms": [...]}` (answered `{"type":
"ready"}`); every later frame `{"type": "relay", "room": r, ...}` is forwarded as is to
every other socket in room r.
"""

from __future__ import annotations

import json
from collections import defaultdict

from litestar import Litestar, WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

rooms: defaultdict[str, set[WebSocket]] = defaultdict(set)


@websocket("/ws")
async def relay(socket: WebSocket) -> None:
    await socket.accept()
    joined: list[str] = []
    try:
        hello = json.loads(await socket.receive_text())
        joined = hello["rooms"]
        for room in joined:
            rooms[room].add(socket)
        await socket.send_text('{"type": "ready"}')
        while True:
            raw = await socket.receive_text()
            for member in rooms[json.loads(raw)["room"]]:
                if member is not socket:
                    await member.send_text(raw)
    except WebSocketDisconnect:
        pass
    finally:
        for room in joined:
            rooms[room].discard(socket)


app = Litestar([relay])
