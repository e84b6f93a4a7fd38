"""The compliance officer's audit API and a patient's own access log.

Every function checks the caller's role (a refusal is itself audited), reads only the
caller's organization (`query.readable_events`), runs in one unit of work and audits
itself: reading or exporting the audit log is an `audit_log` event whose detail names
the filters used, never PHI. Results leave only after that event has committed. Units
of work whose filters may match thousands of events are opened with `scans=True`, so
that on SQLite their reads do not hold up the event loop. Verifying the log, which
answers with sequence numbers and hashes only, reads in a snapshot instead (no write
waits for it) and is audited in a unit of work of its own right after.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, or_, select

from huddle.actor import Actor, Role
from huddle.compliance import review
from huddle.compliance.disclosures import (
    ACCESS_ACTIONS,
    AccessGroup,
    PersonAccess,
    grouped_accesses,
    per_person,
)
from huddle.compliance.query import (
    AuditEntry,
    AuditFilter,
    break_glass_condition,
    fetch,
    readable_events,
    without_part2,
)
from huddle.errors import Forbidden, Invalid, NotFound
from huddle.identity.models import User
from huddle.protect import audit, policy
from huddle.protect.audit import Action, Outcome, VerifyReport, utc_iso
from huddle.protect.models import AuditCheckpoint, AuditEvent
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work

AUDIT_LOG = "audit_log"
ACCESS_LOG = "access_log"
STAFF_DIRECTORY = "staff_directory"
# An export is built in memory and leaves only after its audit event commits.
EXPORT_LIMIT = 50_000
REVIEW_DEFAULT_WINDOW = timedelta(days=30)
REVIEW_MAX_WINDOW = timedelta(days=92)
# Per kind of candidate event; past it the review says it is incomplete.
REVIEW_SCAN_LIMIT = 20_000
YOU = "You"
SYSTEM_NAME = "Huddle"


class ExportFormat(StrEnum):
    CSV = "csv"
    FHIR = "fhir"


@dataclass(frozen=True, slots=True)
class Page:
    """At most `limit` events, newest first, all with seq below `before_seq` if set."""

    limit: int
    before_seq: int | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before_seq: int | None  # None when this was the last page


@dataclass(frozen=True, slots=True)
class AuditExport:
    entries: list[AuditEntry]
    organization_id: uuid.UUID
    made_at: datetime


@dataclass(frozen=True, slots=True)
class CheckpointSummary:
    tree_size: int
    root_hash: str
    signed_at: datetime
    key_id: str


@dataclass(frozen=True, slots=True)
class Verification:
    report: VerifyReport
    latest_checkpoint: CheckpointSummary | None


@dataclass(frozen=True, slots=True)
class FlagReview:
    flags: list[review.Flag]
    since: datetime
    until: datetime
    complete: bool  # False when a scan limit cut the candidate events short


@dataclass(frozen=True, slots=True)
class Person:
    """A member of staff as the audit search's people picker shows them."""

    id: uuid.UUID
    display_name: str
    role: Role
    is_active: bool


@dataclass(frozen=True, slots=True)
class AccessLogEntry:
    at: datetime
    who: str
    role: str | None
    action: str
    resource_type: str


@dataclass(frozen=True, slots=True)
class AccessLogPage:
    entries: list[AccessLogEntry]
    next_before_seq: int | None


async def list_people(rt: Runtime, actor: Actor) -> list[Person]:
    """The staff of the officer's organization, active and deactivated (a leaver's
    events stay in the log), by name: whom the audit search can filter by. Names and
    roles only. Patients' portal accounts are left out: the audit log names no patient
    actor to an officer, and a list of them would be a list of patients. Audited."""
    async with unit_of_work(rt, actor=actor) as uow:
        _require_compliance_officer(uow, actor, Action.READ)
        rows = await uow.db.execute(
            select(User.id, User.display_name, User.role, User.is_active)
            .where(User.organization_id == actor.organization_id, User.role != Role.PATIENT.value)
            .order_by(User.display_name, User.id)
        )
        people = [Person(row.id, row.display_name, Role(row.role), row.is_active) for row in rows]
        uow.audit(Action.READ, STAFF_DIRECTORY, returned=str(len(people)))
    return people


async def search_audit(rt: Runtime, actor: Actor, filters: AuditFilter, page: Page) -> AuditPage:
    """One page of the organization's events that match `filters`, newest first."""
    # scans: filters that match rarely walk many events to fill a page.
    async with unit_of_work(rt, actor=actor, scans=True) as uow:
        _require_compliance_officer(uow, actor, Action.READ)
        statement = readable_events(actor.organization_id).where(*filters.conditions())
        entries, next_before = await _page(uow, statement, page)
        uow.audit(
            Action.READ,
            AUDIT_LOG,
            patient_id=filters.patient_id,
            **filters.as_detail(),
            **_page_detail(page, len(entries)),
        )
    return AuditPage(entries, next_before)


