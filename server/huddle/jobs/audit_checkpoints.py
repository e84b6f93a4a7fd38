"""Signs an audit checkpoint periodically, so tampering with the log is caught even by
someone who rewrites the whole chain. Several instances may run it: one whose peers
signed recently skips its turn."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import func, select

from huddle.protect import audit
from huddle.protect.models import AuditChainHead, AuditCheckpoint
from huddle.runtime import Runtime

log = logging.getLogger("huddle.jobs.audit_checkpoints")


async def checkpoint_if_due(rt: Runtime, interval: timedelta) -> bool:
    """Sign a checkpoint unless one was signed within `interval` or the log has not grown
    since the last one. Returns whether it signed."""
    now = rt.clock.now()
    async with rt.db.transaction(scans=True) as db:  # hashes every event
        last_at, last_size = (
            await db.execute(
                select(func.max(AuditCheckpoint.signed_at), func.max(AuditCheckpoint.tree_size))
            )
        ).one()
        head = await db.scalar(select(AuditChainHead.seq).where(AuditChainHead.id == 1))
        if (last_at and now - last_at < interval) or (head or 0) <= (last_size or 0):
            return False
        key_id, key = rt.keyring.audit_signing_key()
        signed = await audit.create_checkpoint(db, key, key_id, now)
    log.info("audit checkpoint signed", extra={"fields": {"tree_size": signed.tree_size}})
    return True


async def run_forever(rt: Runtime, interval: timedelta) -> None:
    """Check every tenth of the interval; errors are logged and retried, never fatal."""
    while True:
        try:
            await checkpoint_if_due(rt, interval)
        except Exception:
            log.exception("audit checkpoint failed; will retry")
        await asyncio.sleep(interval.total_seconds() / 10)
