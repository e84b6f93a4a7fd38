"""Tables for tasks (tracked handoffs), their comments, their event history, and the
per-organization revision counter real-time clients resume from.

Titles, details, comments and reasons are sealed with the patient's data key (so erasing
a patient shreds their tasks too), bound to their row and column. Every change to a task
takes its organization's next `revision`; a client that resumes from the last revision
it saw misses no change and sees none twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from huddle.db import Base, UTCDateTime


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_organization_id_revision", "organization_id", "revision"),
        Index("ix_tasks_status_due_at", "status", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    referral_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("referrals.id", ondelete="SET NULL"), nullable=True
    )
    # The thread the task reports into, and the message it was made from.
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), nullable=True
    )
    source_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[bytes] = mapped_column(LargeBinary)
    details: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # A person, or a role queue (assignee_role set, assignee_user_id empty until claimed).
    assignee_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id"), nullable=True, index=True
    )
    assignee_role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    priority: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    # Why it was declined or cancelled (sealed).
    status_reason: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    revision: Mapped[int] = mapped_column(BigInteger)
    # The latest change (a states.Change); states.frame_for turns it into the real-time
    # frame (task.created, task.assigned or task.updated).
    last_change: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set by the deadline job when it flagged the task overdue (cleared by a new due time).
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Warm handoffs: how many times it passed to the next consultant.
    escalations: Mapped[int] = mapped_column(Integer, default=0)


class TaskEvent(Base):
    """One entry of a task's history: who changed what, when."""

    __tablename__ = "task_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    # The task's revision this change took: the history's order.
    revision: Mapped[int] = mapped_column(BigInteger)
    # None when Huddle itself acted (overdue, escalation).
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    change: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    assignee_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id"), nullable=True
    )
    assignee_role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskComment(Base):
    __tablename__ = "task_comments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    revision: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskRevision(Base):
    """An organization's last task revision: the cursor real-time clients resume from."""

    __tablename__ = "task_revisions"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id"), primary_key=True
    )
    last_revision: Mapped[int] = mapped_column(BigInteger)
