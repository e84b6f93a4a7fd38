"""Live delivery reads several people's catch-ups in one transaction
(messaging.changes_since_many, used by realtime/catch_ups.py): each reader still gets
only what they may see, each read is audited as that reader, and one refusal answers
only its own request."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from huddle.actor import Actor, RequestContext, Role
from huddle.errors import NotFound
from huddle.identity import service as identity
from huddle.messaging import service as messaging
from huddle.messaging.service import CatchUp
from huddle.protect.models import AuditEvent
from tests.conftest import sign_in
from tests.messaging.conftest import Thread
from tests.messaging.test_messages import send, start_patient_thread


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
