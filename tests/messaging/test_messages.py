"""Conversations and messages over REST: ordering, idempotent sends, paging, catching
up by revision, edits with history, redaction, receipts, unread counts, and access."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from huddle.actor import Role
from huddle.messaging.models import Message
from tests.conftest import bearer, make_clinic, sign_in
from tests.messaging.conftest import Thread


async def start_patient_thread(thread: Thread) -> str:
    response = await thread.server.client.post(
        "/api/v1/conversations",
        json={"kind": "patient", "patient_id": thread.patient_id},
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def send(thread: Thread, conversation: str, role: Role, body: str, **extra: object):  # type: ignore[no-untyped-def]
    return await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": body, **extra},
        headers=await thread.headers(role),
    )


async def test_the_care_team_and_the_patient_converse(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    first = await send(thread, conversation, Role.CARE_MANAGER, "How are you sleeping?")
    reply = await send(thread, conversation, Role.PATIENT, "Better, thanks.", reply_to_seq=1)
    assert (first.json()["seq"], reply.json()["seq"]) == (1, 2)
    assert reply.json()["reply_to_seq"] == 1
    page = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/messages",
        headers=await thread.headers(Role.PCP),
    )
    assert [m["body"] for m in page.json()["messages"]] == [
        "How are you sleeping?",
        "Better, thanks.",
    ]
    patient_view = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}", headers=await thread.headers(Role.PATIENT)
    )
    names = {p["display_name"] for p in patient_view.json()["participants"]}
    assert "Patient" in names


async def test_a_retried_send_gives_one_message(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    first = await send(thread, conversation, Role.PCP, "Lab results are in.", client_msg_id="c-1")
    again = await send(thread, conversation, Role.PCP, "Lab results are in.", client_msg_id="c-1")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    page = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/messages", headers=await thread.headers(Role.PCP)
    )
    assert len(page.json()["messages"]) == 1


async def test_paging_forward_and_backward(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    for n in range(1, 8):
        await send(thread, conversation, Role.PCP, f"note {n}")
    headers = await thread.headers(Role.PCP)
    url = f"/api/v1/conversations/{conversation}/messages"
    latest = (await thread.server.client.get(url, params={"limit": 3}, headers=headers)).json()
    assert [m["seq"] for m in latest["messages"]] == [5, 6, 7]
    assert latest["last_seq"] == 7
    older = await thread.server.client.get(url, params={"before": 5, "limit": 3}, headers=headers)
    assert [m["seq"] for m in older.json()["messages"]] == [2, 3, 4]
    newer = await thread.server.client.get(url, params={"after": 4, "limit": 2}, headers=headers)
    assert [m["seq"] for m in newer.json()["messages"]] == [5, 6]
    bad = await thread.server.client.get(url, params={"limit": 1000}, headers=headers)
    assert bad.status_code == 422


async def test_edits_keep_history_and_redaction_removes_content(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    sent = (await send(thread, conversation, Role.PCP, "Dose 10mg")).json()
    pcp = await thread.headers(Role.PCP)
    edited = await thread.server.client.patch(
        f"/api/v1/messages/{sent['id']}", json={"body": "Dose 20mg"}, headers=pcp
    )
    assert edited.json()["version"] == 2
    assert edited.json()["revision"] > sent["revision"]
    history = await thread.server.client.get(
        f"/api/v1/messages/{sent['id']}/history", headers=await thread.headers(Role.PATIENT)
    )
    assert [v["body"] for v in history.json()["versions"]] == ["Dose 10mg"]
    not_mine = await thread.server.client.patch(
        f"/api/v1/messages/{sent['id']}",
        json={"body": "x"},
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    assert not_mine.status_code == 403
    redacted = await thread.server.client.delete(f"/api/v1/messages/{sent['id']}", headers=pcp)
    assert redacted.json()["body"] is None
    assert redacted.json()["redacted_at"]
    history = await thread.server.client.get(f"/api/v1/messages/{sent['id']}/history", headers=pcp)
    assert [v["body"] for v in history.json()["versions"]] == [None]
    async with thread.server.rt.db.transaction() as db:
        row = await db.get(Message, uuid.UUID(sent["id"]))
        assert row is not None
        assert row.body is None


async def test_catching_up_by_revision_sees_new_and_changed_messages_once(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    first = (await send(thread, conversation, Role.PCP, "one")).json()
    headers = await thread.headers(Role.CARE_MANAGER)
    url = f"/api/v1/conversations/{conversation}/changes"
    seen = (await thread.server.client.get(url, headers=headers)).json()
    cursor = seen["last_revision"]
    await send(thread, conversation, Role.PCP, "two")
    await thread.server.client.patch(
        f"/api/v1/messages/{first['id']}",
        json={"body": "one (edited)"},
        headers=await thread.headers(Role.PCP),
    )
    missed = (
        await thread.server.client.get(url, params={"since_revision": cursor}, headers=headers)
    ).json()
    assert [(m["seq"], m["body"]) for m in missed["messages"]] == [(2, "two"), (1, "one (edited)")]
    after = await thread.server.client.get(
        url, params={"since_revision": missed["last_revision"]}, headers=headers
    )
    assert after.json()["messages"] == []


async def test_unread_counts_and_read_receipts(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    for body in ("a", "b", "c"):
        await send(thread, conversation, Role.CARE_MANAGER, body)
    pcp = await thread.headers(Role.PCP)
    listing = (await thread.server.client.get("/api/v1/conversations", headers=pcp)).json()
    mine = next(c for c in listing["conversations"] if c["id"] == conversation)
    assert mine["unread"] == 3
    read = await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/read", json={"seq": 2}, headers=pcp
    )
    assert read.json()["read_seq"] == 2
    back = await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/read", json={"seq": 1}, headers=pcp
    )
    assert back.json()["read_seq"] == 2  # never moves backward
    detail = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}", headers=await thread.headers(Role.CARE_MANAGER)
    )
    cursors = {p["role"]: p["read_seq"] for p in detail.json()["participants"]}
    assert cursors["pcp"] == 2
    assert cursors["care_manager"] == 3
    assert detail.json()["unread"] == 0


async def test_outsiders_and_other_organizations_see_nothing(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    await send(thread, conversation, Role.PCP, "private note")
    outsider = await thread.headers(Role.PSYCHIATRIST)
    for method, path in (
        ("GET", f"/api/v1/conversations/{conversation}"),
        ("GET", f"/api/v1/conversations/{conversation}/messages"),
        ("POST", f"/api/v1/conversations/{conversation}/messages"),
    ):
        response = await thread.server.client.request(
            method, path, json={"body": "hi"} if method == "POST" else None, headers=outsider
        )
        assert response.status_code == 404, path
        assert "private note" not in response.text
    other = await make_clinic(thread.server.rt)
    stranger = bearer((await sign_in(thread.server.client, other.email(Role.PCP)))["access_token"])
    listing = await thread.server.client.get("/api/v1/conversations", headers=stranger)
    assert listing.json()["conversations"] == []
    assert (
        await thread.server.client.get(
            f"/api/v1/conversations/{conversation}/messages", headers=stranger
        )
    ).status_code == 404


async def test_bodies_are_sealed_and_bad_input_is_refused(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    await send(thread, conversation, Role.PCP, "Sertraline 50mg started")
    async with thread.server.rt.db.transaction() as db:
        stored = await db.scalar(
            select(Message.body).where(Message.conversation_id == uuid.UUID(conversation))
        )
    assert stored is not None
    assert b"Sertraline" not in stored
    for body, code in (("   ", "empty_message"), ("x" * 10_001, "message_too_long")):
        response = await send(thread, conversation, Role.PCP, body)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == code
    bad_reply = await send(thread, conversation, Role.PCP, "re", reply_to_seq=99)
    assert bad_reply.status_code == 422
