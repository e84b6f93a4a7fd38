"""Urgent messages nobody reads: past the organization's escalation time, an urgent
message that no recipient has read is escalated once to the on-call clinician, who joins
the thread, and the escalation is posted into it and audited.

Safe with several server instances: each message is claimed under a row lock (SKIP
LOCKED on PostgreSQL) and marked checked in the same transaction, so it is handled
exactly once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select

from huddle.events import Event
from huddle.identity.models import Organization, User
from huddle.messaging.models import Conversation, Message, Participant
from huddle.messaging.service import MessageKind, Priority, append_message
from huddle.protect.audit import Action
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work

# The earliest any organization may escalate; candidates younger than this are skipped.
MIN_ESCALATION = timedelta(minutes=5)
BATCH = 100


class Outcome(StrEnum):
    READ_IN_TIME = "read"
    ESCALATED = "escalated"
    NO_BACKUP = "no_backup"


async def escalate_due(rt: Runtime) -> int:
    """One pass: check every urgent message old enough; returns how many escalated."""
    now = rt.clock.now()
    async with rt.db.transaction(scans=True) as db:  # no index serves this: reads every message
        candidates = list(
            await db.scalars(
                select(Message.id)
                .where(
                    Message.priority == Priority.URGENT,
                    Message.kind == MessageKind.USER,
                    Message.escalation_checked_at.is_(None),
                    Message.created_at <= now - MIN_ESCALATION,
                )
                .order_by(Message.created_at)
                .limit(BATCH)
            )
        )
    escalated = 0
    for message_id in candidates:
        async with unit_of_work(rt) as uow:
            outcome = await _check(uow, message_id)
        escalated += outcome is Outcome.ESCALATED
    return escalated


async def _check(uow: UnitOfWork, message_id: uuid.UUID) -> Outcome | None:
    now = uow.rt.clock.now()
    row = (
        await uow.db.execute(
            select(Message, Conversation, Organization)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Organization, Organization.id == Conversation.organization_id)
            .where(Message.id == message_id, Message.escalation_checked_at.is_(None))
            .with_for_update(of=Message, skip_locked=True)
        )
    ).one_or_none()
    if row is None:
        return None  # another instance has it, or had it
    message, conversation, org = row
    if now - message.created_at < timedelta(minutes=org.urgent_escalation_minutes):
        return None  # not due yet for this organization
    recipients = (
        await uow.db.execute(
            select(Participant.user_id, Participant.read_seq).where(
                Participant.conversation_id == conversation.id,
                Participant.user_id != message.sender_id,
            )
        )
    ).all()
    message.escalation_checked_at = now
    if any(read_seq >= message.seq for _, read_seq in recipients):
        message.escalation_outcome = Outcome.READ_IN_TIME
        return Outcome.READ_IN_TIME
    backup = await _on_call(uow, org)
    if backup is not None and backup.id == message.sender_id:
        backup = None  # the on-call clinician wrote it: there is nobody further to tell
    uow.audit(
        Action.UPDATE,
        "message",
        message.id,
        patient_id=conversation.patient_id,
        organization_id=org.id,
        change="urgent_unread",
        escalated_to=str(backup.id) if backup else "nobody",
    )
    if backup is None:
        message.escalation_outcome = Outcome.NO_BACKUP
        return Outcome.NO_BACKUP
    message.escalation_outcome = Outcome.ESCALATED
    if backup.id not in {user_id for user_id, _ in recipients}:
        uow.db.add(
            Participant(
                conversation_id=conversation.id, user_id=backup.id, read_seq=0, joined_at=now
            )
        )
        await uow.db.flush()
    conversation = await uow.db.get_one(Conversation, conversation.id, with_for_update=True)
    note = (
        f"An urgent message (#{message.seq}) was unread for "
        f"{org.urgent_escalation_minutes} minutes; escalated to {backup.display_name}."
    )
    await append_message(uow, conversation, None, note, kind=MessageKind.SYSTEM)
    uow.publish_after_commit(
        Event(
            "escalation",
            frozenset({backup.id}),
            {"conversation_id": str(conversation.id), "seq": message.seq},
        )
    )
    return Outcome.ESCALATED


async def _on_call(uow: UnitOfWork, org: Organization) -> User | None:
    """The organization's on-call clinician, if set and active (already in the thread or
    not: either way they are told)."""
    if org.on_call_user_id is None:
        return None
    user = await uow.db.get(User, org.on_call_user_id)
    if user is None or not user.is_active:
        return None
    return user
