"""Patients, care teams and break-glass: every read and change of a patient record is
checked by policy, done in one unit of work, and audited (denials included)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from sqlalchemy import Select, bindparam, exists, or_, select
from sqlalchemy.exc import IntegrityError

from huddle.actor import CLINICAL_ROLES, Actor, Role
from huddle.care.models import BreakGlassGrant, CareTeamMember, Patient
from huddle.errors import Conflict, Forbidden, Invalid, NotFound
from huddle.identity.models import User
from huddle.protect import policy
from huddle.protect.audit import Action
from huddle.protect.blind_index import blind_index, normalize_mrn, normalize_phone
from huddle.protect.crypto import Binding
from huddle.protect.policy import (
    Decision,
    PatientAction,
    PatientFacts,
    Sensitivity,
    Via,
)
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work

OWNER_TYPE = "patient"
RESOURCE = "patient"
BREAK_GLASS_DURATION = timedelta(hours=1)
ENCRYPTED_FIELDS = ("full_name", "date_of_birth", "mrn", "phone", "email")


@dataclass(frozen=True, slots=True)
class PatientDraft:
    full_name: str
    date_of_birth: date
    mrn: str
    phone: str | None = None
    email: str | None = None
    sensitivity: Sensitivity = Sensitivity.GENERAL


@dataclass(frozen=True, slots=True)
class PatientChanges:
    full_name: str | None = None
    date_of_birth: date | None = None
    mrn: str | None = None
    phone: str | None = None
    email: str | None = None
    sensitivity: Sensitivity | None = None


@dataclass(frozen=True, slots=True)
class PatientView:
    id: uuid.UUID
    full_name: str
    date_of_birth: date
    mrn: str
    phone: str | None
    email: str | None
    sensitivity: Sensitivity
    created_at: datetime
    updated_at: datetime
    access_via: Via


@dataclass(frozen=True, slots=True)
class CareTeamEntry:
    user_id: uuid.UUID
    display_name: str
    team_role: Role
    added_at: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    patient_id: uuid.UUID
    expires_at: datetime


async def create_patient(rt: Runtime, actor: Actor, draft: PatientDraft) -> PatientView:
    """Register a patient; the clinician who creates it joins the care team."""
    if not policy.may_create_patients(actor):
        raise Forbidden("Only clinical staff register patients.", code="wrong_role")
    _check_draft(draft, rt.clock.now().date())
    async with unit_of_work(rt, actor=actor) as uow:
        now = rt.clock.now()
        patient = Patient(
            id=uuid.uuid4(),
            organization_id=actor.organization_id,
            sensitivity=draft.sensitivity.value,
            created_at=now,
            updated_at=now,
            created_by=actor.user_id,
        )
        await _write_identifiers(uow, patient, _values(draft))
        uow.db.add(patient)
        await _flush_unique_mrn(uow)  # the patient row first: the member row refers to it
        uow.db.add(
            CareTeamMember(
                patient_id=patient.id,
                user_id=actor.user_id,
                team_role=actor.role.value,
                added_at=now,
                added_by=actor.user_id,
            )
        )
        uow.audit(Action.CREATE, RESOURCE, patient.id, patient_id=patient.id)
        return await _view(uow, patient, Via.CARE_TEAM)


async def get_patient(rt: Runtime, actor: Actor, patient_id: uuid.UUID) -> PatientView:
    """Read one record (audited). 404 outside the organization, 403 without access."""
    async with unit_of_work(rt, actor=actor) as uow:
        patient = await patient_in_org(uow, actor, patient_id)
        decision = await _authorize(uow, actor, PatientAction.READ, patient)
        _audit_read(uow, patient, decision)
        return await _view(uow, patient, decision.via or Via.CARE_TEAM)


async def update_patient(
    rt: Runtime, actor: Actor, patient_id: uuid.UUID, changes: PatientChanges
) -> PatientView:
    async with unit_of_work(rt, actor=actor) as uow:
        patient = await patient_in_org(uow, actor, patient_id)
        decision = await _authorize(uow, actor, PatientAction.UPDATE, patient)
        current = await _open_values(uow, patient)
        identifiers = {
            name: value
            for name, value in _values(changes).items()
            if value is not None and value != current.get(name)
        }
        relabelled = changes.sensitivity is not None and (
            changes.sensitivity.value != patient.sensitivity
        )
        if identifiers:
            _check_draft(_merged(current, changes, patient), rt.clock.now().date())
            await _write_identifiers(uow, patient, current | identifiers)
            await _flush_unique_mrn(uow)
        if relabelled:
            assert changes.sensitivity is not None
            patient.sensitivity = changes.sensitivity.value
        if identifiers or relabelled:
            patient.updated_at = rt.clock.now()
            uow.audit(
                Action.UPDATE,
                RESOURCE,
                patient.id,
                patient_id=patient.id,
                fields=",".join(sorted([*identifiers, *(["sensitivity"] if relabelled else [])])),
                via=str(decision.via),
            )
        return await _view(uow, patient, decision.via or Via.CARE_TEAM)


async def find_patients(
    rt: Runtime, actor: Actor, *, mrn: str | None = None, phone: str | None = None
) -> list[PatientView]:
    """The patients the caller may see, optionally narrowed by exact MRN or phone.
    Each patient returned is an audited read."""
    if actor.role is Role.ADMIN:
        raise Forbidden(
            "Administrators manage accounts, not patient records.", code="admins_have_no_phi_access"
        )
    if actor.role is Role.COMPLIANCE_OFFICER and not (mrn or phone):
        raise Invalid("Look a patient up by exact MRN or phone.", code="lookup_required")
    async with unit_of_work(rt, actor=actor) as uow:
        statement = _readable(actor, rt.clock.now())
        key = rt.keyring.blind_index_key()
        if mrn:
            statement = statement.where(
                Patient.mrn_index
                == blind_index(key, actor.organization_id, "mrn", normalize_mrn(mrn))
            )
        if phone:
            statement = statement.where(
                Patient.phone_index
                == blind_index(key, actor.organization_id, "phone", normalize_phone(phone))
            )
        views = []
        for patient in (await uow.db.scalars(statement.order_by(Patient.created_at))).all():
            decision = policy.decide_patient(
                actor, PatientAction.READ, await _facts(uow, actor, patient)
            )
            if not decision.allowed:
                continue  # e.g. a Part 2 record reached by an exact lookup
            _audit_read(uow, patient, decision)
            views.append(await _view(uow, patient, decision.via or Via.CARE_TEAM))
        return views


async def get_care_team(rt: Runtime, actor: Actor, patient_id: uuid.UUID) -> list[CareTeamEntry]:
    async with unit_of_work(rt, actor=actor) as uow:
        patient = await patient_in_org(uow, actor, patient_id)
        decision = await _authorize(uow, actor, PatientAction.READ, patient)
        uow.audit(
            Action.READ, "care_team", patient.id, patient_id=patient.id, via=str(decision.via)
        )
        return await _team(uow, patient.id)


async def add_care_team_member(
    rt: Runtime, actor: Actor, patient_id: uuid.UUID, user_id: uuid.UUID, team_role: Role
) -> list[CareTeamEntry]:
    """Add a colleague (same organization, clinical role) to the patient's care team."""
    if team_role not in CLINICAL_ROLES:
        raise Invalid(
            "A care-team role is pcp, care_manager, psychiatrist or bh_clinician.",
            code="invalid_team_role",
        )
    async with unit_of_work(rt, actor=actor) as uow:
        patient = await patient_in_org(uow, actor, patient_id)
        await _authorize(uow, actor, PatientAction.MANAGE_CARE_TEAM, patient)
        member = await uow.db.scalar(
            select(User).where(User.id == user_id, User.organization_id == actor.organization_id)
        )
        if member is None or not member.is_active or Role(member.role) not in CLINICAL_ROLES:
            raise Invalid(
                "Only active clinical staff of your organization can join a care team.",
                code="invalid_team_member",
            )
        uow.db.add(
            CareTeamMember(
                patient_id=patient.id,
                user_id=member.id,
                team_role=team_role.value,
                added_at=rt.clock.now(),
                added_by=actor.user_id,
            )
        )
        try:
            await uow.db.flush()
        except IntegrityError:
            raise Conflict(
                "That person is already on the care team.", code="already_on_care_team"
            ) from None
        uow.audit(
            Action.CREATE,
            "care_team_member",
            member.id,
            patient_id=patient.id,
            team_role=team_role.value,
        )
        return await _team(uow, patient.id)


