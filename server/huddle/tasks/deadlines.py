"""Deadlines: an active task past its due time is flagged overdue once (everyone
concerned hears, the thread shows it); an unaccepted warm handoff past its due time
passes to the next consultant instead (handoff.py), and goes back to the PCP who asked,
flagged, only when nobody is left.

Safe with several server instances: each due task is taken under a row lock (SKIP LOCKED
on PostgreSQL; SQLite's BEGIN IMMEDIATE serializes writers) and re-checked under it, and
handling it changes what made it due (a new due time, or `overdue_at` set) in the same
transaction, so each due item is handled exactly once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import Select, select

from huddle.runtime import Runtime
from huddle.tasks import changes, handoff
from huddle.tasks.creation import kind_label
from huddle.tasks.models import Task
from huddle.tasks.states import ACTIVE, Change, Status
from huddle.unit_of_work import UnitOfWork, unit_of_work

log = logging.getLogger("huddle.tasks.deadlines")
BATCH = 100
_ACTIVE = [status.value for status in ACTIVE]


async def handle_due(rt: Runtime, organization_id: uuid.UUID | None = None) -> int:
    """One pass over tasks past their due time (of every organization, or of one);
    returns how many this call handled."""
    now = rt.clock.now()
    query = _due(now).with_only_columns(Task.id).order_by(Task.due_at).limit(BATCH)
    if organization_id is not None:
        query = query.where(Task.organization_id == organization_id)
    async with rt.db.transaction() as db:
        candidates = list(await db.scalars(query))
    handled = 0
    for task_id in candidates:
        try:
            async with unit_of_work(rt) as uow:
                handled += await _handle(uow, task_id)
        except Exception as error:  # one bad task must not stall every other deadline
            # The id and the type only: an exception's text may carry PHI.
            log.error(
                "task deadline failed; will retry",
                extra={"fields": {"task_id": str(task_id), "error": type(error).__name__}},
            )
    return handled


def _due(now: datetime) -> Select[tuple[Task]]:
    return select(Task).where(
        Task.status.in_(_ACTIVE), Task.due_at <= now, Task.overdue_at.is_(None)
    )


async def _handle(uow: UnitOfWork, task_id: uuid.UUID) -> bool:
    now = uow.rt.clock.now()
    task = await uow.db.scalar(
        _due(now).where(Task.id == task_id).with_for_update(skip_locked=True)
    )
    if task is None:
        return False  # another instance has it, or had it
    # Back with the PCP who asked, a handoff is their task: flagged overdue like any other.
    waiting_handoff = handoff.with_a_consultant(task) and task.status == Status.OPEN.value
    if waiting_handoff and await handoff.pass_to_next_consultant(
        uow, task, because="was not accepted in time"
    ):
        return True
    if waiting_handoff:
        await handoff.return_to_pcp(uow, task, because="not accepted")
        return True
    task.overdue_at = now
    note = f"Task ({kind_label(task)}) is overdue."
    await changes.record_change(uow, task, Change.OVERDUE, actor_user_id=None, note=note)
    return True
