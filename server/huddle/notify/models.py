"""Tables for the notification outbox and the secure links notifications carry.

Neither holds PHI: an outbox row names its recipient by user id (the address is read
from the user record at send time), and a secure link is stored only as the SHA-256 of
its 256-bit token.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from huddle.db import Base, UTCDateTime


class SecureLink(Base):
    """A one-time link into one conversation, confirmed with the patient's date of
    birth; confirming it opens a short link session."""

    __tablename__ = "secure_links"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Last request of the link session it opened: for the idle timeout.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Notification(Base):
    """One message to send: pending → sending → sent (or failed after its retries)."""

    __tablename__ = "notify_outbox"
    __table_args__ = (
        # The worker's claim: due rows of a channel, oldest first.
        Index("ix_notify_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        # The coalescing check when a message is appended.
        Index(
            "ix_notify_outbox_recipient_user_id_conversation_id",
            "recipient_user_id",
            "conversation_id",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    recipient_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A short code (e.g. smtp_451, smtp_unavailable), never a server's reply text.
    last_error: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The link minted for the latest attempt.
    secure_link_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("secure_links.id", ondelete="SET NULL"), nullable=True
    )
