"""Request and response bodies of the identity API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from huddle.actor import Role
from huddle.identity.models import Organization, User

Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=r"^\s*[^@\s]+@[^@\s]+\s*$")]
# Long enough for any passphrase NIST asks us to accept; the service enforces the rules.
Password = Annotated[str, Meta(min_length=1, max_length=1024)]
Token = Annotated[str, Meta(min_length=1, max_length=4096)]
Code = Annotated[str, Meta(min_length=1, max_length=64)]
DisplayName = Annotated[str, Meta(min_length=1, max_length=200)]
IdleMinutes = Annotated[int, Meta(ge=1, le=60)]


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class MfaRequest(msgspec.Struct, forbid_unknown_fields=True):
    mfa_token: Token
    code: Code


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Token


class TokenResponse(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105


class BrowserSessionResponse(msgspec.Struct):
    """A browser sign-in: the tokens went into HttpOnly cookies, never into this body."""

    csrf_token: str
    expires_in: int


class MfaChallengeResponse(msgspec.Struct):
    mfa_token: str
    mfa_required: Literal[True] = True


class UserOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    is_active: bool
    mfa_enabled: bool
    created_at: datetime
    deactivated_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=Role(user.role),
            is_active=user.is_active,
            mfa_enabled=user.mfa_enabled,
            created_at=user.created_at,
            deactivated_at=user.deactivated_at,
        )


class UserList(msgspec.Struct):
    users: list[UserOut]
    count: int


class ColleagueOut(msgspec.Struct):
    """A colleague as other clinicians see them: a name and a role, nothing more."""

    id: uuid.UUID
    display_name: str
    role: Role

    @classmethod
    def of(cls, user: User) -> ColleagueOut:
        return cls(user.id, user.display_name, Role(user.role))


class ColleagueList(msgspec.Struct):
    colleagues: list[ColleagueOut]
    count: int


class OrganizationOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    idle_timeout_minutes: int
    mfa_required: bool
    timezone: str
    clinic_opens: str
    clinic_closes: str
    clinic_days: str
    after_hours_reply: str
    urgent_escalation_minutes: int
    on_call_user_id: uuid.UUID | None

    @classmethod
    def of(cls, org: Organization) -> OrganizationOut:
        return cls(**{name: getattr(org, name) for name in cls.__struct_fields__})


class MeOut(msgspec.Struct):
    user: UserOut
    organization: OrganizationOut
    # The organization requires MFA and this session must enrol before anything else.
    mfa_enrolment_required: bool


class CreateUserRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    display_name: DisplayName
    role: Role
    password: Password


class PasswordChangeRequest(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Password
    new_password: Password
    sign_out_other_sessions: bool = True


class MfaEnrolmentOut(msgspec.Struct):
    secret: str
    otpauth_uri: str


class MfaConfirmRequest(msgspec.Struct, forbid_unknown_fields=True):
    code: Code


class RecoveryCodesOut(msgspec.Struct):
    recovery_codes: list[str]


ClockTime = Annotated[str, Meta(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


class OrganizationPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: DisplayName | None = None
    idle_timeout_minutes: IdleMinutes | None = None
    mfa_required: bool | None = None
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    clinic_opens: ClockTime | None = None
    clinic_closes: ClockTime | None = None
    clinic_days: Annotated[str, Meta(min_length=3, max_length=32)] | None = None
    after_hours_reply: Annotated[str, Meta(min_length=1, max_length=1000)] | None = None
    urgent_escalation_minutes: Annotated[int, Meta(ge=5, le=1440)] | None = None
    on_call_user_id: uuid.UUID | None = None
