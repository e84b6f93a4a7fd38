"""Files shared in a conversation: the only code that stores or reads them.

A file is accepted only if its content (not its name, not the client's Content-Type)
is one of the allowed types. It is sealed with the conversation's data key, like the
messages, and its ciphertext goes to the BlobStore; the row keeps the sealed filename,
the detected type, the size and the ciphertext's sha256, checked before every decrypt.
Uploads, lists and downloads are audited with the conversation's patient.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, func, or_, select, update

from huddle.actor import Actor
from huddle.blobs import BlobMissing, BlobStore, LocalBlobStore
from huddle.errors import Forbidden, HuddleError, Invalid, NotFound, RateLimited
from huddle.identity.models import User
from huddle.messaging import access
from huddle.messaging.attachment_models import Attachment
from huddle.messaging.models import Conversation, Message, Participant
from huddle.protect.audit import Action, Outcome
from huddle.protect.crypto import Binding, DecryptionFailed
from huddle.protect.policy import Sensitivity
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work

log = logging.getLogger("huddle.attachments")

OWNER_TYPE = "conversation"
TABLE = "attachments"
MAX_BYTES = 10 * 1024 * 1024
MAX_PER_MESSAGE = 10
# What one person may upload in 24 hours: room for a day's scanned letters and photos,
# not for using Huddle as file storage or filling the disk by mistake or malice.
DAILY_UPLOAD_BYTES = 200 * 1024 * 1024
QUOTA_WINDOW = timedelta(hours=24)
# Files never sent with a message are deleted after this (`jobs.attachment_sweep`).
UNSENT_KEPT_FOR = timedelta(hours=24)
MAX_FILENAME_CHARS = 200
DEFAULT_FILENAME = "attachment"

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TEXT = "text/plain"
ALLOWED_TYPES = (PDF, PNG, JPEG, TEXT)
_MAGIC = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))


class UnsupportedType(HuddleError):
    status_code = 415
    default_code = "unsupported_type"


class TooLarge(HuddleError):
    status_code = 413
    default_code = "payload_too_large"


@dataclass(frozen=True, slots=True)
class AttachmentView:
    id: uuid.UUID
    conversation_id: uuid.UUID
    filename: str
    media_type: str
    size: int
    uploader_id: uuid.UUID
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Download:
    attachment: AttachmentView
    content: bytes


def blob_store(rt: Runtime) -> BlobStore:
    return LocalBlobStore(rt.settings.blob_dir)


def detect_media_type(data: bytes) -> str:
    """The type the bytes really are; raises UnsupportedType for anything not allowed."""
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return TEXT
    raise UnsupportedType(
        "Only these file types can be attached: " + ", ".join(ALLOWED_TYPES) + "."
    )


def sanitize_filename(raw: str) -> str:
    """The last path part, without control characters, at most MAX_FILENAME_CHARS."""
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    name = name.lstrip(".").strip()  # no hidden files, no "." or ".."
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= 10:  # keep the extension
            name = stem[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS]
    return name or DEFAULT_FILENAME


async def upload_attachment(
    rt: Runtime, actor: Actor, conversation_id: uuid.UUID, filename: str, data: bytes
) -> AttachmentView:
    """Store a file in a conversation (participants only, else NotFound). Raises
    TooLarge, UnsupportedType or Invalid (empty). Audited as a create."""
    store = blob_store(rt)
    attachment_id = uuid.uuid4()
    stored = False
    try:
        async with unit_of_work(rt, actor=actor) as uow:
            conversation = await _joined(uow, actor, conversation_id)
            if len(data) > MAX_BYTES:
                raise TooLarge(f"A file can be at most {MAX_BYTES // (1024 * 1024)} MiB.")
            if not data:
                raise Invalid("The file is empty.", code="empty_attachment")
            await _check_daily_quota(uow, actor, len(data))
            media_type = detect_media_type(data)
            name = sanitize_filename(filename)
            sealed_content, sealed_name = await uow.seal(
                OWNER_TYPE,
                conversation.id,
                [
                    (_binding(conversation, attachment_id, "content"), data),
                    (_binding(conversation, attachment_id, "filename"), name.encode()),
                ],
            )
            attachment = Attachment(
                id=attachment_id,
                conversation_id=conversation.id,
                uploader_id=actor.user_id,
                message_id=None,
                filename=sealed_name,
                media_type=media_type,
                size=len(data),
                ciphertext_sha256=hashlib.sha256(sealed_content).hexdigest(),
                created_at=rt.clock.now(),
            )
            uow.db.add(attachment)
            await uow.db.flush()
            # Before commit, so a committed row always has its blob.
            await store.put(str(attachment_id), sealed_content)
            stored = True
            uow.audit(
                Action.CREATE,
                "attachment",
                attachment_id,
                patient_id=conversation.patient_id,
                conversation_id=str(conversation.id),
                media_type=media_type,
                size=str(len(data)),
            )
            return _view(attachment, name)
    except BaseException:
        if stored:
            await store.delete(str(attachment_id))
        raise


async def link_to_message(
    uow: UnitOfWork,
    actor: Actor,
    conversation: Conversation,
    message: Message,
    attachment_ids: tuple[uuid.UUID, ...],
) -> None:
    """Attach files to the message being sent, within its unit of work: each must be
    one the sender uploaded to this conversation and not yet sent (else Invalid, and
    the message is not sent either)."""
    wanted = set(attachment_ids)
    if len(wanted) > MAX_PER_MESSAGE:
        raise Invalid(
            f"A message carries at most {MAX_PER_MESSAGE} files.", code="too_many_attachments"
        )
    if not wanted:
        return
    linked = await uow.db.execute(
        update(Attachment)
        .where(
            Attachment.id.in_(wanted),
            Attachment.conversation_id == conversation.id,
            Attachment.uploader_id == actor.user_id,
            Attachment.message_id.is_(None),
        )
        .values(message_id=message.id)
        .execution_options(synchronize_session=False)
    )
    if linked.rowcount != len(wanted):  # type: ignore[attr-defined]
        raise Invalid(
            "A file is not one you uploaded to this conversation, or was sent already.",
            code="attachment_unavailable",
        )


# Asked for every page of messages delivered or read: built once (messaging/access.py).
_FILES_OF = (
    select(Attachment.message_id, Attachment.id)
    .where(Attachment.message_id.in_(bindparam("message_ids", expanding=True)))
    .order_by(Attachment.created_at, Attachment.id)
)


async def ids_by_message(
    uow: UnitOfWork, message_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, ...]]:
    """The files sent with each of these messages, oldest first (one query)."""
    if not message_ids:
        return {}
    rows = await uow.db.execute(_FILES_OF, {"message_ids": message_ids})
    found: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}
    for message_id, attachment_id in rows:
        found[message_id] = (*found.get(message_id, ()), attachment_id)
    return found


async def ids_in(uow: UnitOfWork, conversation_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Every file stored in these conversations, sent or not."""
    if not conversation_ids:
        return []
    rows = await uow.db.scalars(
        select(Attachment.id).where(Attachment.conversation_id.in_(conversation_ids))
    )
    return list(rows)


