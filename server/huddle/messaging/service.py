"""Messages: the only code that writes them (conversations: conversations.py; who may
read what: access.py).

Sending is idempotent on (sender, client_msg_id) and acknowledged only after commit.
Each message takes the conversation's next `seq`; each change (new, edited, redacted)
takes its next `revision`, which is what clients resume from. Every read of message
content and every change is audited; events go out only after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, select, update

from huddle.actor import Actor, Role
from huddle.errors import Conflict, Forbidden, HuddleError, Invalid, NotFound
from huddle.events import Event
from huddle.group_commit import grouped_unit_of_work
from huddle.identity import clinic_hours
from huddle.identity.models import Organization
from huddle.messaging import attachments
from huddle.messaging.access import (
    Reader,
    content_label,
    joined_conversation,
    participant_ids,
    reader_for,
)
from huddle.messaging.models import Conversation, Message, MessageVersion, Participant
from huddle.notify import service as notify
from huddle.protect.audit import Action
from huddle.protect.crypto import Binding
from huddle.protect.policy import Sensitivity
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, for_each_reader, unit_of_work

OWNER_TYPE = "conversation"
MAX_BODY_CHARS = 10_000
MAX_PAGE = 200


class Priority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class MessageKind(StrEnum):
    USER = "user"
    SYSTEM = "system"  # posted by Huddle: referral and task changes, escalations
    AUTO_REPLY = "auto_reply"  # the clinic's after-hours answer to a patient


# One after-hours reply per conversation in this long, however many messages arrive.
AUTO_REPLY_QUIET = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class MessageDraft:
    body: str
    client_msg_id: str | None = None
    priority: Priority = Priority.ROUTINE
    reply_to_seq: int | None = None
    # Only to make this message stricter than its conversation (e.g. Part 2 content).
    sensitivity: Sensitivity | None = None
    # Files uploaded to the conversation beforehand, sent with this message.
    attachment_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageView:
    id: uuid.UUID
    conversation_id: uuid.UUID
    seq: int
    revision: int
    sender_id: uuid.UUID | None
    kind: MessageKind
    priority: Priority
    body: str | None  # None once redacted, or withheld from this reader
    reply_to_seq: int | None
    client_msg_id: str | None
    version: int
    created_at: datetime
    edited_at: datetime | None
    redacted_at: datetime | None
    sensitivity: Sensitivity
    # The reader may not see content with this label (Part 2 outside the care team).
    withheld: bool
    attachment_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class VersionView:
    version: int
    body: str | None
    replaced_at: datetime


# The send and live-delivery statements, built once (see messaging/access.py).
_SENT_BEFORE = select(Message).where(
    Message.conversation_id == bindparam("conversation_id"),
    Message.sender_id == bindparam("sender_id"),
    Message.client_msg_id == bindparam("client_msg_id"),
)
_READ_OWN = (
    update(Participant)
    .where(
        Participant.conversation_id == bindparam("in_conversation"),
        Participant.user_id == bindparam("of_user"),
    )
    .values(read_seq=bindparam("new_read_seq"))
)
_CHANGED_AFTER = (
    select(Message)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        Message.revision > bindparam("since"),
    )
    .order_by(Message.revision)
    .limit(bindparam("limit"))
)

# ----------------------------------------------------------------------- messages


async def send_message(
    rt: Runtime, actor: Actor, conversation_id: uuid.UUID, draft: MessageDraft
) -> tuple[MessageView, bool]:
    """Append a message; idempotent on draft.client_msg_id. Returns (message, created):
    a retry returns the original message and created=False."""
    body = _checked_body(draft.body)
    async with grouped_unit_of_work(rt, actor=actor) as uow:
        conversation = await joined_conversation(uow, actor, conversation_id, lock=True)
        if draft.client_msg_id:
            existing = await uow.db.scalar(
                _SENT_BEFORE,
                {
                    "conversation_id": conversation.id,
                    "sender_id": actor.user_id,
                    "client_msg_id": draft.client_msg_id,
                },
            )
            if existing is not None:
                reader = await reader_for(uow, actor, conversation)
                return await _message_view(uow, conversation, existing, reader), False
        if draft.reply_to_seq is not None and not 1 <= draft.reply_to_seq <= conversation.last_seq:
            raise Invalid(
                "That message does not exist in this conversation.", code="invalid_reply_to"
            )
        message = await append_message(uow, conversation, actor.user_id, body, draft=draft)
        await attachments.link_to_message(uow, actor, conversation, message, draft.attachment_ids)
        await uow.db.execute(
            _READ_OWN,
            {
                "in_conversation": conversation.id,
                "of_user": actor.user_id,
                "new_read_seq": message.seq,
            },
        )
        if actor.role is Role.PATIENT:
            await _reply_if_clinic_closed(uow, conversation)
        reader = await reader_for(uow, actor, conversation)
        # Most messages carry no files: no need to ask the database which.
        files = await attachments.ids_by_message(uow, [message.id]) if draft.attachment_ids else {}
        return await _view(uow, conversation, message, reader, files.get(message.id, ())), True


async def _reply_if_clinic_closed(uow: UnitOfWork, conversation: Conversation) -> None:
    """Tell a patient who writes after hours when to expect an answer, and what to do in
    an emergency: at most once per conversation per AUTO_REPLY_QUIET."""
    org = await uow.db.get_one(Organization, conversation.organization_id)
    now = uow.rt.clock.now()
    if clinic_hours.is_open(
        org.timezone, org.clinic_opens, org.clinic_closes, org.clinic_days, now
    ):
        return
    recent = await uow.db.scalar(
        select(Message.id)
        .where(
            Message.conversation_id == conversation.id,
            Message.kind == MessageKind.AUTO_REPLY,
            Message.created_at > now - AUTO_REPLY_QUIET,
        )
        .limit(1)
    )
    if recent is None:
        reply = org.after_hours_reply or clinic_hours.DEFAULT_AFTER_HOURS_REPLY
        await append_message(uow, conversation, None, reply, kind=MessageKind.AUTO_REPLY)


async def append_message(
    uow: UnitOfWork,
    conversation: Conversation,
    sender_id: uuid.UUID | None,
    body: str,
    *,
    draft: MessageDraft | None = None,
    kind: MessageKind = MessageKind.USER,
) -> Message:
    """Seal and append a message within the caller's unit of work (which must hold the
    conversation row locked); audits it and publishes `message.created` after commit."""
    now = uow.rt.clock.now()
    conversation.last_seq += 1
    conversation.last_revision += 1
    conversation.last_activity_at = now
    message = Message(
        id=uuid.uuid4(),
        conversation_id=conversation.id,
        seq=conversation.last_seq,
        revision=conversation.last_revision,
        sender_id=sender_id,
        client_msg_id=draft.client_msg_id if draft else None,
        kind=kind.value,
        priority=(draft.priority if draft else Priority.ROUTINE).value,
        reply_to_seq=draft.reply_to_seq if draft else None,
        sensitivity=draft.sensitivity.value if draft and draft.sensitivity else None,
        version=1,
        created_at=now,
    )
    message.body = await _seal(uow, conversation, message.id, "body", body)
    uow.db.add(message)
    await uow.db.flush()
    uow.audit(
        Action.CREATE,
        "message",
        message.id,
        patient_id=conversation.patient_id,
        conversation_id=str(conversation.id),
        seq=str(message.seq),
    )
    await _publish(uow, conversation, "message.created", message)
    await notify.message_waiting(uow, conversation, message)
    return message


async def post_system_note(uow: UnitOfWork, conversation_id: uuid.UUID, note: str) -> Message:
    """Post a message from Huddle itself (a task or referral change) within the caller's
    unit of work; locks the conversation for its next seq."""
    conversation = await uow.db.get_one(
        Conversation, conversation_id, with_for_update=True, populate_existing=True
    )
    return await append_message(uow, conversation, None, note, kind=MessageKind.SYSTEM)


async def quote_for(uow: UnitOfWork, actor: Actor, message_id: uuid.UUID) -> MessageView | None:
    """The message as `actor` may see it (an audited read), or None when they take no
    part in its conversation: a quote is shown only to those allowed to read it."""
    row = (
        await uow.db.execute(
            select(Message, Conversation)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Participant, Participant.conversation_id == Conversation.id)
            .where(
                Message.id == message_id,
                Participant.user_id == actor.user_id,
                Conversation.organization_id == actor.organization_id,
            )
        )
    ).one_or_none()
    if row is None:
        return None
    message, conversation = row
    reader = await reader_for(uow, actor, conversation)
    view = await _message_view(uow, conversation, message, reader)
    _audit_read(uow, conversation, [message])
    return view


async def list_messages(
    rt: Runtime,
    actor: Actor,
    conversation_id: uuid.UUID,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[MessageView], int]:
    """A page of messages in seq order (after=SEQ pages forward, before=SEQ backward,
    default the latest) and the conversation's last seq. One audited read per page."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be from 1 to {MAX_PAGE}.", code="invalid_limit")
    async with unit_of_work(rt, actor=actor) as uow:
        conversation = await joined_conversation(uow, actor, conversation_id)
        query = select(Message).where(Message.conversation_id == conversation.id)
        if after is not None:
            query = query.where(Message.seq > after).order_by(Message.seq).limit(limit)
        else:
            if before is not None:
                query = query.where(Message.seq < before)
            query = query.order_by(Message.seq.desc()).limit(limit)
        rows = sorted((await uow.db.scalars(query)).all(), key=lambda m: m.seq)
        reader = await reader_for(uow, actor, conversation)
        views = await _message_views(uow, conversation, rows, reader)
        _audit_read(uow, conversation, rows)
        return views, conversation.last_seq


