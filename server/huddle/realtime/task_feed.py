"""The task half of one WebSocket connection: the last task revision it delivered, and
catching up past it. Like messages, delivery never trusts the bus for content: a
`task.*` event only says "tasks changed"; the feed reads every task the user may see
that changed after its cursor (the same audited query a resuming client uses), so no
change is missed, none is sent twice, and order is by revision.

A resume from too far back (more than HUDDLE_WS_TASK_REPLAY tasks, or a cursor the
server never issued) replays nothing: the client is told `tasks.reset` with the current
revision, re-reads its worklist over REST and follows from there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec

from huddle.actor import Actor
from huddle.realtime import protocol
from huddle.realtime.shared_reads import SharedReads
from huddle.runtime import Runtime
from huddle.tasks.service import SinceRevision
from huddle.tasks.states import frame_for

PAGE = 200


class TaskFeed:
    __slots__ = ("_lock", "_reads", "_send", "delivered", "rt")

    def __init__(
        self, rt: Runtime, send: Callable[[str], Awaitable[None]], reads: SharedReads
    ) -> None:
        self.rt = rt
        self._send = send
        # Shared with the process's other sockets (a task change reaches many at once).
        self._reads = reads
        self.delivered = 0
        self._lock = asyncio.Lock()

    async def start(self, actor: Actor) -> int:
        """Follow tasks from the organization's current revision (nothing replayed)."""
        self.delivered = await self._reads.task_revisions.read(actor)
        return self.delivered

    async def resume(self, actor: Actor, revision: int) -> None:
        """Replay what changed after `revision`, or, when that is more than the replay
        limit or `revision` is ahead of the organization's, send `tasks.reset` and
        follow from the current revision."""
        async with self._lock:
            limit = self.rt.settings.ws_task_replay
            backlog, current = await self._reads.task_backlogs.read(
                SinceRevision(actor, revision, limit + 1)
            )
            if backlog > limit or revision > current:
                self.delivered = current
                await self._send(protocol.encode("tasks.reset", revision=current))
            else:
                self.delivered = revision
            await self._catch_up(actor)

    async def catch_up(self, actor: Actor) -> None:
        async with self._lock:
            await self._catch_up(actor)

    async def _catch_up(self, actor: Actor) -> None:
        while True:
            views, last = await self._reads.task_changes.read(
                SinceRevision(actor, self.delivered, PAGE)
            )
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
