"""Sign-in and sessions: login, MFA challenge, refresh, logout, and checking a token.

Every outcome, good or bad, is recorded as a security event in the same transaction as
the state it changes. Failures are raised only after that transaction commits, so a
refused attempt still counts toward throttling and still leaves its record.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from huddle.actor import Actor, RequestContext, Role
from huddle.errors import HuddleError, RateLimited, Unauthorized
from huddle.identity import security_log, throttle, totp
from huddle.identity.models import AuthSession, Organization, RecoveryCode, RefreshToken, User
from huddle.identity.security_log import Kind, Outcome
from huddle.identity.tokens import ACCESS_AUDIENCE, MFA_AUDIENCE, MFA_CHALLENGE_TTL
from huddle.runtime import Runtime

# last_seen_at is written at most this often, so reads do not all become writes.
ACTIVITY_RESOLUTION = timedelta(seconds=15)

INVALID_CREDENTIALS = "The e-mail or password is incorrect."


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    mfa_token: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    actor: Actor
    # The organization requires MFA and this session has not proven a second factor yet.
    needs_mfa_enrolment: bool


def normalize_email(email: str) -> str:
    return email.strip().lower()


def refresh_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(
    rt: Runtime, email: str, password: str, context: RequestContext
) -> TokenPair | MfaChallenge:
    """Check a password. Returns tokens, or an MFA challenge for users with MFA on.

    Raises RateLimited while the address or account is locked, and Unauthorized with
    the same message whether the account is unknown or the password is wrong.
    """
    email = normalize_email(email)
    keys = throttle.ThrottleKeys.of(email, context.source_ip)
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        user = await _active_user_by_email(db, email)
        refused = await _throttled(db, keys, now, user, context)
    if refused:
        raise refused
    valid = await rt.passwords.verify(user.password_hash if user else None, password)
    new_hash = (
        await rt.passwords.hash(password)
        if valid and user and rt.passwords.needs_rehash(user.password_hash)
        else None
    )
    async with rt.db.transaction() as db:
        if valid and user is not None:
            # Re-read: the account may have been deactivated while the hash was checked.
            user = await _active_user_by_email(db, email)
        if not valid or user is None:
            await _record_failed_attempt(db, keys, now, user, context, Kind.LOGIN_FAILED)
            failure = Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
        else:
            failure = None
            await throttle.clear_account(db, keys)
            if new_hash:
                user.password_hash = new_hash
            result = await _after_password(rt, db, user, context)
    if failure:
        raise failure
    return result


async def complete_mfa(
    rt: Runtime, mfa_token: str, code: str, context: RequestContext
) -> TokenPair:
    """Finish a sign-in with a TOTP code or a recovery code. Each code works once."""
    claims = rt.tokens.verify(mfa_token, audience=MFA_AUDIENCE)
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        user = await db.get(User, uuid.UUID(claims["sub"]), with_for_update=True)
        if user is None or not user.is_active or not user.mfa_enabled:
            raise Unauthorized("The sign-in challenge is no longer valid.", code="invalid_token")
        keys = throttle.ThrottleKeys.of(user.email, context.source_ip)
        refused = await _throttled(db, keys, now, user, context)
        if refused is None:
            accepted = await _accept_second_factor(db, user, code, now, context)
            if accepted:
                await throttle.clear_account(db, keys)
                result = await _start_session(rt, db, user, context, mfa_verified=True)
            else:
                await _record_failed_attempt(db, keys, now, user, context, Kind.MFA_FAILED)
                refused = Unauthorized("The code is not valid.", code="invalid_mfa_code")
    if refused:
        raise refused
    return result


async def refresh(rt: Runtime, refresh_token: str, context: RequestContext) -> TokenPair:
    """Trade a refresh token for a new pair. A token works once: presenting a used one
    again means it was stolen or replayed, so the whole session is revoked."""
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        row = (
            await db.execute(
                select(RefreshToken, AuthSession, User, Organization)
                .join(AuthSession, AuthSession.id == RefreshToken.session_id)
                .join(User, User.id == AuthSession.user_id)
                .join(Organization, Organization.id == User.organization_id)
                .where(RefreshToken.token_hash == refresh_token_hash(refresh_token))
            )
        ).one_or_none()
        if row is None:
            failure: HuddleError | None = Unauthorized(
                "The refresh token is not valid.", code="invalid_token"
            )
        else:
            token, auth_session, user, org = row
            failure = _session_failure(db, auth_session, user, org, now, context)
            if failure is None and not await _mark_used(db, token, now):
                failure = _refresh_reused(db, auth_session, user, now, context)
            if failure is None:
                pair = await _issue_pair(rt, db, auth_session, user)
    if failure:
        raise failure
    return pair


async def logout(rt: Runtime, actor: Actor) -> None:
    """End the caller's session: its access and refresh tokens stop working at once."""
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        auth_session = await db.get_one(AuthSession, actor.session_id)
        revoke(auth_session, "logout", now)
        security_log.record(
            db,
            Kind.LOGOUT,
            actor.context,
            at=now,
            organization_id=actor.organization_id,
            user_id=actor.user_id,
        )


