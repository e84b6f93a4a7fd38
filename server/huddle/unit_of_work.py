"""The one path every change and every PHI read takes: a transaction that collects
audit records, appends them to the audit chain as its last step, commits, and only then
lets errors that must follow the commit escape.

    async with unit_of_work(rt, actor=actor) as uow:
        ...check policy, read/write through uow.db, seal/open PHI...
        uow.audit(Action.READ, "patient", str(patient.id), patient_id=patient.id)

If the audit append fails, the whole transaction fails: a PHI read whose audit event
cannot be written is refused (fail closed). A refused attempt is audited even though
the work is rolled back: `raise uow.refuse(error, ...)`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from huddle.actor import Actor, RequestContext
from huddle.errors import HuddleError
from huddle.events import Event
from huddle.protect import audit
from huddle.protect.audit import Action, AuditRecord, Outcome
from huddle.protect.crypto import Binding, DecryptionFailed

if TYPE_CHECKING:
    from huddle.runtime import Runtime

log = logging.getLogger("huddle.unit_of_work")

Request = TypeVar("Request")
Answer = TypeVar("Answer")


@dataclass(slots=True)
class UnitOfWork:
    rt: Runtime
    db: AsyncSession
    actor: Actor | None
    context: RequestContext
    records: list[AuditRecord] = field(default_factory=list)
    # Records kept even when the transaction rolls back (denials, integrity failures).
    kept_on_failure: list[AuditRecord] = field(default_factory=list)
    error_after_commit: HuddleError | None = None
    # Published to the event bus once (and only if) the transaction commits.
    events: list[Event] = field(default_factory=list)
    # Run once (and only if) this unit's writes are committed: not the session's
    # after_commit, which a grouped unit rolled back to its savepoint would also see.
    on_commit: list[Callable[[], None]] = field(default_factory=list)

    def audit(
        self,
        action: Action,
        resource_type: str,
        resource_id: object = None,
        *,
        patient_id: uuid.UUID | None = None,
        outcome: Outcome = Outcome.SUCCESS,
        reason: str | None = None,
        organization_id: uuid.UUID | None = None,
        actor_user_id: uuid.UUID | None = None,
        actor_role: str | None = None,
        **detail: str,
    ) -> AuditRecord:
        """Add an audit record, written with this transaction. Actor fields default to
        the signed-in actor; pass them for events before sign-in completes."""
        actor = self.actor
        record = AuditRecord(
            action=action,
            resource_type=resource_type,
            resource_id=None if resource_id is None else str(resource_id),
            outcome=outcome,
            organization_id=organization_id or (actor.organization_id if actor else None),
            actor_user_id=actor_user_id or (actor.user_id if actor else None),
            actor_role=actor_role or (actor.role.value if actor else None),
            patient_id=patient_id,
            source_ip=self.context.source_ip,
            user_agent=self.context.user_agent,
            request_id=self.context.request_id,
            reason=reason,
            detail=detail,
        )
        self.records.append(record)
        return record

    def refuse(
        self,
        error: HuddleError,
        action: Action,
        resource_type: str,
        resource_id: object = None,
        *,
        patient_id: uuid.UUID | None = None,
    ) -> HuddleError:
        """Audit a denied attempt (kept despite the rollback) and return the error."""
        record = self.audit(
            action,
            resource_type,
            resource_id,
            patient_id=patient_id,
            outcome=Outcome.DENIED,
            reason=error.code,
        )
        self.kept_on_failure.append(record)
        return error

    def act_as(self, who: Actor | RequestContext) -> None:
        """Audit what follows as `who` (an actor, or a request not yet signed in): for a
        unit that does several people's reads (sockets connecting, live delivery to many
        sockets), each checked and audited as its reader."""
        if isinstance(who, Actor):
            self.actor, self.context = who, who.context
        else:
            self.actor, self.context = None, who

    def publish_after_commit(self, event: Event) -> None:
        self.events.append(event)

    def fail_after_commit(self, error: HuddleError) -> None:
        """Commit this work (and its audit records), then raise `error`."""
        self.error_after_commit = error

    async def seal(
        self, owner_type: str, owner_id: uuid.UUID, items: Sequence[tuple[Binding, bytes]]
    ) -> list[bytes]:
        return await self.rt.envelope.seal(
            self.db, owner_type, owner_id, items, after_commit=self.on_commit.append
        )

    async def open(self, blob: bytes, binding: Binding, *, patient_id: uuid.UUID | None) -> bytes:
        """Decrypt; a failed integrity check is audited (and kept) before it is raised."""
        try:
            return await self.rt.envelope.open(self.db, blob, binding)
        except DecryptionFailed:
            record = self.audit(
                Action.INTEGRITY_FAILURE,
                binding.table,
                binding.row_id,
                patient_id=patient_id,
                outcome=Outcome.ERROR,
                column=binding.column,
            )
            self.kept_on_failure.append(record)
            raise


@asynccontextmanager
async def unit_of_work(
    rt: Runtime,
    *,
    actor: Actor | None = None,
    context: RequestContext | None = None,
    scans: bool = False,
) -> AsyncIterator[UnitOfWork]:
    """`scans=True` for work that may read thousands of rows (see Database.transaction)."""
    context = context or (actor.context if actor else RequestContext())
    uow: UnitOfWork | None = None
    try:
        async with rt.db.transaction(scans=scans) as db:
            uow = UnitOfWork(rt, db, actor, context)
            yield uow
            # Last, so the chain head is locked only for the moment before commit.
            await audit.append(db, uow.records, rt.clock.now())
    except BaseException:
        if uow is not None:
            await keep_records(rt, uow.kept_on_failure)
        raise
    await after_commit(rt, uow)
    if uow.error_after_commit is not None:
        raise uow.error_after_commit


async def for_each_reader(
    rt: Runtime,
    requests: Sequence[Request],
    reader_of: Callable[[Request], Actor | RequestContext],
    read: Callable[[UnitOfWork, Request], Awaitable[Answer]],
) -> list[Answer | HuddleError]:
    """Several people's reads in one unit of work (one transaction, one audit append):
    each checked and audited as its own reader; a refusal answers that request only.
    For reads many sockets make at once (realtime/shared_reads.py).

    A request raising anything else fails the whole unit: `BrokenRead` says which."""
    answers: list[Answer | HuddleError] = []
    async with unit_of_work(rt) as uow:
        for index, request in enumerate(requests):
            uow.act_as(reader_of(request))
            kept_before = len(uow.kept_on_failure)
            try:
                answers.append(await read(uow, request))
            except HuddleError as refused:
                answers.append(refused)
            except Exception as error:
                # The others' refusals are rolled back with the unit, not kept: they are
                # read (and audited) again. Only the culprit's attempt is audited now.
                del uow.kept_on_failure[:kept_before]
                raise BrokenRead(index) from error
    return answers


class BrokenRead(Exception):
    """Request `index` of a for_each_reader unit raised something other than a refusal
    (its error is the __cause__): the unit was rolled back with only that request's
    kept records written, so every other request is still to be read."""

    def __init__(self, index: int) -> None:
        super().__init__(f"request {index} of a shared read failed")
        self.index = index


def the_asker(actor: Actor) -> Actor:
    """`reader_of` for requests that are just who asks."""
    return actor


async def keep_records(rt: Runtime, records: list[AuditRecord]) -> None:
    """Append the audit records of work that was rolled back (denials, integrity
    failures) in a transaction of their own."""
    if records:
        async with rt.db.transaction() as db:
            await audit.append(db, records, rt.clock.now())


async def after_commit(rt: Runtime, uow: UnitOfWork) -> None:
    """What a committed unit does next: its callbacks, then its events."""
    run_on_commit(uow)
    await publish(rt, uow.events)


def run_on_commit(uow: UnitOfWork) -> None:
    """The unit's callbacks, now that its writes are durable. One that fails is logged:
    the work is committed and its caller (or a whole batch) must still be answered."""
    for callback in uow.on_commit:
        try:
            callback()
        except Exception:
            log.exception("an after-commit step failed")


async def publish(rt: Runtime, events: list[Event]) -> None:
    """Publish committed changes' events. A bus failure only delays real-time delivery
    (clients catch up from the database), so it is logged, never raised."""
    if not events:
        return
    try:
        await rt.events.publish(events)
    except Exception:
        log.exception("event publish failed; clients will catch up on resume")
