"""Secure links: a patient opens the link from a notification, confirms their date of
birth, and gets a 30-minute link session that can read and reply to that one
conversation and nothing else.

This module sits above messaging: reads and replies go through `messaging.service` as
the patient's portal user, so policy, encryption and audit are exactly the portal's.
Every use of a link (confirmation, good or bad; each read; each reply) is audited as
resource `secure_link` with the patient's id. The token itself is never stored (only
its SHA-256), logged or audited.
"""

from __future__ import annotations

import hmac
import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from huddle.actor import Actor, RequestContext, Role
from huddle.care import service as care
from huddle.errors import HuddleError, NotFound, RateLimited, Unauthorized
from huddle.identity import throttle
from huddle.identity.models import LoginThrottle, Organization, User
from huddle.messaging import service as messaging
from huddle.notify.models import SecureLink
from huddle.notify.service import link_token_hash
from huddle.protect.audit import Action, Outcome
from huddle.protect.crypto import Binding
from huddle.protect.policy import PatientAction
from huddle.runtime import Runtime
from huddle.unit_of_work import UnitOfWork, unit_of_work

LINK_AUDIENCE = "huddle:patient-link"
LINK_SESSION_TTL = timedelta(minutes=30)
RESOURCE = "secure_link"
# Tokens are 43 characters; anything much longer is not one of ours (and is not hashed).
MAX_TOKEN_CHARS = 128
# Wrong dates of birth lock a link as wrong passwords lock an account (5 free, then
# 1 minute doubling up to 1 hour); the tenth revokes it for good.
LINK_FREE_FAILURES = throttle.ACCOUNT_FREE_FAILURES
LINK_FIRST_LOCK = throttle.ACCOUNT_FIRST_LOCK
LINK_MAX_LOCK = throttle.ACCOUNT_MAX_LOCK
LINK_MAX_FAILURES = 10
# Per source address, as for sign-in (20 failures in 15 minutes), but counted apart.
ADDRESS_KEY_PREFIX = "secure-link-address:"

NOT_MATCHED = "The details you entered do not match our records."
# One answer for expired, used and revoked links: a link holder cannot learn whether
# the patient already opened it.
EXPIRED = "This link has expired or was already used. A new link comes with your next message."


class LinkExpired(HuddleError):
    status_code = 410
    default_code = "link_expired"


@dataclass(frozen=True, slots=True)
class LinkSession:
    access_token: str
    expires_in: int
    conversation_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class _Session:
    actor: Actor
    conversation_id: uuid.UUID


async def confirm_link(
    rt: Runtime, token: str, date_of_birth: date, context: RequestContext
) -> LinkSession:
    """Trade a link and the patient's date of birth for a link session. A link works
    once. Raises NotFound (unknown link), LinkExpired (expired, used or revoked),
    Unauthorized (wrong date of birth: counted), RateLimited (link locked, or too many
    failures from this address). Failures are recorded and audited before raising."""
    async with unit_of_work(rt, context=context) as uow:
        outcome = await _confirm(uow, token, date_of_birth, rt.clock.now())
        if isinstance(outcome, HuddleError):
            uow.fail_after_commit(outcome)
    assert isinstance(outcome, LinkSession)  # a failure was raised on leaving the block
    return outcome


async def read_messages(
    rt: Runtime,
    session_token: str,
    context: RequestContext,
    *,
    after: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[messaging.MessageView], int]:
    """A page of the link session's conversation (see messaging.list_messages)."""
    session = await _use_session(rt, session_token, context, Action.READ, "read")
    return await messaging.list_messages(
        rt, session.actor, session.conversation_id, after=after, before=before, limit=limit
    )


async def reply(
    rt: Runtime,
    session_token: str,
    context: RequestContext,
    body: str,
    client_msg_id: str | None,
) -> tuple[messaging.MessageView, bool]:
    """Send the patient's reply into the link session's conversation; idempotent on
    client_msg_id (see messaging.send_message)."""
    session = await _use_session(rt, session_token, context, Action.CREATE, "reply")
    draft = messaging.MessageDraft(body, client_msg_id)
    return await messaging.send_message(rt, session.actor, session.conversation_id, draft)


# -------------------------------------------------------------------- confirmation


