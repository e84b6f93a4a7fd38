"""Making a task: validated, assigned, sealed, and announced in its thread (the REST
routes, messages made into tasks and warm handoffs all come through here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from huddle.actor import CLINICAL_ROLES, Actor, Role
from huddle.errors import Forbidden, Invalid
from huddle.messaging.access import joined_conversation
from huddle.messaging.models import Conversation, Message
from huddle.protect.audit import Action
from huddle.tasks import changes
from huddle.tasks.changes import checked_text, seal
from huddle.tasks.models import Task
from huddle.tasks.states import Change, Kind, Priority, Status
from huddle.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class TaskDraft:
    title: str
    kind: Kind = Kind.FOLLOW_UP
    details: str | None = None
    # A person, or a role queue; neither: the creator's own task.
    assignee_user_id: uuid.UUID | None = None
    assignee_role: Role | None = None
    priority: Priority = Priority.ROUTINE
    due_at: datetime | None = None


async def reporting_thread(
    uow: UnitOfWork, actor: Actor, patient_id: uuid.UUID, conversation_id: uuid.UUID | None
) -> Conversation | None:
    """The thread a new task about `patient_id` reports into, if one is named: one the
    actor takes part in (else NotFound) about that patient (else Invalid)."""
    if conversation_id is None:
        return None
    conversation = await joined_conversation(uow, actor, conversation_id)
    if conversation.patient_id != patient_id:
        raise Invalid("That thread is about another patient.", code="invalid_conversation")
    return conversation


async def insert_task(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: uuid.UUID,
    draft: TaskDraft,
    conversation: Conversation | None,
    message: Message | None,
) -> Task:
    """Create the task within the caller's unit of work (access already checked)."""
    if actor.role not in CLINICAL_ROLES:  # callers' patient checks refuse them first
        raise uow.refuse(
            Forbidden("Only clinicians make tasks.", code="wrong_role"),
            Action.CREATE,
            "task",
            patient_id=patient_id,
        )
    title = checked_text(draft.title, "title", changes.MAX_TITLE_CHARS)
    details = checked_text(draft.details, "details") if draft.details else None
    assignee_user_id, assignee_role = await changes.resolve_assignee(
        uow, actor, patient_id, draft.assignee_user_id, draft.assignee_role
    )
    now = uow.rt.clock.now()
    task = Task(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        patient_id=patient_id,
        referral_id=conversation.referral_id if conversation else None,
        conversation_id=conversation.id if conversation else None,
        source_message_id=message.id if message else None,
        kind=draft.kind.value,
        created_by=actor.user_id,
        assignee_user_id=assignee_user_id,
        assignee_role=assignee_role,
        priority=draft.priority.value,
        due_at=draft.due_at,
        status=Status.OPEN.value,
        revision=0,
        last_change=Change.CREATED.value,
        created_at=now,
        updated_at=now,
        escalations=0,
    )
    task.title = await seal(uow, patient_id, "tasks", task.id, "title", title)
    if details is not None:
        task.details = await seal(uow, patient_id, "tasks", task.id, "details", details)
    uow.db.add(task)
    await uow.db.flush()
    source = f" from message #{message.seq}" if message else ""
    due = f", due {task.due_at:%Y-%m-%d %H:%M} UTC" if task.due_at else ""
    note = (
        f"{await changes.display_name(uow, actor.user_id)} made a task{source}: "
        f"{kind_label(task)} for {await changes.assignee_label(uow, task)}{due}."
    )
    await changes.record_change(uow, task, Change.CREATED, actor_user_id=actor.user_id, note=note)
    return task


def kind_label(task: Task) -> str:
    return task.kind.replace("_", " ")
