"""Data for the compliance tests, made through the API and services as users would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from huddle.actor import Role
from huddle.care.service import link_portal_account
from huddle.identity import accounts
from huddle.protect.models import AuditEvent
from huddle.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, Clinic, Server, bearer, sign_in

AUDIT = "/api/v1/audit"
PATIENTS = "/api/v1/patients"
ACCESS_LOG = "/api/v1/me/access-log"
STAFF_ROLES_BUT_COMPLIANCE = [
    Role.PCP,
    Role.CARE_MANAGER,
    Role.PSYCHIATRIST,
    Role.BH_CLINICIAN,
    Role.ADMIN,
]


async def token(server: Server, clinic: Clinic, role: Role) -> dict[str, str]:
    return bearer((await sign_in(server.client, clinic.email(role)))["access_token"])


async def create_patient(
    server: Server,
    clinic: Clinic,
    role: Role = Role.PCP,
    headers: dict[str, str] | None = None,
    **fields: object,
) -> dict[str, Any]:
    """A patient registered by `role` (signed in anew unless `headers` are given)."""
    tag = uuid.uuid4().hex[:8]
    body = {
        "full_name": f"Dana Whitfield-{tag}",
        "date_of_birth": "1979-06-14",
        "mrn": f"MRN-{tag}",
        **fields,
    }
    response = await server.client.post(
        PATIENTS, json=body, headers=headers or await token(server, clinic, role)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def break_glass(
    server: Server, headers: dict[str, str], patient_id: str, reason: str
) -> None:
    response = await server.client.post(
        f"{PATIENTS}/{patient_id}/break-glass", json={"reason": reason}, headers=headers
    )
    assert response.status_code == 200, response.text


async def portal_account(server: Server, clinic: Clinic, patient_id: str) -> dict[str, str]:
    """A patient-role user linked to `patient_id`, signed in."""
    email = f"portal.{uuid.uuid4().hex[:8]}@mail.test"
    async with unit_of_work(server.rt) as uow:
        new = accounts.NewUser(email, "Portal Person", Role.PATIENT, PASSWORD)
        user = await accounts.insert_user(
            uow, clinic.organization_id, new, await server.rt.passwords.hash(PASSWORD)
        )
        await link_portal_account(uow, uuid.UUID(patient_id), user)
    return bearer((await sign_in(server.client, email))["access_token"])


async def user_ids(server: Server, clinic: Clinic) -> dict[str, str]:
    """The clinic's staff user ids by role."""
    users = (
        await server.client.get("/api/v1/users", headers=await token(server, clinic, Role.ADMIN))
    ).json()["users"]
    return {u["role"]: u["id"] for u in users}


async def organization_events(server: Server, clinic: Clinic) -> list[AuditEvent]:
    """The clinic's audit events straight from the database, newest first."""
    async with server.rt.db.transaction() as db:
        rows = await db.scalars(
            select(AuditEvent)
            .where(AuditEvent.organization_id == clinic.organization_id)
            .order_by(AuditEvent.seq.desc())
        )
        return list(rows)


def move_clock_to(server: Server, moment: datetime) -> None:
    """Set the server's clock (only forward, as time goes); sessions may idle out."""
    assert moment >= server.clock.now()
    server.clock.advance(moment - server.clock.now())


def next_weekday_at(server: Server, weekday: int, hour: int) -> datetime:
    """The first moment after the clock's now (and a day's margin) on `weekday` at `hour`."""
    day = (server.clock.now() + timedelta(days=1)).date()
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
