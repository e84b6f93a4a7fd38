"""Group commit: units of work that arrive together share one transaction.

Every send paid for a transaction of its own: BEGIN, COMMIT (an fsync on SQLite with
synchronous=FULL, a WAL flush on PostgreSQL), the audit chain head's read and write, a
session. With twenty people sending at once they paid it one after another. Here one
writer task opens a transaction and gives each waiting unit its turn inside a savepoint
of it, in arrival order; then appends all their audit records at once, commits, and
only then answers each of them and publishes their events.

A unit that fails is rolled back to its savepoint and the others go on; its refusal
audits are committed with the batch and its error reaches its caller after that, as
with `unit_of_work`. Nobody waits for a batch to fill: the writer takes whoever is
waiting, so a lone send commits at once, and under load a batch is what arrived during
the previous commit, at most MAX_TURNS, so the first in a batch is not held for long.

    async with grouped_unit_of_work(rt, actor=actor) as uow:
        ...as in unit_of_work...

Only for short units that do nothing but database work (a turn holds the transaction
for everyone behind it) and open no other transaction (that fails at once). The units
of a batch share one session: build what the caller returns inside the `async with`
(as send_message does its view), because a later unit rolled back to its savepoint may
expire ORM objects an earlier one still holds.

On SQLite only. There every transaction of the process waits for the one before it
anyway (one writer), so sharing one costs no concurrency. PostgreSQL runs transactions
side by side on a pool: a batch would put them in one line on one connection, waiting
for each statement's round trip in turn (measured: no gain, 164 vs 155 messages/s in
(b)), and would hold several conversations' row locks at once, which two instances'
batches could take in opposite orders (a deadlock). There a grouped unit is a plain
`unit_of_work`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from huddle.actor import Actor
from huddle.errors import Busy
from huddle.protect import audit
from huddle.unit_of_work import UnitOfWork, keep_records, publish, run_on_commit, unit_of_work

if TYPE_CHECKING:
    from huddle.runtime import Runtime

log = logging.getLogger("huddle.group_commit")

# Units per transaction: enough to pay BEGIN and COMMIT once for a burst, few enough
# that the first of them is answered within a few milliseconds of its own work.
MAX_TURNS = 32


def _future() -> asyncio.Future:  # type: ignore[type-arg]
    return asyncio.get_running_loop().create_future()


@dataclass(slots=True, eq=False)
class _Turn:
    actor: Actor
    # The writer hands over the unit of work; the caller hands back how its work ended
    # (None, or what it raised); the writer tells whether the batch committed.
    started: asyncio.Future[UnitOfWork] = field(default_factory=_future)
    finished: asyncio.Future[BaseException | None] = field(default_factory=_future)
    committed: asyncio.Future[None] = field(default_factory=_future)
    succeeded: bool = False

    def finish(self, error: BaseException | None) -> None:
        if not self.finished.done():
            self.finished.set_result(error)

    def fail(self, failure: BaseException) -> None:
        """Tell the caller, waiting to start or for the commit, that nothing was saved."""
        future = self.committed if self.started.done() else self.started
        if future.done():
            return
        # Each its own error: one exception raised in many tasks would share (and grow)
        # one traceback.
        if isinstance(failure, Busy):  # the database's write lock, not the batch
            future.set_exception(Busy(failure.detail, code=failure.code))
        else:
            future.set_exception(
                Busy("The server could not save that. Try again.", code="commit_failed")
            )


class _AloneFailed(Exception):
    """The only unit of a batch failed: roll its transaction back."""


class GroupCommit:
    """One per process (Runtime.group_commit): the queue and its writer task, which
    exists only while units are waiting."""

    __slots__ = ("_queue", "_writer")

    def __init__(self) -> None:
        self._queue: deque[_Turn] = deque()
        self._writer: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def turn(self, rt: Runtime, actor: Actor) -> AsyncIterator[UnitOfWork]:
        turn = _Turn(actor)
        self._queue.append(turn)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(rt), name="huddle-group-commit")
        uow = await _wait_for(turn)
        try:
            with rt.db.borrowed_turn():
                yield uow
                # Its own writes' errors are its own: not the whole batch's at RELEASE.
                await uow.db.flush()
        except Exception as error:
            turn.finish(error)
            # Its refusal audits are committed with the batch; report after that.
            with contextlib.suppress(Exception):
                await turn.committed
            raise
        except BaseException as error:  # cancelled: rolled back; no need to wait
            turn.finish(error)
            raise
        turn.finish(None)
        await turn.committed
        if uow.error_after_commit is not None:
            raise uow.error_after_commit

    async def _write(self, rt: Runtime) -> None:
        try:
            while self._queue:
                await self._commit_batch(rt)
        except Exception:
            log.exception("the group commit writer stopped")
        finally:
            # Whatever ended it, nobody may wait for it forever.
            waiting, self._writer = list(self._queue), None
            self._queue.clear()
            for turn in waiting:
                turn.fail(Busy("The server is busy. Try again in a moment."))

    async def _commit_batch(self, rt: Runtime) -> None:
        batch: list[tuple[_Turn, UnitOfWork]] = []
        try:
            # BEGIN comes here, in the writer (Database.transaction): if another
            # process holds SQLite's write lock, those waiting are told once.
            async with rt.db.transaction() as db:
                # Those waiting now; who comes meanwhile waits for the next batch.
                count = min(len(self._queue), MAX_TURNS)
                for _ in range(count):
                    turn = self._queue.popleft()
                    # Alone, a unit needs no savepoint (two statements): if it fails,
                    # the transaction is rolled back, as a plain unit of work's is.
                    savepoint = await db.begin_nested() if count > 1 else None
                    if turn.started.cancelled():  # its caller gave up waiting
                        if savepoint is not None:
                            await savepoint.rollback()
                        continue
                    uow = UnitOfWork(rt, db, turn.actor, turn.actor.context)
                    batch.append((turn, uow))
                    turn.started.set_result(uow)
                    turn.succeeded = (await turn.finished) is None
                    if savepoint is not None:
                        await (savepoint.commit() if turn.succeeded else savepoint.rollback())
                    elif not turn.succeeded:
                        raise _AloneFailed
                records = [
                    record
                    for turn, uow in batch
                    for record in (uow.records if turn.succeeded else uow.kept_on_failure)
                ]
                await audit.append(db, records, rt.clock.now())
        except _AloneFailed:
            await self._answer_alone_failed(rt, batch)
            return
        except Exception as failure:
            await self._fail(rt, batch, failure)
            return
        except BaseException as failure:  # the writer cancelled: tell its batch
            for turn, _uow in batch:
                turn.fail(failure)
            raise
        succeeded = [uow for turn, uow in batch if turn.succeeded]
        for uow in succeeded:
            run_on_commit(uow)
        for turn, _uow in batch:
            if not turn.committed.done():
                turn.committed.set_result(None)
        # Answered first: a slow event bus delays live delivery, not acknowledgements.
        await publish(rt, [event for uow in succeeded for event in uow.events])

    async def _answer_alone_failed(
        self, rt: Runtime, batch: list[tuple[_Turn, UnitOfWork]]
    ) -> None:
        """The batch's only unit failed and its transaction was rolled back: keep its
        refusal audits, then let its caller raise its own error."""
        ((turn, uow),) = batch
        try:
            await keep_records(rt, uow.kept_on_failure)
        except Exception:
            log.exception("the refusal audits of a failed unit were not kept")
        if not turn.committed.done():
            turn.committed.set_result(None)

    async def _fail(
        self, rt: Runtime, batch: list[tuple[_Turn, UnitOfWork]], failure: Exception
    ) -> None:
        """Nothing of the batch was written: keep its refusal audits and tell each of its
        units; if the transaction could not even begin, those waiting too."""
        turns = [turn for turn, _uow in batch]
        if batch:
            log.error("a group commit failed; its units were rolled back", exc_info=failure)
            kept = [record for _turn, uow in batch for record in uow.kept_on_failure]
            try:
                await keep_records(rt, kept)
            except Exception:
                log.exception("the refusal audits of a failed group commit were not kept")
        else:
            turns += self._queue
            self._queue.clear()
        for turn in turns:
            turn.fail(failure)


async def _wait_for(turn: _Turn) -> UnitOfWork:
    try:
        return await turn.started
    except asyncio.CancelledError:
        if turn.started.done() and not turn.started.cancelled():
            turn.finish(asyncio.CancelledError())  # given its turn as it was cancelled
        raise


def grouped_unit_of_work(
    rt: Runtime, *, actor: Actor
) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
    """A unit of work that shares its transaction with others arriving at the same time
    (module docstring): for the hot, short ones such as sending a message."""
    if not rt.db.one_writer_at_a_time:
        return unit_of_work(rt, actor=actor)
    return rt.group_commit.turn(rt, actor)
