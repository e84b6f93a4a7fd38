"""Task reads of many sockets share a transaction (tasks.changes_since_many and
backlog_since_many, through realtime/shared_reads.py): each reader still gets only the
tasks they may see."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from huddle.actor import Role
from huddle.protect.crypto import DecryptionFailed
from huddle.protect.models import AuditEvent
from huddle.tasks import service as tasks
from huddle.tasks.models import Task
from huddle.tasks.service import SinceRevision
from tests.messaging.test_shared_catch_up import actor_of
from tests.tasks.conftest import Ward


async def test_task_reads_made_together_answer_each_reader_as_themselves(ward: Ward) -> None:
    task = await ward.task_from_message(Role.CARE_MANAGER)
    pcp, outsider = [
        await actor_of(ward.thread, role)
        for role in (Role.PCP, Role.PSYCHIATRIST)  # not on the patient's care team
    ]
    asked = [SinceRevision(pcp, 0), SinceRevision(outsider, 0)]

    (pcp_views, pcp_last), (outsider_views, outsider_last) = await tasks.changes_since_many(
        ward.server.rt, asked
    )
    backlogs = await tasks.backlog_since_many(ward.server.rt, asked)

    assert [str(v.id) for v in pcp_views] == [task["id"]]
    assert outsider_views == []
    assert pcp_last == outsider_last == task["revision"]
    assert backlogs == [(1, task["revision"]), (0, task["revision"])]


async def test_a_task_that_fails_its_integrity_check_is_not_audited_as_read(ward: Ward) -> None:
    """In a shared catch-up the failure answers that reader alone and the batch
    commits: only the integrity failure may be recorded, not a read of the task."""
    task = await ward.task_from_message(Role.CARE_MANAGER)
    rt = ward.server.rt
    task_id = uuid.UUID(task["id"])
    async with rt.db.transaction() as db:
        title = await db.scalar(select(Task.title).where(Task.id == task_id))
        altered = title[:-1] + bytes([title[-1] ^ 1])
        await db.execute(update(Task).where(Task.id == task_id).values(title=altered))
    pcp = await actor_of(ward.thread, Role.PCP)

    (answer,) = await tasks.changes_since_many(rt, [SinceRevision(pcp, 0)])

    assert isinstance(answer, DecryptionFailed)
    async with rt.db.transaction() as db:
        recorded = (
            await db.execute(
                select(AuditEvent.action, AuditEvent.outcome)
                .where(
                    AuditEvent.resource_id == task["id"], AuditEvent.request_id == "catch-up-pcp"
                )
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert [tuple(r) for r in recorded] == [("integrity_failure", "error")]
