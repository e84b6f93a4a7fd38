"""A client that cannot keep up is cut off (its events are bounded, not buffered without
end) and, resuming later, loses nothing: a real server with a small per-socket buffer, a
real client that stops reading, and enough traffic to fill the TCP buffers between them."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.live_server import ServerProcess
from tests.realtime.conftest import Client, clients_of, patient_thread, serve_demo

EVENT_BUFFER = 10  # the smallest HUDDLE_WS_EVENT_BUFFER allowed
# Incompressible bodies, so the kernel's socket buffers (which grow on their own, to
# a few MB at most) fill after a few hundred; how many it takes varies from run to run.
BODY_CHARACTERS = 10_000  # the most a message may have
MAX_MESSAGES = 1000
CONCURRENT_SENDS = 8
CUT_OFF_LOG = "websocket cut off: events missed"


@pytest.fixture(scope="module", params=["sqlite", "postgresql+redis"])
def tight_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from serve_demo(
        request.param,
        tmp_path_factory.mktemp("slow-client"),
        HUDDLE_WS_EVENT_BUFFER=str(EVENT_BUFFER),
        # Long enough that the stalled client is cut off by its buffer, not for missing
        # the keepalive pings, however slowly a loaded machine fills the buffers.
        HUDDLE_WS_PING_SECONDS="600",
    )


@pytest.fixture
async def clients(tight_server: ServerProcess) -> AsyncIterator[Callable[..., Any]]:
    async for make in clients_of(tight_server):
        yield make


def small_window_socket(server: ServerProcess) -> socket.socket:
    """A TCP connection with a small receive buffer, so a stalled reader backs up into
    the server quickly instead of into megabytes of kernel memory."""
    address = urlsplit(server.base_url)
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect((address.hostname, address.port))
    return connection


async def test_a_client_that_stops_reading_is_cut_off_then_resumes_without_loss(clients) -> None:  # type: ignore[no-untyped-def]
    care, pcp = await clients("care@example.org"), await clients("pcp@example.org")
    conversation = await patient_thread(care)
    # No client-side keepalive either: its pongs would wait behind the unread frames.
    ready = await pcp.connect(
        sock=small_window_socket(pcp.server), max_queue=1, compression=None, ping_interval=None
    )
    cursor = ready["conversations"][conversation]

    # The PCP's client reads nothing while the care manager sends, until the server
    # gives up on it (it says so in its log: no PHI, just the user id).
    sent = 0
    async with httpx.AsyncClient(base_url=care.server.base_url, headers=care.headers) as http:
        while CUT_OFF_LOG not in pcp.server.log_path.read_text():
            assert sent < MAX_MESSAGES, "the server never cut the stalled client off"
            batch = [_flood(http, conversation) for _ in range(CONCURRENT_SENDS)]
            for response in await asyncio.gather(*batch):
                assert response.status_code == 201, response.text
            sent += CONCURRENT_SENDS

    # Reading again, it gets what the server had written before, then the end: the
    # "too slow" close when the server could still write it, else just a closed socket.
    closed = await _read_until_closed(pcp)
    if closed.rcvd is not None:
        assert closed.rcvd.code == 4408
        assert pcp.frames[-1]["code"] == "too_slow"
    cursor = max([cursor, *(f["revision"] for f in pcp.frames if "revision" in f)])
    before_cut = _seqs(pcp.frames)
    assert len(before_cut) < sent

    # Resuming from its cursor it gets the rest: every message exactly once, in order.
    pcp.frames.clear()
    await pcp.connect()
    await pcp.send({"type": "resume", "cursors": {conversation: cursor}})
    await pcp.next("resumed")
    assert before_cut + _seqs(pcp.frames) == list(range(1, sent + 1))


async def _flood(http: httpx.AsyncClient, conversation: str) -> httpx.Response:
    body = secrets.token_urlsafe(BODY_CHARACTERS)[:BODY_CHARACTERS]
    return await http.post(f"/api/v1/conversations/{conversation}/messages", json={"body": body})


async def _read_until_closed(client: Client) -> ConnectionClosed:
    """Read (keeping the frames) until the socket ends; fail if it never does."""
    while True:
        try:
            await client.next()
        except ConnectionClosed as closed:
            return closed


def _seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["message"]["seq"] for f in frames if f["type"] == "message.created"]
