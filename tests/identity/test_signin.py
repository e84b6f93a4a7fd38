"""Sign-in over the API: login, refresh rotation and reuse, logout, idle and absolute
session limits, throttling and lockout, and the security events each leaves."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from huddle.actor import RequestContext, Role
from huddle.config import PasswordHashing
from huddle.errors import Unauthorized
from huddle.identity import service as identity
from huddle.identity.models import User
from huddle.identity.session_cache import CheckedSession
from huddle.identity.tokens import ACCESS_AUDIENCE
from huddle.protect.models import AuditEvent
from tests.conftest import (
    PASSWORD,
    Clinic,
    Server,
    bearer,
    client_from_new_address,
    open_server,
    sign_in,
    with_settings,
)

LOGIN = "/api/v1/auth/login"


async def me(server: Server, access_token: str):  # type: ignore[no-untyped-def]
    return await server.client.get("/api/v1/me", headers=bearer(access_token))


def error_code(response) -> str:  # type: ignore[no-untyped-def]
    return response.json()["error"]["code"]


async def events_of(server: Server, email: str) -> list[str]:
    async with server.rt.db.transaction() as db:
        user = await db.scalar(select(User).where(User.email == email))
        assert user is not None
        rows = await db.scalars(
            select(AuditEvent).where(AuditEvent.actor_user_id == user.id).order_by(AuditEvent.seq)
        )
        return [row.action for row in rows]


async def test_login_returns_tokens_and_me_returns_the_user(server: Server, clinic: Clinic) -> None:
    tokens = await sign_in(server.client, clinic.email(Role.PCP))
    assert tokens["token_type"] == "Bearer"
    assert 0 < tokens["expires_in"] <= 900
    response = await me(server, tokens["access_token"])
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == clinic.email(Role.PCP)
    assert body["user"]["role"] == "pcp"
    assert body["organization"]["id"] == str(clinic.organization_id)
    assert "password_hash" not in response.text


async def test_email_is_matched_without_regard_to_case_or_spaces(
    server: Server, clinic: Clinic
) -> None:
    await sign_in(server.client, "  " + clinic.email(Role.PCP).upper() + " ")


async def test_unknown_account_and_wrong_password_look_the_same(
    server: Server, clinic: Clinic
) -> None:
    wrong = await server.client.post(
        LOGIN, json={"email": clinic.email(Role.PCP), "password": "not-the-password-at-all"}
    )
    unknown = await server.client.post(
        LOGIN, json={"email": "nobody@nowhere.test", "password": "not-the-password-at-all"}
    )
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.json()["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert strip(wrong)["code"] == "invalid_credentials"


async def test_missing_malformed_and_foreign_tokens_are_refused(server: Server) -> None:
    assert error_code(await server.client.get("/api/v1/me")) == "missing_token"
    for header in ("Bearer", "Basic abc", "Bearer not.a.jwt"):
        response = await server.client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401


async def test_expired_access_token_is_refused(server: Server, clinic: Clinic) -> None:
    tokens = await sign_in(server.client, clinic.email(Role.PCP))
    server.clock.advance(timedelta(minutes=15, seconds=30))
    response = await me(server, tokens["access_token"])
    assert response.status_code == 401
    assert error_code(response) == "token_expired"


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    server: Server, clinic: Clinic
) -> None:
    first = await sign_in(server.client, clinic.email(Role.PCP))
    rotated = await server.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await me(server, second["access_token"])).status_code == 200

    replay = await server.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert error_code(replay) == "refresh_token_reused"
    # The thief's copy and the owner's newer tokens all stop working.
    after = await server.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert error_code(after) == "session_revoked"
    assert error_code(await me(server, second["access_token"])) == "session_revoked"
    assert "refresh_token_reused" in await events_of(server, clinic.email(Role.PCP))


async def test_an_unknown_refresh_token_is_refused(server: Server) -> None:
    response = await server.client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"})
    assert response.status_code == 401
    assert error_code(response) == "invalid_token"


async def test_logout_ends_the_session(server: Server, clinic: Clinic) -> None:
    tokens = await sign_in(server.client, clinic.email(Role.PCP))
    other = await sign_in(server.client, clinic.email(Role.PCP))
    logout = await server.client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert logout.status_code == 204
    assert error_code(await me(server, tokens["access_token"])) == "session_revoked"
    refresh = await server.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert error_code(refresh) == "session_revoked"
    assert (await me(server, other["access_token"])).status_code == 200  # other session lives
    assert "logout" in await events_of(server, clinic.email(Role.PCP))


async def set_idle_timeout(server: Server, clinic: Clinic, *, minutes: int) -> None:
    admin = await sign_in(server.client, clinic.email(Role.ADMIN))
    patched = await server.client.patch(
        "/api/v1/organization",
        json={"idle_timeout_minutes": minutes},
        headers=bearer(admin["access_token"]),
    )
    assert patched.status_code == 200


async def test_an_idle_session_is_signed_out_even_with_a_valid_token(
    server: Server, clinic: Clinic
) -> None:
    await set_idle_timeout(server, clinic, minutes=5)
    tokens = await sign_in(server.client, clinic.email(Role.PCP))
    server.clock.advance(timedelta(minutes=4))
    assert (await me(server, tokens["access_token"])).status_code == 200  # activity
    server.clock.advance(timedelta(minutes=4))
    assert (await me(server, tokens["access_token"])).status_code == 200  # 4 min since activity
    server.clock.advance(timedelta(minutes=5, seconds=30))
    idle = await me(server, tokens["access_token"])
    assert idle.status_code == 401
    assert error_code(idle) == "session_idle"
    refresh = await server.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert "session_idle" in await events_of(server, clinic.email(Role.PCP))


async def test_sessions_checked_together_each_get_their_own_answer(
    server: Server, clinic: Clinic
) -> None:
    """Sockets connecting at once have their sessions checked in one transaction
    (identity.check_sessions_many): each is answered as if checked alone, and the
    idle one is still ended and audited."""
    await set_idle_timeout(server, clinic, minutes=5)
    gone_idle = await sign_in(server.client, clinic.email(Role.CARE_MANAGER))
    server.clock.advance(timedelta(minutes=6))
    active = await sign_in(server.client, clinic.email(Role.PCP))
    logged_out = await sign_in(server.client, clinic.email(Role.PSYCHIATRIST))
    await server.client.post("/api/v1/auth/logout", headers=bearer(logged_out["access_token"]))

    def check(tokens: dict[str, str]) -> identity.SessionCheck:
        claims = server.rt.tokens.verify(tokens["access_token"], audience=ACCESS_AUDIENCE)
        return identity.SessionCheck(
            uuid.UUID(claims["sid"]),
            uuid.UUID(claims["sub"]),
            RequestContext(source_ip="10.0.0.8"),
            server.clock.now(),
            activity=False,
        )

    answers = await identity.check_sessions_many(
        server.rt, [check(t) for t in (active, gone_idle, logged_out)]
    )

    fine, idle, revoked = answers
    assert isinstance(fine, CheckedSession)
    assert (fine.session_id, fine.user_id) == (check(active).session_id, check(active).user_id)
    assert isinstance(idle, Unauthorized)
    assert isinstance(revoked, Unauthorized)
    assert [idle.code, revoked.code] == [
        "session_idle",
        "session_revoked",
    ]
    assert "session_idle" in await events_of(server, clinic.email(Role.CARE_MANAGER))
    assert error_code(await me(server, gone_idle["access_token"])) == "session_revoked"
    assert (await me(server, active["access_token"])).status_code == 200


async def test_passive_requests_do_not_keep_a_session_from_going_idle(
    server: Server, clinic: Clinic
) -> None:
    """A page that only refetches by itself (live events arriving) signs out on time."""
    await set_idle_timeout(server, clinic, minutes=5)
    tokens = await sign_in(server.client, clinic.email(Role.PCP))
    passive = bearer(tokens["access_token"]) | {"X-Huddle-Passive": "1"}
    for _ in range(4):  # a refetch every minute: answered, but not activity
        server.clock.advance(timedelta(minutes=1))
        answer = await server.client.get("/api/v1/conversations", headers=passive)
        assert answer.status_code == 200
    server.clock.advance(timedelta(minutes=1, seconds=30))  # 5.5 min after sign-in
    idle = await server.client.get("/api/v1/conversations", headers=passive)
    assert idle.status_code == 401
    assert error_code(idle) == "session_idle"
    assert error_code(await me(server, tokens["access_token"])) == "session_revoked"
    assert "session_idle" in await events_of(server, clinic.email(Role.PCP))


async def test_default_idle_timeout_is_fifteen_minutes(server: Server, clinic: Clinic) -> None:
    tokens = await sign_in(server.client, clinic.email(Role.PCP))
    server.clock.advance(timedelta(minutes=15, seconds=5))
    refresh = await server.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert error_code(refresh) == "session_idle"


async def test_sessions_end_at_their_absolute_lifetime(settings, clock, clinic_in) -> None:  # type: ignore[no-untyped-def]
    async for server in open_server(with_settings(settings, session_lifetime_hours=1), clock):
        clinic = await clinic_in(server)
        tokens = await sign_in(server.client, clinic.email(Role.PCP))
        for _ in range(4):  # stay active: refresh and use the API every 12 minutes
            server.clock.advance(timedelta(minutes=12))
            tokens = (
                await server.client.post(
                    "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
                )
            ).json()
            assert (await me(server, tokens["access_token"])).status_code == 200
        server.clock.advance(timedelta(minutes=13))  # 61 minutes after sign-in
        expired = await me(server, tokens["access_token"])
        assert error_code(expired) == "session_expired"


@pytest.fixture
def clinic_in():  # type: ignore[no-untyped-def]
    from tests.conftest import make_clinic

    return lambda server: make_clinic(server.rt)


async def test_repeated_failures_lock_the_account_for_a_growing_time(
    server: Server, clinic: Clinic
) -> None:
    email = clinic.email(Role.PCP)
    for _ in range(5):
        response = await server.client.post(LOGIN, json={"email": email, "password": "wrong" * 4})
        assert response.status_code == 401
    locked = await server.client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert locked.status_code == 429
    assert error_code(locked) == "account_locked"
    first_wait = int(locked.headers["retry-after"])
    assert 50 <= first_wait <= 60

    server.clock.advance(timedelta(seconds=first_wait + 1))
    await server.client.post(LOGIN, json={"email": email, "password": "wrong" * 4})
    again = await server.client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert error_code(again) == "account_locked"
    assert int(again.headers["retry-after"]) > first_wait  # the lock grows

    server.clock.advance(timedelta(minutes=3))
    await sign_in(server.client, email)  # and then it lifts
    kinds = await events_of(server, email)
    assert "account_locked" in kinds
    assert "login_throttled" in kinds


async def test_a_success_resets_the_failure_count(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PCP)
    for _ in range(2):
        for _ in range(4):
            await server.client.post(LOGIN, json={"email": email, "password": "wrong" * 4})
        await sign_in(server.client, email)


async def test_unknown_accounts_lock_exactly_like_real_ones(server: Server) -> None:
    for _ in range(5):
        await server.client.post(
            LOGIN, json={"email": "ghost@nowhere.test", "password": "wrong" * 4}
        )
    response = await server.client.post(
        LOGIN, json={"email": "ghost@nowhere.test", "password": "wrong" * 4}
    )
    assert error_code(response) == "account_locked"


async def test_many_failures_from_one_address_get_429_with_retry_after(server: Server) -> None:
    for n in range(20):
        await server.client.post(
            LOGIN, json={"email": f"spray{n}@nowhere.test", "password": "wrong" * 4}
        )
    response = await server.client.post(
        LOGIN, json={"email": "spray-last@nowhere.test", "password": "wrong" * 4}
    )
    assert response.status_code == 429
    assert error_code(response) == "too_many_attempts"
    assert int(response.headers["retry-after"]) > 0
    async with client_from_new_address(server) as elsewhere:  # other addresses are unaffected
        other = await elsewhere.post(
            LOGIN, json={"email": "spray-last@nowhere.test", "password": "wrong" * 4}
        )
        assert other.status_code == 401


async def test_login_rehashes_a_password_when_parameters_change(settings, clock, clinic_in) -> None:  # type: ignore[no-untyped-def]
    async for old in open_server(settings, clock):
        clinic = await clinic_in(old)
    stronger = PasswordHashing(time_cost=2, memory_kib=2048, parallelism=1)
    async for new in open_server(with_settings(settings, password_hashing=stronger), clock):
        await sign_in(new.client, clinic.email(Role.PCP))
        async with new.rt.db.transaction() as db:
            user = await db.scalar(select(User).where(User.email == clinic.email(Role.PCP)))
            assert user is not None
            assert "m=2048,t=2" in user.password_hash
        await sign_in(new.client, clinic.email(Role.PCP))


async def test_sign_ins_and_failures_are_recorded(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PCP)
    typed = "zebra-quartz-typed-wrong"
    await server.client.post(LOGIN, json={"email": email, "password": typed})
    await sign_in(server.client, email)
    assert (await events_of(server, email))[-2:] == ["login_failed", "login"]
    async with server.rt.db.transaction() as db:
        failed = await db.scalar(
            select(AuditEvent)
            .join(User, User.id == AuditEvent.actor_user_id)
            .where(User.email == email, AuditEvent.action == "login_failed")
        )
        assert failed is not None
        assert failed.outcome == "failure"
        assert failed.organization_id == clinic.organization_id
        assert failed.source_ip == server.address
        assert failed.request_id
        assert typed not in str(failed.detail)
