"""The attachments table: metadata only. The file's ciphertext lives in the BlobStore
under the attachment id; its sha256 here detects a swapped or altered blob before any
decryption is tried."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from huddle.db import Base, UTCDateTime


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_conversation_id_created_at", "conversation_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    uploader_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # The message it was sent with; NULL until sent (unsent files are swept after a day).
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True
    )
    filename: Mapped[bytes] = mapped_column(LargeBinary)  # sealed
    media_type: Mapped[str] = mapped_column(String(64))  # detected from the content
    size: Mapped[int] = mapped_column(BigInteger)  # plaintext bytes
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
