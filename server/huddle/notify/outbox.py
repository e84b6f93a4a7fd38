"""The outbox worker: sends due notifications, retries failures with backoff, and
never sends a notification twice — except in one small window, below.

A notification moves pending → sending → sent. Each pass claims due rows in a short
transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several instances share the
work; SQLite has one writer at a time), marks them `sending` with a lease, mints each a
fresh secure link and commits; then sends, each outside any transaction; then marks
each `sent` in another short transaction. A failed send goes back to `pending` with
exponential backoff (30 s, 2 min, 8 min, 32 min, then hourly) until its eighth attempt
fails, which marks it `failed`.

The window: a crash (kill -9, power loss) after the mail server accepted a message but
before `sent` committed leaves the row `sending`; when its lease runs out it is sent
again. Delivery is therefore at-least-once, with a window of one SMTP reply plus one
commit. The retry carries the same Message-ID (the notification id), so mail systems can
drop the duplicate, and the first copy's link still works (a patient's open links to a
thread are retired only when one of them is confirmed). A graceful shutdown does not
open the window: the send in flight finishes and is recorded; the rest go back to
`pending`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from huddle.identity.models import User
from huddle.messaging.models import Conversation
from huddle.notify.models import Notification, SecureLink
from huddle.notify.senders import Outgoing, Sender, SendFailed
from huddle.notify.service import Channel, Status, new_link_token
from huddle.runtime import Runtime

log = logging.getLogger("huddle.notify.outbox")

BATCH = 50
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
RETRY_GROWTH = 4
MAX_RETRY = timedelta(hours=1)
# A `sending` row untouched this long was abandoned by a crashed worker: send again.
# Far longer than one SMTP exchange (each step times out after 30 s).
SENDING_LEASE = timedelta(minutes=10)
POLL_INTERVAL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class _Claimed:
    notification_id: uuid.UUID
    attempt: int
    outgoing: Outgoing


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    return min(FIRST_RETRY * RETRY_GROWTH ** max(attempts - 1, 0), MAX_RETRY)


async def deliver_due(rt: Runtime, sender: Sender, now: datetime) -> int:
    """One pass: claim the notifications due at `now` for the sender's channel, send
    them, record each outcome. Returns how many were sent."""
    claimed = await _claim(rt, sender.channel, now)
    sent = 0
    for index, item in enumerate(claimed):
        delivery = asyncio.ensure_future(_deliver(rt, sender, item, now))
        try:
            sent += await asyncio.shield(delivery)
        except asyncio.CancelledError:
            # Shutting down: the message in flight may be leaving right now, so let it
            # finish and record its outcome; hand the others back untried.
            with contextlib.suppress(Exception):
                await delivery
            await _release(rt, claimed[index + 1 :])
            raise
    return sent


async def run_forever(
    rt: Runtime, sender: Sender, interval_seconds: float = POLL_INTERVAL_SECONDS
) -> None:
    """Deliver due notifications every few seconds (at once again after a full batch);
    errors are logged and retried, never fatal."""
    while True:
        busy = False
        try:
            busy = await deliver_due(rt, sender, rt.clock.now()) >= BATCH
        except Exception:
            log.exception("notification delivery pass failed; will retry")
        if not busy:
            await asyncio.sleep(interval_seconds)


async def _claim(rt: Runtime, channel: Channel, now: datetime) -> list[_Claimed]:
    lifetime = timedelta(minutes=rt.settings.secure_link_minutes)
    claimed: list[_Claimed] = []
    async with rt.db.transaction() as db:
        rows = (
            await db.execute(
                select(Notification, User, Conversation.patient_id)
                .join(User, User.id == Notification.recipient_user_id)
                .join(Conversation, Conversation.id == Notification.conversation_id)
                .where(
                    Notification.channel == channel.value,
                    Notification.status.in_([Status.PENDING.value, Status.SENDING.value]),
                    Notification.next_attempt_at <= now,
                )
                .order_by(Notification.next_attempt_at)
                .limit(BATCH)
                .with_for_update(of=Notification, skip_locked=True)
            )
        ).all()
        for notification, user, patient_id in rows:
            if notification.attempts >= MAX_ATTEMPTS:  # abandoned on its last attempt
                _give_up(notification, notification.last_error or "abandoned")
                continue
            if not user.is_active or user.patient_id is None or user.patient_id != patient_id:
                _give_up(notification, "recipient_inactive")
                continue
            token, token_hash = new_link_token()
            link = SecureLink(
                id=uuid.uuid4(),
                token_hash=token_hash,
                user_id=user.id,
                patient_id=user.patient_id,
                conversation_id=notification.conversation_id,
                created_at=now,
                expires_at=now + lifetime,
                failed_attempts=0,
            )
            db.add(link)
            await db.flush()  # the link row first: the outbox row refers to it
            notification.status = Status.SENDING.value
            notification.attempts += 1
            notification.next_attempt_at = now + SENDING_LEASE
            notification.secure_link_id = link.id
            # The address is read from the user record now, never kept in the outbox.
            url = f"{rt.settings.public_url}/secure/{token}"
            outgoing = Outgoing(notification.id, user.email, url, link.expires_at)
            claimed.append(_Claimed(notification.id, notification.attempts, outgoing))
    return claimed


async def _deliver(rt: Runtime, sender: Sender, item: _Claimed, now: datetime) -> int:
    try:
        await sender.send(item.outgoing)
    except SendFailed as failure:
        await _record_failure(rt, item, failure.code, now)
        return 0
    except Exception:
        log.exception("notification sender failed unexpectedly")
        await _record_failure(rt, item, "send_error", now)
        return 0
    await _record_sent(rt, item, now)
    return 1


async def _release(rt: Runtime, items: list[_Claimed]) -> None:
    """Return claimed notifications that were never tried to `pending`, due at once."""
    if not items:
        return
    async with rt.db.transaction() as db:
        for item in items:
            await db.execute(
                update(Notification)
                .where(
                    Notification.id == item.notification_id,
                    Notification.status == Status.SENDING.value,
                    Notification.attempts == item.attempt,
                )
                .values(
                    status=Status.PENDING.value,
                    attempts=item.attempt - 1,
                    next_attempt_at=rt.clock.now(),
                )
            )


def _give_up(notification: Notification, code: str) -> None:
    notification.status = Status.FAILED.value
    notification.last_error = code
    log.warning(
        "notification failed for good",
        extra={"fields": {"notification_id": str(notification.id), "code": code}},
    )


async def _record_sent(rt: Runtime, item: _Claimed, now: datetime) -> None:
    async with rt.db.transaction() as db:
        # Only if still ours: a row whose lease ran out may have been claimed again.
        await db.execute(
            update(Notification)
            .where(
                Notification.id == item.notification_id,
                Notification.status == Status.SENDING.value,
                Notification.attempts == item.attempt,
            )
            .values(status=Status.SENT.value, sent_at=now, last_error=None)
        )


async def _record_failure(rt: Runtime, item: _Claimed, code: str, now: datetime) -> None:
    final = item.attempt >= MAX_ATTEMPTS
    async with rt.db.transaction() as db:
        await db.execute(
            update(Notification)
            .where(
                Notification.id == item.notification_id,
                Notification.status == Status.SENDING.value,
                Notification.attempts == item.attempt,
            )
            .values(
                status=(Status.FAILED if final else Status.PENDING).value,
                next_attempt_at=now + retry_delay(item.attempt),
                last_error=code,
            )
        )
    log.warning(
        "notification not sent" + ("; giving up" if final else "; will retry"),
        extra={
            "fields": {
                "notification_id": str(item.notification_id),
                "attempt": item.attempt,
                "code": code,
            }
        },
    )