async def authenticate(rt: Runtime, access_token: str, context: RequestContext) -> SignedIn:
    """Check an access token and its session (revoked, expired, idle); note activity."""
    claims = rt.tokens.verify(access_token, audience=ACCESS_AUDIENCE)
    try:
        session_id, user_id = uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"])
    except (KeyError, ValueError, TypeError):
        raise Unauthorized("The access token is not valid.", code="invalid_token") from None
    now = rt.clock.now()
    async with rt.db.transaction() as db:
        row = (
            await db.execute(
                select(AuthSession, User, Organization)
                .join(User, User.id == AuthSession.user_id)
                .join(Organization, Organization.id == User.organization_id)
                .where(AuthSession.id == session_id, User.id == user_id)
            )
        ).one_or_none()
        if row is None:
            raise Unauthorized("The access token is not valid.", code="invalid_token")
        auth_session, user, org = row
        failure = _session_failure(db, auth_session, user, org, now, context)
        if failure is None and now - auth_session.last_seen_at >= ACTIVITY_RESOLUTION:
            auth_session.last_seen_at = now
    if failure:
        raise failure
    actor = Actor(
        user_id=user.id,
        organization_id=org.id,
        role=Role(user.role),
        session_id=auth_session.id,
        context=context,
        patient_id=user.patient_id,
    )
    return SignedIn(actor, needs_mfa_enrolment=org.mfa_required and not auth_session.mfa_verified)


def revoke(auth_session: AuthSession, reason: str, now: datetime) -> None:
    if auth_session.revoked_at is None:
        auth_session.revoked_at = now
        auth_session.revoked_reason = reason


async def revoke_sessions_of(
    db: AsyncSession,
    user_id: uuid.UUID,
    reason: str,
    now: datetime,
    *,
    keep: uuid.UUID | None = None,
) -> None:
    """Revoke every live session of a user, except `keep` if given."""
    statement = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    await db.execute(statement)


async def _active_user_by_email(db: AsyncSession, email: str) -> User | None:
    return await db.scalar(select(User).where(User.email == email, User.is_active.is_(True)))


async def _throttled(
    db: AsyncSession,
    keys: throttle.ThrottleKeys,
    now: datetime,
    user: User | None,
    context: RequestContext,
) -> RateLimited | None:
    try:
        await throttle.refuse_if_throttled(db, keys, now)
    except RateLimited as refused:
        security_log.record(
            db,
            Kind.LOGIN_THROTTLED,
            context,
            at=now,
            outcome=Outcome.FAILURE,
            organization_id=user.organization_id if user else None,
            user_id=user.id if user else None,
            reason=refused.code,
        )
        return refused
    return None


async def _record_failed_attempt(
    db: AsyncSession,
    keys: throttle.ThrottleKeys,
    now: datetime,
    user: User | None,
    context: RequestContext,
    kind: Kind,
) -> None:
    locked = await throttle.record_failure(db, keys, now)
    org_id, user_id = (user.organization_id, user.id) if user else (None, None)
    reason = "unknown_account" if user is None else "wrong_secret"
    security_log.record(
        db,
        kind,
        context,
        at=now,
        outcome=Outcome.FAILURE,
        organization_id=org_id,
        user_id=user_id,
        reason=reason,
    )
    if locked and user is not None:
        security_log.record(
            db,
            Kind.ACCOUNT_LOCKED,
            context,
            at=now,
            outcome=Outcome.FAILURE,
            organization_id=org_id,
            user_id=user_id,
        )


