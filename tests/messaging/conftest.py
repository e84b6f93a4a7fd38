"""A clinic with a patient on the PCP's care team (with the care manager), and helpers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from huddle.actor import Role
from huddle.care.service import link_portal_account
from huddle.identity import accounts
from huddle.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, Clinic, Server, bearer, sign_in


@dataclass
class Thread:
    server: Server
    clinic: Clinic
    patient_id: str
    user_ids: dict[Role, str]
    patient_email: str

    async def headers(self, role: Role) -> dict[str, str]:
        email = self.patient_email if role is Role.PATIENT else self.clinic.email(role)
        return bearer((await sign_in(self.server.client, email))["access_token"])

    async def refer(self, **overrides: object) -> dict:  # type: ignore[type-arg]
        body = {
            "patient_id": self.patient_id,
            "receiving_service": "behavioral_health",
            "reason": "Low mood for 3 months, PHQ-9 of 16; please assess.",
            **overrides,
        }
        response = await self.server.client.post(
            "/api/v1/referrals", json=body, headers=await self.headers(Role.PCP)
        )
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
async def thread(server: Server, clinic: Clinic) -> Thread:
    return await make_thread(server, clinic)


async def make_thread(server: Server, clinic: Clinic) -> Thread:
    """A patient (Nadia Farouk) on the PCP's and the care manager's team, with a portal
    account."""
    pcp = bearer((await sign_in(server.client, clinic.email(Role.PCP)))["access_token"])
    patient = await server.client.post(
        "/api/v1/patients",
        json={"full_name": "Nadia Farouk", "date_of_birth": "1990-05-05", "mrn": uuid.uuid4().hex},
        headers=pcp,
    )
    patient_id = patient.json()["id"]
    admin = bearer((await sign_in(server.client, clinic.email(Role.ADMIN)))["access_token"])
    users = (await server.client.get("/api/v1/users", headers=admin)).json()["users"]
    ids = {Role(u["role"]): u["id"] for u in users}
    await server.client.post(
        f"/api/v1/patients/{patient_id}/care-team",
        json={"user_id": ids[Role.CARE_MANAGER], "team_role": "care_manager"},
        headers=pcp,
    )
    email = f"portal.{uuid.uuid4().hex[:8]}@mail.test"
    async with unit_of_work(server.rt) as uow:
        new = accounts.NewUser(email, "Patient portal account", Role.PATIENT, PASSWORD)
        user = await accounts.insert_user(
            uow, clinic.organization_id, new, await server.rt.passwords.hash(PASSWORD)
        )
        await link_portal_account(uow, uuid.UUID(patient_id), user)
        ids[Role.PATIENT] = str(user.id)
    return Thread(server, clinic, patient_id, {r: str(i) for r, i in ids.items()}, email)
