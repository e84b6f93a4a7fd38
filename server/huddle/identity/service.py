"""Sign-in and sessions: login, MFA challenge, refresh, logout, and checking a token.

Every outcome, good or bad, is appended to the audit chain in the same unit of work as
the state it changes. Failures are raised only after that work commits
(`uow.fail_after_commit`), so a refused attempt still counts toward throttling and
still leaves its record.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from huddle.actor import Actor, RequestContext, Role
from huddle.errors import HuddleError, RateLimited, Unauthorized
from huddle.events import Event
from huddle.identity import throttle, totp
from huddle.identity.models import AuthSession, Organization, RecoveryCode, RefreshToken, User
from huddle.identity.session_cache import ACTIVITY_RESOLUTION, SESSION_ENDED, CheckedSession
from huddle.identity.tokens import ACCESS_AUDIENCE, MFA_AUDIENCE, MFA_CHALLENGE_TTL
from huddle.protect.audit import Action, Outcome
from huddle.runtime import Runtime
from huddle.unit_of_work import BrokenRead, UnitOfWork, for_each_reader, unit_of_work

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
    # When the access token expires (seconds since the epoch): a socket must replace it.
    token_expires_at: float


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
    async with unit_of_work(rt, context=context) as uow:
        user = await _active_user_by_email(uow, email)
        await _refuse_if_throttled(uow, keys, now, user)
    valid = await rt.passwords.verify(user.password_hash if user else None, password)
    new_hash = (
        await rt.passwords.hash(password)
        if valid and user and rt.passwords.needs_rehash(user.password_hash)
        else None
    )
    async with unit_of_work(rt, context=context) as uow:
        if valid and user is not None:
            # Re-read: the account may have been deactivated while the hash was checked.
            user = await _active_user_by_email(uow, email)
        if not valid or user is None:
            await _record_failed_attempt(uow, keys, now, user, Action.LOGIN_FAILED)
            uow.fail_after_commit(Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials"))
        else:
            await throttle.clear_account(uow.db, keys)
            if new_hash:
                user.password_hash = new_hash
            result = await _after_password(uow, user)
    return result  # a failure above was raised when the unit of work closed


async def complete_mfa(
    rt: Runtime, mfa_token: str, code: str, context: RequestContext
) -> TokenPair:
    """Finish a sign-in with a TOTP code or a recovery code. Each code works once."""
    claims = rt.tokens.verify(mfa_token, audience=MFA_AUDIENCE)
    now = rt.clock.now()
    async with unit_of_work(rt, context=context) as uow:
        user = await uow.db.get(User, uuid.UUID(claims["sub"]), with_for_update=True)
        if user is None or not user.is_active or not user.mfa_enabled:
            raise Unauthorized("The sign-in challenge is no longer valid.", code="invalid_token")
        keys = throttle.ThrottleKeys.of(user.email, context.source_ip)
        await _refuse_if_throttled(uow, keys, now, user)
        if uow.error_after_commit is not None:
            pass  # throttled: raised when the unit of work closes
        elif await _accept_second_factor(uow, user, code, now):
            await throttle.clear_account(uow.db, keys)
            result = await _start_session(uow, user, mfa_verified=True)
        else:
            await _record_failed_attempt(uow, keys, now, user, Action.MFA_FAILED)
            uow.fail_after_commit(Unauthorized("The code is not valid.", code="invalid_mfa_code"))
    return result


async def refresh(
    rt: Runtime,
    refresh_token: str,
    context: RequestContext,
    check_session: Callable[[uuid.UUID], None] | None = None,
) -> TokenPair:
    """Trade a refresh token for a new pair. A token works once: presenting a used one
    again means it was stolen or replayed, so the whole session is revoked.
    `check_session(session_id)` may refuse (raise) before the token is used: a browser's
    refresh checks the session's CSRF token there."""
    now = rt.clock.now()
    async with unit_of_work(rt, context=context) as uow:
        row = (
            await uow.db.execute(
                select(RefreshToken, AuthSession, User, Organization)
                .join(AuthSession, AuthSession.id == RefreshToken.session_id)
                .join(User, User.id == AuthSession.user_id)
                .join(Organization, Organization.id == User.organization_id)
                .where(RefreshToken.token_hash == refresh_token_hash(refresh_token))
            )
        ).one_or_none()
        if row is None:
            raise Unauthorized("The refresh token is not valid.", code="invalid_token")
        token, auth_session, user, org = row
        if check_session is not None:
            check_session(auth_session.id)
        failure = _session_failure(uow, auth_session, user, org, now)
        if failure is None and not await _mark_used(uow, token, now):
            failure = _refresh_reused(uow, auth_session, user, now)
        if failure is None:
            pair = await _issue_pair(uow, auth_session, user)
        else:
            uow.fail_after_commit(failure)
    return pair


