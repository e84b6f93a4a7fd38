"""Sends that arrive together share one transaction on SQLite (huddle/group_commit.py):
each is still kept, acknowledged, audited and readable on its own, and one that fails
takes nothing of the others with it. On PostgreSQL the same sends take a transaction
each; the behaviour asked of them is the same."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select

from huddle.actor import Role
from huddle.messaging import service as messaging
from huddle.messaging.models import Message
from huddle.protect.audit import Action
from huddle.protect.models import AuditEvent, DataKey
from tests.messaging.conftest import Thread
from tests.messaging.test_messages import send, start_patient_thread
from tests.messaging.test_shared_catch_up import actor_of


async def send_at_once(
    thread: Thread, conversation: str, sends: list[tuple[Role, str, dict[str, object]]]
) -> list[httpx.Response]:
    """Post every send together (signed in beforehand, so nothing staggers them)."""
    headers = {role: await thread.headers(role) for role in {role for role, _b, _e in sends}}
    url = f"/api/v1/conversations/{conversation}/messages"
    return await asyncio.gather(
        *(
            thread.server.client.post(url, json={"body": body, **extra}, headers=headers[role])
            for role, body, extra in sends
        )
    )


async def bodies(thread: Thread, conversation: str) -> list[tuple[int, str]]:
    page = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/messages", headers=await thread.headers(Role.PCP)
    )
    assert page.status_code == 200, page.text
    return [(m["seq"], m["body"]) for m in page.json()["messages"]]


async def creations_audited(thread: Thread, responses: list[httpx.Response]) -> set[str]:
    async with thread.server.rt.db.transaction() as db:
        rows = await db.scalars(
            select(AuditEvent.resource_id).where(
                AuditEvent.action == Action.CREATE.value,
                AuditEvent.resource_type == "message",
                AuditEvent.request_id.in_([r.headers["x-request-id"] for r in responses]),
            )
        )
        return set(rows.all())


async def test_messages_sent_at_once_are_each_kept_acknowledged_and_audited(
    thread: Thread,
) -> None:
    conversation = await start_patient_thread(thread)
    roles = [Role.PCP, Role.CARE_MANAGER, Role.PATIENT] * 5
    sent = await send_at_once(
        thread, conversation, [(role, f"note {n}", {}) for n, role in enumerate(roles)]
    )
    assert [r.status_code for r in sent] == [201] * len(roles), [r.text for r in sent]
    assert sorted(r.json()["seq"] for r in sent) == list(range(1, len(roles) + 1))
    stored = await bodies(thread, conversation)
    assert sorted(body for _seq, body in stored) == sorted(f"note {n}" for n in range(len(roles)))
    assert {(r.json()["seq"], r.json()["body"]) for r in sent} == set(stored)
    assert await creations_audited(thread, sent) == {r.json()["id"] for r in sent}
    officer = await thread.headers(Role.COMPLIANCE_OFFICER)
    chain = await thread.server.client.get("/api/v1/audit/verification", headers=officer)
    assert chain.json()["ok"] is True, chain.text


async def test_a_send_that_fails_among_others_leaves_them_whole(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    first, with_file, second, reply, third = await send_at_once(
        thread,
        conversation,
        [
            (Role.PCP, "first", {}),
            # Fails after its message was sealed and written: back to its savepoint.
            (Role.PCP, "with a file", {"attachment_ids": [str(uuid.uuid4())]}),
            (Role.CARE_MANAGER, "second", {}),
            (Role.PCP, "a reply", {"reply_to_seq": 99}),
            (Role.PATIENT, "third", {}),
        ],
    )
    assert [r.status_code for r in (first, second, third)] == [201] * 3
    assert with_file.status_code == 422
    assert reply.json()["error"]["code"] == "invalid_reply_to"
    stored = await bodies(thread, conversation)
    # No seq was taken by the failed ones: the others number on without a gap.
    assert [seq for seq, _body in stored] == [1, 2, 3]
    assert {body for _seq, body in stored} == {"first", "second", "third"}
    assert await creations_audited(thread, [first, with_file, second, reply, third]) == {
        r.json()["id"] for r in (first, second, third)
    }


async def test_a_data_key_made_by_a_failed_send_is_never_used(thread: Thread) -> None:
    """The first message of a thread makes the thread's data key and reserves uses of it;
    if that send fails, the key is rolled back and its reservation must go with it, or
    the next message would be sealed under a key that does not exist."""
    conversation = await start_patient_thread(thread)
    failed = await send(
        thread, conversation, Role.PCP, "with a file", attachment_ids=[str(uuid.uuid4())]
    )
    assert failed.status_code == 422
    kept = await send(thread, conversation, Role.PCP, "readable")
    assert kept.status_code == 201, kept.text
    assert await bodies(thread, conversation) == [(1, "readable")]
    # Read back above through this process's key cache; another process (or this one
    # after a restart) has only the database.
    async with thread.server.rt.db.transaction() as db:
        sealed = await db.scalar(
            select(Message.body).where(Message.id == uuid.UUID(kept.json()["id"]))
        )
        assert await db.get(DataKey, uuid.UUID(bytes=sealed[1:17])) is not None


async def test_a_send_given_up_while_it_waits_is_not_kept(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    rt = thread.server.rt
    actor = await actor_of(thread, Role.PCP)
    drafts = [messaging.MessageDraft(body=f"note {n}") for n in range(3)]
    tasks = [
        asyncio.create_task(messaging.send_message(rt, actor, uuid.UUID(conversation), draft))
        for draft in drafts
    ]
    await asyncio.sleep(0)  # each has queued for its turn
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    # (In either order: on PostgreSQL the two run side by side.)
    assert sorted(body for _seq, body in await bodies(thread, conversation)) == [
        "note 0",
        "note 2",
    ]
