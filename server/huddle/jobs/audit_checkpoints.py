"""Signs an audit checkpoint periodically, so tampering with the log is caught even by
someone who rewrites the whole chain. Several instances may run it: one whose peers
signed recently skips its turn."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from huddle.protect import audit
from huddle.protect.models import AuditChainHead, AuditCheckpoint
from huddle.runtime import Runtime

log = logging.getLogger("huddle.jobs.audit_checkpoints")


async def checkpoint_if_due(rt: Runtime, interval: timedelta) -> bool:
    """Sign a checkpoint unless one was signed within `interval` or the log has not grown
    since the last one. Returns whether it signed.

    Hashes the log in a snapshot, which holds no other transaction up however long the
    log, then stores the checkpoint in a short transaction that first checks again that
    it is due: a peer may have signed meanwhile."""
    now = rt.clock.now()
    async with rt.db.snapshot() as db:
        head = await db.scalar(select(AuditChainHead.seq).where(AuditChainHead.id == 1))
        if not await _due(db, now, interval, head or 0):
            return False
        root = await audit.root_of_log(db)
    key_id, key = rt.keyring.audit_signing_key()
    async with rt.db.transaction() as db:
        if not await _due(db, now, interval, root.tree_size):
            return False
        signed = await audit.store_checkpoint(db, root, key, key_id, now)
    log.info("audit checkpoint signed", extra={"fields": {"tree_size": signed.tree_size}})
    return True


async def _due(db: AsyncSession, now: datetime, interval: timedelta, tree_size: int) -> bool:
    """No checkpoint signed within `interval`, and none yet covers `tree_size` events."""
    last_at, last_size = (
        await db.execute(
            select(func.max(AuditCheckpoint.signed_at), func.max(AuditCheckpoint.tree_size))
        )
    ).one()
    return not (last_at and now - last_at < interval) and tree_size > (last_size or 0)


async def run_forever(rt: Runtime, interval: timedelta) -> None:
    """Check every tenth of the interval; errors are logged and retried, never fatal."""
    while True:
        try:
            await checkpoint_if_due(rt, interval)
        except Exception:
            log.exception("audit checkpoint failed; will retry")
        await asyncio.sleep(interval.total_seconds() / 10)