async def sweep_unsent(rt: Runtime, limit: int = 500) -> int:
    """Delete files uploaded but not sent with a message within UNSENT_KEPT_FOR (the
    upload was abandoned): row and blob, each audited. Several instances may sweep at
    once (rows are taken under SKIP LOCKED). Returns how many were deleted; a file that
    fails is logged (its id only) and left for the next pass."""
    cutoff = rt.clock.now() - UNSENT_KEPT_FOR
    async with rt.db.transaction(scans=True) as db:  # no index serves this: reads every row
        candidates = list(
            await db.scalars(
                select(Attachment.id)
                .where(Attachment.message_id.is_(None), Attachment.created_at < cutoff)
                .limit(limit)
            )
        )
    swept = 0
    for attachment_id in candidates:
        try:
            swept += await _sweep_one(rt, attachment_id)
        except Exception as exc:
            fields = {"attachment_id": str(attachment_id), "error": type(exc).__name__}
            log.warning("unsent attachment not swept", extra={"fields": fields})
    return swept


async def _sweep_one(rt: Runtime, attachment_id: uuid.UUID) -> bool:
    async with unit_of_work(rt) as uow:
        row = (
            await uow.db.execute(
                select(Attachment, Conversation)
                .join(Conversation, Conversation.id == Attachment.conversation_id)
                .where(Attachment.id == attachment_id, Attachment.message_id.is_(None))
                .with_for_update(of=Attachment, skip_locked=True)
            )
        ).one_or_none()
        if row is None:
            return False  # sent meanwhile, or another instance has it
        attachment, conversation = row
        await uow.db.delete(attachment)
        uow.audit(
            Action.DELETE,
            TABLE,
            attachment.id,
            patient_id=conversation.patient_id,
            organization_id=conversation.organization_id,
            reason="unsent_expired",
        )
    # After commit: a crash in between leaves only ciphertext nobody can reach.
    await delete_blobs(rt, [attachment_id])
    return True


