"""Secure links: confirm with the date of birth, then read and reply to that one thread
through the link session; wrong answers lock the link, links expire and work once, a
link session reaches nothing else, every use is audited, and the token never reaches
the logs."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from huddle.actor import Role
from huddle.notify.models import SecureLink
from huddle.notify.service import link_token_hash
from huddle.protect.models import AuditEvent
from tests.conftest import Server, bearer, client_from_new_address, sign_in
from tests.messaging.conftest import Thread
from tests.notify.conftest import (
    Captured,
    Mailbox,
    confirm,
    deliver,
    link_session,
    post_message,
    start_patient_thread,
)

DOB = "1990-05-05"  # the thread fixture's patient
WRONG_DOB = "1990-05-06"
SESSION = "/api/v1/patient-links/session/messages"


async def emailed_link(
    thread: Thread, mailbox: Mailbox, body: str = "How are you?"
) -> tuple[str, Captured]:
    """A new patient thread with one staff message, e-mailed: (conversation, e-mail)."""
    conversation = await start_patient_thread(thread)
    await post_message(thread, conversation, Role.CARE_MANAGER, body)
    assert await deliver(thread.server) == 1
    return conversation, mailbox.to(thread.patient_email)[-1]


async def stored_link(server: Server, token: str) -> SecureLink:
    async with server.rt.db.transaction() as db:
        link = await db.scalar(
            select(SecureLink).where(SecureLink.token_hash == link_token_hash(token))
        )
    assert link is not None
    return link


def without_request_id(body: dict) -> dict:  # type: ignore[type-arg]
    return {**body["error"], "request_id": None}


async def test_a_patient_confirms_reads_and_replies(thread: Thread, mailbox: Mailbox) -> None:
    server = thread.server
    conversation, sent = await emailed_link(thread, mailbox, "Results are in; how do you feel?")
    confirmed = await confirm(server, sent.token, DOB)
    assert confirmed.status_code == 200, confirmed.text
    answer = confirmed.json()
    assert (answer["token_type"], answer["expires_in"]) == ("Bearer", 30 * 60)
    assert answer["conversation_id"] == conversation
    session = link_session(confirmed)

    page = await server.client.get(SESSION, headers=session)
    assert page.status_code == 200, page.text
    assert [m["body"] for m in page.json()["messages"]] == ["Results are in; how do you feel?"]

    reply = await server.client.post(
        SESSION, json={"body": "Much better, thanks.", "client_msg_id": "r-1"}, headers=session
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["sender_id"] == thread.user_ids[Role.PATIENT]
    retried = await server.client.post(
        SESSION, json={"body": "Much better, thanks.", "client_msg_id": "r-1"}, headers=session
    )
    assert (retried.status_code, retried.json()["id"]) == (200, reply.json()["id"])

    staff_view = await server.client.get(
        f"/api/v1/conversations/{conversation}/messages",
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    assert [m["body"] for m in staff_view.json()["messages"]] == [
        "Results are in; how do you feel?",
        "Much better, thanks.",
    ]
    assert await deliver(server) == 0  # the patient's own reply e-mails nobody


async def test_a_link_works_once(thread: Thread, mailbox: Mailbox) -> None:
    _, sent = await emailed_link(thread, mailbox)
    assert (await confirm(thread.server, sent.token, DOB)).status_code == 200
    second = await confirm(thread.server, sent.token, DOB)
    assert second.status_code == 410
    assert second.json()["error"]["code"] == "link_expired"


async def test_an_expired_link_answers_exactly_like_a_used_one(
    thread: Thread, mailbox: Mailbox
) -> None:
    server = thread.server
    conversation, first = await emailed_link(thread, mailbox)
    assert (await confirm(server, first.token, DOB)).status_code == 200
    used = await confirm(server, first.token, DOB)

    await post_message(thread, conversation, Role.PCP, "One more thing")
    assert await deliver(server) == 1
    second = mailbox.to(thread.patient_email)[-1]
    server.clock.advance(timedelta(minutes=server.rt.settings.secure_link_minutes, seconds=1))
    expired = await confirm(server, second.token, DOB)
    assert (used.status_code, expired.status_code) == (410, 410)
    assert without_request_id(used.json()) == without_request_id(expired.json())


async def test_an_unknown_link_is_not_found(thread: Thread) -> None:
    response = await confirm(thread.server, "A" * 43, DOB)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "link_not_found"
    too_long = await confirm(thread.server, "A" * 500, DOB)
    assert too_long.status_code == 404


async def test_wrong_dates_of_birth_count_and_lock_the_link(
    thread: Thread, mailbox: Mailbox
) -> None:
    server = thread.server
    _, sent = await emailed_link(thread, mailbox)
    for _ in range(5):
        wrong = await confirm(server, sent.token, WRONG_DOB)
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "link_confirmation_failed"
        assert "birth" not in wrong.json()["error"]["detail"]  # generic: which detail is wrong
    link = await stored_link(server, sent.token)
    assert link.failed_attempts == 5
    assert link.locked_until == server.clock.now() + timedelta(minutes=1)

    locked = await confirm(server, sent.token, DOB)  # even the right answer waits
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "link_locked"
    assert locked.headers["Retry-After"] == "60"

    server.clock.advance(timedelta(seconds=61))
    assert (await confirm(server, sent.token, WRONG_DOB)).status_code == 401
    link = await stored_link(server, sent.token)
    assert link.locked_until == server.clock.now() + timedelta(minutes=2)  # doubling
    server.clock.advance(timedelta(minutes=2, seconds=1))
    assert (await confirm(server, sent.token, DOB)).status_code == 200


async def test_ten_wrong_answers_revoke_the_link(thread: Thread, mailbox: Mailbox) -> None:
    server = thread.server
    _, sent = await emailed_link(thread, mailbox)
    for _ in range(10):
        assert (await confirm(server, sent.token, WRONG_DOB)).status_code == 401
        server.clock.advance(timedelta(hours=1))  # the longest lock
    revoked = await confirm(server, sent.token, DOB)
    assert revoked.status_code == 410


async def test_failures_from_one_address_are_throttled(thread: Thread) -> None:
    server = thread.server
    for n in range(20):
        response = await confirm(server, f"guess-{n}-{uuid.uuid4().hex}", DOB)
        assert response.status_code == 404
    throttled = await confirm(server, "yet-another-guess", DOB)
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 15 * 60
    async with client_from_new_address(server) as elsewhere:
        assert (await confirm(server, "a-guess", DOB, elsewhere)).status_code == 404


async def test_a_link_session_reaches_only_its_conversation(
    thread: Thread, mailbox: Mailbox
) -> None:
    server = thread.server
    linked, sent = await emailed_link(thread, mailbox, "In the linked thread")
    other = await start_patient_thread(thread)
    await post_message(thread, other, Role.PCP, "In another thread")
    session = link_session(await confirm(server, sent.token, DOB))

    page = await server.client.get(SESSION, headers=session)
    assert {m["conversation_id"] for m in page.json()["messages"]} == {linked}
    assert "In another thread" not in page.text
    # The link session's token is not an access token: nothing else accepts it.
    for path in (
        f"/api/v1/conversations/{other}/messages",
        f"/api/v1/conversations/{linked}/messages",
        "/api/v1/conversations",
        f"/api/v1/patients/{thread.patient_id}",
        "/api/v1/me",
    ):
        refused = await server.client.get(path, headers=session)
        assert refused.status_code == 401, path
        assert refused.json()["error"]["code"] == "invalid_token"
    # ...and an access token does not open a link session.
    portal = bearer((await sign_in(server.client, thread.patient_email))["access_token"])
    refused = await server.client.get(SESSION, headers=portal)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "invalid_token")
    missing = await server.client.get(SESSION)
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "missing_token")


async def test_a_link_session_ends_when_idle_and_after_thirty_minutes(
    thread: Thread, mailbox: Mailbox
) -> None:
    server = thread.server
    conversation, sent = await emailed_link(thread, mailbox)
    session = link_session(await confirm(server, sent.token, DOB))
    for _ in range(2):
        server.clock.advance(timedelta(minutes=14))
        assert (await server.client.get(SESSION, headers=session)).status_code == 200
    server.clock.advance(timedelta(minutes=3))  # 31 minutes after confirming
    expired = await server.client.get(SESSION, headers=session)
    assert (expired.status_code, expired.json()["error"]["code"]) == (401, "token_expired")

    await post_message(thread, conversation, Role.PCP, "Another note")
    await deliver(server)
    idle = link_session(await confirm(server, mailbox.to(thread.patient_email)[-1].token, DOB))
    server.clock.advance(timedelta(minutes=16))  # the organization's idle timeout is 15
    ended = await server.client.get(SESSION, headers=idle)
    assert (ended.status_code, ended.json()["error"]["code"]) == (401, "session_idle")


async def test_confirming_a_link_retires_the_older_ones(thread: Thread, mailbox: Mailbox) -> None:
    server = thread.server
    conversation, older = await emailed_link(thread, mailbox)
    await post_message(thread, conversation, Role.PCP, "One more thing")
    await deliver(server)
    newer = mailbox.to(thread.patient_email)[-1]
    assert (await confirm(server, newer.token, DOB)).status_code == 200
    assert (await confirm(server, older.token, DOB)).status_code == 410


async def test_every_use_of_a_link_is_audited(thread: Thread, mailbox: Mailbox) -> None:
    server = thread.server
    conversation, sent = await emailed_link(thread, mailbox)
    assert (await confirm(server, sent.token, WRONG_DOB)).status_code == 401
    session = link_session(await confirm(server, sent.token, DOB))
    assert (await server.client.get(SESSION, headers=session)).status_code == 200
    reply = await server.client.post(SESSION, json={"body": "Thanks"}, headers=session)
    assert reply.status_code == 201
    assert (await confirm(server, sent.token, DOB)).status_code == 410

    link = await stored_link(server, sent.token)
    async with server.rt.db.transaction() as db:
        events = (
            await db.scalars(
                select(AuditEvent)
                .where(AuditEvent.resource_type == "secure_link")
                .where(AuditEvent.resource_id == str(link.id))
                .order_by(AuditEvent.seq)
            )
        ).all()
        message_events = (
            await db.scalars(
                select(AuditEvent)
                .where(AuditEvent.patient_id == uuid.UUID(thread.patient_id))
                .where(AuditEvent.actor_user_id == uuid.UUID(thread.user_ids[Role.PATIENT]))
                .where(AuditEvent.resource_type.in_(["conversation", "message"]))
            )
        ).all()
    assert [(e.action, e.outcome, e.detail.get("code"), e.detail.get("use")) for e in events] == [
        ("login_failed", "failure", "wrong_date_of_birth", None),
        ("login", "success", None, None),
        ("read", "success", None, "read"),
        ("create", "success", None, "reply"),
        ("login_failed", "failure", "link_used", None),
    ]
    patient = uuid.UUID(thread.patient_id)
    assert all(e.patient_id == patient for e in events)
    assert all(e.organization_id == thread.clinic.organization_id for e in events)
    assert all(e.detail["conversation_id"] == conversation for e in events)
    assert all(e.source_ip == server.address for e in events)
    assert sent.token not in repr([(e.resource_id, e.detail, e.reason) for e in events])
    # The read and the reply are also audited by messaging, as for the portal.
    assert {(e.action, e.resource_type) for e in message_events} >= {
        ("read", "conversation"),
        ("create", "message"),
    }


@pytest.mark.parametrize("body", [{"date_of_birth": DOB}, {"date_of_birth": "not a date"}])
async def test_the_token_never_reaches_the_access_log(
    thread: Thread, mailbox: Mailbox, caplog: pytest.LogCaptureFixture, body: dict[str, str]
) -> None:
    _, sent = await emailed_link(thread, mailbox)
    with caplog.at_level(logging.DEBUG):
        response = await thread.server.client.post(
            f"/api/v1/patient-links/{sent.token}/confirm", json=body
        )
    assert response.status_code in {200, 400}
    lines = [r for r in caplog.records if r.name == "huddle.access"]
    assert [r.__dict__["fields"]["path"] for r in lines] == [
        "/api/v1/patient-links/{token}/confirm"
    ]
    # Whatever the server side logged (the test's own HTTP client logs its URLs).
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert server_side
    assert all(sent.token not in repr(r.__dict__) for r in server_side)


async def test_deactivating_the_account_ends_its_link_session(
    thread: Thread, mailbox: Mailbox
) -> None:
    server = thread.server
    _, sent = await emailed_link(thread, mailbox)
    session = link_session(await confirm(server, sent.token, DOB))
    admin = await thread.headers(Role.ADMIN)
    patient = thread.user_ids[Role.PATIENT]
    deactivated = await server.client.post(f"/api/v1/users/{patient}/deactivate", headers=admin)
    assert deactivated.status_code == 200, deactivated.text
    ended = await server.client.post(SESSION, json={"body": "Still there?"}, headers=session)
    assert (ended.status_code, ended.json()["error"]["code"]) == (401, "session_revoked")
