"""A patient's own access log: who read or changed their record, named for staff and
"You" for themselves; nothing about other patients, no addresses or details."""

from __future__ import annotations

import uuid
from datetime import timedelta

from huddle.actor import Role
from huddle.compliance.disclosures import ACCESS_ACTIONS
from huddle.protect.audit import Action
from huddle.unit_of_work import unit_of_work
from tests.compliance.factories import (
    ACCESS_LOG,
    PATIENTS,
    STAFF_ROLES_BUT_COMPLIANCE,
    assert_error,
    create_patient,
    organization_events,
    portal_account,
    token,
)
from tests.conftest import Clinic, Server


async def test_a_patient_sees_who_accessed_their_record(server: Server, clinic: Clinic) -> None:
    mine = await create_patient(server, clinic)
    other = await create_patient(server, clinic)
    patient = await portal_account(server, clinic, mine["id"])
    pcp = await token(server, clinic, Role.PCP)
    assert (await server.client.get(f"{PATIENTS}/{mine['id']}", headers=pcp)).status_code == 200
    own = await server.client.get(f"{PATIENTS}/{mine['id']}", headers=patient)
    assert own.status_code == 200
    server.clock.advance(timedelta(minutes=1))
    someone_else = server.clock.now()
    pcp = await token(server, clinic, Role.PCP)
    assert (await server.client.get(f"{PATIENTS}/{other['id']}", headers=pcp)).status_code == 200
    # Refused attempts are not accesses.
    psychiatrist = await token(server, clinic, Role.PSYCHIATRIST)
    refused = await server.client.get(f"{PATIENTS}/{mine['id']}", headers=psychiatrist)
    assert refused.status_code == 403

    response = await server.client.get(ACCESS_LOG, headers=patient)
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert entries[0] == {**entries[0], "who": "You", "role": "patient", "action": "read"}
    staff = [e for e in entries if e["role"] == "pcp"]
    assert {e["action"] for e in staff} == {"create", "read"}
    assert all(e["who"].startswith("pcp ") for e in staff)
    assert "psychiatrist" not in {e["role"] for e in entries}
    assert all(not e["at"].startswith(someone_else.isoformat()[:16]) for e in entries)
    assert other["id"] not in response.text
    assert server.address not in response.text
    assert "via" not in response.text
    assert set(entries[0]) == {"at", "who", "role", "action", "resource_type"}
    expected = [
        e
        for e in await organization_events(server, clinic)
        if e.patient_id == uuid.UUID(mine["id"])
        and e.outcome == "success"
        and e.action in ACCESS_ACTIONS
        and e.resource_type != "access_log"
    ]
    assert len(entries) == len(expected)
    # Reading it is audited, as a read of the patient's own data.
    audited = (await organization_events(server, clinic))[0]
    assert (audited.action, audited.resource_type, audited.patient_id) == (
        "read",
        "access_log",
        uuid.UUID(mine["id"]),
    )


async def test_the_access_log_pages_newest_first(server: Server, clinic: Clinic) -> None:
    mine = await create_patient(server, clinic)
    patient = await portal_account(server, clinic, mine["id"])
    for _ in range(4):
        await server.client.get(f"{PATIENTS}/{mine['id']}", headers=patient)
    everything = (
        await server.client.get(ACCESS_LOG, params={"limit": 500}, headers=patient)
    ).json()["entries"]
    paged: list[dict] = []  # type: ignore[type-arg]
    params: dict[str, object] = {"limit": 2}
    while True:
        body = (await server.client.get(ACCESS_LOG, params=params, headers=patient)).json()
        paged += body["entries"]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    # Each page read adds a newer access_log entry; older pages hold what was there.
    assert paged[1:] == everything
    bad = await server.client.get(ACCESS_LOG, params={"cursor": "%%%"}, headers=patient)
    assert_error(bad, 400, "invalid_request")


async def test_staff_have_no_access_log(server: Server, clinic: Clinic) -> None:
    for role in [*STAFF_ROLES_BUT_COMPLIANCE, Role.COMPLIANCE_OFFICER]:
        response = await server.client.get(ACCESS_LOG, headers=await token(server, clinic, role))
        assert_error(response, 403, "wrong_role")
    refused = [
        e
        for e in await organization_events(server, clinic)
        if e.resource_type == "access_log" and e.outcome == "denied"
    ]
    assert len(refused) == len(STAFF_ROLES_BUT_COMPLIANCE) + 1


async def test_a_patient_sees_nothing_of_another_organization(
    server: Server, clinic: Clinic, other_clinic: Clinic
) -> None:
    mine = await create_patient(server, clinic)
    patient = await portal_account(server, clinic, mine["id"])
    before = (await server.client.get(ACCESS_LOG, headers=patient)).json()["entries"]
    # An event of another organization that names this patient's id (as a forged or
    # mistaken record would) must still stay out of this organization's view.
    async with unit_of_work(server.rt) as uow:
        uow.audit(
            Action.READ,
            "patient",
            mine["id"],
            patient_id=uuid.UUID(mine["id"]),
            organization_id=other_clinic.organization_id,
            actor_role="pcp",
        )
    after = (await server.client.get(ACCESS_LOG, headers=patient)).json()["entries"]
    assert after[1:] == before  # only this very read of the log was added
    compliance = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    searched = await server.client.get(
        "/api/v1/audit", params={"patient_id": mine["id"], "limit": 500}, headers=compliance
    )
    assert {e["organization_id"] for e in searched.json()["events"]} == {
        str(clinic.organization_id)
    }
