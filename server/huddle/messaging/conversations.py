"""Conversations (threads): opening them, who takes part, listing with unread counts,
and the events that are not messages (typing, presence)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, select

from huddle.actor import Actor, Role
from huddle.care import service as care
from huddle.errors import Conflict, Forbidden, HuddleError, Invalid
from huddle.events import Event
from huddle.identity.models import User
from huddle.messaging.access import joined_conversation, participant_ids, reader_for
from huddle.messaging.models import Conversation, Participant
from huddle.protect import policy
from huddle.protect.audit import Action
from huddle.protect.policy import PatientAction, Sensitivity
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, for_each_reader, the_asker, unit_of_work

_REVISIONS = (
    select(Conversation.id, Conversation.last_revision)
    .join(Participant, Participant.conversation_id == Conversation.id)
    .where(
        Participant.user_id == bindparam("user_id"),
        Conversation.organization_id == bindparam("organization_id"),
    )
)


class ConversationKind(StrEnum):
    REFERRAL = "referral"
    PATIENT = "patient"  # the care team and the patient
    STAFF = "staff"  # staff only, about a patient or not


@dataclass(frozen=True, slots=True)
class ParticipantView:
    user_id: uuid.UUID
    display_name: str
    role: Role
    read_seq: int


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: uuid.UUID
    kind: ConversationKind
    patient_id: uuid.UUID | None
    referral_id: uuid.UUID | None
    last_seq: int
    last_revision: int
    last_activity_at: datetime
    unread: int
    participants: list[ParticipantView]
    sensitivity: Sensitivity


async def open_conversation(
    uow: UnitOfWork,
    actor: Actor,
    kind: ConversationKind,
    patient_id: uuid.UUID | None,
    member_ids: list[uuid.UUID],
    referral_id: uuid.UUID | None = None,
    sensitivity: Sensitivity | None = None,
) -> Conversation:
    """Create a conversation inside the caller's unit of work (referrals use this). Its
    label is at least the patient's."""
    now = uow.rt.clock.now()
    patient_label = await care.patient_sensitivity(uow, patient_id) if patient_id else None
    conversation = Conversation(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        kind=kind.value,
        sensitivity=policy.strictest(patient_label, sensitivity).value,
        patient_id=patient_id,
        referral_id=referral_id,
        last_seq=0,
        last_revision=0,
        last_activity_at=now,
        created_at=now,
    )
    uow.db.add(conversation)
    await uow.db.flush()
    for user_id in dict.fromkeys([actor.user_id, *member_ids]):
        uow.db.add(
            Participant(conversation_id=conversation.id, user_id=user_id, read_seq=0, joined_at=now)
        )
    await uow.db.flush()
    uow.audit(
        Action.CREATE, "conversation", conversation.id, patient_id=patient_id, kind=kind.value
    )
    return conversation


async def start_conversation(
    rt: Runtime,
    actor: Actor,
    kind: ConversationKind,
    patient_id: uuid.UUID | None,
    member_ids: list[uuid.UUID],
    sensitivity: Sensitivity | None = None,
) -> ConversationView:
    """Start a patient thread (care team and patient) or a staff thread. Members must be
    active users of the organization; about a patient, the caller must have access."""
    if kind is ConversationKind.REFERRAL:
        raise Invalid("Referral threads open with their referral.", code="use_referrals")
    if actor.role is Role.PATIENT or actor.role is Role.ADMIN:
        raise Forbidden("Your role cannot start conversations.", code="wrong_role")
    async with unit_of_work(rt, actor=actor) as uow:
        members = list(member_ids)
        if patient_id is not None:
            await care.authorize_patient(uow, actor, patient_id, PatientAction.READ)
        if kind is ConversationKind.PATIENT:
            if patient_id is None:
                raise Invalid("A patient thread needs a patient.", code="patient_required")
            members += await care.care_team_user_ids(uow, patient_id)
            portal = await care.portal_user_id(uow, patient_id)
            if portal is None:
                raise Conflict("This patient has no portal account yet.", code="no_portal_account")
            members.append(portal)
        await _check_members(uow, actor, members, allow_patient=kind is ConversationKind.PATIENT)
        conversation = await open_conversation(
            uow, actor, kind, patient_id, members, sensitivity=sensitivity
        )
        return await _conversation_view(uow, actor, conversation)


