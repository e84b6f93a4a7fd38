"""Tasks: the only code that creates and changes them (warm handoffs: handoff.py;
overdue and escalation: deadlines.py; who may see what: access.py).

Every function opens one unit of work: it checks policy, writes, keeps the task's
history, audits, posts a note into the linked thread and announces the change over
real time after commit (changes.record_change). Reads of task content are audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Select, func, or_, select, update

from huddle.actor import Actor, Role
from huddle.care import service as care
from huddle.errors import Conflict, Forbidden, HuddleError, Invalid, NotFound
from huddle.identity.models import User
from huddle.messaging.access import joined_conversation
from huddle.messaging.models import Message
from huddle.protect.audit import Action
from huddle.protect.policy import PatientAction, Via
from huddle.runtime import Runtime
from huddle.tasks import changes, handoff
from huddle.tasks.access import (
    access_routes,
    content_withheld,
    visible_task,
    visible_tasks,
    withheld_tasks,
)
from huddle.tasks.changes import checked_text, seal
from huddle.tasks.creation import TaskDraft, insert_task, kind_label, reporting_thread
from huddle.tasks.models import Task, TaskComment
from huddle.tasks.states import (
    ACTIVE,
    FINISHED,
    NEEDS_REASON,
    Change,
    Priority,
    Status,
    check_transition,
)
from huddle.tasks.views import TaskView, task_view
from huddle.unit_of_work import UnitOfWork, for_each_reader, the_asker, unit_of_work

MAX_PAGE = 200
# Status changes only the task's assignee makes.
ASSIGNEE_MOVES = frozenset({Status.ACCEPTED, Status.IN_PROGRESS, Status.DONE, Status.DECLINED})


@dataclass(frozen=True, slots=True)
class TaskEdit:
    """Fields to change; None leaves a field as it is."""

    title: str | None = None
    details: str | None = None
    priority: Priority | None = None
    due_at: datetime | None = None
    assignee_user_id: uuid.UUID | None = None
    assignee_role: Role | None = None


class Assignee(StrEnum):
    """Worklist filter: my tasks, or my role's unclaimed queue."""

    ME = "me"
    ROLE = "role"


@dataclass(frozen=True, slots=True)
class Filters:
    assignee: Assignee | None = None  # None: every task I may see
    status: Status | None = None
    due_before: datetime | None = None
    patient_id: uuid.UUID | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class Worklist:
    tasks: list[TaskView]
    count: int
    counts: dict[str, int]  # by status, and "overdue", over the list's filters but status


# ----------------------------------------------------------------------- creating


async def create_task(
    rt: Runtime,
    actor: Actor,
    patient_id: uuid.UUID,
    draft: TaskDraft,
    conversation_id: uuid.UUID | None = None,
) -> TaskView:
    """A task about a patient (clinician with access to them), optionally reporting into
    a thread of that patient the caller takes part in."""
    async with unit_of_work(rt, actor=actor) as uow:
        await care.authorize_patient(uow, actor, patient_id, PatientAction.UPDATE)
        conversation = await reporting_thread(uow, actor, patient_id, conversation_id)
        task = await insert_task(uow, actor, patient_id, draft, conversation, None)
        return await task_view(uow, actor, task, detail=True)


async def create_from_message(
    rt: Runtime, actor: Actor, message_id: uuid.UUID, draft: TaskDraft
) -> TaskView:
    """Turn a message into a task that keeps the link to it and reports into its thread.
    Only participants of the thread may; the thread must be about a patient."""
    async with unit_of_work(rt, actor=actor) as uow:
        message = await uow.db.get(Message, message_id)
        if message is None:
            raise uow.refuse(NotFound("No such message."), Action.READ, "message", message_id)
        conversation = await joined_conversation(uow, actor, message.conversation_id)
        if conversation.patient_id is None:
            raise Invalid("Tasks are about a patient; this thread is not.", code="no_patient")
        await care.authorize_patient(uow, actor, conversation.patient_id, PatientAction.UPDATE)
        task = await insert_task(uow, actor, conversation.patient_id, draft, conversation, message)
        return await task_view(uow, actor, task, detail=True)