async def remove_care_team_member(
    rt: Runtime, actor: Actor, patient_id: uuid.UUID, user_id: uuid.UUID
) -> list[CareTeamEntry]:
    async with unit_of_work(rt, actor=actor) as uow:
        patient = await patient_in_org(uow, actor, patient_id)
        await _authorize(uow, actor, PatientAction.MANAGE_CARE_TEAM, patient)
        members = (
            await uow.db.scalars(
                select(CareTeamMember).where(CareTeamMember.patient_id == patient.id)
            )
        ).all()
        leaving = next((m for m in members if m.user_id == user_id), None)
        if leaving is None:
            raise NotFound("That person is not on the care team.")
        if len(members) == 1:
            raise Conflict(
                "A patient must keep at least one care-team member.", code="last_care_team_member"
            )
        await uow.db.delete(leaving)
        uow.audit(Action.DELETE, "care_team_member", user_id, patient_id=patient.id)
        return await _team(uow, patient.id)


async def break_glass(rt: Runtime, actor: Actor, patient_id: uuid.UUID, reason: str) -> Grant:
    """Open a record outside the care team for a limited time, with a stated reason;
    flagged in the audit log for review."""
    reason = " ".join(reason.split())
    if len(reason) < 10:
        raise Invalid(
            "Say why you need this record (at least 10 characters).", code="reason_required"
        )
    async with unit_of_work(rt, actor=actor) as uow:
        patient = await patient_in_org(uow, actor, patient_id)
        decision = policy.decide_break_glass(actor, await _facts(uow, actor, patient))
        if not decision.allowed:
            raise uow.refuse(
                Forbidden("Break-glass access is not available here.", code=decision.denial),
                Action.BREAK_GLASS,
                RESOURCE,
                patient.id,
                patient_id=patient.id,
            )
        now = rt.clock.now()
        grant = BreakGlassGrant(
            user_id=actor.user_id,
            patient_id=patient.id,
            reason=reason,
            granted_at=now,
            expires_at=now + BREAK_GLASS_DURATION,
        )
        uow.db.add(grant)
        uow.audit(
            Action.BREAK_GLASS,
            RESOURCE,
            patient.id,
            patient_id=patient.id,
            reason=reason,
            flagged="break_glass",
            expires_at=grant.expires_at.isoformat(),
        )
        return Grant(patient.id, grant.expires_at)


