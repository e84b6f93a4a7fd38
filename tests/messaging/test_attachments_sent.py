"""Files travel with messages: a message names the files its sender uploaded to the
conversation, each can be sent once, a bad reference sends nothing; uploads are capped
per person per day; files never sent are swept away after a day, audited."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from huddle.actor import Role
from huddle.messaging import attachments
from huddle.messaging.attachment_models import Attachment
from huddle.protect.models import AuditEvent
from tests.messaging.conftest import Thread
from tests.messaging.test_attachments import PDF, PNG, blob_path, upload
from tests.messaging.test_labels import staff_thread_with_outsider
from tests.messaging.test_messages import send, start_patient_thread


async def uploaded(thread: Thread, conversation: str, role: Role, content: bytes) -> str:
    response = await upload(thread, conversation, role, content, "file")
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def last_seq(thread: Thread, conversation: str) -> int:
    page = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/messages",
        headers=await thread.headers(Role.PCP),
    )
    return page.json()["last_seq"]


async def test_a_message_carries_the_files_its_sender_uploaded(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    files = [await uploaded(thread, conversation, Role.PCP, c) for c in (PDF, PNG)]
    sent = await send(thread, conversation, Role.PCP, "Labs and photo", attachment_ids=files)
    assert sent.status_code == 201, sent.text
    assert sorted(sent.json()["attachment_ids"]) == sorted(files)

    page = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/messages",
        headers=await thread.headers(Role.PATIENT),
    )
    (message,) = page.json()["messages"]
    assert sorted(message["attachment_ids"]) == sorted(files)
    plain = await send(thread, conversation, Role.PATIENT, "Thanks")
    assert plain.json()["attachment_ids"] == []


@pytest.mark.parametrize(
    "case", ["sent_already", "someone_elses", "other_conversation", "unknown", "too_many"]
)
async def test_a_bad_file_reference_sends_nothing(thread: Thread, case: str) -> None:
    conversation = await start_patient_thread(thread)
    mine = await uploaded(thread, conversation, Role.PCP, PDF)
    if case == "sent_already":
        assert (await send(thread, conversation, Role.PCP, "one", attachment_ids=[mine])).is_success
        ids = [mine]
    elif case == "someone_elses":
        ids = [await uploaded(thread, conversation, Role.PATIENT, PNG)]
    elif case == "other_conversation":
        elsewhere = await start_patient_thread(thread)
        ids = [await uploaded(thread, elsewhere, Role.PCP, PNG)]
    elif case == "unknown":
        ids = [str(uuid.uuid4())]
    else:
        ids = [str(uuid.uuid4()) for _ in range(attachments.MAX_PER_MESSAGE + 1)]
    before = await last_seq(thread, conversation)

    response = await send(thread, conversation, Role.PCP, "see attached", attachment_ids=ids)

    assert response.status_code == 422, response.text
    expected = "too_many_attachments" if case == "too_many" else "attachment_unavailable"
    assert response.json()["error"]["code"] == expected
    assert await last_seq(thread, conversation) == before


async def test_uploads_are_capped_per_person_per_day(
    thread: Thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attachments, "DAILY_UPLOAD_BYTES", len(PDF) + len(PNG))
    conversation = await start_patient_thread(thread)
    await uploaded(thread, conversation, Role.PCP, PDF)
    thread.server.clock.advance(timedelta(hours=1))
    await uploaded(thread, conversation, Role.PCP, PNG)

    refused = await upload(thread, conversation, Role.PCP, PNG, "more.png")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "upload_quota_exceeded"
    # Room comes back when the first upload is 24 hours old.
    assert int(refused.headers["retry-after"]) == 23 * 3600 + 1
    assert (await upload(thread, conversation, Role.PATIENT, PNG, "hers.png")).status_code == 201

    thread.server.clock.advance(timedelta(hours=23, seconds=1))
    assert (await upload(thread, conversation, Role.PCP, PDF, "next.pdf")).status_code == 201


async def test_parallel_uploads_cannot_pass_the_daily_cap_together(
    thread: Thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each upload checks the day's total before it writes: at once, they would each see
    room for themselves. Room for three, eight at the same moment: three get in."""
    room_for = 3
    monkeypatch.setattr(attachments, "DAILY_UPLOAD_BYTES", room_for * len(PDF))
    conversation = await start_patient_thread(thread)
    headers = {**await thread.headers(Role.PCP), "Content-Type": "application/pdf"}

    async def upload_one(n: int) -> httpx.Response:
        return await thread.server.client.post(
            f"/api/v1/conversations/{conversation}/attachments",
            params={"filename": f"scan-{n}.pdf"},
            content=PDF,
            headers=headers,
        )

    responses = await asyncio.gather(*(upload_one(n) for n in range(8)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] * room_for + [429] * (8 - room_for), [r.text for r in responses]
    for refused in (r for r in responses if r.status_code == 429):
        error = refused.json()["error"]  # the documented error shape
        assert set(error) == {"code", "detail", "request_id"}
        assert error["code"] == "upload_quota_exceeded"
        assert int(refused.headers["retry-after"]) > 0
    async with thread.server.rt.db.transaction() as db:
        stored = await db.scalar(
            select(func.sum(Attachment.size)).where(
                Attachment.uploader_id == uuid.UUID(thread.user_ids[Role.PCP])
            )
        )
    assert stored == room_for * len(PDF)


async def test_files_never_sent_are_swept_after_a_day_and_audited(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    kept = await uploaded(thread, conversation, Role.PCP, PDF)
    await send(thread, conversation, Role.PCP, "labs", attachment_ids=[kept])
    abandoned = await uploaded(thread, conversation, Role.PCP, PNG)
    rt = thread.server.rt

    # The sweep covers the whole database (other tests' files too): check ours.
    thread.server.clock.advance(attachments.UNSENT_KEPT_FOR - timedelta(minutes=1))
    await attachments.sweep_unsent(rt)
    headers = await thread.headers(Role.PCP)  # a day on: a new sign-in
    there = await thread.server.client.get(f"/api/v1/attachments/{abandoned}", headers=headers)
    assert there.content == PNG
    thread.server.clock.advance(timedelta(minutes=2))
    assert await attachments.sweep_unsent(rt) >= 1

    gone = await thread.server.client.get(f"/api/v1/attachments/{abandoned}", headers=headers)
    assert gone.status_code == 404
    assert not blob_path(thread, abandoned).exists()
    still = await thread.server.client.get(f"/api/v1/attachments/{kept}", headers=headers)
    assert still.content == PDF
    async with rt.db.transaction() as db:
        (event,) = await db.scalars(
            select(AuditEvent).where(
                AuditEvent.resource_id == abandoned, AuditEvent.action == "delete"
            )
        )
    assert event.patient_id == uuid.UUID(thread.patient_id)
    assert event.actor_user_id is None


async def listed(thread: Thread, conversation: str, role: Role) -> list[str]:
    response = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/attachments", headers=await thread.headers(role)
    )
    return [a["id"] for a in response.json()["attachments"]]


async def fetch(thread: Thread, attachment_id: str, role: Role) -> int:
    response = await thread.server.client.get(
        f"/api/v1/attachments/{attachment_id}", headers=await thread.headers(role)
    )
    return response.status_code


async def test_a_file_not_yet_sent_is_its_uploaders_draft(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    draft = await uploaded(thread, conversation, Role.PCP, PDF)
    assert await listed(thread, conversation, Role.PCP) == [draft]
    assert await listed(thread, conversation, Role.PATIENT) == []
    assert await fetch(thread, draft, Role.PATIENT) == 404

    await send(thread, conversation, Role.PCP, "Your labs", attachment_ids=[draft])
    assert await listed(thread, conversation, Role.PATIENT) == [draft]
    assert await fetch(thread, draft, Role.PATIENT) == 200


async def test_files_sent_with_a_part2_message_are_withheld_like_it(thread: Thread) -> None:
    conversation = await staff_thread_with_outsider(thread)
    file = await uploaded(thread, conversation, Role.PCP, PDF)
    sent = await send(
        thread,
        conversation,
        Role.PCP,
        "AUDIT-C 9; started naltrexone",
        sensitivity="substance_use_part2",
        attachment_ids=[file],
    )
    assert sent.status_code == 201, sent.text

    assert await listed(thread, conversation, Role.PSYCHIATRIST) == []
    refused = await thread.server.client.get(
        f"/api/v1/attachments/{file}", headers=await thread.headers(Role.PSYCHIATRIST)
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "part2_withheld"
    assert b"HbA1c" not in refused.content
    assert await listed(thread, conversation, Role.PCP) == [file]


async def test_redacting_a_message_deletes_its_files(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    file = await uploaded(thread, conversation, Role.PCP, PDF)
    sent = await send(thread, conversation, Role.PCP, "Wrong patient's labs", attachment_ids=[file])

    redacted = await thread.server.client.delete(
        f"/api/v1/messages/{sent.json()['id']}", headers=await thread.headers(Role.PCP)
    )
    assert redacted.status_code == 200, redacted.text
    assert redacted.json()["attachment_ids"] == []
    for role in (Role.PCP, Role.PATIENT):
        assert await fetch(thread, file, role) == 404
        assert await listed(thread, conversation, role) == []
    assert not blob_path(thread, file).exists()
