"""Warm handoffs: "the patient is here now". One step from the PCP puts an urgent task,
due in minutes, on the on-duty behavioral-health consultant's worklist (the named one,
else the organization's on-call clinician, else the first BH consultant), pushed live.
Declined, or not accepted by its due time (deadlines.py), it passes to the next
consultant and the PCP hears of it; with nobody left it goes back to the PCP who asked,
flagged overdue, and no consultant is asked again. The time to accept is kept on the
task for reporting.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import case, select

from huddle.actor import Actor, Role
from huddle.care import service as care
from huddle.errors import Conflict, Forbidden, Invalid
from huddle.identity.models import Organization, User
from huddle.protect.audit import Action
from huddle.protect.policy import PatientAction
from huddle.runtime import Runtime
from huddle.tasks import changes
from huddle.tasks.creation import TaskDraft, insert_task, reporting_thread
from huddle.tasks.models import Task, TaskEvent
from huddle.tasks.states import Change, Kind, Priority, Status
from huddle.tasks.views import TaskView, task_view
from huddle.unit_of_work import UnitOfWork, unit_of_work

KIND = Kind.WARM_HANDOFF
WARM_HANDOFF_MINUTES = 5
MAX_WINDOW_MINUTES = 60
# Behavioral-health consultants, in the order a handoff passes between them.
CONSULTANT_ROLES = (Role.BH_CLINICIAN, Role.PSYCHIATRIST)
TITLE = "Warm handoff: the patient is here now"


async def start_warm_handoff(
    rt: Runtime,
    actor: Actor,
    patient_id: uuid.UUID,
    *,
    consultant_id: uuid.UUID | None = None,
    note: str | None = None,
    conversation_id: uuid.UUID | None = None,
    due_in_minutes: int = WARM_HANDOFF_MINUTES,
) -> TaskView:
    """Hand the patient in the room to a BH consultant (PCP on the care team). Raises
    Conflict `no_consultant` when the organization has none."""
    if not 1 <= due_in_minutes <= MAX_WINDOW_MINUTES:
        raise Invalid(
            f"A warm handoff is due within 1 to {MAX_WINDOW_MINUTES} minutes.",
            code="invalid_due",
        )
    async with unit_of_work(rt, actor=actor) as uow:
        if actor.role is not Role.PCP:
            raise uow.refuse(
                Forbidden("Warm handoffs start with the patient's PCP.", code="wrong_role"),
                Action.CREATE,
                "task",
                patient_id=patient_id,
            )
        await care.authorize_patient(uow, actor, patient_id, PatientAction.UPDATE)
        conversation = await reporting_thread(uow, actor, patient_id, conversation_id)
        consultant = await _first_consultant(uow, actor, consultant_id)
        draft = TaskDraft(
            title=TITLE,
            kind=Kind.WARM_HANDOFF,
            details=note,
            assignee_user_id=consultant.id,
            priority=Priority.URGENT,
            due_at=rt.clock.now() + timedelta(minutes=due_in_minutes),
        )
        task = await insert_task(uow, actor, patient_id, draft, conversation, None)
        return await task_view(uow, actor, task, detail=True)


async def pass_to_next_consultant(uow: UnitOfWork, task: Task, *, because: str) -> bool:
    """Give a declined or unaccepted warm handoff to the next consultant nobody has
    tried yet, due again in WARM_HANDOFF_MINUTES; the PCP (its creator) is told. Returns
    False when nobody is left."""
    tried = set(
        await uow.db.scalars(
            select(TaskEvent.assignee_user_id).where(
                TaskEvent.task_id == task.id, TaskEvent.assignee_user_id.is_not(None)
            )
        )
    ) | {task.created_by}
    candidates = await _consultants(uow, task.organization_id)
    successor = next((user for user in candidates if user.id not in tried), None)
    if successor is None:
        return False
    previous = Status(task.status)
    now = uow.rt.clock.now()
    task.assignee_user_id, task.assignee_role = successor.id, None
    task.status, task.accepted_at, task.status_reason = Status.OPEN.value, None, None
    task.due_at, task.overdue_at = now + timedelta(minutes=WARM_HANDOFF_MINUTES), None
    task.escalations += 1
    await changes.record_change(
        uow,
        task,
        Change.ESCALATED,
        actor_user_id=None,
        from_status=previous,
        note=f"Warm handoff {because}; passed to {successor.display_name}.",
    )
    return True


def with_a_consultant(task: Task) -> bool:
    """A warm handoff not (yet) back with the PCP who asked: declined or, still open,
    past due, it passes to the next consultant."""
    return task.kind == KIND and task.assignee_user_id != task.created_by


async def return_to_pcp(uow: UnitOfWork, task: Task, *, because: str) -> None:
    """No consultant left to try: the handoff goes back to the PCP who asked (its
    creator, who holds it as a task made for nobody else would be held), open and
    flagged overdue, so no consultant is prompted for it again; the PCP hears (the
    `task.assigned` frame, and the note in the thread)."""
    previous = Status(task.status)
    task.assignee_user_id, task.assignee_role = task.created_by, None
    task.status, task.accepted_at, task.status_reason = Status.OPEN.value, None, None
    task.overdue_at = uow.rt.clock.now()
    pcp = await changes.display_name(uow, task.created_by)
    await changes.record_change(
        uow,
        task,
        Change.RETURNED,
        actor_user_id=None,
        from_status=previous,
        note=f"Warm handoff {because}, and no other consultant is available; back with {pcp}.",
    )


async def _first_consultant(uow: UnitOfWork, actor: Actor, consultant_id: uuid.UUID | None) -> User:
    candidates = await _consultants(uow, actor.organization_id)
    if consultant_id is not None:
        named = next((user for user in candidates if user.id == consultant_id), None)
        if named is None:
            raise Invalid(
                "Hand off to an active BH consultant of your organization.",
                code="invalid_consultant",
            )
        return named
    org = await uow.db.get_one(Organization, actor.organization_id)
    on_call = next((user for user in candidates if user.id == org.on_call_user_id), None)
    first = on_call or next(iter(candidates), None)
    if first is None:
        raise Conflict("Nobody in your organization takes warm handoffs.", code="no_consultant")
    return first


async def _consultants(uow: UnitOfWork, organization_id: uuid.UUID) -> list[User]:
    """Active BH consultants in handoff order: BH clinicians, then psychiatrists, by name."""
    order = case((User.role == Role.BH_CLINICIAN.value, 0), else_=1)
    return list(
        await uow.db.scalars(
            select(User)
            .where(
                User.organization_id == organization_id,
                User.role.in_([role.value for role in CONSULTANT_ROLES]),
                User.is_active.is_(True),
            )
            .order_by(order, User.display_name, User.id)
        )
    )
