"""The browser's socket, /api/v1/ws: authenticated by the session cookie on the upgrade
(never a token in a frame or the URL), only from an allowed Origin."""

from __future__ import annotations

import httpx
import websockets

from tests.live_server import DEMO_PASSWORD, ServerProcess
from tests.realtime.conftest import Client, client_msg_id, patient_thread
from tests.realtime.test_websocket import CARE, PCP, closed_with


async def browser_cookie(server: ServerProcess, email: str) -> str:
    """The Cookie header a browser sends to /api after a browser sign-in."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        answer = await http.post(
            "/api/v1/auth/browser/login", json={"email": email, "password": DEMO_PASSWORD}
        )
    assert answer.status_code == 200, answer.text
    return f"huddle_access={answer.cookies['huddle_access']}"


# The realtime test server runs with the default public URL, whose origin is allowed.
PAGE_ORIGIN = "http://127.0.0.1:8000"


def browser_socket_url(server: ServerProcess) -> str:
    return server.ws_url.removesuffix("/ws") + "/api/v1/ws"


async def open_browser_socket(client: Client, **headers: str) -> None:
    client.socket = await websockets.connect(
        browser_socket_url(client.server), additional_headers=headers
    )


async def test_the_cookie_authenticates_the_upgrade_and_messages_arrive(clients) -> None:  # type: ignore[no-untyped-def]
    care, pcp = await clients(CARE), await clients(PCP)
    conversation = await patient_thread(care)
    await open_browser_socket(pcp, Cookie=await browser_cookie(pcp.server, PCP), Origin=PAGE_ORIGIN)

    ready = await pcp.next("ready")
    assert conversation in ready["conversations"]
    sent = await care.api(
        "POST",
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": "Seen by the browser", "client_msg_id": client_msg_id()},
    )
    assert sent.status_code == 201, sent.text
    [frame] = await pcp.messages(1)
    assert frame["message"]["body"] == "Seen by the browser"


async def test_a_cookie_from_another_origin_is_refused(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients(PCP)
    await open_browser_socket(
        pcp, Cookie=await browser_cookie(pcp.server, PCP), Origin="https://evil.example"
    )

    code, error = await closed_with(pcp)
    assert code == 4403
    assert error["code"] == "origin_not_allowed"


async def test_a_cookie_without_an_origin_or_no_cookie_is_not_signed_in(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients(PCP)
    await open_browser_socket(pcp, Cookie=await browser_cookie(pcp.server, PCP))
    code, error = await closed_with(pcp)
    assert (code, error["code"]) == (4401, "missing_token")

    await open_browser_socket(pcp, Origin=PAGE_ORIGIN)
    code, error = await closed_with(pcp)
    assert (code, error["code"]) == (4401, "missing_token")


async def test_a_signed_out_cookie_is_refused(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients(PCP)
    # End the session the way the page does (cookie plus its CSRF token).
    async with httpx.AsyncClient(base_url=pcp.server.base_url, timeout=30) as http:
        login = await http.post(
            "/api/v1/auth/browser/login", json={"email": PCP, "password": DEMO_PASSWORD}
        )
        cookie = f"huddle_access={login.cookies['huddle_access']}"
        out = await http.post(
            "/api/v1/auth/browser/logout",
            headers={"Cookie": cookie, "X-CSRF-Token": login.json()["csrf_token"]},
        )
        assert out.status_code == 204

    await open_browser_socket(pcp, Cookie=cookie, Origin=PAGE_ORIGIN)
    code, error = await closed_with(pcp)
    assert (code, error["code"]) == (4401, "session_revoked")