async def logout(rt: Runtime, actor: Actor) -> None:
    """End the caller's session: its access and refresh tokens stop working at once."""
    async with unit_of_work(rt, actor=actor) as uow:
        auth_session = await uow.db.get_one(AuthSession, actor.session_id)
        revoke(auth_session, "logout", rt.clock.now())
        uow.audit(Action.LOGOUT, "session", auth_session.id)
        _announce_session_end(uow, actor.user_id, auth_session.id)


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """One access token's session, to be checked in the database."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    context: RequestContext
    now: datetime
    activity: bool


async def authenticate(
    rt: Runtime,
    access_token: str,
    context: RequestContext,
    *,
    activity: bool = True,
    check: Callable[[SessionCheck], Awaitable[CheckedSession]] | None = None,
) -> SignedIn:
    """Check an access token and its session (revoked, expired, idle). Notes activity
    (restarts the idle clock) unless `activity` is False: passive traffic, which the
    client sends by itself, is refused on an idle session like any other but never
    keeps one alive. A session checked a moment ago is taken from rt.sessions
    (identity/session_cache.py); else it is checked in a transaction of its own, or by
    `check` (sockets connecting at once share theirs: realtime/shared_reads.py)."""
    claims = rt.tokens.verify(access_token, audience=ACCESS_AUDIENCE)
    try:
        session_id, user_id = uuid.UUID(claims["sid"]), uuid.UUID(claims["sub"])
    except (KeyError, ValueError, TypeError):
        raise Unauthorized("The access token is not valid.", code="invalid_token") from None
    now = rt.clock.now()
    checked = rt.sessions.fresh(session_id, user_id, now)
    if checked is None:
        epoch = rt.sessions.epoch
        request = SessionCheck(session_id, user_id, context, now, activity)
        checked = await (check(request) if check else _check_alone(rt, request))
        if not checked.needs_mfa_enrolment:  # enrolling changes it; a few requests only
            rt.sessions.remember(checked, checked_in_epoch=epoch)
    return SignedIn(
        checked.actor(context),
        needs_mfa_enrolment=checked.needs_mfa_enrolment,
        token_expires_at=float(claims["exp"]),
    )


async def check_sessions_many(
    rt: Runtime, checks: Sequence[SessionCheck]
) -> list[CheckedSession | HuddleError]:
    """Several sessions checked in one transaction; a session that may not be used is
    answered with why (its ending, when it went idle, committed and audited)."""
    return await for_each_reader(rt, checks, _context_of, _check_in_database)


async def _check_alone(rt: Runtime, check: SessionCheck) -> CheckedSession:
    try:
        (answer,) = await check_sessions_many(rt, [check])
    except BrokenRead as broken:
        raise (broken.__cause__ or broken) from None  # alone, its own error says more
    if isinstance(answer, HuddleError):
        raise answer
    return answer


def _context_of(check: SessionCheck) -> RequestContext:
    return check.context


async def _check_in_database(uow: UnitOfWork, check: SessionCheck) -> CheckedSession:
    row = (
        await uow.db.execute(
            select(AuthSession, User, Organization)
            .join(User, User.id == AuthSession.user_id)
            .join(Organization, Organization.id == User.organization_id)
            .where(AuthSession.id == check.session_id, User.id == check.user_id)
        )
    ).one_or_none()
    if row is None:
        raise Unauthorized("The access token is not valid.", code="invalid_token")
    auth_session, user, org = row
    failure = _session_failure(uow, auth_session, user, org, check.now)
    if failure is not None:
        raise failure  # after ending the session: its unit still commits that
    if check.activity and check.now - auth_session.last_seen_at >= ACTIVITY_RESOLUTION:
        auth_session.last_seen_at = check.now
    return CheckedSession(
        session_id=auth_session.id,
        user_id=user.id,
        organization_id=org.id,
        role=Role(user.role),
        patient_id=user.patient_id,
        needs_mfa_enrolment=org.mfa_required and not auth_session.mfa_verified,
        expires_at=auth_session.expires_at,
        last_seen_at=auth_session.last_seen_at,
        checked_at=check.now,
    )


async def check_session(rt: Runtime, actor: Actor) -> None:
    """Raise Unauthorized if the actor's session has ended, expired or gone idle, without
    counting as activity (an open WebSocket alone must not keep a session alive)."""
    now = rt.clock.now()
    if rt.sessions.fresh(actor.session_id, actor.user_id, now) is not None:
        return
    async with unit_of_work(rt, actor=actor) as uow:
        row = (
            await uow.db.execute(
                select(AuthSession, User, Organization)
                .join(User, User.id == AuthSession.user_id)
                .join(Organization, Organization.id == User.organization_id)
                .where(AuthSession.id == actor.session_id)
            )
        ).one_or_none()
        if row is None:
            raise Unauthorized("The session has ended. Sign in again.", code="session_revoked")
        failure = _session_failure(uow, row[0], row[1], row[2], now)
        if failure is not None:
            uow.fail_after_commit(failure)


def revoke(auth_session: AuthSession, reason: str, now: datetime) -> None:
    if auth_session.revoked_at is None:
        auth_session.revoked_at = now
        auth_session.revoked_reason = reason


async def revoke_sessions_of(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    reason: str,
    now: datetime,
    *,
    keep: uuid.UUID | None = None,
) -> None:
    """Revoke every live session of a user, except `keep` if given; open WebSockets of
    those sessions are closed as soon as the change commits."""
    statement = (
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .returning(AuthSession.id)
    )
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    for session_id in (await uow.db.execute(statement)).scalars():
        _announce_session_end(uow, user_id, session_id)


def _announce_session_end(uow: UnitOfWork, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    uow.publish_after_commit(
        Event(SESSION_ENDED, frozenset({user_id}), {"session_id": str(session_id)})
    )


async def _active_user_by_email(uow: UnitOfWork, email: str) -> User | None:
    return await uow.db.scalar(select(User).where(User.email == email, User.is_active.is_(True)))


def _audit_as(
    uow: UnitOfWork,
    action: Action,
    user: User | None,
    resource_id: object = None,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    **detail: str,
) -> None:
    """Audit a sign-in step on behalf of `user` (None: an account that does not exist)."""
    uow.audit(
        action,
        "session",
        resource_id,
        outcome=outcome,
        organization_id=user.organization_id if user else None,
        actor_user_id=user.id if user else None,
        actor_role=user.role if user else None,
        **detail,
    )


async def _refuse_if_throttled(
    uow: UnitOfWork, keys: throttle.ThrottleKeys, now: datetime, user: User | None
) -> None:
    """Record a refusal and arrange for it to be raised after commit."""
    try:
        await throttle.refuse_if_throttled(uow.db, keys, now)
    except RateLimited as refused:
        _audit_as(uow, Action.LOGIN_THROTTLED, user, outcome=Outcome.DENIED, code=refused.code)
        uow.fail_after_commit(refused)


async def _record_failed_attempt(
    uow: UnitOfWork,
    keys: throttle.ThrottleKeys,
    now: datetime,
    user: User | None,
    action: Action,
) -> None:
    locked = await throttle.record_failure(uow.db, keys, now)
    reason = "unknown_account" if user is None else "wrong_secret"
    _audit_as(uow, action, user, outcome=Outcome.FAILURE, code=reason)
    if locked and user is not None:
        _audit_as(uow, Action.ACCOUNT_LOCKED, user, outcome=Outcome.FAILURE)


async def _after_password(uow: UnitOfWork, user: User) -> TokenPair | MfaChallenge:
    if user.mfa_enabled:
        _audit_as(uow, Action.MFA_CHALLENGE, user)
        token = uow.rt.tokens.issue(audience=MFA_AUDIENCE, subject=user.id, ttl=MFA_CHALLENGE_TTL)
        return MfaChallenge(mfa_token=token)
    return await _start_session(uow, user, mfa_verified=False)


async def _accept_second_factor(uow: UnitOfWork, user: User, code: str, now: datetime) -> bool:
    code = code.strip()
    if totp.looks_like_recovery_code(code):
        recovery = await uow.db.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id,
                RecoveryCode.code_hash == totp.recovery_code_hash(code),
                RecoveryCode.used_at.is_(None),
            )
        )
        if recovery is None:
            return False
        recovery.used_at = now
        _audit_as(uow, Action.RECOVERY_CODE_USED, user)
        return True
    assert user.totp_secret is not None
    secret = await totp.open_secret(uow, user.id, user.totp_secret)
    step = totp.matching_step(secret, code, now, user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


async def _start_session(uow: UnitOfWork, user: User, *, mfa_verified: bool) -> TokenPair:
    now = uow.rt.clock.now()
    auth_session = AuthSession(
        id=uuid.uuid4(),
        user_id=user.id,
        organization_id=user.organization_id,
        mfa_verified=mfa_verified,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=uow.rt.settings.session_lifetime_hours),
        source_ip=uow.context.source_ip,
    )
    uow.db.add(auth_session)
    _audit_as(uow, Action.LOGIN, user, auth_session.id, mfa="yes" if mfa_verified else "no")
    return await _issue_pair(uow, auth_session, user)


async def _issue_pair(uow: UnitOfWork, auth_session: AuthSession, user: User) -> TokenPair:
    refresh_token = secrets.token_urlsafe(32)
    uow.db.add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=refresh_token_hash(refresh_token),
            created_at=uow.rt.clock.now(),
        )
    )
    ttl = uow.rt.settings.access_token_ttl_seconds
    access_token = uow.rt.tokens.issue(
        audience=ACCESS_AUDIENCE,
        subject=user.id,
        ttl=timedelta(seconds=ttl),
        sid=str(auth_session.id),
    )
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=ttl)


async def _mark_used(uow: UnitOfWork, token: RefreshToken, now: datetime) -> bool:
    """Atomically claim a refresh token; False if it was already used (maybe just now)."""
    result = await uow.db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


def _refresh_reused(
    uow: UnitOfWork, auth_session: AuthSession, user: User, now: datetime
) -> Unauthorized:
    revoke(auth_session, "refresh_reuse", now)
    _announce_session_end(uow, user.id, auth_session.id)
    _audit_as(uow, Action.REFRESH_REUSED, user, auth_session.id, outcome=Outcome.DENIED)
    return Unauthorized(
        "This refresh token was already used; the session has been ended. Sign in again.",
        code="refresh_token_reused",
    )


def _session_failure(
    uow: UnitOfWork,
    auth_session: AuthSession,
    user: User,
    org: Organization,
    now: datetime,
) -> Unauthorized | None:
    """Why this session may not be used now, if it may not; ends it when it went idle."""
    if auth_session.revoked_at is not None or not user.is_active:
        return Unauthorized("The session has ended. Sign in again.", code="session_revoked")
    if now >= auth_session.expires_at:
        return Unauthorized("The session has expired. Sign in again.", code="session_expired")
    if now - auth_session.last_seen_at > timedelta(minutes=org.idle_timeout_minutes):
        revoke(auth_session, "idle", now)
        _audit_as(uow, Action.SESSION_IDLE, user, auth_session.id)
        return Unauthorized(
            "You were signed out after a period of inactivity. Sign in again.",
            code="session_idle",
        )
    return None
