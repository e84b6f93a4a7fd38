"""Runs the urgent-message escalation check periodically (see messaging/escalation.py)."""

from __future__ import annotations

import asyncio
import logging

from huddle.messaging.escalation import escalate_due
from huddle.runtime import Runtime

log = logging.getLogger("huddle.jobs.urgent_escalation")
INTERVAL_SECONDS = 30.0


async def run_forever(rt: Runtime) -> None:
    """Errors are logged and retried on the next pass, never fatal."""
    while True:
        try:
            if escalated := await escalate_due(rt):
                log.info("urgent messages escalated", extra={"fields": {"count": escalated}})
        except Exception:
            log.exception("urgent escalation pass failed; will retry")
        await asyncio.sleep(INTERVAL_SECONDS)