async def _after_password(
    rt: Runtime, db: AsyncSession, user: User, context: RequestContext
) -> TokenPair | MfaChallenge:
    now = rt.clock.now()
    if user.mfa_enabled:
        security_log.record(
            db,
            Kind.MFA_CHALLENGE,
            context,
            at=now,
            organization_id=user.organization_id,
            user_id=user.id,
        )
        token = rt.tokens.issue(audience=MFA_AUDIENCE, subject=user.id, ttl=MFA_CHALLENGE_TTL)
        return MfaChallenge(mfa_token=token)
    return await _start_session(rt, db, user, context, mfa_verified=False)


async def _accept_second_factor(
    db: AsyncSession, user: User, code: str, now: datetime, context: RequestContext
) -> bool:
    code = code.strip()
    if totp.looks_like_recovery_code(code):
        recovery = await db.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == totp.recovery_code_hash(code),
                RecoveryCode.used_at.is_(None),
            )
        )
        if recovery is None:
            return False
        recovery.used_at = now
        security_log.record(
            db,
            Kind.RECOVERY_CODE_USED,
            context,
            at=now,
            organization_id=user.organization_id,
            user_id=user.id,
        )
        return True
    assert user.totp_secret is not None
    step = totp.matching_step(user.totp_secret, code, now, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


async def _start_session(
    rt: Runtime, db: AsyncSession, user: User, context: RequestContext, *, mfa_verified: bool
) -> TokenPair:
    now = rt.clock.now()
    auth_session = AuthSession(
        id=uuid.uuid4(),
        user_id=user.id,
        organization_id=user.organization_id,
        mfa_verified=mfa_verified,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=rt.settings.session_lifetime_hours),
        source_ip=context.source_ip,
    )
    db.add(auth_session)
    security_log.record(
        db,
        Kind.LOGIN,
        context,
        at=now,
        organization_id=user.organization_id,
        user_id=user.id,
        session_id=str(auth_session.id),
        mfa="yes" if mfa_verified else "no",
    )
    return await _issue_pair(rt, db, auth_session, user)


async def _issue_pair(
    rt: Runtime, db: AsyncSession, auth_session: AuthSession, user: User
) -> TokenPair:
    refresh_token = secrets.token_urlsafe(32)
    db.add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=refresh_token_hash(refresh_token),
            created_at=rt.clock.now(),
        )
    )
    ttl = rt.settings.access_token_ttl_seconds
    access_token = rt.tokens.issue(
        audience=ACCESS_AUDIENCE,
        subject=user.id,
        ttl=timedelta(seconds=ttl),
        sid=str(auth_session.id),
    )
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=ttl)


async def _mark_used(db: AsyncSession, token: RefreshToken, now: datetime) -> bool:
    """Atomically claim a refresh token; False if it was already used (maybe just now)."""
    result = await db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


def _refresh_reused(
    db: AsyncSession, auth_session: AuthSession, user: User, now: datetime, context: RequestContext
) -> Unauthorized:
    revoke(auth_session, "refresh_reuse", now)
    security_log.record(
        db,
        Kind.REFRESH_REUSED,
        context,
        at=now,
        outcome=Outcome.FAILURE,
        organization_id=user.organization_id,
        user_id=user.id,
        session_id=str(auth_session.id),
    )
    return Unauthorized(
        "This refresh token was already used; the session has been ended. Sign in again.",
        code="refresh_token_reused",
    )


def _session_failure(
    db: AsyncSession,
    auth_session: AuthSession,
    user: User,
    org: Organization,
    now: datetime,
    context: RequestContext,
) -> Unauthorized | None:
    """Why this session may not be used now, if it may not; ends it when it went idle."""
    if auth_session.revoked_at is not None or not user.is_active:
        return Unauthorized("The session has ended. Sign in again.", code="session_revoked")
    if now >= auth_session.expires_at:
        return Unauthorized("The session has expired. Sign in again.", code="session_expired")
    if now - auth_session.last_seen_at > timedelta(minutes=org.idle_timeout_minutes):
        revoke(auth_session, "idle", now)
        security_log.record(
            db,
            Kind.SESSION_IDLE,
            context,
            at=now,
            organization_id=org.id,
            user_id=user.id,
            session_id=str(auth_session.id),
        )
        return Unauthorized(
            "You were signed out after a period of inactivity. Sign in again.",
            code="session_idle",
        )
    return None
