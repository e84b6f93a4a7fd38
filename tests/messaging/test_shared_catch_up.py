"""Live delivery reads several people's catch-ups in one transaction
(messaging.changes_since_many, used by realtime/shared_reads.py): each reader still gets
only what they may see, each read is audited as that reader, and one refusal answers
only its own request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from huddle.actor import Actor, RequestContext, Role
from huddle.errors import NotFound
from huddle.identity import service as identity
from huddle.messaging import service as messaging
from huddle.messaging.service import CatchUp
from huddle.protect.crypto import DecryptionFailed
from huddle.protect.keyring import KeyringError
from huddle.protect.models import AuditEvent
from huddle.realtime.shared_reads import ReaderStopped, SharedRead
from huddle.runtime import Runtime
from tests.conftest import sign_in
from tests.messaging.conftest import Thread
from tests.messaging.test_messages import send, start_patient_thread
from tests.tampering import alter_the_sealed_body, seal_under_a_missing_kek


async def actor_of(thread: Thread, role: Role) -> Actor:
    email = thread.patient_email if role is Role.PATIENT else thread.clinic.email(role)
    token = (await sign_in(thread.server.client, email))["access_token"]
    context = RequestContext(source_ip="10.0.0.9", request_id=f"catch-up-{role.value}")
    return (await identity.authenticate(thread.server.rt, token, context)).actor


async def test_one_shared_read_answers_each_reader_as_themselves(thread: Thread) -> None:
    conversation = uuid.UUID(await start_patient_thread(thread))
    assert (await send(thread, conversation, Role.PCP, "first")).status_code == 201
    assert (await send(thread, conversation, Role.PCP, "second")).status_code == 201
    pcp, care_manager, outsider = [
        await actor_of(thread, role)
        for role in (Role.PCP, Role.CARE_MANAGER, Role.PSYCHIATRIST)  # not in the thread
    ]

    answers = await messaging.changes_since_many(
        thread.server.rt,
        [
            CatchUp(pcp, conversation, since=0),
            CatchUp(outsider, conversation, since=0),
            CatchUp(care_manager, conversation, since=1),
        ],
    )

    pcp_views, pcp_last = answers[0]  # type: ignore[misc]
    assert [v.body for v in pcp_views] == ["first", "second"]
    assert isinstance(answers[1], NotFound)
    cm_views, cm_last = answers[2]  # type: ignore[misc]
    assert [v.body for v in cm_views] == ["second"]
    assert pcp_last == cm_last == pcp_views[-1].revision

    async with thread.server.rt.db.transaction() as db:
        events = (
            await db.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.resource_id == str(conversation),
                    AuditEvent.request_id.like("catch-up-%"),
                )
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert [(e.actor_user_id, e.actor_role, e.outcome, e.request_id) for e in events] == [
        (pcp.user_id, "pcp", "success", "catch-up-pcp"),
        (outsider.user_id, "psychiatrist", "denied", "catch-up-psychiatrist"),
        (care_manager.user_id, "care_manager", "success", "catch-up-care_manager"),
    ]
    assert events[2].detail["seqs"] == "2-2"


async def broken_and_healthy_threads(thread: Thread) -> tuple[uuid.UUID, uuid.UUID]:
    """Two threads with a message each; the first's is sealed under a key the keyring
    cannot unwrap (a KeyringError, not a HuddleError: it aborts a shared transaction)."""
    broken = uuid.UUID(await start_patient_thread(thread))
    healthy = uuid.UUID(await start_patient_thread(thread))
    sent = await send(thread, broken, Role.PCP, "unreadable")
    assert (await send(thread, healthy, Role.PCP, "fine")).status_code == 201
    await seal_under_a_missing_kek(thread.server.rt.db, uuid.UUID(sent.json()["id"]))
    return broken, healthy


async def test_a_read_that_breaks_the_shared_transaction_fails_only_its_own_askers(
    thread: Thread,
) -> None:
    """Sockets whose catch-ups share one batch: one conversation's message is sealed
    under a key the keyring cannot unwrap (not a HuddleError, so it aborts the shared
    transaction); the other conversation's readers still get their messages, each
    audited once, and each broken read gets an error object of its own."""
    broken, healthy = await broken_and_healthy_threads(thread)
    pcp, care_manager, patient = [
        await actor_of(thread, role) for role in (Role.PCP, Role.CARE_MANAGER, Role.PATIENT)
    ]
    catch_ups = SharedRead(thread.server.rt, messaging.changes_since_many)

    answers = await asyncio.gather(  # queued together: one batch
        catch_ups.read(CatchUp(pcp, broken, 0, 200)),
        catch_ups.read(CatchUp(care_manager, healthy, 0, 200)),
        catch_ups.read(CatchUp(patient, broken, 0, 200)),
        catch_ups.read(CatchUp(patient, healthy, 0, 200)),
        return_exceptions=True,
    )

    pcp_broken, care_manager_healthy, patient_broken, patient_healthy = answers
    assert isinstance(pcp_broken, KeyringError)
    assert isinstance(patient_broken, KeyringError)
    assert pcp_broken is not patient_broken
    for answer in (care_manager_healthy, patient_healthy):
        views, _ = answer  # type: ignore[misc]
        assert [v.body for v in views] == ["fine"]
    async with thread.server.rt.db.transaction() as db:
        readers = (
            await db.scalars(
                select(AuditEvent.actor_role)
                .where(
                    AuditEvent.resource_id == str(healthy),
                    AuditEvent.request_id.like("catch-up-%"),
                )
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert readers == ["care_manager", "patient"]


async def test_a_broken_read_leaves_every_other_attempt_audited_once(thread: Thread) -> None:
    """An outsider's refused catch-up shares a batch with a read that breaks it: the
    refusal is audited once (disclosure accounting and flag review count attempts), the
    healthy reader's read once, and the culprit gets its own error."""
    broken, healthy = await broken_and_healthy_threads(thread)
    outsider, pcp, care_manager = [
        await actor_of(thread, role)
        for role in (Role.PSYCHIATRIST, Role.PCP, Role.CARE_MANAGER)  # outsider: not in it
    ]
    batches: list[int] = []

    async def counted(rt: Runtime, requests: Sequence[CatchUp]) -> Sequence[object]:
        batches.append(len(requests))
        return await messaging.changes_since_many(rt, requests)

    catch_ups = SharedRead(thread.server.rt, counted)

    refused, culprit, read = await asyncio.gather(  # queued together: one batch
        catch_ups.read(CatchUp(outsider, healthy, 0, 200)),
        catch_ups.read(CatchUp(pcp, broken, 0, 200)),
        catch_ups.read(CatchUp(care_manager, healthy, 0, 200)),
        return_exceptions=True,
    )

    assert isinstance(refused, NotFound)
    assert isinstance(culprit, KeyringError)
    views, _ = read  # type: ignore[misc]
    assert [v.body for v in views] == ["fine"]
    assert batches == [3, 2]  # the rest read again together, not one by one
    async with thread.server.rt.db.transaction() as db:
        attempts = (
            await db.execute(
                select(AuditEvent.actor_role, AuditEvent.outcome)
                .where(
                    AuditEvent.resource_id.in_([str(healthy), str(broken)]),
                    AuditEvent.request_id.like("catch-up-%"),
                )
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert [tuple(a) for a in attempts] == [
        ("psychiatrist", "denied"),
        ("care_manager", "success"),
    ]


async def test_a_catch_up_that_fails_its_integrity_check_is_not_audited_as_read(
    thread: Thread,
) -> None:
    """In a shared batch an integrity failure answers its own request only, and the
    transaction commits: what it records must be the failure, not a read of content
    the reader never received."""
    conversation = uuid.UUID(await start_patient_thread(thread))
    message = (await send(thread, conversation, Role.PCP, "altered in storage")).json()["id"]
    await alter_the_sealed_body(thread.server.rt.db, uuid.UUID(message))
    pcp = await actor_of(thread, Role.PCP)

    (answer,) = await messaging.changes_since_many(
        thread.server.rt, [CatchUp(pcp, conversation, since=0)]
    )

    assert isinstance(answer, DecryptionFailed)
    async with thread.server.rt.db.transaction() as db:
        recorded = (
            await db.execute(
                select(AuditEvent.action, AuditEvent.outcome)
                .where(
                    AuditEvent.resource_id.in_([str(conversation), message]),
                    AuditEvent.request_id == "catch-up-pcp",
                )
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert [tuple(r) for r in recorded] == [("integrity_failure", "error")]


async def test_askers_are_answered_when_the_shared_reader_is_cancelled(thread: Thread) -> None:
    """A reader cancelled before it ran (at shutdown, say) must not leave its askers'
    sockets waiting forever; the next ask starts a new one."""
    conversation = uuid.UUID(await start_patient_thread(thread))
    assert (await send(thread, conversation, Role.PCP, "first")).status_code == 201
    pcp = await actor_of(thread, Role.PCP)
    catch_ups = SharedRead(thread.server.rt, messaging.changes_since_many)

    asking = asyncio.ensure_future(catch_ups.read(CatchUp(pcp, conversation, 0, 200)))
    await asyncio.sleep(0)  # the ask is queued; its reader has not run yet
    (reader,) = [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__ == "SharedRead._read_all"  # type: ignore[union-attr]
    ]
    reader.cancel()

    with pytest.raises(ReaderStopped):
        await asyncio.wait_for(asking, 10)
    views, _ = await asyncio.wait_for(catch_ups.read(CatchUp(pcp, conversation, 0, 200)), 10)
    assert [v.body for v in views] == ["first"]
