"""Referrals: a PCP asks behavioral health to see a patient. Creating one opens its
thread with the care team; every status change is kept and posted into the thread."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select

from huddle.actor import CLINICAL_ROLES, Actor, Role
from huddle.care import service as care
from huddle.errors import Conflict, Invalid, NotFound
from huddle.events import Event
from huddle.identity.models import User
from huddle.messaging import conversations
from huddle.messaging import service as messaging
from huddle.messaging.models import Conversation, Participant, Referral, ReferralStatusChange
from huddle.protect.audit import Action
from huddle.protect.crypto import Binding
from huddle.protect.policy import PatientAction
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work


class Urgency(StrEnum):
    ROUTINE = "routine"
    SOON = "soon"
    URGENT = "urgent"


class ReceivingService(StrEnum):
    BEHAVIORAL_HEALTH = "behavioral_health"
    PSYCHIATRY = "psychiatry"
    CARE_MANAGEMENT = "care_management"


class Status(StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    IN_CARE = "in_care"
    CLOSED = "closed"
    DECLINED = "declined"


ALLOWED = {
    Status.SENT: {Status.ACCEPTED, Status.DECLINED, Status.CLOSED},
    Status.ACCEPTED: {Status.SCHEDULED, Status.IN_CARE, Status.DECLINED, Status.CLOSED},
    Status.SCHEDULED: {Status.IN_CARE, Status.CLOSED},
    Status.IN_CARE: {Status.CLOSED},
    Status.CLOSED: set(),
    Status.DECLINED: set(),
}
MAX_REASON_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class ReferralDraft:
    patient_id: uuid.UUID
    receiving_service: ReceivingService
    reason: str
    urgency: Urgency = Urgency.ROUTINE
    warm_handoff: bool = False
    receiving_user_id: uuid.UUID | None = None
    # The patient (their portal account) takes part in the thread too, e.g. when the
    # referral is made with them in the room; otherwise it is a staff thread.
    include_patient: bool = False


@dataclass(frozen=True, slots=True)
class StatusChangeView:
    from_status: Status | None
    to_status: Status
    changed_by: uuid.UUID
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class ReferralView:
    id: uuid.UUID
    patient_id: uuid.UUID
    conversation_id: uuid.UUID
    referring_user_id: uuid.UUID
    receiving_service: ReceivingService
    receiving_user_id: uuid.UUID | None
    reason: str
    urgency: Urgency
    warm_handoff: bool
    status: Status
    decline_reason: str | None
    created_at: datetime
    updated_at: datetime
    history: list[StatusChangeView]


async def create_referral(rt: Runtime, actor: Actor, draft: ReferralDraft) -> ReferralView:
    """Refer a patient (clinician on the care team). Opens the referral thread with the
    care team (and the named receiver, who joins the care team)."""
    reason = _checked_text(draft.reason, "reason")
    async with unit_of_work(rt, actor=actor) as uow:
        patient, _ = await care.authorize_patient(
            uow, actor, draft.patient_id, PatientAction.UPDATE
        )
        if actor.role not in CLINICAL_ROLES:
            raise Invalid("Only clinicians refer patients.", code="wrong_role")
        if draft.receiving_user_id is not None:
            receiver = await _clinician(uow, actor, draft.receiving_user_id)
            await care.join_care_team(uow, patient.id, receiver, actor.user_id)
        now = rt.clock.now()
        referral = Referral(
            id=uuid.uuid4(),
            organization_id=actor.organization_id,
            patient_id=patient.id,
            referring_user_id=actor.user_id,
            receiving_service=draft.receiving_service.value,
            receiving_user_id=draft.receiving_user_id,
            reason=b"",
            urgency=draft.urgency.value,
            warm_handoff=draft.warm_handoff,
            status=Status.SENT.value,
            created_at=now,
            updated_at=now,
        )
        uow.db.add(referral)
        await uow.db.flush()
        members = await care.care_team_user_ids(uow, patient.id)
        if draft.include_patient:
            members.append(await _portal_account(uow, patient.id))
        conversation = await conversations.open_conversation(
            uow,
            actor,
            conversations.ConversationKind.REFERRAL,
            patient.id,
            members,
            referral_id=referral.id,
        )
        referral.reason = await _seal(uow, conversation, referral.id, "reason", reason)
        uow.db.add(
            ReferralStatusChange(
                referral_id=referral.id,
                from_status=None,
                to_status=Status.SENT.value,
                changed_by=actor.user_id,
                changed_at=now,
            )
        )
        uow.audit(
            Action.CREATE,
            "referral",
            referral.id,
            patient_id=patient.id,
            urgency=draft.urgency.value,
            warm_handoff=str(draft.warm_handoff).lower(),
        )
        await messaging.append_message(
            uow,
            conversation,
            None,
            _status_note(None, Status.SENT, draft.urgency),
            kind=messaging.MessageKind.SYSTEM,
        )
        await _announce(uow, conversation, referral)
        return await _view(uow, referral, conversation)


async def change_status(
    rt: Runtime,
    actor: Actor,
    referral_id: uuid.UUID,
    to_status: Status,
    decline_reason: str | None = None,
) -> ReferralView:
    """Move a referral along `sent → accepted → scheduled → in_care → closed` (or
    `declined`, with a reason). An illegal move is a 409."""
    async with unit_of_work(rt, actor=actor) as uow:
        referral, conversation = await _referral(uow, actor, referral_id, lock=True)
        await care.authorize_patient(uow, actor, referral.patient_id, PatientAction.UPDATE)
        current = Status(referral.status)
        if to_status not in ALLOWED[current]:
            raise Conflict(
                f"A referral that is {current} cannot become {to_status}.",
                code="illegal_transition",
            )
        if to_status is Status.DECLINED:
            referral.decline_reason = await _seal(
                uow,
                conversation,
                referral.id,
                "decline_reason",
                _checked_text(decline_reason or "", "decline_reason"),
            )
        now = rt.clock.now()
        referral.status, referral.updated_at = to_status.value, now
        uow.db.add(
            ReferralStatusChange(
                referral_id=referral.id,
                from_status=current.value,
                to_status=to_status.value,
                changed_by=actor.user_id,
                changed_at=now,
            )
        )
        uow.audit(
            Action.UPDATE,
            "referral",
            referral.id,
            patient_id=referral.patient_id,
            status=f"{current.value}->{to_status.value}",
        )
        await messaging.append_message(
            uow,
            conversation,
            None,
            _status_note(current, to_status, Urgency(referral.urgency)),
            kind=messaging.MessageKind.SYSTEM,
        )
        await _announce(uow, conversation, referral)
        return await _view(uow, referral, conversation)


async def get_referral(rt: Runtime, actor: Actor, referral_id: uuid.UUID) -> ReferralView:
    async with unit_of_work(rt, actor=actor) as uow:
        referral, conversation = await _referral(uow, actor, referral_id)
        await care.authorize_patient(uow, actor, referral.patient_id, PatientAction.READ)
        uow.audit(Action.READ, "referral", referral.id, patient_id=referral.patient_id)
        return await _view(uow, referral, conversation)


async def list_referrals(
    rt: Runtime, actor: Actor, status: Status | None = None
) -> list[ReferralView]:
    """Referrals in threads the caller takes part in, newest first (each an audited read)."""
    async with unit_of_work(rt, actor=actor) as uow:
        query = (
            select(Referral, Conversation)
            .join(Conversation, Conversation.referral_id == Referral.id)
            .join(Participant, Participant.conversation_id == Conversation.id)
            .where(
                Participant.user_id == actor.user_id,
                Referral.organization_id == actor.organization_id,
            )
            .order_by(Referral.created_at.desc())
        )
        if status is not None:
            query = query.where(Referral.status == status.value)
        views = []
        for referral, conversation in (await uow.db.execute(query)).all():
            uow.audit(Action.READ, "referral", referral.id, patient_id=referral.patient_id)
            views.append(await _view(uow, referral, conversation))
        return views


def _checked_text(text: str, field: str) -> str:
    text = text.strip()
    if not text:
        raise Invalid(f"The {field.replace('_', ' ')} is required.", code=f"{field}_required")
    if len(text) > MAX_REASON_CHARS:
        raise Invalid(
            f"The {field.replace('_', ' ')} holds at most {MAX_REASON_CHARS} characters.",
            code=f"{field}_too_long",
        )
    return text


def _status_note(current: Status | None, new: Status, urgency: Urgency) -> str:
    # Posted into the thread, so everyone sees what happened; sealed like any message.
    if current is None:
        return f"Referral sent ({urgency.value})."
    return f"Referral {new.value.replace('_', ' ')} (was {current.value.replace('_', ' ')})."


async def _portal_account(uow: UnitOfWork, patient_id: uuid.UUID) -> uuid.UUID:
    portal = await care.portal_user_id(uow, patient_id)
    if portal is None:
        raise Conflict("This patient has no portal account yet.", code="no_portal_account")
    return portal


async def _clinician(uow: UnitOfWork, actor: Actor, user_id: uuid.UUID) -> User:
    user = await uow.db.scalar(
        select(User).where(
            User.id == user_id,
            User.organization_id == actor.organization_id,
            User.is_active.is_(True),
        )
    )
    if user is None or Role(user.role) not in CLINICAL_ROLES:
        raise Invalid("Refer to an active clinician of your organization.", code="invalid_receiver")
    return user


async def _referral(
    uow: UnitOfWork, actor: Actor, referral_id: uuid.UUID, *, lock: bool = False
) -> tuple[Referral, Conversation]:
    query = (
        select(Referral, Conversation)
        .join(Conversation, Conversation.referral_id == Referral.id)
        .where(Referral.id == referral_id, Referral.organization_id == actor.organization_id)
    )
    row = (await uow.db.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise NotFound("No such referral.")
    return row[0], row[1]


def _binding(conversation: Conversation, referral: uuid.UUID, column: str) -> Binding:
    return Binding("referrals", column, referral, conversation.id)


async def _seal(
    uow: UnitOfWork, conversation: Conversation, referral_id: uuid.UUID, column: str, text: str
) -> bytes:
    (sealed,) = await uow.seal(
        messaging.OWNER_TYPE,
        conversation.id,
        [(_binding(conversation, referral_id, column), text.encode())],
    )
    return sealed


async def _open(
    uow: UnitOfWork, conversation: Conversation, referral: Referral, column: str
) -> str | None:
    blob = getattr(referral, column)
    if blob is None:
        return None
    plain = await uow.open(
        blob, _binding(conversation, referral.id, column), patient_id=referral.patient_id
    )
    return plain.decode()


async def _announce(uow: UnitOfWork, conversation: Conversation, referral: Referral) -> None:
    participants = await uow.db.scalars(
        select(Participant.user_id).where(Participant.conversation_id == conversation.id)
    )
    uow.publish_after_commit(
        Event(
            "referral.updated",
            frozenset(participants),
            {
                "referral_id": str(referral.id),
                "conversation_id": str(conversation.id),
                "status": referral.status,
            },
        )
    )


async def _view(uow: UnitOfWork, referral: Referral, conversation: Conversation) -> ReferralView:
    changes = (
        await uow.db.scalars(
            select(ReferralStatusChange)
            .where(ReferralStatusChange.referral_id == referral.id)
            .order_by(ReferralStatusChange.changed_at)
        )
    ).all()
    return ReferralView(
        id=referral.id,
        patient_id=referral.patient_id,
        conversation_id=conversation.id,
        referring_user_id=referral.referring_user_id,
        receiving_service=ReceivingService(referral.receiving_service),
        receiving_user_id=referral.receiving_user_id,
        reason=await _open(uow, conversation, referral, "reason") or "",
        urgency=Urgency(referral.urgency),
        warm_handoff=referral.warm_handoff,
        status=Status(referral.status),
        decline_reason=await _open(uow, conversation, referral, "decline_reason"),
        created_at=referral.created_at,
        updated_at=referral.updated_at,
        history=[
            StatusChangeView(
                Status(c.from_status) if c.from_status else None,
                Status(c.to_status),
                c.changed_by,
                c.changed_at,
            )
            for c in changes
        ],
    )
