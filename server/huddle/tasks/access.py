"""Who may see a task, and who hears about its changes.

A task is visible, within its organization, to clinicians on its patient's care team,
to its creator and assignee (an assignee joins the care team when assigned), and, while
it waits unclaimed in a role queue, to the active members of that role. Authorization
lives in the query (`visible_tasks`), so no caller can list a task it may not see;
anyone else gets NotFound and learns nothing. Part 2 content (title, details, comments,
reasons) is withheld from readers who are not named on the care team; a task is Part 2
when its patient, its thread or its source message is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, and_, exists, false, or_, select

from huddle.actor import CLINICAL_ROLES, Actor
from huddle.care import service as care
from huddle.care.models import CareTeamMember, Patient
from huddle.errors import NotFound
from huddle.identity.models import User
from huddle.messaging.models import Conversation, Message
from huddle.protect import policy
from huddle.protect.audit import Action
from huddle.protect.policy import Sensitivity, Via
from huddle.tasks.models import Task
from huddle.unit_of_work import UnitOfWork


def visible_tasks(actor: Actor) -> Select[tuple[Task]]:
    """Tasks the actor may see: the readable statement every task query starts from."""
    statement = select(Task).where(Task.organization_id == actor.organization_id)
    if actor.role not in CLINICAL_ROLES:
        return statement.where(false())
    on_team = exists().where(
        CareTeamMember.patient_id == Task.patient_id, CareTeamMember.user_id == actor.user_id
    )
    in_my_queue = and_(Task.assignee_user_id.is_(None), Task.assignee_role == actor.role.value)
    return statement.where(
        or_(
            on_team,
            Task.assignee_user_id == actor.user_id,
            Task.created_by == actor.user_id,
            in_my_queue,
        )
    )


async def visible_task(
    uow: UnitOfWork, actor: Actor, task_id: uuid.UUID, *, lock: bool = False
) -> Task:
    """The task if the actor may see it; otherwise NotFound (audited as a denial)."""
    query = visible_tasks(actor).where(Task.id == task_id)
    task = await uow.db.scalar(query.with_for_update(of=Task) if lock else query)
    if task is None:
        raise uow.refuse(NotFound("No such task."), Action.READ, "task", task_id)
    return task


async def content_withheld(uow: UnitOfWork, actor: Actor, task: Task) -> bool:
    """Part 2 content goes only to named care-team members."""
    return (await withheld_tasks(uow, actor, [task]))[task.id]


async def withheld_tasks(
    uow: UnitOfWork, actor: Actor, tasks: Sequence[Task]
) -> dict[uuid.UUID, bool]:
    """content_withheld for many tasks at once (a worklist): four queries, not four a
    task. A task carries the strictest label of its patient, the thread it reports into
    and the message it was made from: a task made from a Part 2 message is Part 2."""
    patient_ids = {task.patient_id for task in tasks}
    patients = await _labels(uow, Patient, patient_ids)
    conversations = await _labels(
        uow, Conversation, {task.conversation_id for task in tasks if task.conversation_id}
    )
    messages = await _labels(
        uow, Message, {task.source_message_id for task in tasks if task.source_message_id}
    )
    on_team = await _on_care_team(uow, actor, patient_ids)
    return {
        task.id: not policy.may_read_content(
            policy.strictest(
                patients.get(task.patient_id),
                conversations.get(task.conversation_id),
                messages.get(task.source_message_id),
            ),
            named_on_care_team=task.patient_id in on_team,
            own_record=False,
        )
        for task in tasks
    }


async def access_routes(
    uow: UnitOfWork, actor: Actor, tasks: Sequence[Task]
) -> dict[uuid.UUID, Via]:
    """How the actor reaches each of `tasks` (visible ones), for the audit's `via`: on the
    patient's care team, else as its assignee, its creator, or a member of the role
    queue it waits in. One query, however many tasks."""
    on_team = await _on_care_team(uow, actor, {task.patient_id for task in tasks})
    return {task.id: _route(actor, task, task.patient_id in on_team) for task in tasks}


def _route(actor: Actor, task: Task, on_team: bool) -> Via:
    if on_team:
        return Via.CARE_TEAM
    if task.assignee_user_id == actor.user_id:
        return Via.ASSIGNEE
    if task.created_by == actor.user_id:
        return Via.CREATOR
    return Via.ROLE_QUEUE


async def _on_care_team(
    uow: UnitOfWork, actor: Actor, patient_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `patient_ids` whose care team the actor is named on."""
    return set(
        await uow.db.scalars(
            select(CareTeamMember.patient_id).where(
                CareTeamMember.user_id == actor.user_id,
                CareTeamMember.patient_id.in_(patient_ids),
            )
        )
    )


async def _labels(
    uow: UnitOfWork, model: type[Patient | Conversation | Message], ids: set[uuid.UUID]
) -> dict[uuid.UUID | None, Sensitivity]:
    if not ids:
        return {}
    rows = await uow.db.execute(select(model.id, model.sensitivity).where(model.id.in_(ids)))
    return {row_id: Sensitivity(label) for row_id, label in rows if label}


async def concerned(uow: UnitOfWork, task: Task) -> frozenset[uuid.UUID]:
    """Everyone who may see the task: they hear of every change to it."""
    people = set(await care.care_team_user_ids(uow, task.patient_id))
    people.add(task.created_by)
    if task.assignee_user_id is not None:
        people.add(task.assignee_user_id)
    elif task.assignee_role is not None:
        queue = await uow.db.scalars(
            select(User.id).where(
                User.organization_id == task.organization_id,
                User.role == task.assignee_role,
                User.is_active.is_(True),
            )
        )
        people.update(queue)
    return frozenset(people)
