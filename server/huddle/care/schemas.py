"""Request and response bodies of the patients and care-team API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from huddle.actor import Role
from huddle.care.caseloads import Caseload
from huddle.care.service import CareTeamEntry, PatientView
from huddle.protect.policy import Sensitivity, Via

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Mrn = Annotated[str, Meta(min_length=1, max_length=64)]
Phone = Annotated[str, Meta(min_length=7, max_length=32)]
Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
Reason = Annotated[str, Meta(min_length=1, max_length=500)]


class PatientIn(msgspec.Struct, forbid_unknown_fields=True):
    full_name: Name
    date_of_birth: date
    mrn: Mrn
    phone: Phone | None = None
    email: Email | None = None
    sensitivity: Sensitivity = Sensitivity.GENERAL


class PatientPatch(msgspec.Struct, forbid_unknown_fields=True):
    full_name: Name | None = None
    date_of_birth: date | None = None
    mrn: Mrn | None = None
    phone: Phone | None = None
    email: Email | None = None
    sensitivity: Sensitivity | None = None


class PatientOut(msgspec.Struct):
    id: uuid.UUID
    full_name: str
    date_of_birth: date
    mrn: str
    phone: str | None
    email: str | None
    sensitivity: Sensitivity
    created_at: datetime
    updated_at: datetime
    # How the caller reached this record: care_team, break_glass, self or compliance.
    access_via: Via

    @classmethod
    def of(cls, view: PatientView) -> PatientOut:
        return cls(**{f: getattr(view, f) for f in cls.__struct_fields__})


class PatientList(msgspec.Struct):
    patients: list[PatientOut]
    count: int


class CareTeamMemberIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: uuid.UUID
    team_role: Role


class CareTeamMemberOut(msgspec.Struct):
    user_id: uuid.UUID
    display_name: str
    team_role: Role
    added_at: datetime

    @classmethod
    def of(cls, entry: CareTeamEntry) -> CareTeamMemberOut:
        return cls(entry.user_id, entry.display_name, entry.team_role, entry.added_at)


class CareTeamOut(msgspec.Struct):
    patient_id: uuid.UUID
    members: list[CareTeamMemberOut]


class BreakGlassIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class BreakGlassOut(msgspec.Struct):
    patient_id: uuid.UUID
    expires_at: datetime


class CaseloadOut(msgspec.Struct):
    """A clinician and how many care teams they are on: a count, never whose."""

    user_id: uuid.UUID
    display_name: str
    role: Role
    is_active: bool
    care_teams: int

    @classmethod
    def of(cls, caseload: Caseload) -> CaseloadOut:
        return cls(**{f: getattr(caseload, f) for f in cls.__struct_fields__})


class CaseloadList(msgspec.Struct):
    caseloads: list[CaseloadOut]
    count: int


class CaseloadTransferIn(msgspec.Struct, forbid_unknown_fields=True):
    from_user_id: uuid.UUID
    to_user_id: uuid.UUID


class CaseloadTransferOut(msgspec.Struct):
    transferred: int
    already_on_team: int
    from_user: CaseloadOut
    to_user: CaseloadOut