async def list_attachments(
    rt: Runtime, actor: Actor, conversation_id: uuid.UUID
) -> list[AttachmentView]:
    """A conversation's files, oldest first (participants only, else NotFound): those
    sent with a message the caller may read, and the caller's own not yet sent. One
    audited read."""
    async with unit_of_work(rt, actor=actor) as uow:
        conversation = await _joined(uow, actor, conversation_id)
        reader = await access.reader_for(uow, actor, conversation)
        rows = (
            await uow.db.execute(
                select(Attachment, Message)
                .outerjoin(Message, Message.id == Attachment.message_id)
                .where(Attachment.conversation_id == conversation.id, _reachable_by(actor))
                .order_by(Attachment.created_at, Attachment.id)
            )
        ).all()
        shown = [a for a, message in rows if not _withheld(reader, message)]
        uow.audit(
            Action.READ,
            "conversation",
            conversation.id,
            patient_id=conversation.patient_id,
            content="attachments",
            count=str(len(shown)),
        )
        return [_view(row, await _filename(uow, conversation, row)) for row in shown]


async def download_attachment(rt: Runtime, actor: Actor, attachment_id: uuid.UUID) -> Download:
    """The decrypted file (participants of its conversation only, and only once sent,
    except to its uploader; else NotFound). A file sent with a message the caller may
    not read is refused like the message (Forbidden, audited). A missing or altered
    blob raises DecryptionFailed (500 data_integrity), audited as an integrity failure.
    Audited as a read."""
    async with unit_of_work(rt, actor=actor) as uow:
        row = await uow.db.execute(
            select(Attachment, Conversation, Message)
            .join(Conversation, Conversation.id == Attachment.conversation_id)
            .join(Participant, Participant.conversation_id == Conversation.id)
            .outerjoin(Message, Message.id == Attachment.message_id)
            .where(
                Attachment.id == attachment_id,
                Participant.user_id == actor.user_id,
                Conversation.organization_id == actor.organization_id,
                _reachable_by(actor),
            )
        )
        found = row.first()
        if found is None:
            raise uow.refuse(
                NotFound("No such attachment."), Action.READ, "attachment", attachment_id
            )
        attachment, conversation, message = found
        await _require_content_access(uow, actor, conversation)
        if _withheld(await access.reader_for(uow, actor, conversation), message):
            raise uow.refuse(
                Forbidden("This file is restricted to the named care team.", code="part2_withheld"),
                Action.READ,
                "attachment",
                attachment.id,
                patient_id=conversation.patient_id,
            )
        try:
            sealed = await blob_store(rt).get(str(attachment.id))
        except BlobMissing:
            raise _integrity_failure(uow, conversation, attachment, "blob_missing") from None
        if hashlib.sha256(sealed).hexdigest() != attachment.ciphertext_sha256:
            raise _integrity_failure(uow, conversation, attachment, "blob_hash_mismatch")
        content = await uow.open(
            sealed,
            _binding(conversation, attachment.id, "content"),
            patient_id=conversation.patient_id,
        )
        name = await _filename(uow, conversation, attachment)
        uow.audit(
            Action.READ,
            "attachment",
            attachment.id,
            patient_id=conversation.patient_id,
            conversation_id=str(conversation.id),
        )
        return Download(_view(attachment, name), content)


async def remove_with_message(
    uow: UnitOfWork, conversation: Conversation, message: Message
) -> list[uuid.UUID]:
    """Delete the files sent with a message being redacted, within its unit of work
    (audited). Returns their ids: delete their blobs once that has committed."""
    rows = (
        await uow.db.scalars(select(Attachment).where(Attachment.message_id == message.id))
    ).all()
    for attachment in rows:
        await uow.db.delete(attachment)
        uow.audit(
            Action.DELETE,
            TABLE,
            attachment.id,
            patient_id=conversation.patient_id,
            reason="message_redacted",
        )
    return [a.id for a in rows]


