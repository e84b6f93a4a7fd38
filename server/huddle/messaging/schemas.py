"""Request and response bodies of the referrals, conversations and messages API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from huddle.actor import Role
from huddle.messaging.conversations import ConversationKind, ConversationView
from huddle.messaging.referrals import ReceivingService, ReferralView, Status, Urgency
from huddle.messaging.service import (
    MessageKind,
    MessageView,
    Priority,
    VersionView,
)
from huddle.protect.policy import Sensitivity

Body = Annotated[str, Meta(min_length=1, max_length=20_000)]
# More than the per-message limit gets the service's clear too_many_attachments error.
AttachmentIds = Annotated[tuple[uuid.UUID, ...], Meta(max_length=100)]
ClientMsgId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Text = Annotated[str, Meta(min_length=1, max_length=4_000)]
Seq = Annotated[int, Meta(ge=0)]


def _fields(struct: type[msgspec.Struct], source: Any) -> dict[str, Any]:
    return {name: getattr(source, name) for name in struct.__struct_fields__}


class ReferralIn(msgspec.Struct, forbid_unknown_fields=True):
    patient_id: uuid.UUID
    receiving_service: ReceivingService
    reason: Text
    urgency: Urgency = Urgency.ROUTINE
    warm_handoff: bool = False
    receiving_user_id: uuid.UUID | None = None
    include_patient: bool = False


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: Status
    decline_reason: Text | None = None


class StatusChangeOut(msgspec.Struct):
    from_status: Status | None
    to_status: Status
    changed_by: uuid.UUID
    changed_at: datetime


class ReferralOut(msgspec.Struct):
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
    history: list[StatusChangeOut]

    @classmethod
    def of(cls, view: ReferralView) -> ReferralOut:
        values = _fields(cls, view)
        values["history"] = [StatusChangeOut(**_fields(StatusChangeOut, h)) for h in view.history]
        return cls(**values)


class ReferralList(msgspec.Struct):
    referrals: list[ReferralOut]
    count: int


class ConversationIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: ConversationKind
    member_ids: list[uuid.UUID] = []
    patient_id: uuid.UUID | None = None
    # Stricter than the patient's label, if wanted; never looser.
    sensitivity: Sensitivity | None = None


class ParticipantOut(msgspec.Struct):
    user_id: uuid.UUID
    display_name: str
    role: Role
    read_seq: int


class ConversationOut(msgspec.Struct):
    id: uuid.UUID
    kind: ConversationKind
    patient_id: uuid.UUID | None
    referral_id: uuid.UUID | None
    last_seq: int
    last_revision: int
    last_activity_at: datetime
    unread: int
    participants: list[ParticipantOut]
    sensitivity: Sensitivity

    @classmethod
    def of(cls, view: ConversationView) -> ConversationOut:
        values = _fields(cls, view)
        values["participants"] = [
            ParticipantOut(**_fields(ParticipantOut, p)) for p in view.participants
        ]
        return cls(**values)


class ConversationList(msgspec.Struct):
    conversations: list[ConversationOut]
    count: int


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Body
    client_msg_id: ClientMsgId | None = None
    priority: Priority = Priority.ROUTINE
    reply_to_seq: Annotated[int, Meta(ge=1)] | None = None
    sensitivity: Sensitivity | None = None
    attachment_ids: AttachmentIds = ()


class MessageEdit(msgspec.Struct, forbid_unknown_fields=True):
    body: Body


class MessageOut(msgspec.Struct):
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    revision: int
    sender_id: uuid.UUID | None
    kind: MessageKind
    priority: Priority
    body: str | None
    reply_to_seq: int | None
    client_msg_id: str | None
    version: int
    created_at: datetime
    edited_at: datetime | None
    redacted_at: datetime | None
    sensitivity: Sensitivity
    withheld: bool
    attachment_ids: tuple[uuid.UUID, ...]

    @classmethod
    def of(cls, view: MessageView) -> MessageOut:
        return cls(**_fields(cls, view))


class MessagePage(msgspec.Struct):
    messages: list[MessageOut]
    last_seq: int


class Changes(msgspec.Struct):
    messages: list[MessageOut]
    last_revision: int


class ReadIn(msgspec.Struct, forbid_unknown_fields=True):
    seq: Seq


class ReadOut(msgspec.Struct):
    read_seq: int


class VersionOut(msgspec.Struct):
    version: int
    body: str | None
    replaced_at: datetime

    @classmethod
    def of(cls, view: VersionView) -> VersionOut:
        return cls(view.version, view.body, view.replaced_at)


class History(msgspec.Struct):
    versions: list[VersionOut]
