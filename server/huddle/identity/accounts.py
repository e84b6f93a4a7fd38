"""Accounts: administering an organization's users and settings, and a user's own
password and MFA. Every change is checked, written and recorded in one transaction.

Lookups are always scoped to the caller's organization, so another organization's
user is simply not found (404), never forbidden (which would reveal it exists).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from huddle.actor import CLINICAL_ROLES, STAFF_ROLES, Actor, RequestContext, Role
from huddle.errors import Conflict, Invalid, NotFound
from huddle.identity import clinic_hours, throttle, totp
from huddle.identity.models import AuthSession, Organization, RecoveryCode, User
from huddle.identity.passwords import check_new_password
from huddle.identity.service import normalize_email, revoke_sessions_of
from huddle.protect.audit import Action, Outcome
from huddle.protect.policy import require_role
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str
    display_name: str
    role: Role
    password: str


@dataclass(frozen=True, slots=True)
class OrganizationChanges:
    """Settings to change; None leaves one as it is."""

    name: str | None = None
    idle_timeout_minutes: int | None = None
    mfa_required: bool | None = None
    timezone: str | None = None
    clinic_opens: str | None = None
    clinic_closes: str | None = None
    clinic_days: str | None = None
    after_hours_reply: str | None = None
    urgent_escalation_minutes: int | None = None
    on_call_user_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class MfaEnrolment:
    secret: str
    otpauth_uri: str


async def create_organization(
    rt: Runtime, name: str, users: Sequence[NewUser]
) -> tuple[Organization, list[User]]:
    """Bootstrap (CLI and demo only): a new organization with its first users, at least
    one of them an administrator, all in one transaction."""
    if not any(u.role is Role.ADMIN for u in users):
        raise Invalid("A new organization needs an administrator.", code="admin_required")
    hashes = [await checked_password_hash(rt, u, mfa_enabled=False) for u in users]
    org = Organization(
        id=uuid.uuid4(),
        name=name,
        idle_timeout_minutes=rt.settings.idle_timeout_minutes,
        mfa_required=False,
        created_at=rt.clock.now(),
        timezone="UTC",
        clinic_opens="08:00",
        clinic_closes="18:00",
        clinic_days="mon,tue,wed,thu,fri",
        after_hours_reply=clinic_hours.DEFAULT_AFTER_HOURS_REPLY,
        urgent_escalation_minutes=30,
    )
    async with unit_of_work(rt, context=RequestContext()) as uow:
        uow.db.add(org)
        await uow.db.flush()
        uow.audit(Action.CREATE, "organization", org.id, organization_id=org.id)
        created = [await insert_user(uow, org.id, u, h) for u, h in zip(users, hashes, strict=True)]
    return org, created


async def create_user(rt: Runtime, actor: Actor, new: NewUser) -> User:
    """Add a staff user to the admin's organization. Raises Conflict if the e-mail is
    taken; patient accounts are made from the patient's record, not here."""
    require_role(actor, Role.ADMIN)
    if new.role not in STAFF_ROLES:
        raise Invalid(
            "Patient portal accounts are made from the patient's record.", code="role_not_allowed"
        )
    org = await get_organization(rt, actor)
    password_hash = await checked_password_hash(rt, new, mfa_enabled=org.mfa_required)
    async with unit_of_work(rt, actor=actor) as uow:
        return await insert_user(uow, actor.organization_id, new, password_hash)


async def list_users(rt: Runtime, actor: Actor) -> list[User]:
    require_role(actor, Role.ADMIN)
    async with unit_of_work(rt, actor=actor) as uow:
        result = await uow.db.scalars(
            select(User)
            .where(User.organization_id == actor.organization_id)
            .order_by(User.display_name, User.email)
        )
        return list(result)


async def list_colleagues(rt: Runtime, actor: Actor) -> list[User]:
    """Clinicians: the active clinicians of their organization, to pick from (a care
    team's new member). Callers show names and roles only."""
    require_role(actor, *CLINICAL_ROLES)
    async with unit_of_work(rt, actor=actor) as uow:
        result = await uow.db.scalars(
            select(User)
            .where(
                User.organization_id == actor.organization_id,
                User.is_active.is_(True),
                User.role.in_([role.value for role in CLINICAL_ROLES]),
            )
            .order_by(User.display_name, User.email)
        )
        return list(result)