# ------------------------------------------------------------------------ reading


async def get_task(rt: Runtime, actor: Actor, task_id: uuid.UUID) -> TaskView:
    """One task with its quoted message, comments and history (an audited read)."""
    async with unit_of_work(rt, actor=actor) as uow:
        task = await visible_task(uow, actor, task_id)
        routes = await access_routes(uow, actor, [task])
        _audit_read(uow, task, routes[task.id])
        return await task_view(uow, actor, task, detail=True)


async def list_tasks(rt: Runtime, actor: Actor, filters: Filters) -> Worklist:
    """A worklist: tasks the caller may see, soonest due first, with counts by status
    and overdue. Each task listed is an audited read."""
    if not 1 <= filters.limit <= MAX_PAGE:
        raise Invalid(f"limit must be from 1 to {MAX_PAGE}.", code="invalid_limit")
    async with unit_of_work(rt, actor=actor) as uow:
        query = visible_tasks(actor)
        if filters.assignee is Assignee.ME:
            query = query.where(Task.assignee_user_id == actor.user_id)
        elif filters.assignee is Assignee.ROLE:
            query = query.where(
                Task.assignee_user_id.is_(None), Task.assignee_role == actor.role.value
            )
        if filters.due_before is not None:
            query = query.where(Task.due_at < filters.due_before)
        if filters.patient_id is not None:
            query = query.where(Task.patient_id == filters.patient_id)
        counts = await _counts(uow, query)
        if filters.status is not None:
            query = query.where(Task.status == filters.status.value)
        rows = (
            await uow.db.scalars(
                query.order_by(Task.due_at.is_(None), Task.due_at, Task.created_at).limit(
                    filters.limit
                )
            )
        ).all()
        views = await _listed(uow, actor, rows)
        statuses = [filters.status] if filters.status else list(Status)
        return Worklist(views, sum(counts[s.value] for s in statuses), counts)


async def _counts(uow: UnitOfWork, query: Select[tuple[Task]]) -> dict[str, int]:
    matching = query.subquery()
    rows = await uow.db.execute(select(matching.c.status, func.count()).group_by(matching.c.status))
    counts = {status.value: 0 for status in Status}
    counts.update({status: count for status, count in rows})
    now = uow.rt.clock.now()
    counts["overdue"] = (
        await uow.db.scalar(
            select(func.count()).where(
                matching.c.status.in_([s.value for s in ACTIVE]),
                or_(matching.c.due_at < now, matching.c.overdue_at.is_not(None)),
            )
        )
    ) or 0
    return counts


@dataclass(frozen=True, slots=True)
class SinceRevision:
    """One reader asking about the tasks they may see changed after a revision."""

    actor: Actor
    revision: int
    limit: int = MAX_PAGE


async def changes_since_many(
    rt: Runtime, requests: Sequence[SinceRevision]
) -> list[tuple[list[TaskView], int] | HuddleError]:
    """For each reader, the tasks they may see that changed after their revision, in
    revision order, and the organization's last task revision (what a reconnecting or
    live client missed), in one transaction for all: each read audited as its reader."""
    return await for_each_reader(rt, requests, _reader_of, _changes_since)


async def backlog_since_many(
    rt: Runtime, requests: Sequence[SinceRevision]
) -> list[tuple[int, int] | HuddleError]:
    """For each reader, how many tasks they may see changed after their revision,
    counted up to the limit, and the organization's last task revision: what replaying
    from there would cost. Ids only (no content is read, so nothing is audited)."""
    return await for_each_reader(rt, requests, _reader_of, _backlog_since)


def _reader_of(request: SinceRevision) -> Actor:
    return request.actor


