"""Runs the task deadline pass periodically: overdue flags and warm-handoff escalation
(see tasks/deadlines.py)."""

from __future__ import annotations

import asyncio
import logging

from huddle.runtime import Runtime
from huddle.tasks.deadlines import handle_due

log = logging.getLogger("huddle.jobs.task_deadlines")
# Warm handoffs are due in minutes: escalate within seconds of the due time.
INTERVAL_SECONDS = 5.0


async def run_forever(rt: Runtime, interval: float = INTERVAL_SECONDS) -> None:
    """Errors are logged and retried on the next pass, never fatal."""
    while True:
        try:
            if handled := await handle_due(rt):
                log.info("task deadlines handled", extra={"fields": {"count": handled}})
        except Exception:
            log.exception("task deadline pass failed; will retry")
        await asyncio.sleep(interval)
