"""The notification outbox against a real SMTP server: what is enqueued (one per pending
notification, coalesced), what is sent (nothing that identifies anyone or anything
clinical), retries with backoff, and never a second copy of a sent notification."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from huddle.actor import Role
from huddle.app import create_app
from huddle.config import ConfigError, Environment
from huddle.notify import outbox, senders
from huddle.notify.models import Notification, SecureLink
from tests.conftest import Server, open_server, with_settings
from tests.live_server import free_port
from tests.messaging.conftest import Thread
from tests.notify.conftest import (
    Mailbox,
    deliver,
    mail_settings,
    post_message,
    start_patient_thread,
)

# Words that would tell a reader of the e-mail what kind of care it is about.
CLINICAL_TERMS = (
    "depress",
    "phq",
    "psychiatr",
    "mental",
    "medication",
    "behavioral",
    "behavioural",
    "therapy",
    "anxiety",
    "substance",
    "diagnos",
    "referral",
    "counsel",
    "clinic",
    "care team",
)


async def notifications(server: Server, conversation: str) -> list[Notification]:
    async with server.rt.db.transaction() as db:
        rows = await db.scalars(
            select(Notification)
            .where(Notification.conversation_id == uuid.UUID(conversation))
            .order_by(Notification.created_at)
        )
        return list(rows)


async def test_staff_messages_coalesce_into_one_email(thread: Thread, mailbox: Mailbox) -> None:
    conversation = await start_patient_thread(thread)
    for body in ("How are you sleeping?", "Also, any side effects?", "Call us if needed."):
        await post_message(thread, conversation, Role.CARE_MANAGER, body)
    await post_message(thread, conversation, Role.PCP, "Labs look fine.")
    pending = await notifications(thread.server, conversation)
    assert [(n.status, n.channel, n.kind) for n in pending] == [
        ("pending", "email", "message_waiting")
    ]
    assert str(pending[0].recipient_user_id) == thread.user_ids[Role.PATIENT]

    assert await deliver(thread.server) == 1
    assert len(mailbox.to(thread.patient_email)) == 1
    assert await deliver(thread.server) == 0  # sent: never again
    assert len(mailbox.to(thread.patient_email)) == 1

    # Once sent, the next message is news again: one more e-mail.
    await post_message(thread, conversation, Role.CARE_MANAGER, "See you Thursday.")
    assert await deliver(thread.server) == 1
    assert len(mailbox.to(thread.patient_email)) == 2
    rows = await notifications(thread.server, conversation)
    assert [n.status for n in rows] == ["sent", "sent"]
    assert all(n.sent_at is not None and n.attempts == 1 for n in rows)


async def test_the_patients_own_messages_notify_nobody(thread: Thread) -> None:
    conversation = await start_patient_thread(thread)
    await post_message(thread, conversation, Role.PATIENT, "Quick question about Thursday")
    assert await notifications(thread.server, conversation) == []


async def test_staff_threads_notify_nobody(thread: Thread) -> None:
    response = await thread.server.client.post(
        "/api/v1/conversations",
        json={
            "kind": "staff",
            "patient_id": thread.patient_id,
            "member_ids": [thread.user_ids[Role.CARE_MANAGER]],
        },
        headers=await thread.headers(Role.PCP),
    )
    conversation = response.json()["id"]
    await post_message(thread, conversation, Role.PCP, "Thoughts on this patient?")
    assert await notifications(thread.server, conversation) == []


async def test_the_email_says_only_that_a_message_is_waiting(
    thread: Thread, mailbox: Mailbox
) -> None:
    conversation = await start_patient_thread(thread)
    body = "Your PHQ-9 score went up; let's review your sertraline dose for depression."
    await post_message(thread, conversation, Role.CARE_MANAGER, body)
    await deliver(thread.server)
    (sent,) = mailbox.to(thread.patient_email)

    assert sent.message["Subject"] == "You have a new secure message"
    assert sent.message["From"] == "Secure messages <no-reply@huddle.test>"
    assert sent.message["To"] == thread.patient_email
    (notification,) = await notifications(thread.server, conversation)
    assert sent.message["Message-ID"] == f"<{notification.id}@127.0.0.1>"
    assert "/secure/" in sent.text

    # Everything a mail server, an inbox preview or someone at the screen can see.
    everything = sent.raw.lower()
    admin = await thread.headers(Role.ADMIN)
    users = (await thread.server.client.get("/api/v1/users", headers=admin)).json()["users"]
    staff_names = [u["display_name"].lower() for u in users if u["role"] != "patient"]
    forbidden = [
        "nadia",
        "farouk",
        "1990",
        body.lower(),
        "sertraline",
        "test clinic",
        *staff_names,
        thread.clinic.email(Role.CARE_MANAGER).lower(),
        *CLINICAL_TERMS,
    ]
    assert [word for word in forbidden if word in everything] == []
    # The outbox row holds no address and no token; the link only as a hash.
    async with thread.server.rt.db.transaction() as db:
        link = await db.get_one(SecureLink, notification.secure_link_id)
    assert sent.token not in repr(vars(notification))
    assert len(link.token_hash) == 64
    assert sent.token not in link.token_hash


async def test_refused_sends_back_off_then_fail_for_good(thread: Thread, mailbox: Mailbox) -> None:
    server = thread.server
    conversation = await start_patient_thread(thread)
    await post_message(thread, conversation, Role.CARE_MANAGER, "Checking in")
    mailbox.refuse_with = "451 4.3.0 Try again later"

    waits = []
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        assert await deliver(server) == 0
        (row,) = await notifications(server, conversation)
        assert (row.attempts, row.last_error) == (attempt, "smtp_451")
        if attempt < outbox.MAX_ATTEMPTS:
            assert row.status == "pending"
            waits.append(row.next_attempt_at - server.clock.now())
            assert await deliver(server) == 0  # not due yet: no attempt
            assert (await notifications(server, conversation))[0].attempts == attempt
            server.clock.advance(waits[-1])
    assert row.status == "failed"
    assert waits[:4] == [
        timedelta(seconds=30),
        timedelta(minutes=2),
        timedelta(minutes=8),
        timedelta(minutes=32),
    ]
    assert waits[4:] == [timedelta(hours=1)] * 3
    server.clock.advance(timedelta(days=1))
    assert await deliver(server) == 0
    assert mailbox.to(thread.patient_email) == []


async def test_a_retry_after_a_refusal_sends_once(thread: Thread, mailbox: Mailbox) -> None:
    server = thread.server
    conversation = await start_patient_thread(thread)
    await post_message(thread, conversation, Role.CARE_MANAGER, "Checking in")
    mailbox.refuse_with = "421 4.7.0 Too busy"
    assert await deliver(server) == 0
    mailbox.refuse_with = None
    server.clock.advance(outbox.FIRST_RETRY)
    assert await deliver(server) == 1
    server.clock.advance(timedelta(hours=2))
    assert await deliver(server) == 0
    assert len(mailbox.to(thread.patient_email)) == 1
    (row,) = await notifications(server, conversation)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


async def test_an_unreachable_mail_server_is_retried(
    thread: Thread, mailbox: Mailbox, settings, clock
) -> None:  # type: ignore[no-untyped-def]
    conversation = await start_patient_thread(thread)
    await post_message(thread, conversation, Role.CARE_MANAGER, "Checking in")
    closed = with_settings(mail_settings(settings, mailbox), smtp_port=free_port())  # no one
    sent = await outbox.deliver_due(
        thread.server.rt, senders.sender_from(closed), thread.server.clock.now()
    )
    assert sent == 0
    (row,) = await notifications(thread.server, conversation)
    assert (row.status, row.last_error) == ("pending", "smtp_unavailable")


async def test_a_send_abandoned_by_a_crash_goes_again_after_its_lease(
    thread: Thread, mailbox: Mailbox
) -> None:
    """The documented window: the worker died after claiming (the mail may or may not
    have left). The same Message-ID lets mail systems drop a duplicate."""
    server = thread.server
    conversation = await start_patient_thread(thread)
    await post_message(thread, conversation, Role.CARE_MANAGER, "Checking in")
    claimed = await outbox._claim(server.rt, outbox.Channel.EMAIL, server.clock.now())
    assert len(claimed) == 1  # ...and then the process died before sending
    assert await deliver(server) == 0  # still leased to the dead worker
    server.clock.advance(outbox.SENDING_LEASE)
    assert await deliver(server) == 1
    (row,) = await notifications(server, conversation)
    assert (row.status, row.attempts) == ("sent", 2)
    (sent,) = mailbox.to(thread.patient_email)
    assert sent.message["Message-ID"] == f"<{row.id}@127.0.0.1>"


async def test_a_deactivated_recipient_is_not_mailed(thread: Thread, mailbox: Mailbox) -> None:
    conversation = await start_patient_thread(thread)
    await post_message(thread, conversation, Role.CARE_MANAGER, "Checking in")
    admin = await thread.headers(Role.ADMIN)
    patient = thread.user_ids[Role.PATIENT]
    response = await thread.server.client.post(f"/api/v1/users/{patient}/deactivate", headers=admin)
    assert response.status_code == 200, response.text
    assert await deliver(thread.server) == 0
    (row,) = await notifications(thread.server, conversation)
    assert (row.status, row.last_error) == ("failed", "recipient_inactive")
    assert mailbox.to(thread.patient_email) == []


async def test_the_server_runs_the_outbox_worker(
    thread: Thread, mailbox: Mailbox, settings, clock
) -> None:  # type: ignore[no-untyped-def]
    conversation = await start_patient_thread(thread)
    await post_message(thread, conversation, Role.CARE_MANAGER, "Checking in")
    with_jobs = with_settings(mail_settings(settings, mailbox), background_jobs=True)
    async for _served in open_server(with_jobs, clock):
        # The worker's first pass runs at start-up: wait for the e-mail, not for a time.
        assert await asyncio.to_thread(mailbox.received.wait, 20)
    assert len(mailbox.to(thread.patient_email)) == 1
    (row,) = await notifications(thread.server, conversation)
    assert row.status == "sent"


def test_production_refuses_to_start_without_an_smtp_server(settings) -> None:  # type: ignore[no-untyped-def]
    production = with_settings(
        settings, environment=Environment.PRODUCTION, public_url="https://huddle.example.org"
    )
    with pytest.raises(ConfigError, match="HUDDLE_SMTP_HOST"):
        create_app(production)
