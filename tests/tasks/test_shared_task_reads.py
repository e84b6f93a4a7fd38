"""Task reads of many sockets share a transaction (tasks.changes_since_many and
backlog_since_many, through realtime/shared_reads.py): each reader still gets only the
tasks they may see."""

from __future__ import annotations

from huddle.actor import Role
from huddle.tasks import service as tasks
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