@dataclass(frozen=True, slots=True)
class CatchUp:
    """One reader asking what changed in a conversation after a revision."""

    actor: Actor
    conversation_id: uuid.UUID
    since: int
    limit: int = MAX_PAGE


async def changes_since(
    rt: Runtime, actor: Actor, conversation_id: uuid.UUID, revision: int, limit: int = MAX_PAGE
) -> tuple[list[MessageView], int]:
    """Messages created or changed after `revision`, in revision order, and the
    conversation's last revision: what a reconnecting client missed."""
    async with unit_of_work(rt, actor=actor) as uow:
        return await _changes_since(uow, CatchUp(actor, conversation_id, revision, limit), {})


async def changes_since_many(
    rt: Runtime, requests: Sequence[CatchUp]
) -> list[tuple[list[MessageView], int] | HuddleError]:
    """changes_since for several readers in one transaction with one audit append (live
    delivery to many sockets at once). Each reader is checked and audited as
    themselves; a refusal answers that request only. Readers of one conversation from
    the same revision (its participants, told of the same message) share one read of
    its rows."""
    read_before: _ReadBefore = {}

    async def read(uow: UnitOfWork, request: CatchUp) -> tuple[list[MessageView], int]:
        return await _changes_since(uow, request, read_before)

    return await for_each_reader(rt, requests, _reader_of, read)


