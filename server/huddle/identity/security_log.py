"""Security events (sign-ins, lockouts, MFA and account changes), written in the same
transaction as the change they describe. Details hold ids and reasons, never secrets."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from huddle.actor import RequestContext
from huddle.identity.models import SecurityEvent


class Kind(StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    ACCOUNT_LOCKED = "account_locked"
    LOGIN_THROTTLED = "login_throttled"
    MFA_CHALLENGE = "mfa_challenge"
    MFA_FAILED = "mfa_failed"
    MFA_ENROLLED = "mfa_enrolled"
    MFA_RESET = "mfa_reset"
    RECOVERY_CODE_USED = "recovery_code_used"
    REFRESH_REUSED = "refresh_token_reused"
    LOGOUT = "logout"
    SESSION_IDLE = "session_idle"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    USER_CREATED = "user_created"
    USER_DEACTIVATED = "user_deactivated"
    USER_REACTIVATED = "user_reactivated"
    ORGANIZATION_UPDATED = "organization_updated"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"


def record(
    session: AsyncSession,
    kind: Kind,
    context: RequestContext,
    *,
    at: datetime,
    outcome: Outcome = Outcome.SUCCESS,
    organization_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    **detail: str,
) -> None:
    session.add(
        SecurityEvent(
            at=at,
            organization_id=organization_id,
            user_id=user_id,
            actor_id=actor_id if actor_id is not None else user_id,
            kind=kind.value,
            outcome=outcome.value,
            source_ip=context.source_ip,
            request_id=context.request_id,
            detail=detail,
        )
    )
