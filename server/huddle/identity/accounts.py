"""Accounts: administering an organization's users and settings, and a user's own
password and MFA. Every change is checked, written and recorded in one transaction.

Lookups are always scoped to the caller's organization, so another organization's
user is simply not found (404), never forbidden (which would reveal it exists).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from huddle.actor import Actor, RequestContext, Role
from huddle.errors import Conflict, HuddleError, Invalid, NotFound
from huddle.identity import security_log, throttle, totp
from huddle.identity.models import AuthSession, Organization, RecoveryCode, User
from huddle.identity.passwords import check_new_password
from huddle.identity.security_log import Kind
from huddle.identity.service import normalize_email, revoke_sessions_of
from huddle.protect.policy import require_role
from huddle.runtime import Runtime


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str
    display_name: str
    role: Role
    password: str


@dataclass(frozen=True, slots=True)
class OrganizationChanges:
    name: str | None = None
    idle_timeout_minutes: int | None = None
    mfa_required: bool | None = None


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
    hashes = [await _checked_hash(rt, u, mfa_enabled=False) for u in users]
    org = Organization(
        id=uuid.uuid4(),
        name=name,
        idle_timeout_minutes=rt.settings.idle_timeout_minutes,
        mfa_required=False,
        created_at=rt.clock.now(),
    )
    async with rt.db.transaction() as db:
        db.add(org)
        await db.flush()
        created = [
            await _insert_user(db, rt, org.id, u, h, RequestContext(), None)
            for u, h in zip(users, hashes, strict=True)
        ]
    return org, created


async def create_user(rt: Runtime, actor: Actor, new: NewUser) -> User:
    """Add a user to the admin's organization. Raises Conflict if the e-mail is taken."""
    require_role(actor, Role.ADMIN)
    async with rt.db.transaction() as db:
        org = await db.get_one(Organization, actor.organization_id)
    password_hash = await _checked_hash(rt, new, mfa_enabled=org.mfa_required)
    async with rt.db.transaction() as db:
        return await _insert_user(
            db, rt, actor.organization_id, new, password_hash, actor.context, actor.user_id
        )


async def list_users(rt: Runtime, actor: Actor) -> list[User]:
    require_role(actor, Role.ADMIN)
    async with rt.db.transaction() as db:
        result = await db.scalars(
            select(User)
            .where(User.organization_id == actor.organization_id)
            .order_by(User.display_name, User.email)
        )
        return list(result)


async def get_user(rt: Runtime, actor: Actor, user_id: uuid.UUID) -> User:
    require_role(actor, Role.ADMIN)
    async with rt.db.transaction() as db:
        return await _user_in_org(db, actor, user_id)


async def get_me(rt: Runtime, actor: Actor) -> tuple[User, Organization]:
    async with rt.db.transaction() as db:
        user = await db.get_one(User, actor.user_id)
        org = await db.get_one(Organization, actor.organization_id)
        return user, org


async def set_user_active(rt: Runtime, actor: Actor, user_id: uuid.UUID, active: bool) -> User:
    """Deactivate (ending all the user's sessions at once) or reactivate a user."""
    require_role(actor, Role.ADMIN)
    if user_id == actor.user_id:
        raise Conflict("You cannot change whether your own account is active.", code="self_change")
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        user = await _user_in_org(db, actor, user_id)
        if user.is_active == active:
            return user
        user.is_active = active
        user.deactivated_at = None if active else now
        if not active:
            await revoke_sessions_of(db, user.id, "deactivated", now)
        security_log.record(
            db,
            Kind.USER_REACTIVATED if active else Kind.USER_DEACTIVATED,
            actor.context,
            at=now,
            organization_id=actor.organization_id,
            user_id=user.id,
            actor_id=actor.user_id,
        )
        return user


async def reset_mfa(rt: Runtime, actor: Actor, user_id: uuid.UUID) -> User:
    """Admin: remove a user's second factor (lost phone); their sessions end."""
    require_role(actor, Role.ADMIN)
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        user = await _user_in_org(db, actor, user_id)
        _clear_mfa(user)
        await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        await revoke_sessions_of(db, user.id, "mfa_reset", now)
        security_log.record(
            db,
            Kind.MFA_RESET,
            actor.context,
            at=now,
            organization_id=actor.organization_id,
            user_id=user.id,
            actor_id=actor.user_id,
        )
        return user


