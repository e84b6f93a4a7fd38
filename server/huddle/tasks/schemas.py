"""Request and response bodies of the tasks API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from huddle.actor import Role
from huddle.tasks.handoff import MAX_WINDOW_MINUTES, WARM_HANDOFF_MINUTES
from huddle.tasks.states import Change, Kind, Priority, Status
from huddle.tasks.views import TaskView

Title = Annotated[str, Meta(min_length=1, max_length=200)]
Text = Annotated[str, Meta(min_length=1, max_length=4_000)]
# Aware datetimes only: a due time without a zone would be a guess.
When = Annotated[datetime, Meta(tz=True)]


class TaskIn(msgspec.Struct, forbid_unknown_fields=True):
    patient_id: uuid.UUID
    title: Title
    kind: Kind = Kind.FOLLOW_UP
    details: Text | None = None
    assignee_user_id: uuid.UUID | None = None
    assignee_role: Role | None = None
    priority: Priority = Priority.ROUTINE
    due_at: When | None = None
    conversation_id: uuid.UUID | None = None


class FromMessageIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    kind: Kind = Kind.FOLLOW_UP
    details: Text | None = None
    assignee_user_id: uuid.UUID | None = None
    assignee_role: Role | None = None
    priority: Priority = Priority.ROUTINE
    due_at: When | None = None


class WarmHandoffIn(msgspec.Struct, forbid_unknown_fields=True):
    patient_id: uuid.UUID
    consultant_id: uuid.UUID | None = None
    note: Text | None = None
    conversation_id: uuid.UUID | None = None
    due_in_minutes: Annotated[int, Meta(ge=1, le=MAX_WINDOW_MINUTES)] = WARM_HANDOFF_MINUTES


class TaskPatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | None = None
    details: Text | None = None
    priority: Priority | None = None
    due_at: When | None = None
    assignee_user_id: uuid.UUID | None = None
    assignee_role: Role | None = None


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: Status
    reason: Text | None = None


class ReopenIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Text | None = None


class CommentIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Text


class QuoteOut(msgspec.Struct):
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    sender_id: uuid.UUID | None
    body: str | None
    withheld: bool


class CommentOut(msgspec.Struct):
    id: uuid.UUID
    author_id: uuid.UUID
    body: str | None
    created_at: datetime


class EventOut(msgspec.Struct):
    change: Change
    actor_user_id: uuid.UUID | None
    from_status: Status | None
    to_status: Status | None
    assignee_user_id: uuid.UUID | None
    assignee_role: str | None
    reason: str | None
    at: datetime


class TaskOut(msgspec.Struct):
    id: uuid.UUID
    patient_id: uuid.UUID
    referral_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    source_message_id: uuid.UUID | None
    kind: Kind
    title: str | None
    details: str | None
    created_by: uuid.UUID
    assignee_user_id: uuid.UUID | None
    assignee_role: str | None
    priority: Priority
    due_at: datetime | None
    status: Status
    status_reason: str | None
    revision: int
    last_change: Change
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    time_to_accept_seconds: int | None
    overdue: bool
    escalations: int
    withheld: bool
    source: QuoteOut | None = None
    comments: list[CommentOut] | None = None
    history: list[EventOut] | None = None

    @classmethod
    def of(cls, view: TaskView) -> TaskOut:
        return msgspec.convert(view, cls, from_attributes=True)


class TaskList(msgspec.Struct):
    tasks: list[TaskOut]
    count: int
    counts: dict[str, int]