async def list_conversations(rt: Runtime, actor: Actor) -> list[ConversationView]:
    """The caller's conversations, most recent activity first, with unread counts
    (computed from sequence numbers: nothing is decrypted)."""
    async with unit_of_work(rt, actor=actor) as uow:
        rows = await uow.db.scalars(
            select(Conversation)
            .join(Participant, Participant.conversation_id == Conversation.id)
            .where(
                Participant.user_id == actor.user_id,
                Conversation.organization_id == actor.organization_id,
            )
            .order_by(Conversation.last_activity_at.desc())
        )
        conversations = rows.all()
        for conversation in conversations:
            _audit_listed(uow, conversation)
        return [await _conversation_view(uow, actor, c) for c in conversations]


async def get_conversation(
    rt: Runtime, actor: Actor, conversation_id: uuid.UUID
) -> ConversationView:
    async with unit_of_work(rt, actor=actor) as uow:
        conversation = await joined_conversation(uow, actor, conversation_id)
        _audit_listed(uow, conversation)
        return await _conversation_view(uow, actor, conversation)


async def signal_typing(rt: Runtime, actor: Actor, conversation_id: uuid.UUID) -> None:
    """Tell the other participants the caller is typing (an event only; nothing stored)."""
    async with unit_of_work(rt, actor=actor) as uow:
        conversation = await joined_conversation(uow, actor, conversation_id)
        others = await participant_ids(uow, conversation.id) - {actor.user_id}
        uow.publish_after_commit(
            Event(
                "typing",
                others,
                {"conversation_id": str(conversation.id), "user_id": str(actor.user_id)},
            )
        )


async def announce_presence(rt: Runtime, actor: Actor, status: str) -> None:
    """Tell everyone who shares a conversation with the caller that they are online or
    away (an event only)."""
    async with unit_of_work(rt, actor=actor) as uow:
        mine = select(Participant.conversation_id).where(Participant.user_id == actor.user_id)
        peers = await uow.db.scalars(
            select(Participant.user_id).where(Participant.conversation_id.in_(mine)).distinct()
        )
        uow.publish_after_commit(
            Event(
                "presence",
                frozenset(peers) - {actor.user_id},
                {"user_id": str(actor.user_id), "status": status},
            )
        )


async def revisions_many(
    rt: Runtime, actors: Sequence[Actor]
) -> list[dict[uuid.UUID, int] | HuddleError]:
    """Each person's conversations and their last revisions (no content), in one
    transaction: the starting cursors of sockets connecting at once."""
    return await for_each_reader(rt, actors, the_asker, _revisions)


async def _revisions(uow: UnitOfWork, actor: Actor) -> dict[uuid.UUID, int]:
    rows = await uow.db.execute(
        _REVISIONS, {"user_id": actor.user_id, "organization_id": actor.organization_id}
    )
    return {conversation_id: revision for conversation_id, revision in rows}


async def _check_members(
    uow: UnitOfWork, actor: Actor, member_ids: list[uuid.UUID], *, allow_patient: bool
) -> None:
    wanted = set(member_ids) - {actor.user_id}
    if not wanted:
        raise Invalid("A conversation needs at least one other person.", code="no_members")
    found = (
        await uow.db.scalars(
            select(User).where(
                User.id.in_(wanted),
                User.organization_id == actor.organization_id,
                User.is_active.is_(True),
            )
        )
    ).all()
    if len(found) != len(wanted) or any(
        u.role == Role.PATIENT and not allow_patient for u in found
    ):
        raise Invalid(
            "Every member must be an active colleague in your organization.", code="invalid_members"
        )


async def _conversation_view(
    uow: UnitOfWork, actor: Actor, conversation: Conversation
) -> ConversationView:
    rows = (
        await uow.db.execute(
            select(Participant, User.display_name, User.role)
            .join(User, User.id == Participant.user_id)
            .where(Participant.conversation_id == conversation.id)
            .order_by(Participant.joined_at, User.display_name)
        )
    ).all()
    participants = [
        ParticipantView(
            p.user_id, "Patient" if role == Role.PATIENT else name, Role(role), p.read_seq
        )
        for p, name, role in rows
    ]
    mine = next((p.read_seq for p in participants if p.user_id == actor.user_id), 0)
    return ConversationView(
        id=conversation.id,
        kind=ConversationKind(conversation.kind),
        patient_id=conversation.patient_id,
        referral_id=conversation.referral_id,
        last_seq=conversation.last_seq,
        last_revision=conversation.last_revision,
        last_activity_at=conversation.last_activity_at,
        unread=max(0, conversation.last_seq - mine),
        participants=participants,
        sensitivity=(await reader_for(uow, actor, conversation)).label,
    )


def _audit_listed(uow: UnitOfWork, conversation: Conversation) -> None:
    # Who talks with whom about which patient is itself PHI: listing it is a read.
    uow.audit(
        Action.READ,
        "conversation",
        conversation.id,
        patient_id=conversation.patient_id,
        content="metadata",
    )
