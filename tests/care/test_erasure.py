"""Erasing a patient destroys every data key that sealed something about them — their
own and those of every conversation about them — so a copy of any of that ciphertext,
taken before the erasure, no longer opens; the attachment files are deleted too."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from huddle.actor import Role
from huddle.care.models import Patient
from huddle.messaging.attachment_models import Attachment
from huddle.messaging.models import Conversation, Message, Referral
from huddle.protect.crypto import Binding, Shredded
from huddle.protect.models import AuditEvent, DataKey
from huddle.tasks.models import Task
from tests.conftest import Clinic, Server
from tests.messaging.conftest import Thread, make_thread
from tests.messaging.test_attachments import PDF, blob_path, send_with, upload
from tests.messaging.test_messages import send, start_patient_thread


@pytest.fixture
async def record(server: Server, clinic: Clinic) -> Thread:
    return await make_thread(server, clinic)


async def fill_the_record(thread: Thread) -> tuple[str, str]:
    """A patient thread with messages and a sent file, a referral (its own thread), and a
    task with details: returns (patient thread id, referral thread id)."""
    conversation = await start_patient_thread(thread)
    for role, body in ((Role.CARE_MANAGER, "How is the rash?"), (Role.PATIENT, "Worse.")):
        assert (await send(thread, conversation, role, body)).status_code == 201
    uploaded = await upload(thread, conversation, Role.PATIENT, PDF, "rash-labs.pdf")
    assert uploaded.status_code == 201, uploaded.text
    await send_with(thread, conversation, Role.PATIENT, uploaded.json()["id"])
    referral = await thread.refer()
    message_id = (await send(thread, conversation, Role.PCP, "Dermatology?")).json()["id"]
    task = await thread.server.client.post(
        f"/api/v1/messages/{message_id}/task",
        json={"title": "Book dermatology", "kind": "call_patient", "details": "Rash, 3 weeks"},
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    assert task.status_code == 201, task.text
    return conversation, referral["conversation_id"]


async def sealed_copies(
    thread: Thread, patient: uuid.UUID, conversations: list[uuid.UUID]
) -> list[tuple[bytes, Binding]]:
    """Every kind of ciphertext about the patient, as a backup taken now would hold it."""
    copies: list[tuple[bytes, Binding]] = []
    async with thread.server.rt.db.transaction() as db:
        messages = await db.scalars(
            select(Message).where(
                Message.conversation_id.in_(conversations), Message.body.is_not(None)
            )
        )
        for m in messages:
            copies.append((m.body, Binding("messages", "body", m.id, m.conversation_id)))
        files = await db.scalars(
            select(Attachment).where(Attachment.conversation_id.in_(conversations))
        )
        for f in files:
            on_disk = blob_path(thread, str(f.id)).read_bytes()
            copies.append((on_disk, Binding("attachments", "content", f.id, f.conversation_id)))
            copies.append((f.filename, Binding("attachments", "filename", f.id, f.conversation_id)))
        referrals = await db.execute(
            select(Referral, Conversation.id)
            .join(Conversation, Conversation.referral_id == Referral.id)
            .where(Referral.patient_id == patient)
        )
        for r, conversation_id in referrals:
            copies.append((r.reason, Binding("referrals", "reason", r.id, conversation_id)))
        for t in await db.scalars(select(Task).where(Task.patient_id == patient)):
            copies.append((t.title, Binding("tasks", "title", t.id, patient)))
            copies.append((t.details, Binding("tasks", "details", t.id, patient)))
    return copies


async def keys_left(thread: Thread, owners: list[uuid.UUID]) -> int:
    async with thread.server.rt.db.transaction() as db:
        rows = await db.scalars(select(DataKey.id).where(DataKey.owner_id.in_(owners)))
        return len(rows.all())


async def test_erasing_a_patient_shreds_their_threads_files_referrals_and_tasks(
    record: Thread,
) -> None:
    patient = uuid.UUID(record.patient_id)
    conversations = [uuid.UUID(c) for c in await fill_the_record(record)]
    copies = await sealed_copies(record, patient, conversations)
    tables = {where.table for _, where in copies}
    assert tables == {"messages", "attachments", "referrals", "tasks"}
    files = [where.row_id for _, where in copies if where.table == "attachments"]
    owners = [patient, *conversations]
    assert await keys_left(record, owners) == 3

    erased = await record.server.client.delete(
        f"/api/v1/patients/{patient}", headers=await record.headers(Role.ADMIN)
    )
    assert erased.status_code == 204

    assert await keys_left(record, owners) == 0
    # This very server (its key cache included) can no longer open any copy.
    async with record.server.rt.db.transaction() as db:
        for blob, where in copies:
            with pytest.raises(Shredded):
                await record.server.rt.envelope.open(db, blob, where)
    assert not any(blob_path(record, str(f)).exists() for f in files)
    async with record.server.rt.db.transaction() as db:
        audited = await db.scalars(
            select(AuditEvent).where(
                AuditEvent.patient_id == patient, AuditEvent.resource_type == "patient"
            )
        )
        deleted = [e.detail for e in audited if e.action == "delete"]
    assert deleted == [{"data_keys_destroyed": "3", "conversations": "2", "attachments": "1"}]


async def test_a_thread_being_made_while_the_patient_is_erased_loses_its_key_too(
    record: Thread,
) -> None:
    """PostgreSQL runs them side by side: a thread (with its data key) still being made
    when the erasure starts must not outlive it with its key. The erasure waits for it
    (it locks the patient first), then destroys both."""
    rt = record.server.rt
    if rt.db.one_writer_at_a_time:
        pytest.skip("on SQLite transactions run one after another")
    patient = uuid.UUID(record.patient_id)
    headers = await record.headers(Role.ADMIN)
    conversation_id, now = uuid.uuid4(), datetime.now(UTC)
    made, finish = asyncio.Event(), asyncio.Event()

    async def make_thread_with_a_key() -> None:
        async with rt.db.transaction() as db:
            org = await db.scalar(select(Patient.organization_id).where(Patient.id == patient))
            db.add(
                Conversation(
                    id=conversation_id,
                    organization_id=org,
                    kind="patient",
                    patient_id=patient,
                    last_activity_at=now,
                    created_at=now,
                )
            )
            db.add(
                DataKey(
                    owner_type="conversation",
                    owner_id=conversation_id,
                    kek_id="any",
                    wrapped_key=secrets.token_bytes(60),
                    created_at=now,
                    uses=1,
                )
            )
            await db.flush()
            made.set()
            await finish.wait()

    maker = asyncio.create_task(make_thread_with_a_key())
    await made.wait()
    erasing = asyncio.create_task(
        record.server.client.delete(f"/api/v1/patients/{patient}", headers=headers)
    )
    await asyncio.sleep(0.5)  # the erasure reaches the patient's row and waits there
    finish.set()
    await maker
    assert (await erasing).status_code == 204
    async with rt.db.transaction() as db:
        left = await db.scalar(select(Conversation.id).where(Conversation.id == conversation_id))
        keys = (
            await db.scalars(select(DataKey.id).where(DataKey.owner_id == conversation_id))
        ).all()
    assert left is None
    assert keys == []
