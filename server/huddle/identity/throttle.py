"""Sign-in throttling, kept in the database so every instance sees the same counts.

Two counters per failed attempt: one for the account (keyed by a digest of the e-mail
typed, so unknown and known accounts behave the same) and one for the source address.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from huddle.errors import RateLimited
from huddle.identity.models import LoginThrottle

ACCOUNT_FREE_FAILURES = 5
ACCOUNT_FIRST_LOCK = timedelta(minutes=1)
ACCOUNT_MAX_LOCK = timedelta(hours=1)
ACCOUNT_MEMORY = timedelta(days=1)
ADDRESS_MAX_FAILURES = 20
ADDRESS_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    account: str
    address: str | None

    @classmethod
    def of(cls, email: str, source_ip: str | None) -> ThrottleKeys:
        digest = hashlib.sha256(email.encode()).hexdigest()[:40]
        return cls(f"account:{digest}", f"address:{source_ip}" if source_ip else None)


async def refuse_if_throttled(session: AsyncSession, keys: ThrottleKeys, now: datetime) -> None:
    """Raise RateLimited if the address or the account is locked right now."""
    rows = await _rows(session, keys)
    if keys.address and (address := rows.get(keys.address)) and _locked(address, now):
        raise RateLimited(
            "Too many failed sign-in attempts from this address. Try again later.",
            code="too_many_attempts",
            retry_after_seconds=_seconds_until(address.locked_until, now),
        )
    if (account := rows.get(keys.account)) and _locked(account, now):
        raise RateLimited(
            "This account is locked after repeated failed sign-ins. Try again later.",
            code="account_locked",
            retry_after_seconds=_seconds_until(account.locked_until, now),
        )


async def record_failure(session: AsyncSession, keys: ThrottleKeys, now: datetime) -> bool:
    """Count one failure on both keys; True if this locked the account."""
    account = await _locked_row(session, keys.account, now)
    if now - account.window_started_at > ACCOUNT_MEMORY:
        account.failures, account.window_started_at = 0, now
    account.failures += 1
    newly_locked = account.failures >= ACCOUNT_FREE_FAILURES
    if newly_locked:
        doublings = account.failures - ACCOUNT_FREE_FAILURES
        lock = ACCOUNT_FIRST_LOCK * math.pow(2, min(doublings, 12))
        account.locked_until = now + min(lock, ACCOUNT_MAX_LOCK)
    if keys.address:
        address = await _locked_row(session, keys.address, now)
        if now - address.window_started_at > ADDRESS_WINDOW:
            address.failures, address.window_started_at, address.locked_until = 0, now, None
        address.failures += 1
        if address.failures >= ADDRESS_MAX_FAILURES:
            address.locked_until = address.window_started_at + ADDRESS_WINDOW
    return newly_locked


async def clear_account(session: AsyncSession, keys: ThrottleKeys) -> None:
    row = await session.get(LoginThrottle, keys.account)
    if row is not None:
        row.failures, row.locked_until = 0, None


async def _rows(session: AsyncSession, keys: ThrottleKeys) -> dict[str, LoginThrottle]:
    wanted = [k for k in (keys.account, keys.address) if k]
    result = await session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(wanted)))
    return {row.key: row for row in result}


async def _locked_row(session: AsyncSession, key: str, now: datetime) -> LoginThrottle:
    """The row for `key`, created if new and locked against concurrent updates."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, window_started_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = await session.scalar(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def _locked(row: LoginThrottle, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    return math.ceil((moment - now).total_seconds()) if moment else 1
