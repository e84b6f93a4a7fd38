"""Sends that arrive together share one transaction on SQLite (huddle/group_commit.py):
each is still kept, acknowledged, audited and readable on its own, and one that fails
takes nothing of the others with it. On PostgreSQL the same sends take a transaction
each; the behaviour asked of them is the same."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import uuid

import httpx
import pytest
from sqlalchemy import event, select

from huddle import db as huddle_db
from huddle.actor import Role
from huddle.db import Database
from huddle.errors import Busy
from huddle.group_commit import GroupCommit, grouped_unit_of_work
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


async def test_a_refused_send_alone_is_rolled_back_and_its_refusal_kept(
    thread: Thread,
) -> None:
    """A send alone in its batch runs without a savepoint: refused, its transaction is
    rolled back whole, and the refusal is still audited."""
    conversation = await start_patient_thread(thread)
    refused = await send(thread, conversation, Role.PSYCHIATRIST, "not my thread")
    assert refused.status_code == 404
    async with thread.server.rt.db.transaction() as db:
        outcomes = (
            await db.scalars(
                select(AuditEvent.outcome).where(
                    AuditEvent.request_id == refused.headers["x-request-id"],
                    AuditEvent.resource_id == conversation,
                )
            )
        ).all()
    assert outcomes == ["denied"]
    assert await bodies(thread, conversation) == []
    assert (await send(thread, conversation, Role.PCP, "next")).json()["seq"] == 1


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


def one_writer_only(thread: Thread) -> None:
    if not thread.server.rt.db.one_writer_at_a_time:
        pytest.skip("group commit is SQLite's (one writer at a time)")


async def test_sends_at_once_share_their_commits(thread: Thread) -> None:
    one_writer_only(thread)
    conversation = await start_patient_thread(thread)
    headers = await thread.headers(Role.PCP)
    await thread.server.client.get("/api/v1/me", headers=headers)  # session checked
    commits = 0

    def counted(_connection: object) -> None:
        nonlocal commits
        commits += 1

    url = f"/api/v1/conversations/{conversation}/messages"
    engine = thread.server.rt.db.engine.sync_engine
    event.listen(engine, "commit", counted)
    try:
        sent = await asyncio.gather(
            *(
                thread.server.client.post(url, json={"body": f"note {n}"}, headers=headers)
                for n in range(12)
            )
        )
    finally:
        event.remove(engine, "commit", counted)
    assert [r.status_code for r in sent] == [201] * 12
    assert 1 <= commits < 12


async def test_a_transaction_opened_inside_a_grouped_send_fails_at_once(
    thread: Thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It would wait for the batch's own write lock; failing says so at once (and the
    others in the batch are not held up)."""
    one_writer_only(thread)
    monkeypatch.setattr(huddle_db, "SQLITE_BUSY_SECONDS", 2)  # were it to wait: not long
    rt = thread.server.rt
    actor = await actor_of(thread, Role.PCP)
    with pytest.raises(RuntimeError, match="inside another one"):
        async with grouped_unit_of_work(rt, actor=actor), rt.db.transaction():
            pass
    conversation = await start_patient_thread(thread)
    assert (await send(thread, conversation, Role.PCP, "after")).status_code == 201


async def test_sends_while_another_process_holds_the_write_lock_are_told_to_retry(
    thread: Thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long CLI command (a key rewrap, say) holds SQLite's write lock past
    busy_timeout: every waiting send gets a 503 `database_busy`, none a 500, and the
    next send after it goes through."""
    one_writer_only(thread)
    monkeypatch.setattr(huddle_db, "SQLITE_BUSY_SECONDS", 1)
    rt = thread.server.rt
    url = rt.db.engine.url.set(drivername="sqlite+aiosqlite")
    impatient = Database(url.render_as_string(hide_password=False))
    conversation = uuid.UUID(await start_patient_thread(thread))
    actor = await actor_of(thread, Role.PCP)
    other_process = sqlite3.connect(url.database or "", isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    try:
        rt_impatient = dataclasses.replace(rt, db=impatient, group_commit=GroupCommit())
        answers = await asyncio.gather(
            *(
                messaging.send_message(
                    rt_impatient, actor, conversation, messaging.MessageDraft(body=f"n{n}")
                )
                for n in range(5)
            ),
            return_exceptions=True,
        )
    finally:
        other_process.execute("ROLLBACK")
        other_process.close()
    try:
        assert [getattr(a, "code", type(a).__name__) for a in answers] == ["database_busy"] * 5
        assert all(isinstance(a, Busy) for a in answers)
        kept, _created = await messaging.send_message(
            rt_impatient, actor, conversation, messaging.MessageDraft(body="later")
        )
        assert kept.seq == 1
    finally:
        await impatient.dispose()