async def _changes_since(uow: UnitOfWork, request: SinceRevision) -> tuple[list[TaskView], int]:
    actor = request.actor
    rows = (
        await uow.db.scalars(
            visible_tasks(actor)
            .where(Task.revision > request.revision)
            .order_by(Task.revision)
            .limit(request.limit)
        )
    ).all()
    views = await _listed(uow, actor, rows)
    return views, await changes.current_revision(uow, actor.organization_id)


async def _backlog_since(uow: UnitOfWork, request: SinceRevision) -> tuple[int, int]:
    actor = request.actor
    changed = (
        visible_tasks(actor)
        .where(Task.revision > request.revision)
        .with_only_columns(Task.id)
        .limit(request.limit)
        .subquery()
    )
    backlog = await uow.db.scalar(select(func.count()).select_from(changed))
    return backlog or 0, await changes.current_revision(uow, actor.organization_id)


async def task_revisions_many(rt: Runtime, actors: Sequence[Actor]) -> list[int | HuddleError]:
    """Each person's organization's last task revision (no content), in one transaction:
    the starting cursors of sockets connecting at once."""
    return await for_each_reader(rt, actors, the_asker, _task_revision)


async def _task_revision(uow: UnitOfWork, actor: Actor) -> int:
    return await changes.current_revision(uow, actor.organization_id)


# ----------------------------------------------------------------------- changing


async def change_status(
    rt: Runtime, actor: Actor, task_id: uuid.UUID, to_status: Status, reason: str | None = None
) -> TaskView:
    """Move a task along `open → accepted → in_progress → done`, or to `declined`
    (assignee) or `cancelled` (creator or assignee) with a reason. Illegal moves are a
    409 `illegal_transition`; a finished task must be reopened first. A declined warm
    handoff passes to the next consultant."""
    async with unit_of_work(rt, actor=actor) as uow:
        task = await visible_task(uow, actor, task_id, lock=True)
        _require_may_move(uow, actor, task, to_status)
        current = Status(task.status)
        check_transition(current, to_status)
        # A handoff back with the PCP who asked is theirs: declining it passes it on no more.
        declined_handoff = to_status is Status.DECLINED and handoff.with_a_consultant(task)
        sealed_reason = None
        if to_status in NEEDS_REASON:
            sealed_reason = checked_text(reason, "reason")
            task.status_reason = await seal(
                uow, task.patient_id, "tasks", task.id, "status_reason", sealed_reason
            )
        task.status = to_status.value
        now = rt.clock.now()
        if to_status is Status.ACCEPTED:
            # An escalated consultant joins the care team by accepting.
            me = await uow.db.get_one(User, actor.user_id)
            await care.join_care_team(uow, task.patient_id, me, actor.user_id)
            task.accepted_at = task.accepted_at or now
        who = await changes.display_name(uow, actor.user_id)
        note = f"Task ({kind_label(task)}) {_status_label(to_status)} by {who}."
        await changes.record_change(
            uow,
            task,
            Change.STATUS,
            actor_user_id=actor.user_id,
            from_status=current,
            reason=sealed_reason,
            note=note,
        )
        if declined_handoff and not await handoff.pass_to_next_consultant(
            uow, task, because="declined"
        ):
            await handoff.return_to_pcp(uow, task, because="declined")
        return await task_view(uow, actor, task, detail=True)


async def reopen_task(
    rt: Runtime, actor: Actor, task_id: uuid.UUID, reason: str | None = None
) -> TaskView:
    """Reopen a done, cancelled or declined task (creator or assignee): back to open."""
    async with unit_of_work(rt, actor=actor) as uow:
        task = await visible_task(uow, actor, task_id, lock=True)
        _require_creator_or_assignee(uow, actor, task)
        current = Status(task.status)
        if current not in FINISHED:
            raise Conflict(f"A task that is {current.value} is not finished.", code="not_finished")
        task.status, task.status_reason, task.overdue_at = Status.OPEN.value, None, None
        who = await changes.display_name(uow, actor.user_id)
        await changes.record_change(
            uow,
            task,
            Change.REOPENED,
            actor_user_id=actor.user_id,
            from_status=current,
            reason=checked_text(reason, "reason") if reason else None,
            note=f"Task ({kind_label(task)}) reopened by {who}.",
        )
        return await task_view(uow, actor, task, detail=True)