async def get_audit_event(rt: Runtime, actor: Actor, seq: int) -> AuditEntry:
    """One event of the organization; NotFound for any other."""
    async with unit_of_work(rt, actor=actor) as uow:
        _require_compliance_officer(uow, actor, Action.READ)
        statement = readable_events(actor.organization_id).where(AuditEvent.seq == seq)
        found = await fetch(uow.db, statement)
        if not found:
            raise NotFound("No such audit event.")
        uow.audit(Action.READ, AUDIT_LOG, seq)
    return found[0]


async def export_audit(
    rt: Runtime, actor: Actor, filters: AuditFilter, export_format: ExportFormat
) -> AuditExport:
    """Every matching event, oldest first, up to EXPORT_LIMIT (more is refused with
    Invalid, and the attempt audited). Events about a patient labelled 42 CFR Part 2
    (or erased, so no longer known not to be) are left out unless `filters` names that
    patient: Part 2 restricts redisclosure."""
    async with unit_of_work(rt, actor=actor, scans=True) as uow:
        _require_compliance_officer(uow, actor, Action.EXPORT)
        statement = readable_events(actor.organization_id).where(*filters.conditions())
        if filters.patient_id is None:
            statement = statement.where(without_part2(actor.organization_id))
        entries = await fetch(uow.db, statement.order_by(AuditEvent.seq).limit(EXPORT_LIMIT + 1))
        detail = {**filters.as_detail(), "format": export_format.value}
        too_large = len(entries) > EXPORT_LIMIT
        if not too_large:
            detail["events"] = str(len(entries))
        uow.audit(
            Action.EXPORT,
            AUDIT_LOG,
            patient_id=filters.patient_id,
            outcome=Outcome.FAILURE if too_large else Outcome.SUCCESS,
            reason="export_too_large" if too_large else None,
            **detail,
        )
        if too_large:
            # Raised after the commit, so that the attempt's audit event is kept.
            uow.fail_after_commit(
                Invalid(
                    f"More than {EXPORT_LIMIT} events match; narrow the filters "
                    "(a shorter since/until, one patient, one action).",
                    code="export_too_large",
                )
            )
            entries = []
    return AuditExport(entries, actor.organization_id, rt.clock.now())


async def account_disclosures(
    rt: Runtime,
    actor: Actor,
    patient_id: uuid.UUID,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[PersonAccess]:
    """Who accessed one patient's data (reads, changes, exports, break-glass) and who
    was refused, one line per person, most recent first."""
    async with unit_of_work(rt, actor=actor, scans=True) as uow:
        _require_compliance_officer(uow, actor, Action.READ)
        window = AuditFilter(patient_id=patient_id, since=since, until=until)
        rows = await uow.db.execute(grouped_accesses(actor.organization_id, window))
        groups = [AccessGroup.of(row) for row in rows]
        uow.audit(
            Action.READ,
            AUDIT_LOG,
            patient_id=patient_id,
            report="disclosures",
            **window.as_detail(),
        )
    return per_person(groups)


async def verify_audit_log(rt: Runtime, actor: Actor) -> Verification:
    """Check the whole chain (every organization's events) and its checkpoints. The
    answer holds only sequence numbers and hashes, no other organization's data."""
    async with unit_of_work(rt, actor=actor) as uow:  # to audit a refusal
        _require_compliance_officer(uow, actor, Action.READ)
    # Then the verification in a read-only snapshot, which holds no send or other
    # write up however long the log, and after it the unit of work that audits it (the
    # answer leaves only once that commits): transactions never nest.
    async with rt.db.snapshot() as db:
        report = await audit.verify(db, rt.keyring.audit_public_keys())
        latest = await db.scalar(
            select(AuditCheckpoint)
            .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc())
            .limit(1)
        )
    async with unit_of_work(rt, actor=actor) as uow:
        uow.audit(
            Action.READ,
            AUDIT_LOG,
            report="verification",
            ok=str(report.ok).lower(),
            head_seq=str(report.head_seq),
        )
    summary = (
        None
        if latest is None
        else CheckpointSummary(latest.tree_size, latest.root_hash, latest.signed_at, latest.key_id)
    )
    return Verification(report, summary)