async def _confirm(
    uow: UnitOfWork, token: str, date_of_birth: date, now: datetime
) -> LinkSession | HuddleError:
    if refused := await _address_refusal(uow, now):
        uow.audit(Action.LOGIN_THROTTLED, RESOURCE, outcome=Outcome.DENIED, code=refused.code)
        return refused
    link = None
    if len(token) <= MAX_TOKEN_CHARS:
        link = await uow.db.scalar(
            select(SecureLink)
            .where(SecureLink.token_hash == link_token_hash(token))
            .with_for_update()
        )
    if link is None:
        await _count_address_failure(uow, now)
        uow.audit(Action.LOGIN_FAILED, RESOURCE, outcome=Outcome.FAILURE, code="unknown_link")
        return NotFound("This link is not valid.", code="link_not_found")
    user = await uow.db.get_one(User, link.user_id)
    unusable = _unusable(link, user, now)
    if unusable is not None:
        await _count_address_failure(uow, now)
        _audit(uow, Action.LOGIN_FAILED, link, user, Outcome.FAILURE, code=unusable)
        return LinkExpired(EXPIRED)
    if link.locked_until is not None and link.locked_until > now:
        _audit(uow, Action.LOGIN_THROTTLED, link, user, Outcome.DENIED, code="link_locked")
        return RateLimited(
            "This link is locked after repeated wrong answers. Try again later.",
            code="link_locked",
            retry_after_seconds=math.ceil((link.locked_until - now).total_seconds()),
        )
    actor = _patient_actor(user, uow.context)
    if not await _date_of_birth_matches(uow, actor, link, date_of_birth):
        await _count_link_failure(uow, link, user, now)
        return Unauthorized(NOT_MATCHED, code="link_confirmation_failed")
    link.confirmed_at = link.last_used_at = now
    # The patient's other open links to this thread (older e-mails) stop working.
    await uow.db.execute(
        update(SecureLink)
        .where(
            SecureLink.user_id == user.id,
            SecureLink.conversation_id == link.conversation_id,
            SecureLink.confirmed_at.is_(None),
            SecureLink.expires_at > now,
            SecureLink.id != link.id,
        )
        .values(expires_at=now)
    )
    _audit(uow, Action.LOGIN, link, user, Outcome.SUCCESS)
    access_token = uow.rt.tokens.issue(
        audience=LINK_AUDIENCE,
        subject=user.id,
        ttl=LINK_SESSION_TTL,
        cid=str(link.conversation_id),
        lid=str(link.id),
    )
    return LinkSession(access_token, int(LINK_SESSION_TTL.total_seconds()), link.conversation_id)


def _unusable(link: SecureLink, user: User, now: datetime) -> str | None:
    """Why a link can no longer be confirmed, as an audit code; None if it can."""
    if link.confirmed_at is not None:
        return "link_used"
    if link.expires_at <= now:
        return "link_expired"
    if not user.is_active or user.patient_id != link.patient_id:
        return "recipient_inactive"
    return None


async def _date_of_birth_matches(
    uow: UnitOfWork, actor: Actor, link: SecureLink, given: date
) -> bool:
    """Compare with the patient's sealed record, reached through care's policy check
    as the patient's own portal account (a patient may read their own record)."""
    patient, _ = await care.authorize_patient(uow, actor, link.patient_id, PatientAction.READ)
    binding = Binding("patients", "date_of_birth", patient.id, patient.id)
    stored = await uow.open(patient.date_of_birth, binding, patient_id=patient.id)
    return hmac.compare_digest(stored, given.isoformat().encode())


async def _count_link_failure(uow: UnitOfWork, link: SecureLink, user: User, now: datetime) -> None:
    link.failed_attempts += 1
    await _count_address_failure(uow, now)
    _audit(uow, Action.LOGIN_FAILED, link, user, Outcome.FAILURE, code="wrong_date_of_birth")
    if link.failed_attempts >= LINK_MAX_FAILURES:
        link.expires_at = now
        _audit(uow, Action.ACCOUNT_LOCKED, link, user, Outcome.FAILURE, code="link_revoked")
    elif link.failed_attempts >= LINK_FREE_FAILURES:
        doublings = link.failed_attempts - LINK_FREE_FAILURES
        link.locked_until = now + min(LINK_FIRST_LOCK * 2**doublings, LINK_MAX_LOCK)
        _audit(uow, Action.ACCOUNT_LOCKED, link, user, Outcome.FAILURE, code="link_locked")


