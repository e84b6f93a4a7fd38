"""The task half of one WebSocket connection: the last task revision it delivered, and
catching up past it. Like messages, delivery never trusts the bus for content: a
`task.*` event only says "tasks changed"; the feed reads every task the user may see
that changed after its cursor (the same audited query a resuming client uses), so no
change is missed, none is sent twice, and order is by revision."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec

from huddle.actor import Actor
from huddle.realtime import protocol
from huddle.runtime import Runtime
from huddle.tasks import service as tasks
from huddle.tasks.states import frame_for

PAGE = 200


class TaskFeed:
    def __init__(self, rt: Runtime, send: Callable[[str], Awaitable[None]]) -> None:
        self.rt = rt
        self._send = send
        self.delivered = 0
        self._lock = asyncio.Lock()

    async def start(self, actor: Actor) -> int:
        """Follow tasks from the organization's current revision (nothing replayed)."""
        self.delivered = await tasks.task_revision(self.rt, actor)
        return self.delivered

    async def resume(self, actor: Actor, revision: int) -> None:
        async with self._lock:
            self.delivered = revision
            await self._catch_up(actor)

    async def catch_up(self, actor: Actor) -> None:
        async with self._lock:
            await self._catch_up(actor)

    async def _catch_up(self, actor: Actor) -> None:
        while True:
            views, last = await tasks.changes_since(self.rt, actor, self.delivered, PAGE)
            for view in views:
                await self._send(
                    protocol.encode(
                        frame_for(view.last_change),
                        revision=view.revision,
                        task=msgspec.to_builtins(view),
                    )
                )
                self.delivered = view.revision
            if len(views) < PAGE or self.delivered >= last:
                return
