"""Stored data made unreadable the way an operator's slip would: a message sealed under
a data key whose KEK the keyring no longer holds (retired before every key was
re-wrapped). Reading it raises KeyringError, which is not a HuddleError: the kind of
failure a shared read must not spread to other readers. Or a message whose sealed body
was altered in storage: reading it is an integrity failure (DecryptionFailed)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update

from huddle.db import Database
from huddle.messaging.models import Message
from huddle.protect.models import DataKey

MISSING_KEK = "kek-retired-too-early"


async def seal_under_a_missing_kek(database: Database, message_id: uuid.UUID) -> None:
    """Point the message's body at a new data key wrapped by a KEK no keyring has (so no
    process has it cached either)."""
    async with database.transaction() as db:
        message = await db.scalar(select(Message).where(Message.id == message_id))
        assert message is not None
        assert message.body is not None
        now = datetime.now(UTC)
        orphan = DataKey(
            id=uuid.uuid4(),
            owner_type="conversation",
            owner_id=message.conversation_id,
            kek_id=MISSING_KEK,
            wrapped_key=secrets.token_bytes(60),
            created_at=now,
            uses=1,
            retired_at=now,  # never chosen for new seals
        )
        db.add(orphan)
        body = message.body[:1] + orphan.id.bytes + message.body[17:]
        await db.execute(update(Message).where(Message.id == message_id).values(body=body))


async def alter_the_sealed_body(database: Database, message_id: uuid.UUID) -> None:
    """Flip one bit of the message's sealed body, as a stray write to storage would."""
    async with database.transaction() as db:
        body = await db.scalar(select(Message.body).where(Message.id == message_id))
        assert body is not None
        altered = body[:-1] + bytes([body[-1] ^ 0x01])
        await db.execute(update(Message).where(Message.id == message_id).values(body=altered))
