"""The WebSocket protocol against a real server: authentication in the first frame,
Origin, live delivery to participants only, idempotent sends, resume without loss or
duplicates, receipts, typing, bad frames, and sessions that end."""

from __future__ import annotations

import uuid

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.live_server import DEMO_PASSWORD, run_huddle
from tests.realtime.conftest import Client, client_msg_id, patient_thread

PCP, CARE, PATIENT = "pcp@example.org", "care@example.org", "patient@example.org"
OUTSIDER = "pcp2@example.org"  # a PCP of the same clinic, not on Maria's care team


async def closed_with(client: Client) -> tuple[int, dict]:  # type: ignore[type-arg]
    """The error frame sent before the close, and the close code."""
    error = await client.next("error")
    assert client.socket is not None
    with pytest.raises(ConnectionClosed) as closed:
        await client.next()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, error


async def test_two_staff_and_the_patient_converse_live(clients) -> None:  # type: ignore[no-untyped-def]
    care, pcp, patient = await clients(CARE), await clients(PCP), await clients(PATIENT)
    conversation = await patient_thread(care)
    for client in (care, pcp, patient):
        await client.connect()
    await care.send(
        {
            "type": "send",
            "conversation_id": conversation,
            "body": "Hi Maria, how are the new meds?",
            "client_msg_id": client_msg_id(),
        }
    )
    ack = await care.next("ack")
    assert ack["seq"] == 1
    for client in (pcp, patient):
        (frame,) = await client.messages(1)
        assert frame["type"] == "message.created"
        assert frame["message"]["body"] == "Hi Maria, how are the new meds?"
    reply = await patient.api(
        "POST",
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": "Sleeping better, thanks."},
    )
    assert reply.status_code == 201
    for client in (care, pcp):
        frames = await client.messages(1 if client is pcp else 2)
        assert frames[-1]["message"]["body"] == "Sleeping better, thanks."
        assert frames[-1]["message"]["seq"] == 2


async def test_outsiders_receive_nothing(clients) -> None:  # type: ignore[no-untyped-def]
    care, outsider = await clients(CARE), await clients(OUTSIDER)
    conversation = await patient_thread(care)
    await care.connect()
    ready = await outsider.connect()
    assert conversation not in ready["conversations"]
    await care.send(
        {
            "type": "send",
            "conversation_id": conversation,
            "body": "private",
            "client_msg_id": client_msg_id(),
        }
    )
    await care.next("ack")
    await outsider.send({"type": "ping"})
    await outsider.next("pong")
    assert not [f for f in outsider.frames if f["type"].startswith("message.")]
    await outsider.send(
        {
            "type": "send",
            "conversation_id": conversation,
            "body": "let me in",
            "client_msg_id": client_msg_id(),
        }
    )
    error = await outsider.next("error")
    assert error["code"] == "not_found"
    await outsider.send({"type": "resume", "cursors": {conversation: 0}})
    assert (await outsider.next("error"))["code"] == "unknown_conversation"


async def test_a_retried_send_gives_one_message(clients) -> None:  # type: ignore[no-untyped-def]
    care, pcp = await clients(CARE), await clients(PCP)
    conversation = await patient_thread(care)
    await care.connect()
    await pcp.connect()
    frame = {
        "type": "send",
        "conversation_id": conversation,
        "body": "once",
        "client_msg_id": "retry-1",
    }
    await care.send(frame)
    first = await care.next("ack")
    await care.send(frame)
    second = await care.next("ack")
    assert second["duplicate"] is True
    assert second["message_id"] == first["message_id"]
    await pcp.messages(1)
    await pcp.send({"type": "ping"})
    await pcp.next("pong")
    assert len([f for f in pcp.frames if f["type"] == "message.created"]) == 1


