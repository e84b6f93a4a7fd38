"""Deletes files that were uploaded but never sent (see messaging/attachments.py)."""

from __future__ import annotations

import asyncio
import logging

from huddle.messaging.attachments import sweep_unsent
from huddle.runtime import Runtime

log = logging.getLogger("huddle.jobs.attachment_sweep")
INTERVAL_SECONDS = 3600.0


async def run_forever(rt: Runtime) -> None:
    """Errors are logged and retried on the next pass, never fatal."""
    while True:
        try:
            if swept := await sweep_unsent(rt):
                log.info("unsent attachments deleted", extra={"fields": {"count": swept}})
        except Exception:
            log.exception("attachment sweep failed; will retry")
        await asyncio.sleep(INTERVAL_SECONDS)
