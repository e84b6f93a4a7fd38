"""The people picker of the audit search: a compliance officer lists the staff of their
own organization (names, roles, active or not), never a patient, and the listing is
audited. No token, the wrong roles and refusals being audited are checked with every
audit endpoint in test_audit_search.py."""

from __future__ import annotations

from huddle.actor import STAFF_ROLES, Role
from tests.compliance.factories import (
    AUDIT,
    assert_error,
    create_patient,
    organization_events,
    portal_account,
    token,
    user_ids,
)
from tests.conftest import Clinic, Server

PEOPLE = f"{AUDIT}/people"


async def people_seen_by(server: Server, clinic: Clinic) -> list[dict[str, object]]:
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    response = await server.client.get(PEOPLE, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["people"])
    return body["people"]


async def test_an_officer_lists_the_staff_of_the_organization_and_no_patient(
    server: Server, clinic: Clinic
) -> None:
    patient = await create_patient(server, clinic)
    await portal_account(server, clinic, patient["id"])  # "Portal Person", role patient
    ids = await user_ids(server, clinic)
    admin = await token(server, clinic, Role.ADMIN)
    left = await server.client.post(f"/api/v1/users/{ids['pcp']}/deactivate", headers=admin)
    assert left.status_code == 200

    people = await people_seen_by(server, clinic)

    assert sorted(p["role"] for p in people) == sorted(r.value for r in STAFF_ROLES)
    assert all(set(p) == {"id", "display_name", "role", "is_active"} for p in people)
    names = [p["display_name"] for p in people]
    assert names == sorted(names)
    # A leaver's events stay in the log, so the leaver stays in the picker.
    assert {p["id"]: p["is_active"] for p in people}[ids["pcp"]] is False
    assert "Portal Person" not in str(people)
    assert patient["full_name"] not in str(people)


async def test_an_officer_sees_only_their_own_organization(
    server: Server, clinic: Clinic, other_clinic: Clinic
) -> None:
    theirs = set((await user_ids(server, other_clinic)).values())
    mine = set((await user_ids(server, clinic)).values())
    listed = {p["id"] for p in await people_seen_by(server, clinic)}
    assert listed == mine  # every staff role, the officer too
    assert not listed & theirs


async def test_listing_people_is_audited(server: Server, clinic: Clinic) -> None:
    people = await people_seen_by(server, clinic)
    (event,) = [
        e for e in await organization_events(server, clinic) if e.resource_type == "staff_directory"
    ]
    assert (event.action, event.outcome, event.patient_id) == ("read", "success", None)
    assert event.actor_role == Role.COMPLIANCE_OFFICER.value
    assert event.detail["returned"] == str(len(people))


async def test_admins_and_clinicians_are_refused(server: Server, clinic: Clinic) -> None:
    for role in (Role.ADMIN, Role.PCP):
        headers = await token(server, clinic, role)
        assert_error(await server.client.get(PEOPLE, headers=headers), 403, "wrong_role")
