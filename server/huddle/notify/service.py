"""Enqueueing notifications: called by messaging inside the unit of work that appends
a message, so a notification exists exactly when its message committed.

This module sits below the domain services (messaging imports it) and imports only
tables: nothing here reads or writes PHI.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import exists, select

from huddle.actor import Role
from huddle.identity.models import User
from huddle.messaging.models import Conversation, Message, Participant
from huddle.notify.models import Notification
from huddle.unit_of_work import UnitOfWork


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"  # in the interface only: no sender yet, nothing enqueues it


class Kind(StrEnum):
    MESSAGE_WAITING = "message_waiting"


class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def new_link_token() -> tuple[str, str]:
    """A fresh secure-link token (256 random bits) and the hash that is stored for it."""
    token = secrets.token_urlsafe(32)
    return token, link_token_hash(token)


def link_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def message_waiting(uow: UnitOfWork, conversation: Conversation, message: Message) -> None:
    """Enqueue one "a secure message is waiting" e-mail for each patient taking part in
    the conversation, other than the message's sender. Coalesced: a patient who already
    has a pending one for this conversation gets no second.

    Only what a person wrote notifies: Huddle's own messages (after-hours replies to the
    patient's message, system notes, escalations) have no sender and e-mail nobody.
    The caller holds the conversation row locked (messaging.append_message), so two
    messages appended at once cannot both miss each other's pending notification.
    """
    # Patients take part only in threads about a patient (theirs).
    if conversation.patient_id is None or message.sender_id is None:
        return
    now = uow.rt.clock.now()
    pending = exists().where(
        Notification.recipient_user_id == User.id,
        Notification.conversation_id == conversation.id,
        Notification.kind == Kind.MESSAGE_WAITING.value,
        Notification.status == Status.PENDING.value,
    )
    query = (
        select(User.id, User.organization_id)
        .join(Participant, Participant.user_id == User.id)
        .where(
            Participant.conversation_id == conversation.id,
            User.role == Role.PATIENT.value,
            User.is_active.is_(True),
            User.id != message.sender_id,
            ~pending,
        )
    )
    for user_id, organization_id in await uow.db.execute(query):
        uow.db.add(_notification(organization_id, user_id, conversation, now))


def _notification(
    organization_id: uuid.UUID, user_id: uuid.UUID, conversation: Conversation, now: datetime
) -> Notification:
    return Notification(
        organization_id=organization_id,
        recipient_user_id=user_id,
        channel=Channel.EMAIL.value,
        kind=Kind.MESSAGE_WAITING.value,
        conversation_id=conversation.id,
        status=Status.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
