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
import logging
import uuid
from collections.abc import Sequence

from huddle.actor import Actor
from huddle.errors import HuddleError
from huddle.messaging import service as messaging
from huddle.messaging.service import CatchUp, MessageView
from huddle.runtime import Runtime

log = logging.getLogger("huddle.realtime")

# Requests read in one transaction at most; the rest wait for the next.
MAX_BATCH = 64

_Answer = tuple[list[MessageView], int]
_Request = tuple[CatchUp, asyncio.Future[_Answer]]


class CatchUps:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._queue: list[_Request] = []
        self._reading: list[_Request] = []  # the batch being read
        self._reader: asyncio.Task[None] | None = None

    async def changes_since(
        self, actor: Actor, conversation_id: uuid.UUID, since: int, limit: int
    ) -> _Answer:
        """As messaging.changes_since; raises what it would raise for this reader."""
        future: asyncio.Future[_Answer] = asyncio.get_running_loop().create_future()
        self._queue.append((CatchUp(actor, conversation_id, since, limit), future))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_all())
            self._reader.add_done_callback(self._reader_ended)
        return await future

    async def _read_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            # Skip askers that went away (their sockets closed).
            self._reading = [(request, future) for request, future in batch if not future.done()]
            if self._reading:
                await self._answer(self._reading)
        self._reading = []

    def _reader_ended(self, reader: asyncio.Task[None]) -> None:
        """However the reader ended (cancelled, even before it ran, or broken), nobody
        may wait for it forever: their sockets would go on without live delivery. A
        successor reader (started since) takes the queue; this one's batch is lost."""
        if not reader.cancelled() and (error := reader.exception()) is not None:
            log.error("live delivery reader failed", exc_info=error)
        stranded, self._reading = self._reading, []
        if reader is self._reader:
            stranded, self._queue = stranded + self._queue, []
        for _, future in stranded:
            if not future.done():
                future.set_exception(ReaderStopped("Live delivery reads stopped."))

    async def _answer(self, waiting: list[_Request]) -> None:
        answers: Sequence[_Answer | Exception]
        try:
            answers = await messaging.changes_since_many(
                self._rt, [request for request, _ in waiting]
            )
        except HuddleError as failed:  # e.g. no database turn: the same for every asker
            answers = [_copy_of(failed) for _ in waiting]
        except Exception as failed:
            # One request broke the shared transaction (a bug, a key the keyring lacks,
            # a database error): read each alone, so only its own asker gets the error.
            if len(waiting) == 1:
                answers = [failed]
            else:
                answers = [await self._read_alone(request) for request, _ in waiting]
        for (_, future), answer in zip(waiting, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _read_alone(self, request: CatchUp) -> _Answer | Exception:
        try:
            (answer,) = await messaging.changes_since_many(self._rt, [request])
        except Exception as failed:
            return failed
        return answer


class ReaderStopped(RuntimeError):
    """The batch reader ended before answering (cancelled at shutdown, or broken)."""


def _copy_of(error: HuddleError) -> HuddleError:
    """The same error as an object of its own: one exception raised in many sockets'
    tasks would collect all their tracebacks."""
    copy = type(error).__new__(type(error), *error.args)
    copy.__dict__.update(error.__dict__)
    return copy
