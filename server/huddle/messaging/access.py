"""Who may reach a conversation and its content: the participant rule (outsiders get
NotFound and learn nothing) and what a reader may see under sensitivity labels."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from huddle.actor import Actor
from huddle.care import service as care
from huddle.errors import NotFound
from huddle.messaging.models import Conversation, Message, Participant
from huddle.protect import policy
from huddle.protect.audit import Action
from huddle.protect.policy import Sensitivity
from huddle.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class Reader:
    """What one reader may see in one conversation."""

    label: Sensitivity  # the conversation's label, at least its patient's current one
    part2_cleared: bool


# Hot-path statements are built once, with bound parameters: building one and computing
# its cache key costs ~0.1 ms every time, more than SQLite takes to run it.
_JOINED = (
    select(Conversation)
    .join(Participant, Participant.conversation_id == Conversation.id)
    .where(
        Conversation.id == bindparam("conversation_id"),
        Participant.user_id == bindparam("user_id"),
        Conversation.organization_id == bindparam("organization_id"),
    )
)
_JOINED_LOCKED = _JOINED.with_for_update(of=Conversation)
_PARTICIPANT_IDS = select(Participant.user_id).where(
    Participant.conversation_id == bindparam("conversation_id")
)


async def joined_conversation(
    uow: UnitOfWork, actor: Actor, conversation_id: uuid.UUID, *, lock: bool = False
) -> Conversation:
    """The conversation if the caller takes part in it (and is in its organization);
    otherwise NotFound, so outsiders learn nothing about it."""
    conversation = await uow.db.scalar(
        _JOINED_LOCKED if lock else _JOINED,
        {
            "conversation_id": conversation_id,
            "user_id": actor.user_id,
            "organization_id": actor.organization_id,
        },
    )
    if conversation is None:
        raise uow.refuse(
            NotFound("No such conversation."), Action.READ, "conversation", conversation_id
        )
    return conversation


async def participant_ids(uow: UnitOfWork, conversation_id: uuid.UUID) -> frozenset[uuid.UUID]:
    rows = await uow.db.scalars(_PARTICIPANT_IDS, {"conversation_id": conversation_id})
    return frozenset(rows)


async def reader_for(uow: UnitOfWork, actor: Actor, conversation: Conversation) -> Reader:
    if conversation.patient_id is None:
        # A staff thread about no patient: every participant is named.
        return Reader(Sensitivity(conversation.sensitivity), part2_cleared=True)
    patient_label = await care.patient_sensitivity(uow, conversation.patient_id)
    cleared = policy.may_read_content(
        Sensitivity.SUBSTANCE_USE_PART2,
        named_on_care_team=await care.on_care_team(uow, conversation.patient_id, actor.user_id),
        own_record=actor.patient_id == conversation.patient_id,
    )
    return Reader(policy.strictest(Sensitivity(conversation.sensitivity), patient_label), cleared)


def content_label(reader: Reader, message: Message) -> tuple[Sensitivity, bool]:
    label = policy.strictest(
        reader.label, Sensitivity(message.sensitivity) if message.sensitivity else None
    )
    return label, label is Sensitivity.SUBSTANCE_USE_PART2 and not reader.part2_cleared