async def get_user(rt: Runtime, actor: Actor, user_id: uuid.UUID) -> User:
    require_role(actor, Role.ADMIN)
    async with unit_of_work(rt, actor=actor) as uow:
        return await _user_in_org(uow, actor, user_id)


async def get_me(rt: Runtime, actor: Actor) -> tuple[User, Organization]:
    async with unit_of_work(rt, actor=actor) as uow:
        user = await uow.db.get_one(User, actor.user_id)
        org = await uow.db.get_one(Organization, actor.organization_id)
        return user, org


async def set_user_active(rt: Runtime, actor: Actor, user_id: uuid.UUID, active: bool) -> User:
    """Deactivate (ending all the user's sessions at once) or reactivate a user."""
    require_role(actor, Role.ADMIN)
    if user_id == actor.user_id:
        raise Conflict("You cannot change whether your own account is active.", code="self_change")
    now = rt.clock.now()
    async with unit_of_work(rt, actor=actor) as uow:
        user = await _user_in_org(uow, actor, user_id)
        if user.is_active == active:
            return user
        user.is_active = active
        user.deactivated_at = None if active else now
        if not active:
            await revoke_sessions_of(uow, user.id, "deactivated", now)
        uow.audit(Action.USER_REACTIVATED if active else Action.USER_DEACTIVATED, "user", user.id)
        return user


async def reset_mfa(rt: Runtime, actor: Actor, user_id: uuid.UUID) -> User:
    """Admin: remove a user's second factor (lost device); their sessions end."""
    require_role(actor, Role.ADMIN)
    async with unit_of_work(rt, actor=actor) as uow:
        user = await _user_in_org(uow, actor, user_id)
        _clear_mfa(user)
        await uow.db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        await revoke_sessions_of(uow, user.id, "mfa_reset", rt.clock.now())
        uow.audit(Action.MFA_RESET, "user", user.id)
        return user


async def change_password(
    rt: Runtime, actor: Actor, current: str, new: str, *, sign_out_other_sessions: bool
) -> None:
    """Change the caller's password after checking the current one.

    A wrong current password counts toward the account lockout, like a failed sign-in.
    """
    now = rt.clock.now()
    user, org = await get_me(rt, actor)
    if not await rt.passwords.verify(user.password_hash, current):
        async with unit_of_work(rt, actor=actor) as uow:
            keys = throttle.ThrottleKeys.of(user.email, actor.context.source_ip)
            await throttle.record_failure(uow.db, keys, now)
            uow.audit(
                Action.PASSWORD_CHANGED,
                "user",
                user.id,
                outcome=Outcome.FAILURE,
                code="wrong_current_password",
            )
            uow.fail_after_commit(
                Invalid("The current password is incorrect.", code="wrong_current_password")
            )
    check_new_password(new, email=user.email, mfa_enabled=user.mfa_enabled or org.mfa_required)
    new_hash = await rt.passwords.hash(new)
    async with unit_of_work(rt, actor=actor) as uow:
        user = await uow.db.get_one(User, actor.user_id, populate_existing=True)
        user.password_hash, user.password_changed_at = new_hash, now
        if sign_out_other_sessions:
            await revoke_sessions_of(uow, user.id, "password_changed", now, keep=actor.session_id)
        uow.audit(
            Action.PASSWORD_CHANGED,
            "user",
            user.id,
            other_sessions_ended="yes" if sign_out_other_sessions else "no",
        )


async def begin_mfa_enrolment(rt: Runtime, actor: Actor) -> MfaEnrolment:
    """Start TOTP enrolment: a new secret, pending until confirmed with a code."""
    async with unit_of_work(rt, actor=actor) as uow:
        user = await uow.db.get_one(User, actor.user_id)
        if user.mfa_enabled:
            raise Conflict("Two-step sign-in is already on.", code="mfa_already_enabled")
        secret = totp.new_secret()
        user.totp_secret = await totp.seal_secret(uow, user.id, secret)
        user.totp_last_step = None
        return MfaEnrolment(secret, totp.provisioning_uri(secret, user.email))


