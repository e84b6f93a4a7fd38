"""Live delivery reads, shared: every socket of this process that must catch up on a
conversation queues its request here, and whatever is queued is read in one transaction
with one audit append (messaging.changes_since_many), each request checked and audited
as its own reader.

A message to a thread of three reaches three sockets; read one by one, that was three
transactions, each taking SQLite's write lock (or a PostgreSQL connection) and the audit
chain's head. Batching needs no timer: while one batch is read, the next one queues.
"""

from __future__ import annotations

import asyncio
import uuid

from huddle.actor import Actor
from huddle.errors import HuddleError
from huddle.messaging import service as messaging
from huddle.messaging.service import CatchUp, MessageView
from huddle.runtime import Runtime

# Requests read in one transaction at most; the rest wait for the next.
MAX_BATCH = 64

_Answer = tuple[list[MessageView], int]


class CatchUps:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._queue: list[tuple[CatchUp, asyncio.Future[_Answer]]] = []
        self._reader: asyncio.Task[None] | None = None

    async def changes_since(
        self, actor: Actor, conversation_id: uuid.UUID, since: int, limit: int
    ) -> _Answer:
        """As messaging.changes_since; raises what it would raise for this reader."""
        future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._queue.append((CatchUp(actor, conversation_id, since, limit), future))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_all())
        return await future

    async def _read_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            waiting = [(request, future) for request, future in batch if not future.done()]
            if not waiting:
                continue  # every asker went away (their sockets closed)
            try:
                answers = await messaging.changes_since_many(
                    self._rt, [request for request, _ in waiting]
                )
            except Exception as failed:  # the whole read failed: each asker learns why
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(failed)
                continue
            for (_, future), answer in zip(waiting, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, HuddleError):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
