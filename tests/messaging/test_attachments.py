"""Attachments: sealed files in a conversation. Types come from the content, sizes are
capped, only participants reach them, every upload and download is audited with the
patient, and a tampered blob is caught before it is decrypted."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from sqlalchemy import select

from huddle.actor import Role
from huddle.blobs import LocalBlobStore
from huddle.messaging import attachments
from huddle.protect.models import AuditEvent
from tests.conftest import bearer, make_clinic, sign_in
from tests.messaging.conftest import Thread
from tests.messaging.test_messages import send, start_patient_thread

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nLab result: HbA1c 6.1%\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06rash-photo"


async def upload(
    thread: Thread, conversation: str, role: Role, content: bytes, filename: str
) -> httpx.Response:
    return await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/attachments",
        params={"filename": filename},
        content=content,
        # Deliberately wrong: the server goes by the content, not by this header.
        headers={**await thread.headers(role), "Content-Type": "application/octet-stream"},
    )


async def audit_events(thread: Thread, response: httpx.Response) -> list[AuditEvent]:
    async with thread.server.rt.db.transaction() as db:
        rows = await db.scalars(
            select(AuditEvent)
            .where(AuditEvent.request_id == response.headers["x-request-id"])
            .order_by(AuditEvent.seq)
        )
        return list(rows.all())


async def send_with(thread: Thread, conversation: str, role: Role, attachment_id: str) -> None:
    """Send the file with a message: until then only its uploader sees it."""
    sent = await send(thread, conversation, role, "A file for you", attachment_ids=[attachment_id])
    assert sent.status_code == 201, sent.text


def blob_path(thread: Thread, attachment_id: str) -> Path:
    return LocalBlobStore(thread.server.rt.settings.blob_dir).path_of(attachment_id)


async def test_staff_and_patient_round_trip_sealed_files(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    for role, content, name, media_type in (
        (Role.PCP, PDF, "labs.pdf", "application/pdf"),
        (Role.PATIENT, PNG, "rash.png", "image/png"),
    ):
        sent = await upload(thread, conversation, role, content, name)
        assert sent.status_code == 201, sent.text
        body = sent.json()
        await send_with(thread, conversation, role, body["id"])
        assert (body["filename"], body["media_type"], body["size"]) == (
            name,
            media_type,
            len(content),
        )
        stored = blob_path(thread, body["id"]).read_bytes()
        assert content not in stored
        assert content[:20] not in stored
        for reader in (Role.CARE_MANAGER, Role.PATIENT, Role.PCP):
            got = await thread.server.client.get(
                f"/api/v1/attachments/{body['id']}", headers=await thread.headers(reader)
            )
            assert got.status_code == 200, got.text
            assert got.content == content
            assert got.headers["content-type"] == media_type
            assert got.headers["content-disposition"] == f"attachment; filename*=UTF-8''{name}"
            assert got.headers["cache-control"] == "no-store"
            assert got.headers["x-content-type-options"] == "nosniff"
    listing = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/attachments",
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    # Same (manual) clock for both uploads: oldest-first cannot tell them apart here.
    assert sorted((a["filename"], a["uploader_id"]) for a in listing.json()["attachments"]) == [
        ("labs.pdf", thread.user_ids[Role.PCP]),
        ("rash.png", thread.user_ids[Role.PATIENT]),
    ]


async def test_uploads_and_downloads_are_audited_with_the_patient(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    sent = await upload(thread, conversation, Role.PCP, PDF, "labs.pdf")
    await send_with(thread, conversation, Role.PCP, sent.json()["id"])
    got = await thread.server.client.get(
        f"/api/v1/attachments/{sent.json()['id']}", headers=await thread.headers(Role.PATIENT)
    )
    listed = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/attachments",
        headers=await thread.headers(Role.PATIENT),
    )
    patient = uuid.UUID(thread.patient_id)
    for response, action in ((sent, "create"), (got, "read"), (listed, "read")):
        events = await audit_events(thread, response)
        assert [(e.action, e.outcome) for e in events] == [(action, "success")]
        assert events[0].patient_id == patient
        assert "labs.pdf" not in str(events[0].detail)
    assert (await audit_events(thread, sent))[0].resource_id == sent.json()["id"]


async def test_the_type_comes_from_the_content(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    renamed = await upload(thread, conversation, Role.PCP, b"MZ\x90\x00\x03\x00", "report.pdf")
    assert renamed.status_code == 415
    error = renamed.json()["error"]
    assert error["code"] == "unsupported_type"
    for allowed in attachments.ALLOWED_TYPES:
        assert allowed in error["detail"]
    text = await upload(thread, conversation, Role.PCP, b"Dose: 5 mg\n", "plan.exe")
    assert text.json()["media_type"] == "text/plain"
    binary = await upload(thread, conversation, Role.PCP, b"abc\x00def", "notes.txt")
    assert binary.status_code == 415
    empty = await upload(thread, conversation, Role.PCP, b"", "nothing.txt")
    assert empty.status_code == 422
    listing = await thread.server.client.get(
        f"/api/v1/conversations/{conversation}/attachments",
        headers=await thread.headers(Role.PCP),
    )
    assert len(listing.json()["attachments"]) == 1


async def test_filenames_lose_their_path_and_excess(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    sent = await upload(thread, conversation, Role.PCP, PDF, "../../etc/..\\passwd.pdf")
    assert sent.json()["filename"] == "passwd.pdf"
    long = await upload(thread, conversation, Role.PCP, PDF, "a" * 500 + ".pdf")
    assert long.json()["filename"] == "a" * 196 + ".pdf"
    hidden = await upload(thread, conversation, Role.PCP, PDF, "..")
    assert hidden.json()["filename"] == "attachment"
    assert attachments.sanitize_filename("r\x00e\npo\u202ert.pdf") == "report.pdf"


async def test_files_over_ten_mib_are_refused(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    too_big = b"%PDF-" + b"0" * attachments.MAX_BYTES
    response = await upload(thread, conversation, Role.PCP, too_big, "big.pdf")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    at_limit = b"%PDF-" + b"0" * (attachments.MAX_BYTES - 5)
    assert (await upload(thread, conversation, Role.PCP, at_limit, "max.pdf")).status_code == 201


async def test_outsiders_other_organizations_and_anonymous_callers_get_nothing(
    thread: Thread,
) -> None:
    conversation = await start_patient_thread(thread)
    sent = (await upload(thread, conversation, Role.PCP, PDF, "labs.pdf")).json()
    await send_with(thread, conversation, Role.PCP, sent["id"])
    other = await make_clinic(thread.server.rt)
    stranger = bearer((await sign_in(thread.server.client, other.email(Role.PCP)))["access_token"])
    outsider = await thread.headers(Role.PSYCHIATRIST)
    client = thread.server.client
    for headers in (outsider, stranger):
        responses = [
            await client.get(f"/api/v1/attachments/{sent['id']}", headers=headers),
            await client.get(f"/api/v1/conversations/{conversation}/attachments", headers=headers),
            await client.post(
                f"/api/v1/conversations/{conversation}/attachments",
                params={"filename": "x.pdf"},
                content=PDF,
                headers=headers,
            ),
        ]
        for response in responses:
            assert response.status_code == 404, response.text
            assert "labs.pdf" not in response.text
            assert b"HbA1c" not in response.content
    anonymous = await client.get(f"/api/v1/attachments/{sent['id']}")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "missing_token"


async def test_a_tampered_or_missing_blob_is_an_audited_integrity_failure(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    sent = (await upload(thread, conversation, Role.PCP, PDF, "labs.pdf")).json()
    path = blob_path(thread, sent["id"])
    stored = bytearray(path.read_bytes())
    stored[-1] ^= 0x01
    path.write_bytes(bytes(stored))
    headers = await thread.headers(Role.PCP)
    for _ in ("tampered", "missing"):
        response = await thread.server.client.get(
            f"/api/v1/attachments/{sent['id']}", headers=headers
        )
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "data_integrity"
        assert b"HbA1c" not in response.content
        events = await audit_events(thread, response)
        assert [(e.action, e.outcome) for e in events] == [("integrity_failure", "error")]
        assert events[0].patient_id == uuid.UUID(thread.patient_id)
        assert events[0].resource_id == sent["id"]
        path.unlink(missing_ok=True)  # the second round finds no blob at all
