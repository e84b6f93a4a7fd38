"""HTTP endpoints for sign-in, the signed-in user, and user/organization admin.

Handlers only decode, call one service function, and encode: no rules live here.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from huddle.dependencies import DURING_MFA_ENROLMENT, Context, CurrentActor, Rt
from huddle.errors import Unauthorized
from huddle.http_errors import handle_domain_error
from huddle.identity import accounts, browser_session, service
from huddle.identity.schemas import (
    BrowserSessionResponse,
    ColleagueList,
    ColleagueOut,
    CreateUserRequest,
    LoginRequest,
    MeOut,
    MfaChallengeResponse,
    MfaConfirmRequest,
    MfaEnrolmentOut,
    MfaRequest,
    OrganizationOut,
    OrganizationPatch,
    PasswordChangeRequest,
    RecoveryCodesOut,
    RefreshRequest,
    TokenResponse,
    UserList,
    UserOut,
)
from huddle.runtime import Runtime

ENROLMENT_ALLOWED = {DURING_MFA_ENROLMENT: True}


def _tokens(pair: service.TokenPair) -> TokenResponse:
    return TokenResponse(pair.access_token, pair.refresh_token, pair.expires_in)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", status_code=HTTP_200_OK)
    async def login(
        self, data: JSONBody[LoginRequest], rt: Rt, context: Context
    ) -> TokenResponse | MfaChallengeResponse:
        """Sign in with e-mail and password; users with MFA get a challenge to answer."""
        result = await service.login(rt, data.email, data.password, context)
        if isinstance(result, service.MfaChallenge):
            return MfaChallengeResponse(mfa_token=result.mfa_token)
        return _tokens(result)

    @post("/mfa", status_code=HTTP_200_OK)
    async def mfa(self, data: JSONBody[MfaRequest], rt: Rt, context: Context) -> TokenResponse:
        """Answer an MFA challenge with a TOTP code or a recovery code."""
        return _tokens(await service.complete_mfa(rt, data.mfa_token, data.code, context))

    @post("/refresh", status_code=HTTP_200_OK)
    async def refresh(
        self, data: JSONBody[RefreshRequest], rt: Rt, context: Context
    ) -> TokenResponse:
        """Rotate a refresh token; reusing one ends its whole session."""
        return _tokens(await service.refresh(rt, data.refresh_token, context))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, opt=ENROLMENT_ALLOWED)
    async def logout(self, rt: Rt, actor: CurrentActor) -> None:
        """End this session."""
        await service.logout(rt, actor)


class BrowserAuthController(Controller):
    """Sign-in for the web client: the same sessions, with the tokens in HttpOnly cookies
    and a CSRF token (see identity/browser_session.py and docs/security.md)."""

    path = browser_session.REFRESH_PATH
    tags = ["auth"]

    @post("/login", status_code=HTTP_200_OK, guards=[browser_session.json_only])
    async def login(
        self, data: JSONBody[LoginRequest], rt: Rt, context: Context
    ) -> Response[BrowserSessionResponse | MfaChallengeResponse]:
        """Sign in with e-mail and password; sets the session cookies (or returns an MFA
        challenge)."""
        result = await service.login(rt, data.email, data.password, context)
        if isinstance(result, service.MfaChallenge):
            return Response(MfaChallengeResponse(mfa_token=result.mfa_token))
        return _browser_session(rt, result)

    @post("/mfa", status_code=HTTP_200_OK, guards=[browser_session.json_only])
    async def mfa(
        self, data: JSONBody[MfaRequest], rt: Rt, context: Context
    ) -> Response[BrowserSessionResponse]:
        """Answer an MFA challenge; sets the session cookies."""
        return _browser_session(
            rt, await service.complete_mfa(rt, data.mfa_token, data.code, context)
        )

    @post("/refresh", status_code=HTTP_200_OK)
    async def refresh(self, request: Request, rt: Rt, context: Context) -> Response[Any]:
        """Trade the refresh cookie (with the CSRF header) for new cookies. When the
        session has ended (401) the cookies expire too: the browser keeps nothing that
        no longer works."""
        token = request.cookies.get(browser_session.REFRESH_COOKIE)
        if not token:
            raise Unauthorized("Sign in first.", code="missing_token")
        presented = request.headers.get(browser_session.CSRF_HEADER)
        try:
            pair = await service.refresh(
                rt,
                token,
                context,
                check_session=lambda sid: browser_session.check_csrf(rt, sid, presented),
            )
        except Unauthorized as ended:
            answer = handle_domain_error(request, ended)
            for cookie in browser_session.cleared_cookies(rt.settings):
                answer.set_cookie(cookie)
            return answer
        return _browser_session(rt, pair)

    # The answer sets its own status: 204, or 401 for a session that had already ended.
    @post("/logout", status_code=HTTP_200_OK, opt=ENROLMENT_ALLOWED)
    async def logout(self, request: Request, rt: Rt, context: Context) -> Response[Any]:
        """End this browser session and expire its cookies. A session that had already
        ended (idle, revoked) answers 401 with why, and its cookies expire all the same
        so the browser holds nothing stale."""
        answer: Response[Any] = Response(None, status_code=HTTP_204_NO_CONTENT)
        token = browser_session.access_token_from_cookie(rt, request)
        if token is not None:
            try:
                signed_in = await service.authenticate(rt, token, context)
            except Unauthorized as ended:
                if ended.code == "token_expired":
                    raise  # the client refreshes and signs out with a live token
                answer = handle_domain_error(request, ended)
            else:
                await service.logout(rt, signed_in.actor)
        for cookie in browser_session.cleared_cookies(rt.settings):
            answer.set_cookie(cookie)
        return answer


def _browser_session(rt: Runtime, pair: service.TokenPair) -> Response[BrowserSessionResponse]:
    session_id = browser_session.session_id_of(rt, pair.access_token)
    cookies = browser_session.session_cookies(rt, pair.access_token, pair.refresh_token, session_id)
    body = BrowserSessionResponse(browser_session.csrf_token(rt, session_id), pair.expires_in)
    return Response(body, cookies=cookies)


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["me"]

    @get("", opt=ENROLMENT_ALLOWED)
    async def me(self, rt: Rt, actor: CurrentActor) -> MeOut:
        """The signed-in user and their organization."""
        user, org = await accounts.get_me(rt, actor)
        required = org.mfa_required and not user.mfa_enabled
        return MeOut(UserOut.of(user), OrganizationOut.of(org), mfa_enrolment_required=required)

    @post("/password", status_code=HTTP_204_NO_CONTENT)
    async def change_password(
        self, data: JSONBody[PasswordChangeRequest], rt: Rt, actor: CurrentActor
    ) -> None:
        """Change your password (the current one is required)."""
        await accounts.change_password(
            rt,
            actor,
            data.current_password,
            data.new_password,
            sign_out_other_sessions=data.sign_out_other_sessions,
        )

    @post("/mfa/enrol", status_code=HTTP_200_OK, opt=ENROLMENT_ALLOWED)
    async def begin_mfa(self, rt: Rt, actor: CurrentActor) -> MfaEnrolmentOut:
        """Start TOTP enrolment: returns the secret and an otpauth:// URI for the app."""
        enrolment = await accounts.begin_mfa_enrolment(rt, actor)
        return MfaEnrolmentOut(enrolment.secret, enrolment.otpauth_uri)

    @post("/mfa/confirm", status_code=HTTP_200_OK, opt=ENROLMENT_ALLOWED)
    async def confirm_mfa(
        self, data: JSONBody[MfaConfirmRequest], rt: Rt, actor: CurrentActor
    ) -> RecoveryCodesOut:
        """Confirm enrolment with a code; returns recovery codes, shown only this once."""
        return RecoveryCodesOut(await accounts.confirm_mfa_enrolment(rt, actor, data.code))


