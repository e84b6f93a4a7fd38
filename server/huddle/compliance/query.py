"""Reading the audit log of one organization: the filters a compliance officer can apply,
the statement every read starts from, and the entry each row becomes.

Authorization lives in the statement: `readable_events` is scoped to one organization,
so no filter, cursor or sequence number can bring back another tenant's events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from huddle.actor import Role
from huddle.care.models import Patient
from huddle.identity.models import User
from huddle.protect.audit import HASHED_FIELDS, Action, Outcome, utc_iso
from huddle.protect.models import AuditEvent
from huddle.protect.policy import Sensitivity

# The stored columns an entry carries (not prev_hash: `hash` already chains it).
EVENT_FIELDS: tuple[str, ...] = (*(f for f in HASHED_FIELDS if f != "prev_hash"), "hash")
# What a compliance officer sees of an event, in this order (JSON, CSV).
COLUMNS: tuple[str, ...] = (*EVENT_FIELDS[:6], "actor_name", *EVENT_FIELDS[6:])
BREAK_GLASS_FLAG = "break_glass"
# Shown instead of a patient's name: a patient's name is PHI, a staff member's is not.
PATIENT_ACTOR_NAME = "Patient"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    id: uuid.UUID
    at: datetime
    organization_id: uuid.UUID
    actor_user_id: uuid.UUID | None
    actor_role: str | None
    actor_name: str | None
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: uuid.UUID | None
    outcome: str
    source_ip: str | None
    user_agent: str | None
    request_id: str | None
    reason: str | None
    detail: dict[str, str]
    hash: str
    # A portal account's own record (FHIR names such an agent Patient/<id>); never listed.
    actor_patient_id: uuid.UUID | None = None

    @property
    def is_break_glass(self) -> bool:
        return self.action == Action.BREAK_GLASS or self.detail.get("flagged") == BREAK_GLASS_FLAG


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to read; every field narrows. `since` is inclusive, `until` not."""

    patient_id: uuid.UUID | None = None
    actor_user_id: uuid.UUID | None = None
    action: Action | None = None
    outcome: Outcome | None = None
    resource_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    flagged: bool | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.patient_id is not None:
            conditions.append(AuditEvent.patient_id == self.patient_id)
        if self.actor_user_id is not None:
            conditions.append(AuditEvent.actor_user_id == self.actor_user_id)
        if self.action is not None:
            conditions.append(AuditEvent.action == self.action.value)
        if self.outcome is not None:
            conditions.append(AuditEvent.outcome == self.outcome.value)
        if self.resource_type is not None:
            conditions.append(AuditEvent.resource_type == self.resource_type)
        if self.since is not None:
            conditions.append(AuditEvent.at >= self.since)
        if self.until is not None:
            conditions.append(AuditEvent.at < self.until)
        if self.flagged is not None:
            flagged = break_glass_condition()
            conditions.append(flagged if self.flagged else ~flagged)
        return conditions

    def as_detail(self) -> dict[str, str]:
        """The filters as audit detail. Prefixed, so that a `flagged` filter is never
        mistaken for an event flagged for review."""
        values: dict[str, object] = {
            "patient_id": self.patient_id,
            "actor_user_id": self.actor_user_id,
            "action": self.action,
            "outcome": self.outcome,
            "resource_type": self.resource_type,
            "since": self.since,
            "until": self.until,
            "flagged": self.flagged,
        }
        return {f"filter_{name}": _detail_text(v) for name, v in values.items() if v is not None}


def _detail_text(value: object) -> str:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def readable_events(organization_id: uuid.UUID) -> Select[Any]:
    """Every event of one organization, each with its actor's display name."""
    return (
        select(
            *(getattr(AuditEvent, name) for name in EVENT_FIELDS),
            User.display_name.label("actor_display_name"),
            User.patient_id.label("actor_patient_id"),
        )
        .outerjoin(User, event_actor())
        .where(AuditEvent.organization_id == organization_id)
    )


def event_actor() -> ColumnElement[bool]:
    """Joins an event to the user who acted (of the event's own organization)."""
    return and_(
        User.id == AuditEvent.actor_user_id, User.organization_id == AuditEvent.organization_id
    )


def break_glass_condition() -> ColumnElement[bool]:
    """Events flagged for review as break-glass: the grant and every read under it."""
    # Coalesced so that the negation also holds for events without a `flagged` key.
    flagged = func.coalesce(AuditEvent.detail["flagged"].as_string(), "")
    return or_(AuditEvent.action == Action.BREAK_GLASS.value, flagged == BREAK_GLASS_FLAG)


def without_part2(organization_id: uuid.UUID) -> ColumnElement[bool]:
    """Leaves out events about patients labelled 42 CFR Part 2. Fails closed: it keeps
    only events about no patient or about a patient known *not* to be Part 2, so an
    erased patient, whose label went with the record, is left out too."""
    cleared = select(Patient.id).where(
        Patient.organization_id == organization_id,
        Patient.sensitivity != Sensitivity.SUBSTANCE_USE_PART2.value,
    )
    return or_(AuditEvent.patient_id.is_(None), AuditEvent.patient_id.in_(cleared))


async def fetch(db: AsyncSession, statement: Select[Any]) -> list[AuditEntry]:
    return [entry_of(row) for row in await db.execute(statement)]


def entry_of(row: Row[Any]) -> AuditEntry:
    values = row._mapping
    return AuditEntry(
        **{column: values[column] for column in EVENT_FIELDS},
        actor_name=actor_name(values["actor_role"], values["actor_display_name"]),
        actor_patient_id=values["actor_patient_id"],
    )


def actor_name(role: str | None, display_name: str | None) -> str | None:
    """How an actor is named to a compliance officer: staff by name, patients not."""
    return PATIENT_ACTOR_NAME if role == Role.PATIENT else display_name
