"""Who is asking, and from where: the facts every service call and policy check needs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    PCP = "pcp"
    CARE_MANAGER = "care_manager"
    PSYCHIATRIST = "psychiatrist"
    BH_CLINICIAN = "bh_clinician"
    COMPLIANCE_OFFICER = "compliance_officer"
    ADMIN = "admin"
    PATIENT = "patient"


STAFF_ROLES = frozenset(Role) - {Role.PATIENT}
# Roles that deliver care and so may sit on a care team.
CLINICAL_ROLES = frozenset({Role.PCP, Role.CARE_MANAGER, Role.PSYCHIATRIST, Role.BH_CLINICIAN})


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Where a call came from; recorded with every security and audit event."""

    source_ip: str | None = None
    request_id: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated user acting through one session."""

    user_id: UUID
    organization_id: UUID
    role: Role
    session_id: UUID
    context: RequestContext
    # For role `patient`: the record that is theirs.
    patient_id: UUID | None = None
