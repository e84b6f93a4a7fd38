"""The building blocks every task change uses, inside the caller's unit of work: the
organization's next revision, the history entry, the audit record, the note in the
linked thread and the real-time announcement after commit; sealing and opening task
content; resolving an assignee."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from huddle.actor import CLINICAL_ROLES, Actor, Role
from huddle.care import service as care
from huddle.errors import Invalid
from huddle.events import Event
from huddle.identity.models import User
from huddle.messaging import service as messaging
from huddle.protect.audit import Action
from huddle.protect.crypto import Binding
from huddle.protect.policy import PatientAction
from huddle.tasks.access import concerned
from huddle.tasks.models import Task, TaskEvent, TaskRevision
from huddle.tasks.states import Change, Status, frame_for
from huddle.unit_of_work import UnitOfWork

# Task content is sealed with the patient's data key: erasing the patient shreds it.
OWNER_TYPE = care.OWNER_TYPE
MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 4_000


async def next_revision(uow: UnitOfWork, organization_id: uuid.UUID) -> int:
    """Take the organization's next task revision. The counter row stays locked until
    commit, so revisions commit in order (as a conversation's do)."""
    bump = (
        update(TaskRevision)
        .where(TaskRevision.organization_id == organization_id)
        .values(last_revision=TaskRevision.last_revision + 1)
        .returning(TaskRevision.last_revision)
        .execution_options(synchronize_session=False)
    )
    revision = (await uow.db.execute(bump)).scalar_one_or_none()
    if revision is None:  # the organization's first task: make its counter (racing is fine)
        insert = (
            postgresql.insert if uow.db.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        await uow.db.execute(
            insert(TaskRevision)
            .values(organization_id=organization_id, last_revision=0)
            .on_conflict_do_nothing()
        )
        revision = (await uow.db.execute(bump)).scalar_one()
    return revision


async def current_revision(uow: UnitOfWork, organization_id: uuid.UUID) -> int:
    revision = await uow.db.scalar(
        select(TaskRevision.last_revision).where(TaskRevision.organization_id == organization_id)
    )
    return revision or 0


async def record_change(
    uow: UnitOfWork,
    task: Task,
    change: Change,
    *,
    actor_user_id: uuid.UUID | None,
    from_status: Status | None = None,
    reason: str | None = None,
    note: str | None = None,
) -> None:
    """Everything a change to `task` owes: its next revision, a history entry (reason
    sealed), an audit record, `note` posted into the linked thread, and the real-time
    frame to everyone concerned once committed."""
    now = uow.rt.clock.now()
    task.revision = await next_revision(uow, task.organization_id)
    task.last_change = change.value
    task.updated_at = now
    entry = TaskEvent(
        id=uuid.uuid4(),
        task_id=task.id,
        revision=task.revision,
        actor_user_id=actor_user_id,
        change=change.value,
        from_status=from_status.value if from_status else None,
        to_status=task.status,
        assignee_user_id=task.assignee_user_id,
        assignee_role=task.assignee_role,
        at=now,
    )
    if reason is not None:
        entry.reason = await seal(uow, task.patient_id, "task_events", entry.id, "reason", reason)
    uow.db.add(entry)
    await uow.db.flush()
    detail = {"change": change.value, "status": task.status}
    if from_status is not None:
        detail["status"] = f"{from_status.value}->{task.status}"
    uow.audit(
        Action.CREATE if change is Change.CREATED else Action.UPDATE,
        "task",
        task.id,
        patient_id=task.patient_id,
        organization_id=task.organization_id,
        **detail,
    )
    if note is not None and task.conversation_id is not None:
        await messaging.post_system_note(uow, task.conversation_id, note)
    uow.publish_after_commit(
        Event(
            frame_for(change),
            await concerned(uow, task),
            {"task_id": str(task.id), "revision": task.revision},
        )
    )


async def resolve_assignee(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: uuid.UUID,
    user_id: uuid.UUID | None,
    role: Role | None,
) -> tuple[uuid.UUID | None, str | None]:
    """(assignee user, assignee role queue). A named assignee must be an active
    clinician of the organization and joins the patient's care team; with neither
    given, the task is the caller's own.

    Assigning puts someone on the care team (now, or when a queue member claims it), so
    only care-team members may: break-glass access must not turn into membership."""
    if user_id is not None and role is not None:
        raise Invalid("Assign to a person or to a role queue, not both.", code="invalid_assignee")
    await care.authorize_patient(uow, actor, patient_id, PatientAction.MANAGE_CARE_TEAM)
    if role is not None:
        if role not in CLINICAL_ROLES:
            raise Invalid("Role queues are for clinical roles.", code="invalid_assignee")
        return None, role.value
    user = await uow.db.scalar(
        select(User).where(
            User.id == (user_id or actor.user_id),
            User.organization_id == actor.organization_id,
            User.is_active.is_(True),
        )
    )
    if user is None or Role(user.role) not in CLINICAL_ROLES:
        raise Invalid(
            "Assign to an active clinician of your organization.", code="invalid_assignee"
        )
    await care.join_care_team(uow, patient_id, user, actor.user_id)
    return user.id, None


async def display_name(uow: UnitOfWork, user_id: uuid.UUID | None) -> str:
    if user_id is None:
        return "Huddle"
    return await uow.db.scalar(select(User.display_name).where(User.id == user_id)) or "someone"


async def assignee_label(uow: UnitOfWork, task: Task) -> str:
    """Who holds the task, for notes in the thread (staff names and roles, never PHI)."""
    if task.assignee_user_id is not None:
        return await display_name(uow, task.assignee_user_id)
    return queue_label(task.assignee_role or "")


def queue_label(role: str) -> str:
    """A role queue in a note: "the care manager queue"."""
    return f"the {role.replace('_', ' ')} queue"


def checked_text(text: str | None, field: str, limit: int = MAX_TEXT_CHARS) -> str:
    text = (text or "").strip()
    label = field.replace("_", " ")
    if not text:
        raise Invalid(f"The {label} is required.", code=f"{field}_required")
    if len(text) > limit:
        raise Invalid(f"The {label} holds at most {limit} characters.", code=f"{field}_too_long")
    return text


async def seal(
    uow: UnitOfWork, patient_id: uuid.UUID, table: str, row_id: uuid.UUID, column: str, text: str
) -> bytes:
    (sealed,) = await uow.seal(
        OWNER_TYPE, patient_id, [(Binding(table, column, row_id, patient_id), text.encode())]
    )
    return sealed


async def open_text(
    uow: UnitOfWork,
    patient_id: uuid.UUID,
    table: str,
    row_id: uuid.UUID,
    column: str,
    blob: bytes | None,
) -> str | None:
    if blob is None:
        return None
    plain = await uow.open(blob, Binding(table, column, row_id, patient_id), patient_id=patient_id)
    return plain.decode()
