"""Exporting the audit log: CSV a spreadsheet can open safely, a FHIR R4 Bundle that
validates, 42 CFR Part 2 patients left out unless named, the size limit, and the audit
of every export."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from fhir.resources.R4B.bundle import Bundle

from huddle.actor import Role
from huddle.compliance import service
from tests.compliance.factories import (
    AUDIT,
    PATIENTS,
    break_glass,
    create_patient,
    organization_events,
    token,
    user_ids,
)
from tests.conftest import Clinic, Server

FORMULA = '=HYPERLINK("http://evil.test/x","open") urgent review'


def rows_of(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


async def test_csv_export_parses_and_neutralises_formulas(server: Server, clinic: Clinic) -> None:
    patient = await create_patient(server, clinic)
    psychiatrist = await token(server, clinic, Role.PSYCHIATRIST)
    await break_glass(server, psychiatrist, patient["id"], FORMULA)
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    response = await server.client.get(
        f"{AUDIT}/export.csv", params={"patient_id": patient["id"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        rf'attachment; filename="audit-{clinic.organization_id}-\d{{8}}T\d{{6}}Z\.csv"',
        response.headers["content-disposition"],
    )
    assert response.content.startswith(b"seq,id,at,")
    assert b"\r\n" in response.content
    rows = rows_of(response)
    searched = await server.client.get(
        AUDIT, params={"patient_id": patient["id"], "limit": 1}, headers=headers
    )
    assert list(rows[0]) == list(searched.json()["events"][0])
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)  # oldest first
    (glass,) = [r for r in rows if r["action"] == "break_glass"]
    assert glass["reason"] == "'" + FORMULA
    cells = [cell for row in rows for cell in row.values()]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))]

    exported = (await organization_events(server, clinic))[1]  # before the search above
    assert (exported.action, exported.resource_type) == ("export", "audit_log")
    assert exported.patient_id == uuid.UUID(patient["id"])
    assert exported.detail == {
        "filter_patient_id": patient["id"],
        "format": "csv",
        "events": str(len(rows)),
    }


async def test_fhir_export_is_a_valid_r4_bundle_with_the_right_codes(
    server: Server, clinic: Clinic
) -> None:
    ids = await user_ids(server, clinic)
    patient = await create_patient(server, clinic)
    psychiatrist = await token(server, clinic, Role.PSYCHIATRIST)
    url = f"{PATIENTS}/{patient['id']}"
    assert (await server.client.get(url, headers=psychiatrist)).status_code == 403
    await break_glass(server, psychiatrist, patient["id"], "Crisis call tonight, PCP away")
    assert (await server.client.get(url, headers=psychiatrist)).status_code == 200
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    response = await server.client.get(
        f"{AUDIT}/export.fhir", params={"patient_id": patient["id"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    body = response.json()
    bundle = Bundle.model_validate(body)
    assert bundle.type == "collection"
    events = [entry["resource"] for entry in body["entry"]]
    by_action = {(e["subtype"][0]["code"], e["outcome"]): e for e in events}

    created = by_action[("create", "0")]
    assert created["action"] == "C"
    assert created["type"]["code"] == "rest"
    assert created["agent"][0]["who"]["reference"] == f"Practitioner/{ids['pcp']}"

    refused = by_action[("read", "4")]
    assert refused["action"] == "R"
    assert refused["outcomeDesc"] == "denied: not_on_care_team"
    agent = refused["agent"][0]
    assert agent["who"]["reference"] == f"Practitioner/{ids['psychiatrist']}"
    assert agent["requestor"] is True
    assert agent["network"] == {"address": server.address, "type": "2"}

    glass = by_action[("break_glass", "0")]
    assert glass["action"] == "E"
    assert glass["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    read_under_glass = by_action[("read", "0")]
    assert read_under_glass["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    whose = [entity for entity in read_under_glass["entity"] if "role" in entity]
    assert whose == [
        {
            "what": {"reference": f"Patient/{patient['id']}"},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
        }
    ]
    hashes = {e.id: e.hash for e in await organization_events(server, clinic)}
    for event in events:
        details = {d["type"]: d["valueString"] for d in event["entity"][0]["detail"]}
        assert details["hash"] == hashes[uuid.UUID(event["id"])]

    logins = await server.client.get(
        f"{AUDIT}/export.fhir",
        params={"action": "login", "actor_user_id": ids["psychiatrist"]},
        headers=headers,
    )
    login = logins.json()["entry"][0]["resource"]
    assert login["type"]["code"] == "110114"
    assert login["type"]["system"] == "http://dicom.nema.org/resources/ontology/DCM"


@pytest.mark.parametrize("export_format", ["csv", "fhir"])
async def test_exports_leave_out_part2_patients_unless_named(
    server: Server, clinic: Clinic, export_format: str
) -> None:
    general = await create_patient(server, clinic, Role.CARE_MANAGER)
    part2 = await create_patient(
        server, clinic, Role.CARE_MANAGER, sensitivity="substance_use_part2"
    )
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    url = f"{AUDIT}/export.{export_format}"
    unnamed = await server.client.get(url, headers=headers)
    assert unnamed.status_code == 200
    assert general["id"] in unnamed.text
    assert part2["id"] not in unnamed.text
    by_action = await server.client.get(url, params={"action": "create"}, headers=headers)
    assert general["id"] in by_action.text
    assert part2["id"] not in by_action.text
    named = await server.client.get(url, params={"patient_id": part2["id"]}, headers=headers)
    assert named.status_code == 200
    assert part2["id"] in named.text
    # Inside Huddle the officer still reviews Part 2 events; only exports leave them out.
    searched = await server.client.get(AUDIT, params={"action": "create"}, headers=headers)
    assert part2["id"] in {e["patient_id"] for e in searched.json()["events"]}


async def test_an_erased_part2_patient_stays_out_of_exports(server: Server, clinic: Clinic) -> None:
    part2 = await create_patient(
        server, clinic, Role.CARE_MANAGER, sensitivity="substance_use_part2"
    )
    admin = await token(server, clinic, Role.ADMIN)
    erased = await server.client.delete(f"{PATIENTS}/{part2['id']}", headers=admin)
    assert erased.status_code == 204
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    unnamed = await server.client.get(f"{AUDIT}/export.csv", headers=headers)
    assert part2["id"] not in unnamed.text
    named = await server.client.get(
        f"{AUDIT}/export.csv", params={"patient_id": part2["id"]}, headers=headers
    )
    assert {r["action"] for r in rows_of(named)} >= {"create", "delete"}


async def test_an_export_over_the_limit_is_refused_and_the_attempt_audited(
    server: Server, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_patient(server, clinic)
    monkeypatch.setattr(service, "EXPORT_LIMIT", 2)
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    response = await server.client.get(f"{AUDIT}/export.csv", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "export_too_large"
    attempt = (await organization_events(server, clinic))[0]
    assert (attempt.action, attempt.outcome, attempt.reason) == (
        "export",
        "failure",
        "export_too_large",
    )
