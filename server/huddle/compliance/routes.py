"""HTTP endpoints of the audit API (compliance officers) and a patient's access log.

Query parameters are parsed here into the service's filter and page values; a bad one
is a 400 `invalid_request` naming the field. Nothing else happens here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, PathParameter, QueryParameter

from huddle.compliance import fhir, service
from huddle.compliance.export import CSV_MEDIA_TYPE, csv_bytes, export_filename
from huddle.compliance.query import AuditFilter
from huddle.compliance.schemas import (
    MAX_SEQ,
    AccessLogEntryOut,
    AccessLogOut,
    AuditEventOut,
    AuditPageOut,
    DisclosureOut,
    DisclosuresOut,
    FlagOut,
    FlagsOut,
    PeopleOut,
    PersonOut,
    VerificationOut,
    decode_cursor,
    encode_cursor,
)
from huddle.compliance.service import ExportFormat, Page
from huddle.dependencies import CurrentActor, Rt
from huddle.protect.audit import Action, Outcome

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Events per page (1-500).")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=64, description="`next_cursor` of the page before.")
]
ResourceType = Annotated[str | None, QueryParameter(min_length=1, max_length=40)]
Seq = Annotated[int, PathParameter(ge=1, le=MAX_SEQ)]
Filters = NamedDependency[AuditFilter]
Paging = NamedDependency[Page]


def _invalid(field: str, message: str) -> ValidationException:
    return ValidationException(
        "The request is not valid.", extra=[{"key": field, "message": message}]
    )


def _utc_window(
    since: datetime | None, until: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Times without an offset are UTC; `since` must come before `until`."""
    since, until = _as_utc(since), _as_utc(until)
    if since is not None and until is not None and since >= until:
        raise _invalid("until", "until must be later than since")
    return since, until


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def provide_filters(
    patient_id: FromQuery[uuid.UUID | None] = None,
    actor_user_id: FromQuery[uuid.UUID | None] = None,
    action: FromQuery[Action | None] = None,
    outcome: FromQuery[Outcome | None] = None,
    resource_type: ResourceType = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    flagged: FromQuery[bool | None] = None,
) -> AuditFilter:
    """The filters shared by the search and both exports."""
    since, until = _utc_window(since, until)
    return AuditFilter(
        patient_id, actor_user_id, action, outcome, resource_type, since, until, flagged
    )


def provide_page(limit: Limit = 100, cursor: Cursor = None) -> Page:
    if cursor is None:
        return Page(limit)
    try:
        return Page(limit, decode_cursor(cursor))
    except ValueError:
        raise _invalid("cursor", "not a cursor this API gave out") from None


FILTERS = {"filters": Provide(provide_filters, sync_to_thread=False)}
PAGE = {"page": Provide(provide_page, sync_to_thread=False)}
FILTERED_PAGE = FILTERS | PAGE


def _attachment(body: bytes, media_type: str, filename: str) -> Response[bytes]:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


class AuditController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("", dependencies=FILTERED_PAGE)
    async def search(
        self, rt: Rt, actor: CurrentActor, filters: Filters, page: Paging
    ) -> AuditPageOut:
        """Compliance officer: your organization's audit events, newest first. Audited."""
        found = await service.search_audit(rt, actor, filters, page)
        events = [AuditEventOut.of(e) for e in found.entries]
        return AuditPageOut(events, encode_cursor(found.next_before_seq))

    @get("/people")
    async def people(self, rt: Rt, actor: CurrentActor) -> PeopleOut:
        """Compliance officer: the staff of your organization (names, roles, active or
        not; no patients), to filter the audit log by person. Audited."""
        found = [PersonOut.of(p) for p in await service.list_people(rt, actor)]
        return PeopleOut(found, len(found))

    @get("/{seq:int}")
    async def event(self, seq: Seq, rt: Rt, actor: CurrentActor) -> AuditEventOut:
        """Compliance officer: one event of your organization. Audited."""
        return AuditEventOut.of(await service.get_audit_event(rt, actor, seq))

    @get("/export.csv", dependencies=FILTERS)
    async def export_csv(self, rt: Rt, actor: CurrentActor, filters: Filters) -> Response[bytes]:
        """Compliance officer: matching events as CSV, oldest first (at most 50,000;
        42 CFR Part 2 patients only when named by `patient_id`). Audited."""
        made = await service.export_audit(rt, actor, filters, ExportFormat.CSV)
        name = export_filename(made.organization_id, made.made_at, "csv")
        return _attachment(csv_bytes(made.entries), CSV_MEDIA_TYPE, name)

    @get("/export.fhir", dependencies=FILTERS)
    async def export_fhir(self, rt: Rt, actor: CurrentActor, filters: Filters) -> Response[bytes]:
        """Compliance officer: matching events as a FHIR R4 Bundle of AuditEvents (same
        limits as the CSV export). Audited."""
        made = await service.export_audit(rt, actor, filters, ExportFormat.FHIR)
        body = msgspec.json.encode(fhir.bundle(made.entries, made.made_at))
        name = export_filename(made.organization_id, made.made_at, "fhir.json")
        return _attachment(body, fhir.FHIR_MEDIA_TYPE, name)

    @get("/disclosures")
    async def disclosures(
        self,
        rt: Rt,
        actor: CurrentActor,
        patient_id: FromQuery[uuid.UUID],
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> DisclosuresOut:
        """Compliance officer: who accessed one patient's data, one line per person
        (accounting of disclosures). Audited."""
        since, until = _utc_window(since, until)
        people = await service.account_disclosures(rt, actor, patient_id, since, until)
        return DisclosuresOut(patient_id, since, until, [DisclosureOut.of(p) for p in people])

    @get("/verification")
    async def verification(self, rt: Rt, actor: CurrentActor) -> VerificationOut:
        """Compliance officer: check the whole audit chain and its signed checkpoints.
        Audited."""
        return VerificationOut.of(await service.verify_audit_log(rt, actor))

    @get("/flagged")
    async def flagged(
        self,
        rt: Rt,
        actor: CurrentActor,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> FlagsOut:
        """Compliance officer: events to review (break-glass, denied bursts, after-hours
        reads, many patients outside the care team), newest first. Audited."""
        since, until = _utc_window(since, until)
        found = await service.review_flags(rt, actor, since, until)
        flags = [FlagOut.of(flag) for flag in found.flags]
        return FlagsOut(found.since, found.until, found.complete, flags)


class AccessLogController(Controller):
    path = "/api/v1/me"
    tags = ["me"]

    @get("/access-log", dependencies=PAGE)
    async def access_log(self, rt: Rt, actor: CurrentActor, page: Paging) -> AccessLogOut:
        """Patient: who accessed your record, when and how, newest first."""
        found = await service.my_access_log(rt, actor, page)
        entries = [AccessLogEntryOut.of(e) for e in found.entries]
        return AccessLogOut(entries, encode_cursor(found.next_before_seq))


CONTROLLERS = [AuditController, AccessLogController]
