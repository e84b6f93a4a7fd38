"""Patients and care teams through the API: encryption, blind-index lookup, the access
policy (care team, break-glass, labels, patients, compliance, admins) and its audit."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from huddle.actor import Role
from huddle.care.models import Patient
from huddle.care.service import link_portal_account
from huddle.identity import accounts
from huddle.protect.crypto import Binding, Shredded
from huddle.protect.models import AuditEvent
from huddle.unit_of_work import unit_of_work
from tests.conftest import PASSWORD, Clinic, Server, bearer, make_clinic, sign_in

PATIENTS = "/api/v1/patients"


def new_patient(**overrides: object) -> dict[str, object]:
    tag = uuid.uuid4().hex[:8]
    return {
        "full_name": f"Marisol Quintero-{tag}",
        "date_of_birth": "1984-03-09",
        "mrn": f"MRN-{tag}",
        "phone": f"+1 (555) {int(tag[:6], 16) % 900 + 100}-{int(tag[6:], 16) % 9000 + 1000}",
        "email": f"marisol.{tag}@mail.test",
        **overrides,
    }


async def token(server: Server, clinic: Clinic, role: Role) -> dict[str, str]:
    return bearer((await sign_in(server.client, clinic.email(role)))["access_token"])


async def create(server: Server, clinic: Clinic, role: Role = Role.PCP, **fields: object) -> dict:  # type: ignore[type-arg]
    response = await server.client.post(
        PATIENTS, json=new_patient(**fields), headers=await token(server, clinic, role)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def audit_of(server: Server, patient_id: str) -> list[AuditEvent]:
    async with server.rt.db.transaction() as db:
        rows = await db.scalars(
            select(AuditEvent)
            .where(AuditEvent.patient_id == uuid.UUID(patient_id))
            .order_by(AuditEvent.seq)
        )
        return list(rows)


async def test_a_clinician_registers_a_patient_and_joins_the_care_team(
    server: Server, clinic: Clinic
) -> None:
    fields = new_patient()
    headers = await token(server, clinic, Role.PCP)
    created = await server.client.post(PATIENTS, json=fields, headers=headers)
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("full_name", "mrn", "phone", "email")} == {
        k: fields[k] for k in ("full_name", "mrn", "phone", "email")
    }
    assert body["access_via"] == "care_team"
    team = await server.client.get(f"{PATIENTS}/{body['id']}/care-team", headers=headers)
    assert [m["team_role"] for m in team.json()["members"]] == ["pcp"]
    actions = [(e.action, e.outcome) for e in await audit_of(server, body["id"])]
    assert ("create", "success") in actions
    assert ("read", "success") in actions


@pytest.mark.parametrize("role", [Role.ADMIN, Role.COMPLIANCE_OFFICER])
async def test_non_clinical_roles_cannot_register_patients(
    server: Server, clinic: Clinic, role: Role
) -> None:
    response = await server.client.post(
        PATIENTS, json=new_patient(), headers=await token(server, clinic, role)
    )
    assert response.status_code == 403


async def test_identifiers_are_encrypted_and_found_only_by_exact_lookup(
    server: Server, clinic: Clinic
) -> None:
    patient = await create(server, clinic, phone="+1 (555) 301-7788")
    async with server.rt.db.transaction() as db:
        row = await db.get_one(Patient, uuid.UUID(patient["id"]))
    for column in ("full_name", "mrn", "phone", "email", "date_of_birth"):
        stored = getattr(row, column)
        assert isinstance(stored, bytes)
        assert patient[column].encode() not in stored
    headers = await token(server, clinic, Role.PCP)
    by_phone = await server.client.get(PATIENTS, params={"phone": "555.301.7788"}, headers=headers)
    assert [p["id"] for p in by_phone.json()["patients"]] == [patient["id"]]
    by_mrn = await server.client.get(
        PATIENTS, params={"mrn": " " + patient["mrn"].lower()}, headers=headers
    )
    assert [p["id"] for p in by_mrn.json()["patients"]] == [patient["id"]]
    partial = await server.client.get(
        PATIENTS, params={"mrn": patient["mrn"][:-1]}, headers=headers
    )
    assert partial.json()["patients"] == []


async def test_lists_show_only_the_callers_care_team_patients(
    server: Server, clinic: Clinic
) -> None:
    mine = await create(server, clinic, Role.PCP)
    theirs = await create(server, clinic, Role.CARE_MANAGER)
    listing = await server.client.get(PATIENTS, headers=await token(server, clinic, Role.PCP))
    ids = {p["id"] for p in listing.json()["patients"]}
    assert mine["id"] in ids
    assert theirs["id"] not in ids


async def test_another_organization_never_sees_a_patient(
    server: Server, clinic: Clinic, other_clinic: Clinic
) -> None:
    patient = await create(server, clinic)
    stranger = await token(server, other_clinic, Role.PCP)
    for method, path in (
        ("GET", f"{PATIENTS}/{patient['id']}"),
        ("PATCH", f"{PATIENTS}/{patient['id']}"),
        ("GET", f"{PATIENTS}/{patient['id']}/care-team"),
        ("POST", f"{PATIENTS}/{patient['id']}/break-glass"),
    ):
        body = {"reason": "covering the clinic tonight"} if "break" in path else {}
        response = await server.client.request(method, path, json=body, headers=stranger)
        assert response.status_code == 404, (method, path)
    lookup = await server.client.get(PATIENTS, params={"mrn": patient["mrn"]}, headers=stranger)
    assert lookup.json()["patients"] == []


async def test_staff_outside_the_care_team_are_refused_and_the_denial_is_audited(
    server: Server, clinic: Clinic
) -> None:
    patient = await create(server, clinic, Role.PCP)
    outsider = await token(server, clinic, Role.PSYCHIATRIST)
    response = await server.client.get(f"{PATIENTS}/{patient['id']}", headers=outsider)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_on_care_team"
    assert "Marisol" not in response.text
    denied = [e for e in await audit_of(server, patient["id"]) if e.outcome == "denied"]
    assert denied
    assert denied[-1].action == "read"
    assert denied[-1].actor_role == "psychiatrist"


async def test_break_glass_needs_a_reason_is_time_limited_and_flagged(
    server: Server, clinic: Clinic
) -> None:
    patient = await create(server, clinic, Role.PCP)
    outsider = await token(server, clinic, Role.PSYCHIATRIST)
    url = f"{PATIENTS}/{patient['id']}"
    short = await server.client.post(
        f"{url}/break-glass", json={"reason": "need"}, headers=outsider
    )
    assert short.status_code == 422
    granted = await server.client.post(
        f"{url}/break-glass",
        json={"reason": "Patient in crisis at the front desk; PCP unreachable"},
        headers=outsider,
    )
    assert granted.status_code == 200
    read = await server.client.get(url, headers=outsider)
    assert read.status_code == 200
    assert read.json()["access_via"] == "break_glass"
    events = await audit_of(server, patient["id"])
    glass = [e for e in events if e.action == "break_glass"]
    assert glass
    assert glass[-1].reason == "Patient in crisis at the front desk; PCP unreachable"
    assert glass[-1].detail.get("flagged") == "break_glass"
    assert events[-1].detail.get("via") == "break_glass"
    # Break-glass never lets you change the care team.
    add = await server.client.post(
        f"{url}/care-team",
        json={"user_id": str(uuid.uuid4()), "team_role": "psychiatrist"},
        headers=outsider,
    )
    assert add.status_code == 403
    server.clock.advance(timedelta(minutes=61))  # the grant lapses (and the session idles)
    expired = await server.client.get(url, headers=await token(server, clinic, Role.PSYCHIATRIST))
    assert expired.status_code == 403


async def test_part2_records_allow_no_break_glass_and_no_compliance_view(
    server: Server, clinic: Clinic
) -> None:
    patient = await create(server, clinic, Role.CARE_MANAGER, sensitivity="substance_use_part2")
    outsider = await token(server, clinic, Role.PCP)
    glass = await server.client.post(
        f"{PATIENTS}/{patient['id']}/break-glass",
        json={"reason": "Patient in crisis at the front desk"},
        headers=outsider,
    )
    assert glass.status_code == 403
    assert glass.json()["error"]["code"] == "part2_named_members_only"
    compliance = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    found = await server.client.get(PATIENTS, params={"mrn": patient["mrn"]}, headers=compliance)
    assert found.json()["patients"] == []


async def test_admins_see_no_patient_data(server: Server, clinic: Clinic) -> None:
    patient = await create(server, clinic)
    admin = await token(server, clinic, Role.ADMIN)
    assert (await server.client.get(PATIENTS, headers=admin)).status_code == 403
    assert (
        await server.client.get(f"{PATIENTS}/{patient['id']}", headers=admin)
    ).status_code == 403


async def test_compliance_officers_look_up_demographics_by_exact_identifier(
    server: Server, clinic: Clinic
) -> None:
    patient = await create(server, clinic)
    compliance = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    assert (await server.client.get(PATIENTS, headers=compliance)).status_code == 422
    found = await server.client.get(PATIENTS, params={"mrn": patient["mrn"]}, headers=compliance)
    assert [p["access_via"] for p in found.json()["patients"]] == ["compliance"]
    edit = await server.client.patch(
        f"{PATIENTS}/{patient['id']}", json={"full_name": "X"}, headers=compliance
    )
    assert edit.status_code == 403


async def test_a_patient_sees_only_their_own_record(server: Server, clinic: Clinic) -> None:
    theirs = await create(server, clinic)
    other = await create(server, clinic)
    email = f"portal.{uuid.uuid4().hex[:8]}@mail.test"
    async with unit_of_work(server.rt) as uow:
        new = accounts.NewUser(email, "Portal Person", Role.PATIENT, PASSWORD)
        user = await accounts.insert_user(
            uow, clinic.organization_id, new, await server.rt.passwords.hash(PASSWORD)
        )
        await link_portal_account(uow, uuid.UUID(theirs["id"]), user)
    headers = bearer((await sign_in(server.client, email))["access_token"])
    own = await server.client.get(f"{PATIENTS}/{theirs['id']}", headers=headers)
    assert own.status_code == 200
    assert own.json()["access_via"] == "self"
    assert (
        await server.client.get(f"{PATIENTS}/{other['id']}", headers=headers)
    ).status_code == 403
    listing = await server.client.get(PATIENTS, headers=headers)
    assert [p["id"] for p in listing.json()["patients"]] == [theirs["id"]]
    assert (
        await server.client.post(PATIENTS, json=new_patient(), headers=headers)
    ).status_code == 403
    edit = await server.client.patch(
        f"{PATIENTS}/{theirs['id']}", json={"full_name": "Someone Else"}, headers=headers
    )
    assert edit.status_code == 403


async def test_updates_are_validated_audited_without_values_and_keep_mrns_unique(
    server: Server, clinic: Clinic
) -> None:
    first = await create(server, clinic)
    second = await create(server, clinic)
    headers = await token(server, clinic, Role.PCP)
    url = f"{PATIENTS}/{second['id']}"
    changed = await server.client.patch(url, json={"phone": "555 010 2222"}, headers=headers)
    assert changed.json()["phone"] == "555 010 2222"
    clash = await server.client.patch(url, json={"mrn": first["mrn"]}, headers=headers)
    assert clash.status_code == 409
    future = await server.client.patch(url, json={"date_of_birth": "2999-01-01"}, headers=headers)
    assert future.status_code == 422
    update = [e for e in await audit_of(server, second["id"]) if e.action == "update"][-1]
    assert update.detail["fields"] == "phone"
    assert "2222" not in str(update.detail)


async def test_the_care_team_is_managed_by_its_members(server: Server, clinic: Clinic) -> None:
    patient = await create(server, clinic, Role.PCP)
    pcp = await token(server, clinic, Role.PCP)
    admin = await token(server, clinic, Role.ADMIN)
    users = (await server.client.get("/api/v1/users", headers=admin)).json()["users"]
    ids = {u["role"]: u["id"] for u in users}
    url = f"{PATIENTS}/{patient['id']}/care-team"
    added = await server.client.post(
        url, json={"user_id": ids["care_manager"], "team_role": "care_manager"}, headers=pcp
    )
    assert added.status_code == 200
    assert len(added.json()["members"]) == 2
    care = await token(server, clinic, Role.CARE_MANAGER)
    assert (await server.client.get(f"{PATIENTS}/{patient['id']}", headers=care)).status_code == 200
    again = await server.client.post(
        url, json={"user_id": ids["care_manager"], "team_role": "care_manager"}, headers=pcp
    )
    assert again.status_code == 409
    not_clinical = await server.client.post(
        url, json={"user_id": ids["compliance_officer"], "team_role": "pcp"}, headers=pcp
    )
    assert not_clinical.status_code == 422
    other = await make_clinic(server.rt)
    foreign = await server.client.post(
        url, json={"user_id": str(uuid.uuid4()), "team_role": "pcp"}, headers=pcp
    )
    assert foreign.status_code == 422
    assert other.organization_id != clinic.organization_id
    removed = await server.client.delete(f"{url}/{ids['care_manager']}", headers=pcp)
    assert len(removed.json()["members"]) == 1
    assert (await server.client.get(f"{PATIENTS}/{patient['id']}", headers=care)).status_code == 403
    last = await server.client.delete(f"{url}/{ids['pcp']}", headers=pcp)
    assert last.status_code == 409


async def test_a_tampered_ciphertext_is_an_error_and_an_audit_event(
    server: Server, clinic: Clinic
) -> None:
    patient = await create(server, clinic)
    async with server.rt.db.transaction() as db:
        stored = await db.scalar(
            select(Patient.full_name).where(Patient.id == uuid.UUID(patient["id"]))
        )
        assert stored is not None
        flipped = stored[:-1] + bytes([stored[-1] ^ 1])
        await db.execute(
            text("UPDATE patients SET full_name = :blob WHERE id = :id"),
            {
                "blob": flipped,
                "id": uuid.UUID(patient["id"]).hex
                if server.rt.db.engine.dialect.name == "sqlite"
                else uuid.UUID(patient["id"]),
            },
        )
    server.rt.envelope._cache.clear()  # as a fresh process would
    response = await server.client.get(
        f"{PATIENTS}/{patient['id']}", headers=await token(server, clinic, Role.PCP)
    )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "data_integrity"
    events = await audit_of(server, patient["id"])
    assert events[-1].action == "integrity_failure"
    assert events[-1].outcome == "error"


async def test_an_admin_erases_a_patient_by_crypto_shredding(
    server: Server, clinic: Clinic, other_clinic: Clinic
) -> None:
    patient = await create(server, clinic)
    url = f"{PATIENTS}/{patient['id']}"
    pcp = await token(server, clinic, Role.PCP)
    assert (await server.client.delete(url, headers=pcp)).status_code == 403
    foreign_admin = await token(server, other_clinic, Role.ADMIN)
    assert (await server.client.delete(url, headers=foreign_admin)).status_code == 404
    owner = uuid.UUID(patient["id"])
    async with server.rt.db.transaction() as db:
        sealed = await db.scalar(select(Patient.full_name).where(Patient.id == owner))
    erased = await server.client.delete(url, headers=await token(server, clinic, Role.ADMIN))
    assert erased.status_code == 204
    assert (await server.client.get(url, headers=pcp)).status_code == 404
    server.rt.envelope._cache.clear()  # as any other process would see it
    async with server.rt.db.transaction() as db:
        where = Binding("patients", "full_name", owner, owner)
        with pytest.raises(Shredded):  # a backup copy of the row is unreadable now
            await server.rt.envelope.open(db, sealed, where)
    deleted = [e for e in await audit_of(server, patient["id"]) if e.action == "delete"]
    assert deleted[-1].detail["data_keys_destroyed"] == "1"