async def test_resume_replays_what_was_missed_exactly_once_then_goes_live(clients) -> None:  # type: ignore[no-untyped-def]
    care, pcp = await clients(CARE), await clients(PCP)
    conversation = await patient_thread(care)
    ready = await pcp.connect()
    cursor = ready["conversations"][conversation]
    await pcp.close()
    for n in range(3):
        await care.api(
            "POST",
            f"/api/v1/conversations/{conversation}/messages",
            json={"body": f"while you were away {n}"},
        )
    sent = (await care.api("GET", f"/api/v1/conversations/{conversation}/messages")).json()
    await care.api(
        "PATCH",
        f"/api/v1/messages/{sent['messages'][0]['id']}",
        json={"body": "while you were away 0 (edited)"},
    )

    await pcp.connect()
    await pcp.send({"type": "resume", "cursors": {conversation: cursor}})
    replayed = await pcp.messages(3)
    assert [f["message"]["body"] for f in replayed] == [
        "while you were away 1",
        "while you were away 2",
        "while you were away 0 (edited)",
    ]
    revisions = [f["revision"] for f in replayed]
    assert revisions == sorted(revisions)
    await pcp.next("resumed")
    await care.api(
        "POST", f"/api/v1/conversations/{conversation}/messages", json={"body": "live again"}
    )
    (live,) = await pcp.messages(1)
    assert live["message"]["body"] == "live again"
    bodies = [f["message"]["body"] for f in pcp.frames if f["type"].startswith("message.")]
    assert len(bodies) == len(set(bodies))


async def test_receipts_and_typing_reach_the_others(clients) -> None:  # type: ignore[no-untyped-def]
    care, pcp = await clients(CARE), await clients(PCP)
    conversation = await patient_thread(care)
    await care.connect()
    await pcp.connect()
    await care.send(
        {
            "type": "send",
            "conversation_id": conversation,
            "body": "ping?",
            "client_msg_id": client_msg_id(),
        }
    )
    await pcp.messages(1)
    await pcp.send({"type": "typing", "conversation_id": conversation})
    typing = await care.next("typing")
    assert typing["conversation_id"] == conversation
    await pcp.send({"type": "read", "conversation_id": conversation, "seq": 1})
    assert (await pcp.next("read"))["read_seq"] == 1
    receipt = await care.next("receipt")
    assert receipt["read_seq"] == 1


async def test_bad_frames_get_an_error_and_the_connection_stays(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients(PCP)
    await pcp.connect()
    for bad in ("not json", '{"type": "launch"}', '{"type": "send"}', "[1, 2]"):
        await pcp.send(bad)
        assert (await pcp.next("error"))["code"] == "bad_frame"
    await pcp.send({"type": "ping"})
    await pcp.next("pong")


async def test_authentication_is_the_first_frame(realtime_server, clients) -> None:  # type: ignore[no-untyped-def]
    async with websockets.connect(realtime_server.ws_url) as socket:
        await socket.send('{"type": "ping"}')
        error = await socket.recv()
        assert '"auth_required"' in error
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401
    async with websockets.connect(realtime_server.ws_url) as socket:
        await socket.send('{"type": "auth", "token": "forged.token.value"}')
        assert '"invalid_token"' in await socket.recv()


async def test_a_foreign_origin_is_refused(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients(PCP)
    pcp.socket = await websockets.connect(
        pcp.server.ws_url, additional_headers={"Origin": "https://evil.example"}
    )
    code, error = await closed_with(pcp)
    assert code == 4403
    assert error["code"] == "origin_not_allowed"


async def test_logging_out_closes_the_sockets_of_that_session(clients) -> None:  # type: ignore[no-untyped-def]
    pcp = await clients(PCP)
    await pcp.connect()
    assert (await pcp.api("POST", "/api/v1/auth/logout")).status_code == 204
    code, error = await closed_with(pcp)
    assert code == 4401
    assert error["code"] == "session_revoked"


async def test_a_client_of_another_organization_receives_nothing(realtime_server, clients) -> None:  # type: ignore[no-untyped-def]
    email = f"admin.{uuid.uuid4().hex[:8]}@elsewhere.test"
    run_huddle(
        realtime_server.env | {"HUDDLE_ADMIN_PASSWORD": DEMO_PASSWORD},
        "org",
        "create",
        "--name",
        "Elsewhere Clinic",
        "--admin-email",
        email,
        "--admin-name",
        "Else Where",
    )
    care, stranger = await clients(CARE), await clients(email)
    conversation = await patient_thread(care)
    ready = await stranger.connect()
    assert ready["conversations"] == {}
    await care.api(
        "POST", f"/api/v1/conversations/{conversation}/messages", json={"body": "clinic-internal"}
    )
    await stranger.send({"type": "resume", "cursors": {conversation: 0}})
    assert (await stranger.next("error"))["code"] == "unknown_conversation"
    await stranger.send({"type": "ping"})
    await stranger.next("pong")
    assert not [f for f in stranger.frames if f["type"].startswith("message.")]