async def claim_task(rt: Runtime, actor: Actor, task_id: uuid.UUID) -> TaskView:
    """Take an unclaimed task from your role's queue: it becomes yours, accepted. Of two
    people claiming at once exactly one wins; the other gets 409 `already_claimed`. A
    task cancelled or moved to another queue meanwhile is 409 `task_finished` or
    `not_in_queue`."""
    async with unit_of_work(rt, actor=actor) as uow:
        task = await uow.db.scalar(
            select(Task).where(Task.id == task_id, Task.organization_id == actor.organization_id)
        )
        if task is None or task.assignee_role != actor.role.value:
            await visible_task(uow, actor, task_id)  # NotFound if they may not see it
            raise Conflict("This task is not in your role's queue.", code="not_in_queue")
        now = rt.clock.now()
        # The condition is the claim: whoever's UPDATE matches first wins, on SQLite
        # (writers serialized) and PostgreSQL (the second waits, then matches nothing).
        claimed = await uow.db.execute(
            update(Task)
            .where(
                Task.id == task.id,
                Task.assignee_user_id.is_(None),
                Task.assignee_role == actor.role.value,
                Task.status == Status.OPEN.value,
            )
            .values(assignee_user_id=actor.user_id, status=Status.ACCEPTED.value, accepted_at=now)
            .execution_options(synchronize_session=False)
        )
        await uow.db.refresh(task)
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise _lost_claim(task)
        me = await uow.db.get_one(User, actor.user_id)
        await care.join_care_team(uow, task.patient_id, me, actor.user_id)
        queue = changes.queue_label(actor.role.value)  # the one it was claimed from
        await changes.record_change(
            uow,
            task,
            Change.CLAIMED,
            actor_user_id=actor.user_id,
            from_status=Status.OPEN,
            note=f"{me.display_name} took the task ({kind_label(task)}) from {queue}.",
        )
        return await task_view(uow, actor, task, detail=True)


async def edit_task(rt: Runtime, actor: Actor, task_id: uuid.UUID, edit: TaskEdit) -> TaskView:
    """Change an active task's title, details, priority, due time or assignee (creator
    or assignee). Reassigning puts it back to open for the new assignee."""
    if edit == TaskEdit():
        raise Invalid("Nothing to change.", code="nothing_to_change")
    async with unit_of_work(rt, actor=actor) as uow:
        task = await visible_task(uow, actor, task_id, lock=True)
        _require_creator_or_assignee(uow, actor, task)
        current = Status(task.status)
        if current not in ACTIVE:
            raise Conflict("Reopen a finished task before changing it.", code="task_finished")
        if edit.title is not None:
            title = checked_text(edit.title, "title", changes.MAX_TITLE_CHARS)
            task.title = await seal(uow, task.patient_id, "tasks", task.id, "title", title)
        if edit.details is not None:
            details = checked_text(edit.details, "details")
            task.details = await seal(uow, task.patient_id, "tasks", task.id, "details", details)
        if edit.priority is not None:
            task.priority = edit.priority.value
        if edit.due_at is not None:
            task.due_at, task.overdue_at = edit.due_at, None
        reassigned = edit.assignee_user_id is not None or edit.assignee_role is not None
        if reassigned:
            task.assignee_user_id, task.assignee_role = await changes.resolve_assignee(
                uow, actor, task.patient_id, edit.assignee_user_id, edit.assignee_role
            )
            task.status, task.accepted_at = Status.OPEN.value, None
            note = (
                f"Task ({kind_label(task)}) assigned to {await changes.assignee_label(uow, task)}."
            )
        else:
            note = f"Task ({kind_label(task)}) updated."
        await changes.record_change(
            uow,
            task,
            Change.ASSIGNED if reassigned else Change.EDITED,
            actor_user_id=actor.user_id,
            from_status=current,
            note=note,
        )
        return await task_view(uow, actor, task, detail=True)


