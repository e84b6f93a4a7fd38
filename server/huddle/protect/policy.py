"""Who may do what to whose data. Pure: decides from the actor and facts the service
looked up (care-team membership, break-glass grants, labels); no I/O, no domain imports.

Services call `decide_*` and either proceed or refuse (auditing the denial). Cross-
organization access never reaches here: queries are scoped to the actor's organization,
so another tenant's record is simply not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from huddle.actor import CLINICAL_ROLES, Actor, Role
from huddle.errors import Forbidden


class Sensitivity(StrEnum):
    GENERAL = "general"
    BEHAVIORAL_HEALTH = "behavioral_health"
    # 42 CFR Part 2 substance-use records: named care-team members only, no break-glass.
    SUBSTANCE_USE_PART2 = "substance_use_part2"


_STRICTNESS = {
    Sensitivity.GENERAL: 0,
    Sensitivity.BEHAVIORAL_HEALTH: 1,
    Sensitivity.SUBSTANCE_USE_PART2: 2,
}


def strictest(*labels: Sensitivity | None) -> Sensitivity:
    """The most restrictive of the labels given (general if none)."""
    present = [label for label in labels if label is not None]
    return max(present, key=_STRICTNESS.__getitem__, default=Sensitivity.GENERAL)


def may_read_content(label: Sensitivity, *, named_on_care_team: bool, own_record: bool) -> bool:
    """May a participant of a conversation read content carrying `label`? Part 2
    content goes only to named care-team members and the patient themself — not to
    people who joined the thread another way (on-call escalation, for one)."""
    if label is not Sensitivity.SUBSTANCE_USE_PART2:
        return True
    return named_on_care_team or own_record


class PatientAction(StrEnum):
    READ = "read"
    UPDATE = "update"
    MANAGE_CARE_TEAM = "manage_care_team"


class Via(StrEnum):
    """Why access was granted; recorded in the audit event."""

    CARE_TEAM = "care_team"
    BREAK_GLASS = "break_glass"
    SELF = "self"
    COMPLIANCE = "compliance"
    # A task reached other than through the care team (tasks.access.access_routes).
    ASSIGNEE = "assignee"
    CREATOR = "creator"
    ROLE_QUEUE = "role_queue"


@dataclass(frozen=True, slots=True)
class PatientFacts:
    patient_id: uuid.UUID
    sensitivity: Sensitivity
    on_care_team: bool
    break_glass_active: bool
    is_own_record: bool


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    via: Via | None = None
    denial: str | None = None  # a code for the client and the audit event

    @classmethod
    def allow(cls, via: Via) -> Decision:
        return cls(True, via=via)

    @classmethod
    def deny(cls, code: str) -> Decision:
        return cls(False, denial=code)


def require_role(actor: Actor, *roles: Role) -> None:
    """Raise Forbidden unless the actor holds one of `roles`."""
    if actor.role not in roles:
        raise Forbidden("Your role does not allow this action.", code="wrong_role")


def decide_patient(actor: Actor, action: PatientAction, facts: PatientFacts) -> Decision:
    """May `actor` do `action` to this patient's record?"""
    if actor.role is Role.PATIENT:
        if facts.is_own_record and action is PatientAction.READ:
            return Decision.allow(Via.SELF)
        return Decision.deny("not_your_record")
    if actor.role is Role.ADMIN:
        return Decision.deny("admins_have_no_phi_access")
    if actor.role is Role.COMPLIANCE_OFFICER:
        # Demographics only, to identify whose audit trail to review; never clinical data.
        if (
            action is PatientAction.READ
            and facts.sensitivity is not Sensitivity.SUBSTANCE_USE_PART2
        ):
            return Decision.allow(Via.COMPLIANCE)
        return Decision.deny("compliance_reads_demographics_only")
    if actor.role not in CLINICAL_ROLES:
        return Decision.deny("wrong_role")
    if facts.on_care_team:
        return Decision.allow(Via.CARE_TEAM)
    if action is PatientAction.MANAGE_CARE_TEAM:
        return Decision.deny("not_on_care_team")
    if facts.break_glass_active and facts.sensitivity is not Sensitivity.SUBSTANCE_USE_PART2:
        return Decision.allow(Via.BREAK_GLASS)
    return Decision.deny("not_on_care_team")


def decide_break_glass(actor: Actor, facts: PatientFacts) -> Decision:
    """May `actor` open this record outside the care team (with a stated reason)?"""
    if actor.role not in CLINICAL_ROLES:
        return Decision.deny("wrong_role")
    if facts.on_care_team:
        return Decision.deny("already_on_care_team")
    if facts.sensitivity is Sensitivity.SUBSTANCE_USE_PART2:
        return Decision.deny("part2_named_members_only")
    return Decision.allow(Via.BREAK_GLASS)


def may_create_patients(actor: Actor) -> bool:
    return actor.role in CLINICAL_ROLES