async def delete_blobs(rt: Runtime, attachment_ids: list[uuid.UUID]) -> None:
    store = blob_store(rt)
    for attachment_id in attachment_ids:
        await store.delete(str(attachment_id))


def _reachable_by(actor: Actor) -> ColumnElement[bool]:
    # A file not yet sent with a message is its uploader's draft.
    return or_(Attachment.message_id.is_not(None), Attachment.uploader_id == actor.user_id)


def _withheld(reader: access.Reader, message: Message | None) -> bool:
    return message is not None and access.content_label(reader, message)[1]


async def _joined(uow: UnitOfWork, actor: Actor, conversation_id: uuid.UUID) -> Conversation:
    """The conversation, if the caller takes part (else NotFound) and may see its files:
    files in a Part 2 conversation are withheld like its messages (Forbidden, audited)."""
    conversation = await access.joined_conversation(uow, actor, conversation_id)
    await _require_content_access(uow, actor, conversation)
    return conversation


async def _require_content_access(
    uow: UnitOfWork, actor: Actor, conversation: Conversation
) -> None:
    reader = await access.reader_for(uow, actor, conversation)
    if reader.label is Sensitivity.SUBSTANCE_USE_PART2 and not reader.part2_cleared:
        raise uow.refuse(
            Forbidden("These files are restricted to the named care team.", code="part2_withheld"),
            Action.READ,
            "conversation",
            conversation.id,
            patient_id=conversation.patient_id,
        )


async def _check_daily_quota(uow: UnitOfWork, actor: Actor, size: int) -> None:
    """Raise RateLimited unless `size` more bytes fit in the actor's 24-hour window.

    One upload per person at a time from here to commit, so parallel uploads cannot
    each see room for themselves: the person's row is locked first (FOR NO KEY UPDATE
    on PostgreSQL, which leaves foreign-key checks on it alone; SQLite transactions are
    serialized already, each taking the write lock at BEGIN IMMEDIATE)."""
    await uow.db.execute(
        select(User.id).where(User.id == actor.user_id).with_for_update(key_share=True)
    )
    now = uow.rt.clock.now()
    uploaded, oldest = (
        await uow.db.execute(
            select(
                func.coalesce(func.sum(Attachment.size), 0), func.min(Attachment.created_at)
            ).where(
                Attachment.uploader_id == actor.user_id,
                Attachment.created_at > now - QUOTA_WINDOW,
            )
        )
    ).one()
    if uploaded + size > DAILY_UPLOAD_BYTES:
        # Room comes back as the oldest upload of the window leaves it.
        wait = (oldest + QUOTA_WINDOW - now) if oldest else QUOTA_WINDOW
        raise RateLimited(
            f"You can upload at most {DAILY_UPLOAD_BYTES // (1024 * 1024)} MiB in 24 hours.",
            retry_after_seconds=int(wait.total_seconds()) + 1,
            code="upload_quota_exceeded",
        )


def _integrity_failure(
    uow: UnitOfWork, conversation: Conversation, attachment: Attachment, reason: str
) -> DecryptionFailed:
    # As UnitOfWork.open does for a failed decrypt: audited, and kept despite rollback.
    record = uow.audit(
        Action.INTEGRITY_FAILURE,
        TABLE,
        attachment.id,
        patient_id=conversation.patient_id,
        outcome=Outcome.ERROR,
        reason=reason,
        column="content",
    )
    uow.kept_on_failure.append(record)
    return DecryptionFailed("Stored data failed its integrity check.")


def _binding(conversation: Conversation, attachment_id: uuid.UUID, column: str) -> Binding:
    return Binding(TABLE, column, attachment_id, conversation.id)


async def _filename(uow: UnitOfWork, conversation: Conversation, attachment: Attachment) -> str:
    plain = await uow.open(
        attachment.filename,
        _binding(conversation, attachment.id, "filename"),
        patient_id=conversation.patient_id,
    )
    return plain.decode()


def _view(attachment: Attachment, filename: str) -> AttachmentView:
    return AttachmentView(
        id=attachment.id,
        conversation_id=attachment.conversation_id,
        filename=filename,
        media_type=attachment.media_type,
        size=attachment.size,
        uploader_id=attachment.uploader_id,
        created_at=attachment.created_at,
    )