class UsersController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @get("")
    async def list_users(self, rt: Rt, actor: CurrentActor) -> UserList:
        """Admin: the users of your organization."""
        users = [UserOut.of(u) for u in await accounts.list_users(rt, actor)]
        return UserList(users=users, count=len(users))

    @post("")
    async def create_user(
        self, data: JSONBody[CreateUserRequest], rt: Rt, actor: CurrentActor
    ) -> UserOut:
        """Admin: add a staff user to your organization."""
        new = accounts.NewUser(data.email, data.display_name, data.role, data.password)
        return UserOut.of(await accounts.create_user(rt, actor, new))

    @get("/{user_id:uuid}")
    async def get_user(self, user_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor) -> UserOut:
        """Admin: one user of your organization."""
        return UserOut.of(await accounts.get_user(rt, actor, user_id))

    @post("/{user_id:uuid}/deactivate", status_code=HTTP_200_OK)
    async def deactivate(
        self, user_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> UserOut:
        """Admin: deactivate a user; all their sessions end at once."""
        return UserOut.of(await accounts.set_user_active(rt, actor, user_id, active=False))

    @post("/{user_id:uuid}/reactivate", status_code=HTTP_200_OK)
    async def reactivate(
        self, user_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> UserOut:
        """Admin: let a deactivated user sign in again."""
        return UserOut.of(await accounts.set_user_active(rt, actor, user_id, active=True))

    @post("/{user_id:uuid}/mfa-reset", status_code=HTTP_200_OK)
    async def reset_mfa(self, user_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor) -> UserOut:
        """Admin: remove a user's second factor (lost device); their sessions end."""
        return UserOut.of(await accounts.reset_mfa(rt, actor, user_id))


class ColleaguesController(Controller):
    path = "/api/v1/colleagues"
    tags = ["users"]

    @get("")
    async def list_colleagues(self, rt: Rt, actor: CurrentActor) -> ColleagueList:
        """Clinicians: the active clinicians of your organization (names and roles)."""
        found = [ColleagueOut.of(u) for u in await accounts.list_colleagues(rt, actor)]
        return ColleagueList(found, len(found))


class OrganizationController(Controller):
    path = "/api/v1/organization"
    tags = ["organization"]

    @get("")
    async def get_organization(self, rt: Rt, actor: CurrentActor) -> OrganizationOut:
        """Your organization and its security settings."""
        return OrganizationOut.of(await accounts.get_organization(rt, actor))

    @patch("")
    async def update_organization(
        self, data: JSONBody[OrganizationPatch], rt: Rt, actor: CurrentActor
    ) -> OrganizationOut:
        """Admin: change the name, idle timeout, mandatory MFA, clinic hours (time zone,
        opening and closing HH:MM, days), the after-hours reply to patients, and urgent
        escalation (minutes, on-call clinician)."""
        changes = accounts.OrganizationChanges(
            **{f: getattr(data, f) for f in OrganizationPatch.__struct_fields__}
        )
        return OrganizationOut.of(await accounts.update_organization(rt, actor, changes))


CONTROLLERS = [
    AuthController,
    BrowserAuthController,
    MeController,
    UsersController,
    ColleaguesController,
    OrganizationController,
]
