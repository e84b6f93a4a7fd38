"""Searching the audit log through the API: who may, what they see (their organization
only), the filters, cursor pages, bad parameters, and that reading it is audited."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

from huddle.actor import Role
from tests.compliance.factories import (
    ACCESS_LOG,
    AUDIT,
    PATIENTS,
    STAFF_ROLES_BUT_COMPLIANCE,
    assert_error,
    break_glass,
    create_patient,
    organization_events,
    portal_account,
    token,
    user_ids,
)
from tests.conftest import Clinic, Server

COMPLIANCE_ENDPOINTS = [
    AUDIT,
    f"{AUDIT}/1",
    f"{AUDIT}/export.csv",
    f"{AUDIT}/export.fhir",
    f"{AUDIT}/disclosures?patient_id={uuid.uuid4()}",
    f"{AUDIT}/verification",
    f"{AUDIT}/flagged",
    f"{AUDIT}/people",
]


async def search(server: Server, headers: dict[str, str], **params: object) -> list[dict]:  # type: ignore[type-arg]
    response = await server.client.get(AUDIT, params={"limit": 500, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["events"]


async def test_every_endpoint_needs_a_token(server: Server) -> None:
    for path in [*COMPLIANCE_ENDPOINTS, ACCESS_LOG]:
        assert_error(await server.client.get(path), 401, "missing_token")


async def test_only_compliance_officers_read_the_audit_log_and_refusals_are_audited(
    server: Server, clinic: Clinic
) -> None:
    patient = await create_patient(server, clinic)
    callers = [await token(server, clinic, role) for role in STAFF_ROLES_BUT_COMPLIANCE]
    callers.append(await portal_account(server, clinic, patient["id"]))
    for headers in callers:
        for path in COMPLIANCE_ENDPOINTS:
            assert_error(await server.client.get(path, headers=headers), 403, "wrong_role")
    refused = [
        e
        for e in await organization_events(server, clinic)
        if e.resource_type == "audit_log" and e.outcome == "denied"
    ]
    assert len(refused) == len(callers) * len(COMPLIANCE_ENDPOINTS)
    assert {e.reason for e in refused} == {"wrong_role"}
    assert {e.action for e in refused} == {"read", "export"}


async def test_another_organizations_events_never_appear(
    server: Server, clinic: Clinic, other_clinic: Clinic
) -> None:
    await create_patient(server, clinic)
    theirs = await create_patient(server, other_clinic)
    their_events = await organization_events(server, other_clinic)
    their_pcp = (await user_ids(server, other_clinic))["pcp"]
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    events = await search(server, headers)
    assert events
    assert {e["organization_id"] for e in events} == {str(clinic.organization_id)}
    assert not {e["seq"] for e in events} & {e.seq for e in their_events}
    assert await search(server, headers, patient_id=theirs["id"]) == []
    assert await search(server, headers, actor_user_id=their_pcp) == []
    missing = await server.client.get(f"{AUDIT}/{their_events[0].seq}", headers=headers)
    assert_error(missing, 404, "not_found")
    mine = await server.client.get(f"{AUDIT}/{events[0]['seq']}", headers=headers)
    assert mine.json() == events[0]


async def test_pages_run_newest_first_with_nothing_missing_or_repeated(
    server: Server, clinic: Clinic
) -> None:
    pcp = await token(server, clinic, Role.PCP)
    for _ in range(3):
        await create_patient(server, clinic, headers=pcp)
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    seen: list[int] = []
    pages = 0
    params: dict[str, object] = {"limit": 3}
    while True:
        response = await server.client.get(AUDIT, params=params, headers=headers)
        body = response.json()
        assert len(body["events"]) <= 3
        seen += [e["seq"] for e in body["events"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert pages > 2
    # Reading pages adds newer events; the pages hold exactly what existed before.
    expected = [e.seq for e in await organization_events(server, clinic) if e.seq <= seen[0]]
    assert seen == expected
    assert len(set(seen)) == len(seen)


async def test_filters_narrow_the_search(server: Server, clinic: Clinic) -> None:
    ids = await user_ids(server, clinic)
    patient = await create_patient(server, clinic)
    other = await create_patient(server, clinic)
    psychiatrist = await token(server, clinic, Role.PSYCHIATRIST)
    refused = await server.client.get(f"{PATIENTS}/{patient['id']}", headers=psychiatrist)
    assert refused.status_code == 403
    await break_glass(server, psychiatrist, patient["id"], "Crisis call tonight, PCP unreachable")
    await portal_account(server, clinic, other["id"])
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)

    by_patient = await search(server, headers, patient_id=patient["id"])
    assert {e["patient_id"] for e in by_patient} == {patient["id"]}
    assert {"create", "read", "break_glass"} <= {e["action"] for e in by_patient}

    by_actor = await search(server, headers, actor_user_id=ids["psychiatrist"])
    assert {e["actor_user_id"] for e in by_actor} == {ids["psychiatrist"]}
    assert all(e["actor_name"].startswith("psychiatrist ") for e in by_actor)

    logins = await search(server, headers, action="login")
    assert {e["action"] for e in logins} == {"login"}
    names = {e["actor_role"]: e["actor_name"] for e in logins}
    assert names["patient"] == "Patient"
    assert names["pcp"].startswith("pcp ")

    denied = await search(server, headers, outcome="denied")
    assert [(e["action"], e["actor_user_id"], e["reason"]) for e in denied] == [
        ("read", ids["psychiatrist"], "not_on_care_team")
    ]

    users = await search(server, headers, resource_type="user")
    assert users
    assert {e["resource_type"] for e in users} == {"user"}

    everything = {e["seq"] for e in await search(server, headers)}
    flagged = await search(server, headers, flagged="true")
    assert [e["action"] for e in flagged] == ["break_glass"]
    assert flagged[0]["detail"]["flagged"] == "break_glass"
    unflagged = {e["seq"] for e in await search(server, headers, flagged="false")}
    assert flagged[0]["seq"] not in unflagged
    assert everything <= unflagged | {flagged[0]["seq"]}


async def test_since_and_until_bound_the_time(server: Server, clinic: Clinic) -> None:
    patient = await create_patient(server, clinic)
    start = server.clock.now()
    server.clock.advance(timedelta(hours=2))
    later = server.clock.now()
    pcp = await token(server, clinic, Role.PCP)
    await server.client.get(f"{PATIENTS}/{patient['id']}", headers=pcp)
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    recent = await search(server, headers, since=later.isoformat(), resource_type="patient")
    assert [e["action"] for e in recent] == ["read"]
    older = await search(server, headers, until=later.isoformat(), patient_id=patient["id"])
    assert older
    assert {e["action"] for e in older} == {"create"}
    # A time without an offset is UTC.
    naive = await search(
        server, headers, since=later.replace(tzinfo=None).isoformat(), resource_type="patient"
    )
    assert [e["seq"] for e in naive] == [e["seq"] for e in recent]
    assert await search(server, headers, until=start.isoformat(), patient_id=patient["id"]) == []


async def test_bad_parameters_are_400s_naming_the_field(server: Server, clinic: Clinic) -> None:
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode()

    cases: list[tuple[dict[str, object], str]] = [
        ({"patient_id": "not-a-uuid"}, "patient_id"),
        ({"actor_user_id": "42"}, "actor_user_id"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-40T00:00:00Z"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": b64("abc")}, "cursor"),
        ({"cursor": b64("0")}, "cursor"),
        ({"action": "teleport"}, "action"),
        ({"outcome": "maybe"}, "outcome"),
        ({"flagged": "perhaps"}, "flagged"),
        ({"resource_type": "x" * 41}, "resource_type"),
    ]
    for params, field in cases:
        response = await server.client.get(AUDIT, params=params, headers=headers)
        assert_error(response, 400, "invalid_request")
        assert [f["field"] for f in response.json()["error"]["fields"]] == [field], params
    export = await server.client.get(f"{AUDIT}/export.csv?since=soon", headers=headers)
    assert_error(export, 400, "invalid_request")
    huge = await server.client.get(f"{AUDIT}/{2**63}", headers=headers)
    assert_error(huge, 400, "invalid_request")


async def test_reading_the_audit_log_is_itself_audited(server: Server, clinic: Clinic) -> None:
    ids = await user_ids(server, clinic)
    patient = await create_patient(server, clinic)
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    found = await search(server, headers, patient_id=patient["id"], action="create")
    read = (await organization_events(server, clinic))[0]
    assert (read.action, read.resource_type, read.outcome) == ("read", "audit_log", "success")
    assert read.actor_user_id == uuid.UUID(ids["compliance_officer"])
    assert read.patient_id == uuid.UUID(patient["id"])
    assert read.detail == {
        "filter_patient_id": patient["id"],
        "filter_action": "create",
        "limit": "500",
        "returned": str(len(found)),
    }
    one = await server.client.get(f"{AUDIT}/{found[0]['seq']}", headers=headers)
    assert one.status_code == 200
    single = (await organization_events(server, clinic))[0]
    assert (single.action, single.resource_type, single.resource_id) == (
        "read",
        "audit_log",
        str(found[0]["seq"]),
    )
    # The officer sees their own reading in the log.
    newest = (await search(server, headers))[0]
    assert (newest["seq"], newest["resource_type"]) == (single.seq, "audit_log")