async def authorize_patient(
    uow: UnitOfWork, actor: Actor, patient_id: uuid.UUID, action: PatientAction
) -> tuple[Patient, Decision]:
    """For other domains' services: the patient (NotFound outside the organization) and
    the caller's access to it; a refusal is audited and raised."""
    patient = await patient_in_org(uow, actor, patient_id)
    return patient, await _authorize(uow, actor, action, patient)


# Asked for every read of a patient's thread: built once (see messaging/access.py).
_SENSITIVITY = select(Patient.sensitivity).where(Patient.id == bindparam("patient_id"))
_ON_CARE_TEAM = select(
    exists().where(
        CareTeamMember.patient_id == bindparam("patient_id"),
        CareTeamMember.user_id == bindparam("user_id"),
    )
)


async def patient_sensitivity(uow: UnitOfWork, patient_id: uuid.UUID) -> Sensitivity:
    label = await uow.db.scalar(_SENSITIVITY, {"patient_id": patient_id})
    return Sensitivity(label) if label else Sensitivity.GENERAL


async def on_care_team(uow: UnitOfWork, patient_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return bool(await uow.db.scalar(_ON_CARE_TEAM, {"patient_id": patient_id, "user_id": user_id}))


async def care_team_user_ids(uow: UnitOfWork, patient_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await uow.db.scalars(
        select(CareTeamMember.user_id).where(CareTeamMember.patient_id == patient_id)
    )
    return list(rows)


async def portal_user_id(uow: UnitOfWork, patient_id: uuid.UUID) -> uuid.UUID | None:
    return await uow.db.scalar(
        select(User.id).where(User.patient_id == patient_id, User.is_active.is_(True))
    )


async def join_care_team(
    uow: UnitOfWork, patient_id: uuid.UUID, user: User, added_by: uuid.UUID
) -> None:
    """Put a clinician on the care team if not there yet (a referral's receiver)."""
    present = await uow.db.scalar(
        select(
            exists().where(
                CareTeamMember.patient_id == patient_id, CareTeamMember.user_id == user.id
            )
        )
    )
    if not present:
        uow.db.add(
            CareTeamMember(
                patient_id=patient_id,
                user_id=user.id,
                team_role=user.role,
                added_at=uow.rt.clock.now(),
                added_by=added_by,
            )
        )
        uow.audit(
            Action.CREATE, "care_team_member", user.id, patient_id=patient_id, team_role=user.role
        )


async def link_portal_account(uow: UnitOfWork, patient_id: uuid.UUID, user: User) -> None:
    """Make `user` (role patient) the portal account of a patient (demo and onboarding)."""
    user.patient_id = patient_id
    uow.audit(Action.UPDATE, "user", user.id, patient_id=patient_id, change="portal_link")


def _readable(actor: Actor, now: datetime) -> Select[tuple[Patient]]:
    """Patients of the caller's organization that the caller can reach at all; the
    policy still decides each one. Authorization lives in the query itself."""
    statement = select(Patient).where(Patient.organization_id == actor.organization_id)
    if actor.role is Role.PATIENT:
        return statement.where(Patient.id == actor.patient_id)
    if actor.role is Role.COMPLIANCE_OFFICER:
        return statement
    on_team = exists().where(
        CareTeamMember.patient_id == Patient.id, CareTeamMember.user_id == actor.user_id
    )
    granted = exists().where(
        BreakGlassGrant.patient_id == Patient.id,
        BreakGlassGrant.user_id == actor.user_id,
        BreakGlassGrant.expires_at > now,
    )
    return statement.where(or_(on_team, granted))


async def patient_in_org(
    uow: UnitOfWork, actor: Actor, patient_id: uuid.UUID, *, lock: bool = False
) -> Patient:
    query = select(Patient).where(
        Patient.id == patient_id, Patient.organization_id == actor.organization_id
    )
    patient = await uow.db.scalar(query.with_for_update() if lock else query)
    if patient is None:
        raise NotFound("No such patient.")
    return patient


async def _facts(uow: UnitOfWork, actor: Actor, patient: Patient) -> PatientFacts:
    on_team = await uow.db.scalar(
        select(
            exists().where(
                CareTeamMember.patient_id == patient.id, CareTeamMember.user_id == actor.user_id
            )
        )
    )
    granted = await uow.db.scalar(
        select(
            exists().where(
                BreakGlassGrant.patient_id == patient.id,
                BreakGlassGrant.user_id == actor.user_id,
                BreakGlassGrant.expires_at > uow.rt.clock.now(),
            )
        )
    )
    return PatientFacts(
        patient_id=patient.id,
        sensitivity=Sensitivity(patient.sensitivity),
        on_care_team=bool(on_team),
        break_glass_active=bool(granted),
        is_own_record=actor.patient_id == patient.id,
    )


async def _authorize(
    uow: UnitOfWork, actor: Actor, action: PatientAction, patient: Patient
) -> Decision:
    decision = policy.decide_patient(actor, action, await _facts(uow, actor, patient))
    if not decision.allowed:
        audit_action = Action.READ if action is PatientAction.READ else Action.UPDATE
        raise uow.refuse(
            Forbidden(_denial_message(decision.denial), code=decision.denial),
            audit_action,
            RESOURCE,
            patient.id,
            patient_id=patient.id,
        )
    return decision


def _denial_message(code: str | None) -> str:
    if code == "not_on_care_team":
        return (
            "You are not on this patient's care team. If you must open the record, "
            "use break-glass access and state why."
        )
    return "You may not access this patient record."


def _audit_read(uow: UnitOfWork, patient: Patient, decision: Decision) -> None:
    extra = {"flagged": "break_glass"} if decision.via is Via.BREAK_GLASS else {}
    uow.audit(
        Action.READ, RESOURCE, patient.id, patient_id=patient.id, via=str(decision.via), **extra
    )


def _binding(patient: Patient, column: str) -> Binding:
    return Binding("patients", column, patient.id, patient.id)


def _values(source: PatientDraft | PatientChanges) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name in ENCRYPTED_FIELDS:
        value = getattr(source, name)
        values[name] = value.isoformat() if isinstance(value, date) else value
    return values


async def _write_identifiers(
    uow: UnitOfWork, patient: Patient, values: dict[str, str | None]
) -> None:
    present = [(n, v) for n, v in values.items() if v is not None]
    sealed = await uow.seal(
        OWNER_TYPE, patient.id, [(_binding(patient, n), v.encode()) for n, v in present]
    )
    for (name, _), blob in zip(present, sealed, strict=True):
        setattr(patient, name, blob)
    key = uow.rt.keyring.blind_index_key()
    org = patient.organization_id
    patient.mrn_index = blind_index(key, org, "mrn", normalize_mrn(values["mrn"] or ""))
    phone = values.get("phone")
    patient.phone_index = blind_index(key, org, "phone", normalize_phone(phone)) if phone else None


async def _open_values(uow: UnitOfWork, patient: Patient) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name in ENCRYPTED_FIELDS:
        blob = getattr(patient, name)
        values[name] = (
            None
            if blob is None
            else (await uow.open(blob, _binding(patient, name), patient_id=patient.id)).decode()
        )
    return values


async def _view(uow: UnitOfWork, patient: Patient, via: Via) -> PatientView:
    values = await _open_values(uow, patient)
    return PatientView(
        id=patient.id,
        full_name=values["full_name"] or "",
        date_of_birth=date.fromisoformat(values["date_of_birth"] or ""),
        mrn=values["mrn"] or "",
        phone=values["phone"],
        email=values["email"],
        sensitivity=Sensitivity(patient.sensitivity),
        created_at=patient.created_at,
        updated_at=patient.updated_at,
        access_via=via,
    )


def _merged(
    current: dict[str, str | None], changes: PatientChanges, patient: Patient
) -> PatientDraft:
    merged = {f.name: getattr(changes, f.name) for f in fields(changes)}
    return PatientDraft(
        full_name=merged["full_name"] or current["full_name"] or "",
        date_of_birth=merged["date_of_birth"] or date.fromisoformat(current["date_of_birth"] or ""),
        mrn=merged["mrn"] or current["mrn"] or "",
        phone=merged["phone"] or current["phone"],
        email=merged["email"] or current["email"],
        sensitivity=merged["sensitivity"] or Sensitivity(patient.sensitivity),
    )


def _check_draft(draft: PatientDraft, today: date) -> None:
    if not draft.full_name.strip():
        raise Invalid("The patient's name is required.", code="name_required")
    if not normalize_mrn(draft.mrn):
        raise Invalid("The MRN is required.", code="mrn_required")
    if not date(1900, 1, 1) <= draft.date_of_birth <= today:
        raise Invalid("The date of birth is not plausible.", code="invalid_date_of_birth")
    if draft.phone is not None and not 7 <= len(normalize_phone(draft.phone)) <= 15:
        raise Invalid("The phone number needs 7 to 15 digits.", code="invalid_phone")


async def _flush_unique_mrn(uow: UnitOfWork) -> None:
    try:
        await uow.db.flush()
    except IntegrityError:
        raise Conflict(
            "Another patient in your organization has this MRN.", code="mrn_taken"
        ) from None


async def _team(uow: UnitOfWork, patient_id: uuid.UUID) -> list[CareTeamEntry]:
    rows = await uow.db.execute(
        select(CareTeamMember, User.display_name)
        .join(User, User.id == CareTeamMember.user_id)
        .where(CareTeamMember.patient_id == patient_id)
        .order_by(CareTeamMember.added_at)
    )
    return [CareTeamEntry(m.user_id, name, Role(m.team_role), m.added_at) for m, name in rows]