async def add_comment(rt: Runtime, actor: Actor, task_id: uuid.UUID, body: str) -> TaskView:
    """Comment on a task (anyone who may see it and read its content); sealed."""
    text = checked_text(body, "comment")
    async with unit_of_work(rt, actor=actor) as uow:
        task = await visible_task(uow, actor, task_id, lock=True)
        if await content_withheld(uow, actor, task):
            raise uow.refuse(
                Forbidden("Only the named care team may discuss this task.", code="part2"),
                Action.UPDATE,
                "task",
                task.id,
                patient_id=task.patient_id,
            )
        comment = TaskComment(
            id=uuid.uuid4(),
            task_id=task.id,
            author_id=actor.user_id,
            body=b"",
            created_at=rt.clock.now(),
        )
        await changes.record_change(uow, task, Change.COMMENTED, actor_user_id=actor.user_id)
        comment.revision = task.revision
        comment.body = await seal(uow, task.patient_id, "task_comments", comment.id, "body", text)
        uow.db.add(comment)
        await uow.db.flush()
        return await task_view(uow, actor, task, detail=True)


# -------------------------------------------------------------------------- helpers


def _require_may_move(uow: UnitOfWork, actor: Actor, task: Task, to_status: Status) -> None:
    if to_status in ASSIGNEE_MOVES:
        if task.assignee_user_id is None:
            raise Conflict("Claim this task from its queue first.", code="claim_first")
        if task.assignee_user_id != actor.user_id:
            raise uow.refuse(
                Forbidden("Only the assignee can do that.", code="not_assignee"),
                Action.UPDATE,
                "task",
                task.id,
                patient_id=task.patient_id,
            )
    else:
        _require_creator_or_assignee(uow, actor, task)


def _require_creator_or_assignee(uow: UnitOfWork, actor: Actor, task: Task) -> None:
    if actor.user_id not in (task.created_by, task.assignee_user_id):
        raise uow.refuse(
            Forbidden("Only the task's creator or assignee can do that.", code="not_yours"),
            Action.UPDATE,
            "task",
            task.id,
            patient_id=task.patient_id,
        )


def _lost_claim(task: Task) -> Conflict:
    """Why a claim matched nothing, from the task as it is now."""
    if task.assignee_user_id is not None:
        return Conflict("Someone else has claimed this task.", code="already_claimed")
    if Status(task.status) in FINISHED:
        return Conflict("This task is finished; reopen it to claim it.", code="task_finished")
    return Conflict("This task is no longer in your role's queue.", code="not_in_queue")


def _status_label(status: Status) -> str:
    return "started" if status is Status.IN_PROGRESS else status.value


async def _listed(uow: UnitOfWork, actor: Actor, tasks: Sequence[Task]) -> list[TaskView]:
    """Views of listed tasks, each an audited read."""
    withheld = await withheld_tasks(uow, actor, tasks)
    routes = await access_routes(uow, actor, tasks)
    views = [await task_view(uow, actor, task, withheld=withheld[task.id]) for task in tasks]
    # Recorded once all are read: a task whose content fails its integrity check answers
    # a shared catch-up with that failure alone, and nothing of the page was received.
    for task in tasks:
        _audit_read(uow, task, routes[task.id])
    return views


def _audit_read(uow: UnitOfWork, task: Task, via: Via) -> None:
    uow.audit(Action.READ, "task", task.id, patient_id=task.patient_id, via=str(via))
