"""Reads for many sockets, shared: what every socket of this process asks at the same
time — a catch-up on a conversation, its cursors when it connects — is queued here, and
whatever is queued is read in one transaction with one audit append, each request
checked and audited as its own reader (the `*_many` service functions).

A message to a thread of three reaches three sockets, and a thousand clients coming
back after an outage each ask for their cursors and their catch-ups; read one by one,
each was a transaction, taking SQLite's write lock (or a PostgreSQL connection) and the
audit chain's head. Batching needs no timer: while one batch is read, the next queues.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from huddle.actor import Actor
from huddle.errors import HuddleError
from huddle.identity import service as identity
from huddle.identity.service import SessionCheck
from huddle.identity.session_cache import CheckedSession
from huddle.messaging import conversations
from huddle.messaging import service as messaging
from huddle.messaging.service import CatchUp, MessageView
from huddle.runtime import Runtime
from huddle.tasks import service as tasks
from huddle.tasks.service import SinceRevision, TaskView
from huddle.unit_of_work import BrokenRead

log = logging.getLogger("huddle.realtime")

# Requests read in one transaction at most; the rest wait for the next.
MAX_BATCH = 64

Request = TypeVar("Request")
Answer = TypeVar("Answer")
Error = TypeVar("Error", bound=Exception)
ReadMany = Callable[[Runtime, Sequence[Request]], Awaitable[Sequence[Answer | HuddleError]]]


class SharedRead(Generic[Request, Answer]):
    """One kind of read (`read_many`: a service function answering several readers in
    one transaction, a refusal answering its own request only), batched."""

    def __init__(self, rt: Runtime, read_many: ReadMany[Request, Answer]) -> None:
        self._rt = rt
        self._read_many = read_many
        self._queue: list[tuple[Request, asyncio.Future[Answer]]] = []
        self._reading: list[tuple[Request, asyncio.Future[Answer]]] = []  # being read
        self._reader: asyncio.Task[None] | None = None

    async def read(self, request: Request) -> Answer:
        """As the service function would answer this request alone (or raise for it)."""
        return await self._ask(request)

    async def read_each(self, requests: Sequence[Request]) -> list[Answer | BaseException]:
        """Several requests queued together (so they share batches): each one's answer,
        or what it raised."""
        return await asyncio.gather(*(self._ask(r) for r in requests), return_exceptions=True)

    def _ask(self, request: Request) -> asyncio.Future[Answer]:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_all())
            self._reader.add_done_callback(self._reader_ended)
        return future

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
            log.error("shared socket reads failed", exc_info=error)
        stranded, self._reading = self._reading, []
        if reader is self._reader:
            stranded, self._queue = stranded + self._queue, []
        for _, future in stranded:
            if not future.done():
                future.set_exception(ReaderStopped("Shared socket reads stopped."))

    async def _answer(self, waiting: list[tuple[Request, asyncio.Future[Answer]]]) -> None:
        answers: Sequence[Answer | Exception]
        while waiting:
            try:
                answers = await self._read_many(self._rt, [request for request, _ in waiting])
            except BrokenRead as broken:
                # One request broke the shared transaction (a bug, a key the keyring
                # lacks): its asker gets the error. The others' reads were rolled back
                # unaudited, so the ones still waiting are read again, together.
                _settle(waiting[broken.index][1], broken.__cause__ or broken)
                waiting = [(request, future) for request, future in waiting if not future.done()]
                continue
            except Exception as failed:
                # The unit itself failed (no database turn, say): the same for every
                # asker, and their refusals were audited with it, so none is read again.
                answers = [_copy_of(failed) for _ in waiting]
            for (_, future), answer in zip(waiting, answers, strict=True):
                _settle(future, answer)
            return


@dataclass(frozen=True, slots=True)
class SharedReads:
    """The process's shared socket reads, one of each kind."""

    catch_ups: SharedRead[CatchUp, tuple[list[MessageView], int]]
    # A connecting socket's starting cursors.
    revisions: SharedRead[Actor, dict[uuid.UUID, int]]
    task_revisions: SharedRead[Actor, int]
    # A socket's task catch-ups (live and on resume), and what a resume would replay.
    task_changes: SharedRead[SinceRevision, tuple[list[TaskView], int]]
    task_backlogs: SharedRead[SinceRevision, tuple[int, int]]
    # A connecting socket's session, when it was not checked a moment ago.
    sessions: SharedRead[SessionCheck, CheckedSession]

    @classmethod
    def build(cls, rt: Runtime) -> SharedReads:
        return cls(
            catch_ups=SharedRead(rt, messaging.changes_since_many),
            revisions=SharedRead(rt, conversations.revisions_many),
            task_revisions=SharedRead(rt, tasks.task_revisions_many),
            task_changes=SharedRead(rt, tasks.changes_since_many),
            task_backlogs=SharedRead(rt, tasks.backlog_since_many),
            sessions=SharedRead(rt, identity.check_sessions_many),
        )


class ReaderStopped(RuntimeError):
    """The batch reader ended before answering (cancelled at shutdown, or broken)."""


def _settle(future: asyncio.Future[Answer], answer: Answer | BaseException) -> None:
    if future.done():  # its asker went away
        return
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)


def _copy_of(error: Error) -> Error:
    """The same error as an object of its own: one exception raised in many sockets'
    tasks would collect all their tracebacks."""
    copy = type(error).__new__(type(error), *error.args)
    copy.__dict__.update(error.__dict__)
    return copy
