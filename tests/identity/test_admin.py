"""User and organization administration, the caller's own account, and the access
rules on every identity endpoint: no token, wrong role, wrong organization."""

from __future__ import annotations

import uuid

import pytest

from huddle.actor import STAFF_ROLES, Role
from tests.conftest import PASSWORD, Clinic, Server, bearer, sign_in

USER_ROUTES = ["", "/deactivate", "/reactivate", "/mfa-reset"]
AUTHENTICATED = [
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/me/password"),
    ("POST", "/api/v1/me/mfa/enrol"),
    ("POST", "/api/v1/me/mfa/confirm"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{id}"),
    ("POST", "/api/v1/users/{id}/deactivate"),
    ("POST", "/api/v1/users/{id}/reactivate"),
    ("POST", "/api/v1/users/{id}/mfa-reset"),
    ("GET", "/api/v1/colleagues"),
    ("GET", "/api/v1/organization"),
    ("PATCH", "/api/v1/organization"),
]
ADMIN_ONLY = [route for route in AUTHENTICATED if "/users" in route[1]] + [
    ("PATCH", "/api/v1/organization")
]
NON_ADMIN_ROLES = sorted(STAFF_ROLES - {Role.ADMIN})
NEW_USER = {"display_name": "New Person", "role": "bh_clinician", "password": "fjord-ember-sail-77"}


async def token_of(server: Server, clinic: Clinic, role: Role) -> str:
    return (await sign_in(server.client, clinic.email(role)))["access_token"]


async def user_id_of(server: Server, clinic: Clinic, role: Role) -> str:
    admin = await token_of(server, clinic, Role.ADMIN)
    users = (await server.client.get("/api/v1/users", headers=bearer(admin))).json()["users"]
    return next(u["id"] for u in users if u["email"] == clinic.email(role))


def body_for(method: str, path: str) -> dict[str, object] | None:
    if path == "/api/v1/users" and method == "POST":
        return {"email": f"x{uuid.uuid4().hex[:6]}@clinic.test", **NEW_USER}
    if path.endswith("/password"):
        return {"current_password": PASSWORD, "new_password": "fjord-ember-sail-77"}
    if path.endswith("/confirm"):
        return {"code": "123456"}
    if method == "PATCH":
        return {"name": "Renamed"}
    return None


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
async def test_every_identity_endpoint_needs_a_token(
    server: Server, method: str, path: str
) -> None:
    url = path.replace("{id}", str(uuid.uuid4()))
    response = await server.client.request(method, url, json=body_for(method, path))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


@pytest.mark.parametrize(("method", "path"), ADMIN_ONLY)
@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
async def test_admin_endpoints_refuse_other_roles(
    server: Server, clinic: Clinic, role: Role, method: str, path: str
) -> None:
    target = await user_id_of(server, clinic, Role.PCP)
    response = await server.client.request(
        method,
        path.replace("{id}", target),
        json=body_for(method, path),
        headers=bearer(await token_of(server, clinic, role)),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_role"


@pytest.mark.parametrize("suffix", USER_ROUTES)
async def test_another_organizations_users_are_not_found(
    server: Server, clinic: Clinic, other_clinic: Clinic, suffix: str
) -> None:
    stranger = await user_id_of(server, other_clinic, Role.PCP)
    admin = await token_of(server, clinic, Role.ADMIN)
    method = "GET" if suffix == "" else "POST"
    response = await server.client.request(
        method, f"/api/v1/users/{stranger}{suffix}", headers=bearer(admin)
    )
    assert response.status_code == 404
    # ...and nothing happened to them.
    await sign_in(server.client, other_clinic.email(Role.PCP))


async def test_admins_list_and_create_users_of_their_own_organization_only(
    server: Server, clinic: Clinic, other_clinic: Clinic
) -> None:
    admin = await token_of(server, clinic, Role.ADMIN)
    email = f"new.{uuid.uuid4().hex[:6]}@clinic.test"
    created = await server.client.post(
        "/api/v1/users", json={"email": email, **NEW_USER}, headers=bearer(admin)
    )
    assert created.status_code == 201
    assert created.json()["role"] == "bh_clinician"
    listing = (await server.client.get("/api/v1/users", headers=bearer(admin))).json()
    emails = {u["email"] for u in listing["users"]}
    assert email in emails
    assert set(clinic.emails.values()) <= emails
    assert not emails & set(other_clinic.emails.values())
    assert listing["count"] == len(listing["users"])
    await sign_in(server.client, email, NEW_USER["password"])  # type: ignore[arg-type]


async def test_creating_a_user_checks_email_role_and_password(
    server: Server, clinic: Clinic
) -> None:
    admin = bearer(await token_of(server, clinic, Role.ADMIN))
    taken = await server.client.post(
        "/api/v1/users", json={"email": clinic.email(Role.PCP), **NEW_USER}, headers=admin
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "email_taken"
    weak = await server.client.post(
        "/api/v1/users",
        json={**NEW_USER, "email": "weak@clinic.test", "password": "password"},
        headers=admin,
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "password_too_short"
    common = await server.client.post(
        "/api/v1/users",
        json={**NEW_USER, "email": "c@clinic.test", "password": "1234567890qwertyuiop"},
        headers=admin,
    )
    assert common.json()["error"]["code"] in {"password_common", "password_too_short"}
    bad_role = await server.client.post(
        "/api/v1/users", json={**NEW_USER, "email": "r@clinic.test", "role": "root"}, headers=admin
    )
    assert bad_role.status_code == 400
    patient_role = await server.client.post(
        "/api/v1/users",
        json={**NEW_USER, "email": "p@clinic.test", "role": "patient"},
        headers=admin,
    )
    assert patient_role.status_code == 422
    assert patient_role.json()["error"]["code"] == "role_not_allowed"


async def test_deactivation_ends_every_session_at_once(server: Server, clinic: Clinic) -> None:
    sessions = [await token_of(server, clinic, Role.PCP) for _ in range(2)]
    pcp = await user_id_of(server, clinic, Role.PCP)
    admin = bearer(await token_of(server, clinic, Role.ADMIN))
    response = await server.client.post(f"/api/v1/users/{pcp}/deactivate", headers=admin)
    assert response.json()["is_active"] is False
    for access in sessions:
        refused = await server.client.get("/api/v1/me", headers=bearer(access))
        assert refused.json()["error"]["code"] == "session_revoked"
    login = await server.client.post(
        "/api/v1/auth/login", json={"email": clinic.email(Role.PCP), "password": PASSWORD}
    )
    assert login.status_code == 401
    await server.client.post(f"/api/v1/users/{pcp}/reactivate", headers=admin)
    await sign_in(server.client, clinic.email(Role.PCP))


async def test_admins_cannot_deactivate_themselves(server: Server, clinic: Clinic) -> None:
    me = await user_id_of(server, clinic, Role.ADMIN)
    admin = bearer(await token_of(server, clinic, Role.ADMIN))
    response = await server.client.post(f"/api/v1/users/{me}/deactivate", headers=admin)
    assert response.status_code == 409


async def test_organization_settings_are_validated_and_scoped(
    server: Server, clinic: Clinic, other_clinic: Clinic
) -> None:
    admin = bearer(await token_of(server, clinic, Role.ADMIN))
    for bad in ({"idle_timeout_minutes": 0}, {"idle_timeout_minutes": 61}, {"unknown": 1}):
        assert (
            await server.client.patch("/api/v1/organization", json=bad, headers=admin)
        ).status_code == 400
    ok = await server.client.patch(
        "/api/v1/organization", json={"idle_timeout_minutes": 30}, headers=admin
    )
    assert ok.json()["idle_timeout_minutes"] == 30
    theirs = bearer(await token_of(server, other_clinic, Role.PCP))
    other = (await server.client.get("/api/v1/organization", headers=theirs)).json()
    assert other["id"] == str(other_clinic.organization_id)
    assert other["idle_timeout_minutes"] == 15


async def test_changing_a_password_needs_the_current_one_and_can_end_other_sessions(
    server: Server, clinic: Clinic
) -> None:
    email = clinic.email(Role.PCP)
    mine, elsewhere = [await token_of(server, clinic, Role.PCP) for _ in range(2)]
    url = "/api/v1/me/password"
    wrong = await server.client.post(
        url,
        json={"current_password": "not-it-at-all-x", "new_password": "fjord-ember-sail-77"},
        headers=bearer(mine),
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["code"] == "wrong_current_password"
    weak = await server.client.post(
        url, json={"current_password": PASSWORD, "new_password": "short"}, headers=bearer(mine)
    )
    assert weak.json()["error"]["code"] == "password_too_short"
    changed = await server.client.post(
        url,
        json={"current_password": PASSWORD, "new_password": "fjord-ember-sail-77"},
        headers=bearer(mine),
    )
    assert changed.status_code == 204
    assert (await server.client.get("/api/v1/me", headers=bearer(mine))).status_code == 200
    assert (await server.client.get("/api/v1/me", headers=bearer(elsewhere))).status_code == 401
    old = await server.client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert old.status_code == 401
    await sign_in(server.client, email, "fjord-ember-sail-77")