async def review_flags(
    rt: Runtime, actor: Actor, since: datetime | None = None, until: datetime | None = None
) -> FlagReview:
    """Events to review in [since, until) (default: the last 30 days), newest first;
    see `review` for the rules. Refuses windows longer than REVIEW_MAX_WINDOW."""
    until = until or rt.clock.now()
    since = since or until - REVIEW_DEFAULT_WINDOW
    if until - since > REVIEW_MAX_WINDOW:
        raise Invalid(
            f"Review at most {REVIEW_MAX_WINDOW.days} days at a time.", code="window_too_long"
        )
    async with unit_of_work(rt, actor=actor, scans=True) as uow:
        _require_compliance_officer(uow, actor, Action.READ)
        in_window = readable_events(actor.organization_id).where(
            *AuditFilter(since=since, until=until).conditions()
        )
        suspicious = in_window.where(
            or_(break_glass_condition(), AuditEvent.outcome == Outcome.DENIED.value)
        )
        candidates, complete = await _newest(uow, suspicious)
        after_hours: list[AuditEntry] = []
        if spans := review.after_hours_spans(since, until):
            reads = in_window.where(
                AuditEvent.action == Action.READ.value,
                AuditEvent.outcome == Outcome.SUCCESS.value,
                AuditEvent.patient_id.is_not(None),
                or_(*(and_(AuditEvent.at >= start, AuditEvent.at < end) for start, end in spans)),
            )
            after_hours, reads_complete = await _newest(uow, reads)
            complete = complete and reads_complete
        uow.audit(
            Action.READ,
            AUDIT_LOG,
            report="flagged",
            filter_since=utc_iso(since),
            filter_until=utc_iso(until),
        )
    return FlagReview(review.flags(candidates, after_hours), since, until, complete)


async def my_access_log(rt: Runtime, actor: Actor, page: Page) -> AccessLogPage:
    """For a patient: who accessed their record, when and how, newest first. Names staff
    and says "You" for the patient; never addresses, details or other patients."""
    # scans: a page is sorted from all of the patient's events.
    async with unit_of_work(rt, actor=actor, scans=True) as uow:
        try:
            policy.require_role(actor, Role.PATIENT)
        except Forbidden as refused:
            raise uow.refuse(refused, Action.READ, ACCESS_LOG) from None
        entries: list[AuditEntry] = []
        next_before: int | None = None
        if actor.patient_id is not None:
            own_record = readable_events(actor.organization_id).where(
                AuditEvent.patient_id == actor.patient_id,
                AuditEvent.outcome == Outcome.SUCCESS.value,
                AuditEvent.action.in_([a.value for a in ACCESS_ACTIONS]),
            )
            entries, next_before = await _page(uow, own_record, page)
        uow.audit(
            Action.READ, ACCESS_LOG, patient_id=actor.patient_id, **_page_detail(page, len(entries))
        )
    return AccessLogPage([_as_seen_by(actor, e) for e in entries], next_before)


def _require_compliance_officer(uow: UnitOfWork, actor: Actor, action: Action) -> None:
    """Only compliance officers read the audit log; a refusal is audited too."""
    try:
        policy.require_role(actor, Role.COMPLIANCE_OFFICER)
    except Forbidden as refused:
        raise uow.refuse(refused, action, AUDIT_LOG) from None


async def _page(
    uow: UnitOfWork, statement: Select[Any], page: Page
) -> tuple[list[AuditEntry], int | None]:
    if page.before_seq is not None:
        statement = statement.where(AuditEvent.seq < page.before_seq)
    # One more than asked for tells whether another page follows.
    entries = await fetch(uow.db, statement.order_by(AuditEvent.seq.desc()).limit(page.limit + 1))
    if len(entries) <= page.limit:
        return entries, None
    entries = entries[: page.limit]
    return entries, entries[-1].seq


async def _newest(uow: UnitOfWork, statement: Select[Any]) -> tuple[list[AuditEntry], bool]:
    """Up to REVIEW_SCAN_LIMIT of the newest events, and whether that was all of them."""
    ordered = statement.order_by(AuditEvent.seq.desc()).limit(REVIEW_SCAN_LIMIT + 1)
    entries = await fetch(uow.db, ordered)
    return entries[:REVIEW_SCAN_LIMIT], len(entries) <= REVIEW_SCAN_LIMIT


def _page_detail(page: Page, returned: int) -> dict[str, str]:
    detail = {"limit": str(page.limit), "returned": str(returned)}
    if page.before_seq is not None:
        detail["before_seq"] = str(page.before_seq)
    return detail


def _as_seen_by(patient: Actor, entry: AuditEntry) -> AccessLogEntry:
    if entry.actor_user_id == patient.user_id:
        who = YOU
    elif entry.actor_user_id is None:
        who = SYSTEM_NAME
    else:
        who = entry.actor_name or "A staff member"
    return AccessLogEntry(entry.at, who, entry.actor_role, entry.action, entry.resource_type)
