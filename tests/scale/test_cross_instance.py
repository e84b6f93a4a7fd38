"""Two instances, one deployment: what is sent through one reaches sockets on the other
live, a client that moves between instances resumes exactly what it missed, and a
session ended on one closes its sockets on the other."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.realtime.conftest import Client, client_msg_id, patient_thread
from tests.scale.conftest import Deployment

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PCP, CARE, PATIENT = "pcp@example.org", "care@example.org", "patient@example.org"


def send_frame(conversation: str, body: str) -> dict[str, str]:
    return {
        "type": "send",
        "conversation_id": conversation,
        "body": body,
        "client_msg_id": client_msg_id(),
    }


async def test_both_instances_are_ready_with_the_redis_bus(deployment: Deployment) -> None:
    for server in (deployment.a, deployment.b):
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            response = await http.get("/ready")
        assert response.status_code == 200, response.text
        assert response.json()["events"] == "redis"


async def test_a_message_sent_through_one_instance_reaches_sockets_on_the_other(  # type: ignore[no-untyped-def]
    deployment: Deployment, clients
) -> None:
    a, b = deployment.a, deployment.b
    care, pcp, patient = (
        await clients(CARE, on=b),
        await clients(PCP, on=a),
        await clients(PATIENT, on=a),
    )
    conversation = await patient_thread(care)
    for client in (care, pcp, patient):
        await client.connect()

    await care.send(send_frame(conversation, "Sent over the socket on B"))
    assert (await care.next("ack"))["seq"] == 1
    for client in (pcp, patient):
        (frame,) = await client.messages(1)
        assert frame["type"] == "message.created"
        assert frame["message"]["body"] == "Sent over the socket on B"

    posted = await care.api(
        "POST",
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": "Posted over REST to B"},
    )
    assert posted.status_code == 201, posted.text
    for client in (pcp, patient):
        (frame,) = await client.messages(1)
        assert frame["message"]["body"] == "Posted over REST to B"
        assert frame["message"]["seq"] == 2

    # Ephemeral events cross too, the other way: from A to B.
    await pcp.send({"type": "typing", "conversation_id": conversation})
    assert (await care.next("typing"))["conversation_id"] == conversation
    await pcp.send({"type": "read", "conversation_id": conversation, "seq": 2})
    assert (await care.next("receipt"))["read_seq"] == 2

    for client in (pcp, patient):
        bodies = [f["message"]["body"] for f in client.frames if f["type"].startswith("message.")]
        assert len(bodies) == len(set(bodies)) == 2


async def test_resume_on_another_instance_replays_exactly_what_was_missed(  # type: ignore[no-untyped-def]
    deployment: Deployment, clients
) -> None:
    a, b = deployment.a, deployment.b
    care, pcp = await clients(CARE, on=b), await clients(PCP, on=a)
    conversation = await patient_thread(care)
    ready = await pcp.connect()  # on A
    cursor = ready["conversations"][conversation]
    await pcp.close()

    for n in range(3):
        sent = await care.api(
            "POST",
            f"/api/v1/conversations/{conversation}/messages",
            json={"body": f"missed {n}"},
        )
        assert sent.status_code == 201, sent.text

    pcp.server = b
    await pcp.connect()
    await pcp.send({"type": "resume", "cursors": {conversation: cursor}})
    replayed = await pcp.messages(3)
    assert [f["message"]["body"] for f in replayed] == ["missed 0", "missed 1", "missed 2"]
    assert [f["message"]["seq"] for f in replayed] == [1, 2, 3]
    revisions = [f["revision"] for f in replayed]
    assert revisions == sorted(revisions)
    await pcp.next("resumed")

    care.server = a  # and now live, from A to the socket on B
    await care.api(
        "POST", f"/api/v1/conversations/{conversation}/messages", json={"body": "live from A"}
    )
    (live,) = await pcp.messages(1)
    assert live["message"]["body"] == "live from A"
    await pcp.send({"type": "ping"})
    await pcp.next("pong")
    bodies = [f["message"]["body"] for f in pcp.frames if f["type"].startswith("message.")]
    assert bodies == ["missed 0", "missed 1", "missed 2", "live from A"]


async def test_logging_out_on_one_instance_closes_the_socket_on_the_other(  # type: ignore[no-untyped-def]
    deployment: Deployment, clients
) -> None:
    pcp: Client = await clients(PCP, on=deployment.a)
    await pcp.connect()  # on A
    pcp.server = deployment.b
    assert (await pcp.api("POST", "/api/v1/auth/logout")).status_code == 204
    error = await pcp.next("error")
    assert error["code"] == "session_revoked"
    with pytest.raises(ConnectionClosed) as closed:
        await pcp.next()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