async def change_password(
    rt: Runtime, actor: Actor, current: str, new: str, *, sign_out_other_sessions: bool
) -> None:
    """Change the caller's password after checking the current one.

    A wrong current password counts toward the account lockout, like a failed sign-in.
    """
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        user = await db.get_one(User, actor.user_id)
        org = await db.get_one(Organization, actor.organization_id)
    keys = throttle.ThrottleKeys.of(user.email, actor.context.source_ip)
    if not await rt.passwords.verify(user.password_hash, current):
        async with rt.db.transaction() as db:
            await throttle.record_failure(db, keys, now)
            security_log.record(
                db,
                Kind.PASSWORD_CHANGED,
                actor.context,
                at=now,
                outcome=security_log.Outcome.FAILURE,
                organization_id=org.id,
                user_id=user.id,
                reason="wrong_current_password",
            )
        raise Invalid("The current password is incorrect.", code="wrong_current_password")
    check_new_password(new, email=user.email, mfa_enabled=user.mfa_enabled or org.mfa_required)
    new_hash = await rt.passwords.hash(new)
    async with rt.db.transaction() as db:
        user = await db.get_one(User, actor.user_id, populate_existing=True)
        user.password_hash, user.password_changed_at = new_hash, now
        if sign_out_other_sessions:
            await revoke_sessions_of(db, user.id, "password_changed", now, keep=actor.session_id)
        security_log.record(
            db,
            Kind.PASSWORD_CHANGED,
            actor.context,
            at=now,
            organization_id=org.id,
            user_id=user.id,
            other_sessions_ended="yes" if sign_out_other_sessions else "no",
        )


async def begin_mfa_enrolment(rt: Runtime, actor: Actor) -> MfaEnrolment:
    """Start TOTP enrolment: a new secret, pending until confirmed with a code."""
    async with rt.db.transaction() as db:
        user = await db.get_one(User, actor.user_id)
        if user.mfa_enabled:
            raise Conflict("Two-step sign-in is already on.", code="mfa_already_enabled")
        user.totp_secret = totp.new_secret()
        user.totp_last_step = None
        return MfaEnrolment(user.totp_secret, totp.provisioning_uri(user.totp_secret, user.email))


async def confirm_mfa_enrolment(rt: Runtime, actor: Actor, code: str) -> list[str]:
    """Turn MFA on once the user proves their app has the secret. Returns recovery
    codes, shown this once and stored only as hashes."""
    now = rt.clock.now()
    failure: HuddleError | None = None
    async with rt.db.transaction() as db:
        user = await db.get_one(User, actor.user_id, with_for_update=True)
        if user.mfa_enabled:
            raise Conflict("Two-step sign-in is already on.", code="mfa_already_enabled")
        if user.totp_secret is None:
            raise Conflict("Start enrolment first.", code="mfa_not_started")
        step = totp.matching_step(user.totp_secret, code.strip(), now, user.totp_last_step)
        if step is None:
            failure = Invalid("The code is not valid.", code="invalid_mfa_code")
            keys = throttle.ThrottleKeys.of(user.email, actor.context.source_ip)
            await throttle.record_failure(db, keys, now)
        else:
            user.totp_last_step, user.mfa_enabled_at = step, now
            codes = totp.new_recovery_codes()
            await db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            db.add_all(
                RecoveryCode(user_id=user.id, code_hash=totp.recovery_code_hash(c)) for c in codes
            )
            auth_session = await db.get_one(AuthSession, actor.session_id)
            auth_session.mfa_verified = True
            security_log.record(
                db,
                Kind.MFA_ENROLLED,
                actor.context,
                at=now,
                organization_id=actor.organization_id,
                user_id=user.id,
            )
    if failure:
        raise failure
    return codes


async def get_organization(rt: Runtime, actor: Actor) -> Organization:
    async with rt.db.transaction() as db:
        return await db.get_one(Organization, actor.organization_id)


async def update_organization(
    rt: Runtime, actor: Actor, changes: OrganizationChanges
) -> Organization:
    require_role(actor, Role.ADMIN)
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        org = await db.get_one(Organization, actor.organization_id)
        changed = []
        for field in ("name", "idle_timeout_minutes", "mfa_required"):
            value = getattr(changes, field)
            if value is not None and getattr(org, field) != value:
                setattr(org, field, value)
                changed.append(field)
        if changed:
            security_log.record(
                db,
                Kind.ORGANIZATION_UPDATED,
                actor.context,
                at=now,
                organization_id=org.id,
                actor_id=actor.user_id,
                fields=",".join(changed),
            )
        return org


async def _checked_hash(rt: Runtime, new: NewUser, *, mfa_enabled: bool) -> str:
    check_new_password(new.password, email=normalize_email(new.email), mfa_enabled=mfa_enabled)
    return await rt.passwords.hash(new.password)


async def _insert_user(
    db: AsyncSession,
    rt: Runtime,
    org_id: uuid.UUID,
    new: NewUser,
    password_hash: str,
    context: RequestContext,
    actor_id: uuid.UUID | None,
) -> User:
    now = rt.clock.now()
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
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:
        raise Conflict(
            "An account with this e-mail address already exists.", code="email_taken"
        ) from None
    security_log.record(
        db,
        Kind.USER_CREATED,
        context,
        at=now,
        organization_id=org_id,
        user_id=user.id,
        actor_id=actor_id,
        role=new.role.value,
    )
    return user


async def _user_in_org(db: AsyncSession, actor: Actor, user_id: uuid.UUID) -> User:
    user = await db.scalar(
        select(User).where(User.id == user_id, User.organization_id == actor.organization_id)
    )
    if user is None:
        raise NotFound("No such user.")
    return user


def _clear_mfa(user: User) -> None:
    user.totp_secret = None
    user.totp_last_step = None
    user.mfa_enabled_at = None