async def confirm_mfa_enrolment(rt: Runtime, actor: Actor, code: str) -> list[str]:
    """Turn MFA on once the user proves their app has the secret. Returns recovery
    codes, shown this once and stored only as hashes."""
    now = rt.clock.now()
    async with unit_of_work(rt, actor=actor) as uow:
        user = await uow.db.get_one(User, actor.user_id, with_for_update=True)
        if user.mfa_enabled:
            raise Conflict("Two-step sign-in is already on.", code="mfa_already_enabled")
        if user.totp_secret is None:
            raise Conflict("Start enrolment first.", code="mfa_not_started")
        secret = await totp.open_secret(uow, user.id, user.totp_secret)
        step = totp.matching_step(secret, code.strip(), now, user.totp_last_step)
        if step is None:
            keys = throttle.ThrottleKeys.of(user.email, actor.context.source_ip)
            await throttle.record_failure(uow.db, keys, now)
            uow.fail_after_commit(Invalid("The code is not valid.", code="invalid_mfa_code"))
        else:
            user.totp_last_step, user.mfa_enabled_at = step, now
            codes = totp.new_recovery_codes()
            await uow.db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            uow.db.add_all(
                RecoveryCode(user_id=user.id, code_hash=totp.recovery_code_hash(c)) for c in codes
            )
            auth_session = await uow.db.get_one(AuthSession, actor.session_id)
            auth_session.mfa_verified = True
            uow.audit(Action.MFA_ENROLLED, "user", user.id)
    return codes


async def get_organization(rt: Runtime, actor: Actor) -> Organization:
    async with unit_of_work(rt, actor=actor) as uow:
        return await uow.db.get_one(Organization, actor.organization_id)


async def update_organization(
    rt: Runtime, actor: Actor, changes: OrganizationChanges
) -> Organization:
    require_role(actor, Role.ADMIN)
    async with unit_of_work(rt, actor=actor) as uow:
        org = await uow.db.get_one(Organization, actor.organization_id)
        if changes.on_call_user_id is not None:
            await _clinician_in_org(uow, actor, changes.on_call_user_id)
        changed = []
        for field in fields(changes):
            value = getattr(changes, field.name)
            if value is not None and getattr(org, field.name) != value:
                setattr(org, field.name, value)
                changed.append(field.name)
        clinic_hours.check_hours(org.timezone, org.clinic_opens, org.clinic_closes, org.clinic_days)
        if changed:
            uow.audit(Action.ORGANIZATION_UPDATED, "organization", org.id, fields=",".join(changed))
        return org


async def checked_password_hash(rt: Runtime, new: NewUser, *, mfa_enabled: bool) -> str:
    check_new_password(new.password, email=normalize_email(new.email), mfa_enabled=mfa_enabled)
    return await rt.passwords.hash(new.password)


async def insert_user(uow: UnitOfWork, org_id: uuid.UUID, new: NewUser, password_hash: str) -> User:
    """Insert a user within the caller's unit of work (also used by onboarding flows such
    as the demo's patient portal account); the password must already be checked."""
    now = uow.rt.clock.now()
    user = User(
        id=uuid.uuid4(),
        organization_id=org_id,
        email=normalize_email(new.email),
        display_name=new.display_name.strip(),
        role=new.role.value,
        password_hash=password_hash,
        password_changed_at=now,
        is_active=True,
        created_at=now,
    )
    uow.db.add(user)
    try:
        await uow.db.flush()
    except IntegrityError:
        raise Conflict(
            "An account with this e-mail address already exists.", code="email_taken"
        ) from None
    uow.audit(Action.USER_CREATED, "user", user.id, organization_id=org_id, role=new.role.value)
    return user


async def _clinician_in_org(uow: UnitOfWork, actor: Actor, user_id: uuid.UUID) -> User:
    user = await _user_in_org(uow, actor, user_id)
    if not user.is_active or Role(user.role) not in CLINICAL_ROLES:
        raise Invalid("The on-call person must be an active clinician.", code="invalid_on_call")
    return user


async def _user_in_org(uow: UnitOfWork, actor: Actor, user_id: uuid.UUID) -> User:
    user = await uow.db.scalar(
        select(User).where(User.id == user_id, User.organization_id == actor.organization_id)
    )
    if user is None:
        raise NotFound("No such user.")
    return user


def _clear_mfa(user: User) -> None:
    user.totp_secret = None
    user.totp_last_step = None
    user.mfa_enabled_at = None
