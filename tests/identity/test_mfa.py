"""TOTP MFA: enrolment, challenge, replay, recovery codes, mandatory MFA, admin reset."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from huddle.actor import Role
from huddle.identity import totp
from huddle.identity.models import User
from tests.conftest import PASSWORD, Clinic, Server, bearer, sign_in

LOGIN = "/api/v1/auth/login"


async def enrol(server: Server, access_token: str) -> tuple[str, list[str]]:
    """Turn MFA on for the token's user; returns (secret, recovery codes)."""
    started = await server.client.post("/api/v1/me/mfa/enrol", headers=bearer(access_token))
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    confirmed = await server.client.post(
        "/api/v1/me/mfa/confirm",
        json={"code": totp.code_at(secret, server.clock.now())},
        headers=bearer(access_token),
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"]


async def challenge(client: httpx.AsyncClient, email: str) -> str:
    response = await client.post(LOGIN, json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["mfa_required"] is True
    assert "access_token" not in body
    return body["mfa_token"]


async def answer(server: Server, mfa_token: str, code: str) -> httpx.Response:
    return await server.client.post("/api/v1/auth/mfa", json={"mfa_token": mfa_token, "code": code})


async def test_enrolled_user_needs_a_code_and_each_code_works_once(
    server: Server, clinic: Clinic
) -> None:
    email = clinic.email(Role.CARE_MANAGER)
    secret, _ = await enrol(server, (await sign_in(server.client, email))["access_token"])
    server.clock.advance(timedelta(seconds=30))

    mfa_token = await challenge(server.client, email)
    wrong = await answer(server, mfa_token, "000000")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_mfa_code"

    code = totp.code_at(secret, server.clock.now())
    ok = await answer(server, mfa_token, code)
    assert ok.status_code == 200
    me = await server.client.get("/api/v1/me", headers=bearer(ok.json()["access_token"]))
    assert me.json()["user"]["mfa_enabled"] is True

    replay = await answer(server, await challenge(server.client, email), code)
    assert replay.status_code == 401


async def test_a_recovery_code_signs_in_once(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PSYCHIATRIST)
    _, codes = await enrol(server, (await sign_in(server.client, email))["access_token"])
    assert len(codes) == 10
    assert (
        await answer(server, await challenge(server.client, email), codes[3])
    ).status_code == 200
    again = await answer(server, await challenge(server.client, email), codes[3])
    assert again.status_code == 401


async def test_wrong_codes_count_toward_the_account_lock(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PCP)
    await enrol(server, (await sign_in(server.client, email))["access_token"])
    mfa_token = await challenge(server.client, email)
    for _ in range(5):
        await answer(server, mfa_token, "123456")
    locked = await answer(server, mfa_token, "654321")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"


async def test_the_mfa_token_is_not_an_access_token(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PCP)
    await enrol(server, (await sign_in(server.client, email))["access_token"])
    mfa_token = await challenge(server.client, email)
    response = await server.client.get("/api/v1/me", headers=bearer(mfa_token))
    assert response.status_code == 401


async def test_an_expired_challenge_is_refused(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PCP)
    secret, _ = await enrol(server, (await sign_in(server.client, email))["access_token"])
    mfa_token = await challenge(server.client, email)
    server.clock.advance(timedelta(minutes=6))
    late = await answer(server, mfa_token, totp.code_at(secret, server.clock.now()))
    assert late.status_code == 401
    assert late.json()["error"]["code"] == "token_expired"


async def test_enrolment_needs_a_valid_code_to_take_effect(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PCP)
    access = (await sign_in(server.client, email))["access_token"]
    await server.client.post("/api/v1/me/mfa/enrol", headers=bearer(access))
    bad = await server.client.post(
        "/api/v1/me/mfa/confirm", json={"code": "000000"}, headers=bearer(access)
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_mfa_code"
    assert (
        "access_token"
        in (await server.client.post(LOGIN, json={"email": email, "password": PASSWORD})).json()
    )  # still no MFA


async def test_mandatory_mfa_confines_a_session_to_enrolment(
    server: Server, clinic: Clinic
) -> None:
    admin = (await sign_in(server.client, clinic.email(Role.ADMIN)))["access_token"]
    patched = await server.client.patch(
        "/api/v1/organization", json={"mfa_required": True}, headers=bearer(admin)
    )
    assert patched.json()["mfa_required"] is True

    access = (await sign_in(server.client, clinic.email(Role.ADMIN)))["access_token"]
    blocked = await server.client.get("/api/v1/users", headers=bearer(access))
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "mfa_enrolment_required"
    me = await server.client.get("/api/v1/me", headers=bearer(access))
    assert me.json()["mfa_enrolment_required"] is True

    await enrol(server, access)
    assert (await server.client.get("/api/v1/users", headers=bearer(access))).status_code == 200


async def test_admin_reset_removes_mfa_and_ends_sessions(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PCP)
    access = (await sign_in(server.client, email))["access_token"]
    await enrol(server, access)
    admin = (await sign_in(server.client, clinic.email(Role.ADMIN)))["access_token"]
    users = (await server.client.get("/api/v1/users", headers=bearer(admin))).json()["users"]
    pcp_id = next(u["id"] for u in users if u["email"] == email)

    reset = await server.client.post(f"/api/v1/users/{pcp_id}/mfa-reset", headers=bearer(admin))
    assert reset.status_code == 200
    assert reset.json()["mfa_enabled"] is False
    assert (await server.client.get("/api/v1/me", headers=bearer(access))).status_code == 401
    await sign_in(server.client, email)  # password alone works again


async def test_the_totp_secret_is_stored_only_sealed(server: Server, clinic: Clinic) -> None:
    email = clinic.email(Role.PCP)
    secret, _ = await enrol(server, (await sign_in(server.client, email))["access_token"])
    async with server.rt.db.transaction() as db:
        stored = await db.scalar(select(User.totp_secret).where(User.email == email))
    assert isinstance(stored, bytes)
    assert secret.encode() not in stored
