"""What a reader sees of a task: content opened only for those allowed (Part 2 is
withheld outside the named care team), the quoted source message only for those who may
read it, and, for one task, its comments and history."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select

from huddle.actor import Actor
from huddle.messaging import service as messaging
from huddle.tasks.access import content_withheld
from huddle.tasks.changes import open_text
from huddle.tasks.models import Task, TaskComment, TaskEvent
from huddle.tasks.states import ACTIVE, Change, Kind, Priority, Status
from huddle.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class QuoteView:
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    sender_id: uuid.UUID | None
    body: str | None
    withheld: bool


@dataclass(frozen=True, slots=True)
class CommentView:
    id: uuid.UUID
    author_id: uuid.UUID
    body: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventView:
    change: Change
    actor_user_id: uuid.UUID | None
    from_status: Status | None
    to_status: Status | None
    assignee_user_id: uuid.UUID | None
    assignee_role: str | None
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class TaskView:
    id: uuid.UUID
    patient_id: uuid.UUID
    referral_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    source_message_id: uuid.UUID | None
    kind: Kind
    title: str | None  # None when withheld from this reader (Part 2)
    details: str | None
    created_by: uuid.UUID
    assignee_user_id: uuid.UUID | None
    assignee_role: str | None
    priority: Priority
    due_at: datetime | None
    status: Status
    status_reason: str | None
    revision: int
    # The latest change: the real-time frame it is announced with (states.frame_for).
    last_change: Change
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    time_to_accept_seconds: int | None
    overdue: bool
    escalations: int
    withheld: bool
    # Only for a single task: the quoted message (if the reader may read it),
    # comments and history.
    source: QuoteView | None = None
    comments: list[CommentView] | None = None
    history: list[EventView] | None = None


async def task_view(
    uow: UnitOfWork,
    actor: Actor,
    task: Task,
    *,
    detail: bool = False,
    withheld: bool | None = None,
) -> TaskView:
    """The task as `actor` may see it; with `detail`, its quote, comments and history.
    `withheld`: content_withheld, when the caller already knows it (worklists)."""
    if withheld is None:
        withheld = await content_withheld(uow, actor, task)

    async def opened(table: str, row_id: uuid.UUID, column: str, blob: bytes | None) -> str | None:
        if withheld:
            return None
        return await open_text(uow, task.patient_id, table, row_id, column, blob)

    now = uow.rt.clock.now()
    view = TaskView(
        id=task.id,
        patient_id=task.patient_id,
        referral_id=task.referral_id,
        conversation_id=task.conversation_id,
        source_message_id=task.source_message_id,
        kind=Kind(task.kind),
        title=await opened("tasks", task.id, "title", task.title),
        details=await opened("tasks", task.id, "details", task.details),
        created_by=task.created_by,
        assignee_user_id=task.assignee_user_id,
        assignee_role=task.assignee_role,
        priority=Priority(task.priority),
        due_at=task.due_at,
        status=Status(task.status),
        status_reason=await opened("tasks", task.id, "status_reason", task.status_reason),
        revision=task.revision,
        last_change=Change(task.last_change),
        created_at=task.created_at,
        updated_at=task.updated_at,
        accepted_at=task.accepted_at,
        time_to_accept_seconds=(
            int((task.accepted_at - task.created_at).total_seconds()) if task.accepted_at else None
        ),
        overdue=_overdue(task, now),
        escalations=task.escalations,
        withheld=withheld,
    )
    if not detail:
        return view
    comments = (
        await uow.db.scalars(
            select(TaskComment).where(TaskComment.task_id == task.id).order_by(TaskComment.revision)
        )
    ).all()
    history = (
        await uow.db.scalars(
            select(TaskEvent).where(TaskEvent.task_id == task.id).order_by(TaskEvent.revision)
        )
    ).all()
    return replace(
        view,
        source=await _quote(uow, actor, task),
        comments=[
            CommentView(
                c.id, c.author_id, await opened("task_comments", c.id, "body", c.body), c.created_at
            )
            for c in comments
        ],
        history=[
            EventView(
                Change(e.change),
                e.actor_user_id,
                Status(e.from_status) if e.from_status else None,
                Status(e.to_status) if e.to_status else None,
                e.assignee_user_id,
                e.assignee_role,
                await opened("task_events", e.id, "reason", e.reason),
                e.at,
            )
            for e in history
        ],
    )


async def _quote(uow: UnitOfWork, actor: Actor, task: Task) -> QuoteView | None:
    if task.source_message_id is None:
        return None
    message = await messaging.quote_for(uow, actor, task.source_message_id)
    if message is None:
        return None
    return QuoteView(
        message.id,
        message.conversation_id,
        message.seq,
        message.sender_id,
        message.body,
        message.withheld,
    )


def _overdue(task: Task, now: datetime) -> bool:
    """Active and past due, or flagged (a warm handoff declined by everyone)."""
    if Status(task.status) not in ACTIVE:
        return False
    return task.overdue_at is not None or (task.due_at is not None and task.due_at < now)