def _reader_of(request: CatchUp) -> Actor:
    return request.actor


# Messages changed after a revision, with their files' ids, by (conversation, since,
# limit): read once per unit of work however many readers ask.
_ReadBefore = dict[
    tuple[uuid.UUID, int, int], tuple[Sequence[Message], dict[uuid.UUID, tuple[uuid.UUID, ...]]]
]


async def _changes_since(
    uow: UnitOfWork, request: CatchUp, read_before: _ReadBefore
) -> tuple[list[MessageView], int]:
    conversation = await joined_conversation(uow, request.actor, request.conversation_id)
    key = (conversation.id, request.since, request.limit)
    if key not in read_before:
        params = {
            "conversation_id": conversation.id,
            "since": request.since,
            "limit": request.limit,
        }
        rows = (await uow.db.scalars(_CHANGED_AFTER, params)).all()
        read_before[key] = rows, await attachments.ids_by_message(uow, [m.id for m in rows])
    rows, files = read_before[key]
    reader = await reader_for(uow, request.actor, conversation)
    views = [await _view(uow, conversation, m, reader, files.get(m.id, ())) for m in rows]
    _audit_read(uow, conversation, rows)
    return views, conversation.last_revision


async def edit_message(rt: Runtime, actor: Actor, message_id: uuid.UUID, body: str) -> MessageView:
    """Replace a message's body (sender only); the earlier body is kept, sealed, as
    history visible to the participants."""
    body = _checked_body(body)
    async with unit_of_work(rt, actor=actor) as uow:
        conversation, message = await _own_message(uow, actor, message_id)
        now = rt.clock.now()
        # The old body moves to a history row, sealed anew for that row.
        current = await _open(uow, conversation, message.id, "body", message.body)
        assert current is not None  # redacted messages were refused above
        history_id = uuid.uuid4()
        uow.db.add(
            MessageVersion(
                id=history_id,
                message_id=message.id,
                version=message.version,
                body=await _seal(uow, conversation, history_id, "body", current),
                replaced_at=now,
                replaced_by=actor.user_id,
            )
        )
        message.version += 1
        message.body = await _seal(uow, conversation, message.id, "body", body)
        message.edited_at = now
        await _bump_revision(uow, conversation, message)
        uow.audit(
            Action.UPDATE,
            "message",
            message.id,
            patient_id=conversation.patient_id,
            version=str(message.version),
        )
        await _publish(uow, conversation, "message.updated", message)
        reader = await reader_for(uow, actor, conversation)
        return await _message_view(uow, conversation, message, reader)