async def _address_refusal(uow: UnitOfWork, now: datetime) -> RateLimited | None:
    key = _address_key(uow.context)
    row = await uow.db.get(LoginThrottle, key) if key else None
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return RateLimited(
        "Too many attempts from this address. Try again later.",
        code="too_many_attempts",
        retry_after_seconds=math.ceil((row.locked_until - now).total_seconds()),
    )


async def _count_address_failure(uow: UnitOfWork, now: datetime) -> None:
    """Count a failure for the source address in the sign-in throttle table, under a
    key of its own (link failures and sign-in failures do not add up)."""
    key = _address_key(uow.context)
    if key is None:
        return
    insert = pg_insert if uow.db.bind.dialect.name == "postgresql" else sqlite_insert
    await uow.db.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, window_started_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = await uow.db.scalar(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if now - row.window_started_at > throttle.ADDRESS_WINDOW:
        row.failures, row.window_started_at, row.locked_until = 0, now, None
    row.failures += 1
    if row.failures >= throttle.ADDRESS_MAX_FAILURES:
        row.locked_until = row.window_started_at + throttle.ADDRESS_WINDOW


def _address_key(context: RequestContext) -> str | None:
    return f"{ADDRESS_KEY_PREFIX}{context.source_ip}" if context.source_ip else None


# ------------------------------------------------------------------- link sessions


async def _use_session(
    rt: Runtime, session_token: str, context: RequestContext, action: Action, use: str
) -> _Session:
    """Check a link-session token and its link (confirmed, user still the patient's,
    not idle); note and audit the use."""
    claims = rt.tokens.verify(session_token, audience=LINK_AUDIENCE)
    try:
        user_id, link_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["lid"])
        conversation_id = uuid.UUID(claims["cid"])
    except (KeyError, ValueError, TypeError):
        raise Unauthorized("The link session is not valid.", code="invalid_token") from None
    now = rt.clock.now()
    async with unit_of_work(rt, context=context) as uow:
        row = (
            await uow.db.execute(
                select(SecureLink, User, Organization)
                .join(User, User.id == SecureLink.user_id)
                .join(Organization, Organization.id == User.organization_id)
                .where(
                    SecureLink.id == link_id,
                    SecureLink.conversation_id == conversation_id,
                    User.id == user_id,
                    SecureLink.confirmed_at.is_not(None),
                )
            )
        ).one_or_none()
        if row is None:
            raise Unauthorized("The link session is not valid.", code="invalid_token")
        link, user, org = row
        if not user.is_active or user.patient_id != link.patient_id:
            raise Unauthorized("The link session has ended.", code="session_revoked")
        idle = timedelta(minutes=org.idle_timeout_minutes)
        if link.last_used_at is None or now - link.last_used_at > idle:
            _audit(uow, Action.SESSION_IDLE, link, user, Outcome.SUCCESS)
            uow.fail_after_commit(
                Unauthorized(
                    "The link session ended after a period of inactivity.", code="session_idle"
                )
            )
        else:
            link.last_used_at = now
            _audit(uow, action, link, user, Outcome.SUCCESS, use=use)
    return _Session(_patient_actor(user, context), conversation_id)


# ------------------------------------------------------------------------- helpers


def _patient_actor(user: User, context: RequestContext) -> Actor:
    # A link session has no sign-in session row: a stand-in id, as for the demo loader.
    return Actor(
        user_id=user.id,
        organization_id=user.organization_id,
        role=Role.PATIENT,
        session_id=uuid.uuid4(),
        context=context,
        patient_id=user.patient_id,
    )


def _audit(
    uow: UnitOfWork,
    action: Action,
    link: SecureLink,
    user: User,
    outcome: Outcome,
    **detail: str,
) -> None:
    uow.audit(
        action,
        RESOURCE,
        link.id,
        patient_id=link.patient_id,
        outcome=outcome,
        organization_id=user.organization_id,
        actor_user_id=user.id,
        actor_role=Role.PATIENT.value,
        conversation_id=str(link.conversation_id),
        **detail,
    )
