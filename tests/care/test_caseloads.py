"""Caseloads through the API: an administrator sees how many care teams each clinician
is on (counts, never patients) and moves a leaver's memberships to a colleague in one
audited, repeatable step; every refusal (role, organization, token, input) next to it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from huddle.actor import STAFF_ROLES, Role
from huddle.identity import accounts
from huddle.protect.models import AuditEvent
from huddle.unit_of_work import unit_of_work
from tests.care.test_patients import PATIENTS, create, token
from tests.conftest import PASSWORD, Clinic, Server, make_clinic

CASELOADS = "/api/v1/caseloads"
TRANSFER = f"{CASELOADS}/transfer"
NON_ADMIN_ROLES = sorted(STAFF_ROLES - {Role.ADMIN})


async def user_ids(server: Server, clinic: Clinic) -> dict[str, str]:
    """Ids by role (and by e-mail, for users added in the test)."""
    admin = await token(server, clinic, Role.ADMIN)
    users = (await server.client.get("/api/v1/users", headers=admin)).json()["users"]
    return {u["role"]: u["id"] for u in users} | {u["email"]: u["id"] for u in users}


async def add_user(server: Server, clinic: Clinic, role: Role) -> str:
    email = f"{role.value}.{uuid.uuid4().hex[:8]}@clinic.test"
    created = await server.client.post(
        "/api/v1/users",
        json={"email": email, "display_name": f"Other {role}", "role": role, "password": PASSWORD},
        headers=await token(server, clinic, Role.ADMIN),
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def join(server: Server, clinic: Clinic, patient: dict, user_id: str, role: Role) -> None:  # type: ignore[type-arg]
    added = await server.client.post(
        f"{PATIENTS}/{patient['id']}/care-team",
        json={"user_id": user_id, "team_role": role},
        headers=await token(server, clinic, Role.PCP),
    )
    assert added.status_code == 200, added.text


def count_of(listing: dict, user_id: str) -> int:  # type: ignore[type-arg]
    return next(c["care_teams"] for c in listing["caseloads"] if c["user_id"] == user_id)


async def care_team_audit(server: Server, request_id: str) -> list[AuditEvent]:
    async with server.rt.db.transaction() as db:
        rows = await db.scalars(
            select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.seq)
        )
        return list(rows)


async def test_an_admin_sees_each_clinicians_care_team_count_and_no_patient(
    server: Server, clinic: Clinic
) -> None:
    ids = await user_ids(server, clinic)
    first = await create(server, clinic, Role.PCP)
    second = await create(server, clinic, Role.PCP)
    await join(server, clinic, first, ids["care_manager"], Role.CARE_MANAGER)
    listing = await server.client.get(CASELOADS, headers=await token(server, clinic, Role.ADMIN))
    assert listing.status_code == 200
    body = listing.json()
    assert sorted(c["role"] for c in body["caseloads"]) == sorted(
        ["pcp", "care_manager", "psychiatrist", "bh_clinician"]
    )
    assert body["count"] == 4
    assert count_of(body, ids["pcp"]) == 2
    assert count_of(body, ids["care_manager"]) == 1
    assert count_of(body, ids["psychiatrist"]) == 0
    for patient in (first, second):
        assert patient["id"] not in listing.text
        assert patient["full_name"] not in listing.text


async def test_a_leavers_caseload_moves_to_a_colleague_once_audited_per_patient(
    server: Server, clinic: Clinic
) -> None:
    ids = await user_ids(server, clinic)
    leaver, successor = ids["care_manager"], await add_user(server, clinic, Role.CARE_MANAGER)
    only_leaver = await create(server, clinic, Role.PCP)
    both = await create(server, clinic, Role.PCP)
    untouched = await create(server, clinic, Role.PCP)
    await join(server, clinic, only_leaver, leaver, Role.CARE_MANAGER)
    await join(server, clinic, both, leaver, Role.CARE_MANAGER)
    await join(server, clinic, both, successor, Role.CARE_MANAGER)
    admin = await token(server, clinic, Role.ADMIN)
    # The care manager is leaving: her account is deactivated first, her patients stay covered.
    off = await server.client.post(f"/api/v1/users/{leaver}/deactivate", headers=admin)
    assert off.status_code == 200

    moved = await server.client.post(
        TRANSFER, json={"from_user_id": leaver, "to_user_id": successor}, headers=admin
    )
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    assert (answer["transferred"], answer["already_on_team"]) == (1, 1)
    assert (answer["from_user"]["user_id"], answer["from_user"]["care_teams"]) == (leaver, 0)
    assert answer["from_user"]["is_active"] is False
    assert (answer["to_user"]["user_id"], answer["to_user"]["care_teams"]) == (successor, 2)
    for patient in (only_leaver, both, untouched):
        assert patient["id"] not in moved.text

    pcp = await token(server, clinic, Role.PCP)
    for patient in (only_leaver, both):
        team = await server.client.get(f"{PATIENTS}/{patient['id']}/care-team", headers=pcp)
        members = [(m["user_id"], m["team_role"]) for m in team.json()["members"]]
        assert members.count((successor, "care_manager")) == 1
        assert leaver not in {user for user, _ in members}

    events = await care_team_audit(server, moved.headers["x-request-id"])
    assert sorted(str(e.patient_id) for e in events) == sorted([only_leaver["id"], both["id"]])
    for event in events:
        assert (event.action, event.outcome, event.resource_type) == (
            "update",
            "success",
            "care_team",
        )
        assert event.actor_user_id == uuid.UUID(ids["admin"])
        assert event.actor_role == "admin"
        assert event.detail["from_user_id"] == leaver
        assert event.detail["to_user_id"] == successor
    already = {str(e.patient_id): e.detail["to_already_on_team"] for e in events}
    assert already == {only_leaver["id"]: "no", both["id"]: "yes"}

    # Repeating it (a double click, a retried request) finds nothing left to move.
    again = await server.client.post(
        TRANSFER, json={"from_user_id": leaver, "to_user_id": successor}, headers=admin
    )
    assert again.status_code == 200
    assert (again.json()["transferred"], again.json()["already_on_team"]) == (0, 0)
    assert again.json()["to_user"]["care_teams"] == 2
    assert await care_team_audit(server, again.headers["x-request-id"]) == []
    listing = (await server.client.get(CASELOADS, headers=admin)).json()
    assert (count_of(listing, leaver), count_of(listing, successor)) == (0, 2)


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
async def test_only_admins_see_or_move_caseloads(
    server: Server, clinic: Clinic, role: Role
) -> None:
    ids = await user_ids(server, clinic)
    headers = await token(server, clinic, role)
    assert (await server.client.get(CASELOADS, headers=headers)).status_code == 403
    refused = await server.client.post(
        TRANSFER,
        json={"from_user_id": ids["care_manager"], "to_user_id": ids["psychiatrist"]},
        headers=headers,
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "wrong_role"


async def test_another_organizations_people_are_not_found(server: Server, clinic: Clinic) -> None:
    other = await make_clinic(server.rt, "Elsewhere")
    ours, theirs = await user_ids(server, clinic), await user_ids(server, other)
    patient = await create(server, other, Role.PCP)
    await join(server, other, patient, theirs["care_manager"], Role.CARE_MANAGER)
    admin = await token(server, clinic, Role.ADMIN)
    listing = await server.client.get(CASELOADS, headers=admin)
    assert theirs["care_manager"] not in listing.text
    for source, target in (
        (theirs["care_manager"], ours["care_manager"]),
        (ours["care_manager"], theirs["care_manager"]),
        (str(uuid.uuid4()), ours["care_manager"]),
    ):
        answer = await server.client.post(
            TRANSFER, json={"from_user_id": source, "to_user_id": target}, headers=admin
        )
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "not_found"
    team = await server.client.get(
        f"{PATIENTS}/{patient['id']}/care-team", headers=await token(server, other, Role.PCP)
    )
    assert theirs["care_manager"] in team.text


async def test_caseload_endpoints_need_a_token(server: Server) -> None:
    for method, path in (("GET", CASELOADS), ("POST", TRANSFER)):
        body = {"from_user_id": str(uuid.uuid4()), "to_user_id": str(uuid.uuid4())}
        answer = await server.client.request(method, path, json=body)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "missing_token"


async def portal_user(server: Server, clinic: Clinic) -> str:
    async with unit_of_work(server.rt) as uow:
        new = accounts.NewUser(f"p.{uuid.uuid4().hex[:8]}@mail.test", "Portal", Role.PATIENT, "x")
        user = await accounts.insert_user(uow, clinic.organization_id, new, "not-a-real-hash")
    return str(user.id)


async def test_a_transfer_refuses_people_who_cannot_take_the_caseload(
    server: Server, clinic: Clinic
) -> None:
    ids = await user_ids(server, clinic)
    care_manager = ids["care_manager"]
    inactive = await add_user(server, clinic, Role.CARE_MANAGER)
    admin = await token(server, clinic, Role.ADMIN)
    await server.client.post(f"/api/v1/users/{inactive}/deactivate", headers=admin)
    patient = await portal_user(server, clinic)
    cases = [
        (care_manager, care_manager, "same_user"),
        (care_manager, ids["psychiatrist"], "incompatible_role"),
        (care_manager, inactive, "user_deactivated"),
        (care_manager, patient, "not_clinical_staff"),
        (patient, care_manager, "not_clinical_staff"),
        (ids["admin"], care_manager, "not_clinical_staff"),
        (care_manager, ids["compliance_officer"], "not_clinical_staff"),
    ]
    for source, target, code in cases:
        answer = await server.client.post(
            TRANSFER, json={"from_user_id": source, "to_user_id": target}, headers=admin
        )
        assert answer.status_code == 422, (code, answer.text)
        assert answer.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"from_user_id": "not-a-uuid", "to_user_id": str(uuid.uuid4())},
        {"from_user_id": str(uuid.uuid4())},
        {"from_user_id": str(uuid.uuid4()), "to_user_id": str(uuid.uuid4()), "patients": []},
    ],
)
async def test_a_malformed_transfer_is_a_400_in_the_error_shape(
    server: Server, clinic: Clinic, body: dict[str, object]
) -> None:
    answer = await server.client.post(
        TRANSFER, json=body, headers=await token(server, clinic, Role.ADMIN)
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["request_id"] == answer.headers["x-request-id"]