async def redact_message(rt: Runtime, actor: Actor, message_id: uuid.UUID) -> MessageView:
    """Remove a message's content and its history (sender only); the audit trail and
    the message's place in the thread remain."""
    async with unit_of_work(rt, actor=actor) as uow:
        conversation, message = await _own_message(uow, actor, message_id)
        message.body = None
        message.redacted_at = rt.clock.now()
        removed_files = await attachments.remove_with_message(uow, conversation, message)
        await uow.db.execute(
            update(MessageVersion).where(MessageVersion.message_id == message.id).values(body=None)
        )
        await _bump_revision(uow, conversation, message)
        uow.audit(
            Action.DELETE,
            "message",
            message.id,
            patient_id=conversation.patient_id,
            change="redacted",
        )
        await _publish(uow, conversation, "message.updated", message)
        reader = await reader_for(uow, actor, conversation)
        view = await _message_view(uow, conversation, message, reader)
    await attachments.delete_blobs(rt, removed_files)
    return view


async def message_history(rt: Runtime, actor: Actor, message_id: uuid.UUID) -> list[VersionView]:
    async with unit_of_work(rt, actor=actor) as uow:
        message = await uow.db.get(Message, message_id)
        if message is None:
            raise NotFound("No such message.")
        conversation = await joined_conversation(uow, actor, message.conversation_id)
        versions = (
            await uow.db.scalars(
                select(MessageVersion)
                .where(MessageVersion.message_id == message.id)
                .order_by(MessageVersion.version)
            )
        ).all()
        uow.audit(Action.READ, "message_history", message.id, patient_id=conversation.patient_id)
        _, withheld = content_label(await reader_for(uow, actor, conversation), message)
        return [
            VersionView(
                v.version,
                None if withheld else await _open(uow, conversation, v.id, "body", v.body),
                v.replaced_at,
            )
            for v in versions
        ]


async def mark_read(rt: Runtime, actor: Actor, conversation_id: uuid.UUID, seq: int) -> int:
    """Move the caller's read cursor forward to `seq` (never back); returns it. Others
    in the conversation get a `receipt` event."""
    async with unit_of_work(rt, actor=actor) as uow:
        conversation = await joined_conversation(uow, actor, conversation_id)
        if not 0 <= seq <= conversation.last_seq:
            raise Invalid("That message does not exist in this conversation.", code="invalid_seq")
        participant = await uow.db.scalar(
            select(Participant).where(
                Participant.conversation_id == conversation.id, Participant.user_id == actor.user_id
            )
        )
        assert participant is not None
        if seq > participant.read_seq:
            participant.read_seq = seq
            uow.audit(
                Action.UPDATE,
                "read_cursor",
                conversation.id,
                patient_id=conversation.patient_id,
                read_seq=str(seq),
            )
            uow.publish_after_commit(
                Event(
                    "receipt",
                    await participant_ids(uow, conversation.id),
                    {
                        "conversation_id": str(conversation.id),
                        "user_id": str(actor.user_id),
                        "read_seq": seq,
                    },
                )
            )
        return participant.read_seq


# -------------------------------------------------------------------------- helpers


