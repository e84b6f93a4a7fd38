"""The colleague list clinicians pick a care team's new member from: active clinicians
of their own organization, names and roles only."""

from __future__ import annotations

import pytest

from huddle.actor import Role
from tests.conftest import Clinic, Server, bearer, make_clinic, sign_in
from tests.identity.test_admin import token_of, user_id_of

COLLEAGUES = "/api/v1/colleagues"


async def test_a_clinician_lists_the_active_clinicians_of_the_organization(
    server: Server, clinic: Clinic
) -> None:
    other = await make_clinic(server.rt, "Elsewhere")
    admin = bearer(await token_of(server, clinic, Role.ADMIN))
    leaving = await user_id_of(server, clinic, Role.BH_CLINICIAN)
    await server.client.post(f"/api/v1/users/{leaving}/deactivate", headers=admin)

    answer = await server.client.get(
        COLLEAGUES, headers=bearer(await token_of(server, clinic, Role.CARE_MANAGER))
    )
    assert answer.status_code == 200
    colleagues = answer.json()["colleagues"]
    assert sorted(c["role"] for c in colleagues) == ["care_manager", "pcp", "psychiatrist"]
    assert answer.json()["count"] == 3
    assert all(set(c) == {"id", "display_name", "role"} for c in colleagues)
    assert leaving not in answer.text
    assert str(other.organization_id) not in answer.text
    stranger = await user_id_of(server, other, Role.PCP)
    assert stranger not in answer.text


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE_OFFICER])
async def test_only_clinicians_list_colleagues(server: Server, clinic: Clinic, role: Role) -> None:
    headers = bearer((await sign_in(server.client, clinic.email(role)))["access_token"])
    answer = await server.client.get(COLLEAGUES, headers=headers)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "wrong_role"
