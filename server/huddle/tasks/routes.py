"""HTTP endpoints for tasks, worklists and warm handoffs (WebSocket clients hear of
changes as `task.*` frames; they read through the same service functions)."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, get, patch, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from huddle.dependencies import CurrentActor, Rt
from huddle.tasks import handoff, service
from huddle.tasks.creation import TaskDraft
from huddle.tasks.schemas import (
    CommentIn,
    FromMessageIn,
    ReopenIn,
    StatusIn,
    TaskIn,
    TaskList,
    TaskOut,
    TaskPatch,
    WarmHandoffIn,
)
from huddle.tasks.states import Status


def _draft(data: TaskIn | FromMessageIn) -> TaskDraft:
    return TaskDraft(
        data.title,
        data.kind,
        data.details,
        data.assignee_user_id,
        data.assignee_role,
        data.priority,
        data.due_at,
    )


class TasksController(Controller):
    path = "/api/v1/tasks"
    tags = ["tasks"]

    @post("")
    async def create(self, data: JSONBody[TaskIn], rt: Rt, actor: CurrentActor) -> TaskOut:
        """Make a task about a patient: for a person, a role queue, or yourself."""
        view = await service.create_task(
            rt, actor, data.patient_id, _draft(data), data.conversation_id
        )
        return TaskOut.of(view)

    @get("")
    async def worklist(
        self,
        rt: Rt,
        actor: CurrentActor,
        assignee: FromQuery[service.Assignee | None] = None,
        status: FromQuery[Status | None] = None,
        due_before: FromQuery[datetime | None] = None,
        patient: FromQuery[uuid.UUID | None] = None,
        limit: FromQuery[int] = 100,
    ) -> TaskList:
        """Tasks you may see, soonest due first: `assignee=me` (yours) or `role` (your
        role's unclaimed queue), by status, due before a time, for a patient; with counts."""
        if due_before is not None and due_before.tzinfo is None:
            # Litestar parses query datetimes itself (Meta(tz=True) is not applied here).
            raise ValidationException(
                "The request is not valid.",
                extra=[{"key": "due_before", "message": "give a time zone, e.g. Z or +01:00"}],
            )
        filters = service.Filters(assignee, status, due_before, patient, limit)
        worklist = await service.list_tasks(rt, actor, filters)
        return TaskList([TaskOut.of(v) for v in worklist.tasks], worklist.count, worklist.counts)

    @post("/warm-handoffs")
    async def warm_handoff(
        self, data: JSONBody[WarmHandoffIn], rt: Rt, actor: CurrentActor
    ) -> TaskOut:
        """The patient is here now: an urgent task for the on-duty BH consultant."""
        view = await handoff.start_warm_handoff(
            rt,
            actor,
            data.patient_id,
            consultant_id=data.consultant_id,
            note=data.note,
            conversation_id=data.conversation_id,
            due_in_minutes=data.due_in_minutes,
        )
        return TaskOut.of(view)

    @get("/{task_id:uuid}")
    async def read(self, task_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor) -> TaskOut:
        """One task with its source message (if you may read it), comments and history."""
        return TaskOut.of(await service.get_task(rt, actor, task_id))

    @patch("/{task_id:uuid}")
    async def edit(
        self, task_id: FromPath[uuid.UUID], data: JSONBody[TaskPatch], rt: Rt, actor: CurrentActor
    ) -> TaskOut:
        """Change title, details, priority, due time or assignee (creator or assignee)."""
        edit = service.TaskEdit(
            data.title,
            data.details,
            data.priority,
            data.due_at,
            data.assignee_user_id,
            data.assignee_role,
        )
        return TaskOut.of(await service.edit_task(rt, actor, task_id, edit))

    @post("/{task_id:uuid}/status", status_code=HTTP_200_OK)
    async def change_status(
        self, task_id: FromPath[uuid.UUID], data: JSONBody[StatusIn], rt: Rt, actor: CurrentActor
    ) -> TaskOut:
        """open → accepted → in_progress → done, or declined/cancelled with a reason;
        illegal moves answer 409 `illegal_transition`."""
        view = await service.change_status(rt, actor, task_id, data.status, data.reason)
        return TaskOut.of(view)

    @post("/{task_id:uuid}/reopen", status_code=HTTP_200_OK)
    async def reopen(
        self, task_id: FromPath[uuid.UUID], data: JSONBody[ReopenIn], rt: Rt, actor: CurrentActor
    ) -> TaskOut:
        """Reopen a done, cancelled or declined task."""
        return TaskOut.of(await service.reopen_task(rt, actor, task_id, data.reason))

    @post("/{task_id:uuid}/claim", status_code=HTTP_200_OK)
    async def claim(self, task_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor) -> TaskOut:
        """Take a task from your role's queue; 409 `already_claimed` if someone was first."""
        return TaskOut.of(await service.claim_task(rt, actor, task_id))

    @post("/{task_id:uuid}/comments")
    async def comment(
        self, task_id: FromPath[uuid.UUID], data: JSONBody[CommentIn], rt: Rt, actor: CurrentActor
    ) -> TaskOut:
        """Comment on a task."""
        return TaskOut.of(await service.add_comment(rt, actor, task_id, data.body))


class MessageTasksController(Controller):
    path = "/api/v1/messages"
    tags = ["tasks"]

    @post("/{message_id:uuid}/task")
    async def create(
        self,
        message_id: FromPath[uuid.UUID],
        data: JSONBody[FromMessageIn],
        rt: Rt,
        actor: CurrentActor,
    ) -> TaskOut:
        """Turn a message into a task; it keeps the link and reports into the thread."""
        return TaskOut.of(await service.create_from_message(rt, actor, message_id, _draft(data)))


CONTROLLERS = [TasksController, MessageTasksController]