def _checked_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise Invalid("A message needs some text.", code="empty_message")
    if len(body) > MAX_BODY_CHARS:
        raise Invalid(
            f"A message holds at most {MAX_BODY_CHARS} characters.", code="message_too_long"
        )
    return body


async def _own_message(
    uow: UnitOfWork, actor: Actor, message_id: uuid.UUID
) -> tuple[Conversation, Message]:
    message = await uow.db.get(Message, message_id)
    if message is None:
        raise NotFound("No such message.")
    conversation = await joined_conversation(uow, actor, message.conversation_id, lock=True)
    if message.sender_id != actor.user_id or message.kind != MessageKind.USER:
        raise uow.refuse(
            Forbidden("Only the sender can change a message.", code="not_sender"),
            Action.UPDATE,
            "message",
            message.id,
            patient_id=conversation.patient_id,
        )
    if message.redacted_at is not None:
        raise Conflict("This message was redacted.", code="message_redacted")
    return conversation, message


async def _bump_revision(uow: UnitOfWork, conversation: Conversation, message: Message) -> None:
    conversation.last_revision += 1
    message.revision = conversation.last_revision
    await uow.db.flush()


async def _publish(
    uow: UnitOfWork, conversation: Conversation, event_type: str, message: Message
) -> None:
    # Events carry ids and cursors only; clients fetch content through the audited API.
    uow.publish_after_commit(
        Event(
            event_type,
            await participant_ids(uow, conversation.id),
            {
                "conversation_id": str(conversation.id),
                "message_id": str(message.id),
                "seq": message.seq,
                "revision": message.revision,
            },
        )
    )


def _audit_read(uow: UnitOfWork, conversation: Conversation, rows: Sequence[Message]) -> None:
    """Record a read once its content was opened: a failed decrypt is recorded as the
    integrity failure it is, never as a read (a shared unit commits despite it)."""
    if rows:
        uow.audit(
            Action.READ,
            "conversation",
            conversation.id,
            patient_id=conversation.patient_id,
            seqs=f"{rows[0].seq}-{rows[-1].seq}",
            count=str(len(rows)),
        )


def _binding(conversation: Conversation, row_id: uuid.UUID, column: str) -> Binding:
    return Binding("messages", column, row_id, conversation.id)


async def _seal(
    uow: UnitOfWork, conversation: Conversation, row_id: uuid.UUID, column: str, text: str
) -> bytes:
    (sealed,) = await uow.seal(
        OWNER_TYPE, conversation.id, [(_binding(conversation, row_id, column), text.encode())]
    )
    return sealed


async def _open(
    uow: UnitOfWork,
    conversation: Conversation,
    row_id: uuid.UUID,
    column: str,
    blob: bytes | None,
) -> str | None:
    if blob is None:
        return None
    plain = await uow.open(
        blob, _binding(conversation, row_id, column), patient_id=conversation.patient_id
    )
    return plain.decode()


async def _message_view(
    uow: UnitOfWork, conversation: Conversation, message: Message, reader: Reader
) -> MessageView:
    (view,) = await _message_views(uow, conversation, [message], reader)
    return view


async def _message_views(
    uow: UnitOfWork, conversation: Conversation, messages: Sequence[Message], reader: Reader
) -> list[MessageView]:
    files = await attachments.ids_by_message(uow, [m.id for m in messages])
    return [await _view(uow, conversation, m, reader, files.get(m.id, ())) for m in messages]


async def _view(
    uow: UnitOfWork,
    conversation: Conversation,
    message: Message,
    reader: Reader,
    attachment_ids: tuple[uuid.UUID, ...],
) -> MessageView:
    label, withheld = content_label(reader, message)
    return MessageView(
        id=message.id,
        conversation_id=conversation.id,
        seq=message.seq,
        revision=message.revision,
        sender_id=message.sender_id,
        kind=MessageKind(message.kind),
        priority=Priority(message.priority),
        body=None if withheld else await _open(uow, conversation, message.id, "body", message.body),
        reply_to_seq=message.reply_to_seq,
        client_msg_id=message.client_msg_id,
        version=message.version,
        created_at=message.created_at,
        edited_at=message.edited_at,
        redacted_at=message.redacted_at,
        sensitivity=label,
        withheld=withheld,
        attachment_ids=() if withheld else attachment_ids,
    )
