"""Review through the API: a patient's accounting of disclosures, and the flagged events
(break-glass, denied bursts, after-hours reads, many patients outside the care team)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from huddle.actor import Role
from huddle.compliance.disclosures import ACCESS_ACTIONS
from tests.compliance.factories import (
    AUDIT,
    PATIENTS,
    assert_error,
    break_glass,
    create_patient,
    move_clock_to,
    next_weekday_at,
    organization_events,
    token,
    user_ids,
)
from tests.conftest import Clinic, Server

SATURDAY, MONDAY = 5, 0
REASON = "Covering the crisis line tonight"


async def flags_of(server: Server, clinic: Clinic, **params: object) -> list[dict]:  # type: ignore[type-arg]
    # The window ends (exclusive) at the request's moment: let time pass the last event.
    server.clock.advance(timedelta(seconds=1))
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    response = await server.client.get(f"{AUDIT}/flagged", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["complete"] is True
    return body["flags"]


async def test_disclosures_list_each_person_and_mark_break_glass(
    server: Server, clinic: Clinic
) -> None:
    ids = await user_ids(server, clinic)
    patient = await create_patient(server, clinic)
    url = f"{PATIENTS}/{patient['id']}"
    pcp = await token(server, clinic, Role.PCP)
    added = await server.client.post(
        f"{url}/care-team",
        json={"user_id": ids["care_manager"], "team_role": "care_manager"},
        headers=pcp,
    )
    assert added.status_code == 200
    care_manager = await token(server, clinic, Role.CARE_MANAGER)
    for _ in range(2):
        assert (await server.client.get(url, headers=care_manager)).status_code == 200
    psychiatrist = await token(server, clinic, Role.PSYCHIATRIST)
    await break_glass(server, psychiatrist, patient["id"], REASON)
    assert (await server.client.get(url, headers=psychiatrist)).status_code == 200
    bh = await token(server, clinic, Role.BH_CLINICIAN)
    assert (await server.client.get(url, headers=bh)).status_code == 403
    await create_patient(server, clinic, Role.BH_CLINICIAN, headers=bh)  # someone else's

    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    response = await server.client.get(
        f"{AUDIT}/disclosures", params={"patient_id": patient["id"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["patient_id"] == patient["id"]
    people = {p["actor_user_id"]: p for p in body["people"]}
    assert set(people) == {
        ids["pcp"],
        ids["care_manager"],
        ids["psychiatrist"],
        ids["bh_clinician"],
    }
    assert people[ids["care_manager"]]["accesses"] == 2
    assert people[ids["care_manager"]]["kinds"] == ["read"]
    assert people[ids["care_manager"]]["actor_name"].startswith("care_manager ")
    assert people[ids["care_manager"]]["flagged"] is False
    assert "create" in people[ids["pcp"]]["kinds"]
    glass = people[ids["psychiatrist"]]
    assert (glass["kinds"], glass["flagged"], glass["accesses"]) == (
        ["break_glass", "read"],
        True,
        2,
    )
    assert glass["actor_role"] == "psychiatrist"
    refused = people[ids["bh_clinician"]]
    assert (refused["accesses"], refused["denied"], refused["kinds"]) == (0, 1, [])
    assert [p["last_at"] for p in body["people"]] == sorted(
        (p["last_at"] for p in body["people"]), reverse=True
    )
    # Only this patient's events are counted.
    counted = sum(p["accesses"] + p["denied"] for p in body["people"])
    events = [
        e
        for e in await organization_events(server, clinic)
        if e.patient_id == uuid.UUID(patient["id"])
        and e.action in ACCESS_ACTIONS
        and e.outcome in ("success", "denied")
        and e.seq < (await organization_events(server, clinic))[0].seq  # not this read
    ]
    assert counted == len(events)
    audited = (await organization_events(server, clinic))[0]
    assert (audited.action, audited.resource_type, audited.detail["report"]) == (
        "read",
        "audit_log",
        "disclosures",
    )
    assert audited.patient_id == uuid.UUID(patient["id"])

    later = (server.clock.now() + timedelta(minutes=1)).isoformat()
    empty = await server.client.get(
        f"{AUDIT}/disclosures",
        params={"patient_id": patient["id"], "since": later},
        headers=headers,
    )
    assert empty.json()["people"] == []
    missing = await server.client.get(f"{AUDIT}/disclosures", headers=headers)
    assert_error(missing, 400, "invalid_request")


async def test_after_hours_reads_are_flagged_and_clinic_hours_reads_are_not(
    server: Server, clinic: Clinic
) -> None:
    patient = await create_patient(server, clinic)
    url = f"{PATIENTS}/{patient['id']}"

    async def read_at(moment) -> int:  # type: ignore[no-untyped-def]
        move_clock_to(server, moment)
        pcp = await token(server, clinic, Role.PCP)
        assert (await server.client.get(url, headers=pcp)).status_code == 200
        return (await organization_events(server, clinic))[0].seq

    saturday = next_weekday_at(server, SATURDAY, 2)
    weekend_read = await read_at(saturday)
    monday = next_weekday_at(server, MONDAY, 10)
    monday_read = await read_at(monday)
    monday_night_read = await read_at(monday.replace(hour=21))
    after_hours = [f for f in await flags_of(server, clinic) if f["flag"] == "after_hours"]
    flagged = {f["seq"] for f in after_hours}
    assert {weekend_read, monday_night_read} <= flagged
    assert monday_read not in flagged
    weekend = next(f for f in after_hours if f["seq"] == weekend_read)
    assert weekend["patient_id"] == patient["id"]
    assert weekend["count"] == 1
    assert weekend["actor_role"] == "pcp"
    # A window that ends before the weekend holds none of them.
    before = await flags_of(server, clinic, until=(saturday - timedelta(hours=1)).isoformat())
    assert not {f["seq"] for f in before} & {weekend_read, monday_night_read}


async def test_a_burst_of_denials_is_reported_once_with_its_count(
    server: Server, clinic: Clinic
) -> None:
    ids = await user_ids(server, clinic)
    patient = await create_patient(server, clinic)
    url = f"{PATIENTS}/{patient['id']}"
    psychiatrist = await token(server, clinic, Role.PSYCHIATRIST)
    bh = await token(server, clinic, Role.BH_CLINICIAN)
    for minute in range(6):
        server.clock.advance(timedelta(minutes=1))
        assert (await server.client.get(url, headers=psychiatrist)).status_code == 403
        if minute < 4:
            assert (await server.client.get(url, headers=bh)).status_code == 403
    server.clock.advance(timedelta(hours=1))
    psychiatrist = await token(server, clinic, Role.PSYCHIATRIST)
    for _ in range(2):
        assert (await server.client.get(url, headers=psychiatrist)).status_code == 403
    bursts = [f for f in await flags_of(server, clinic) if f["flag"] == "denied_burst"]
    assert [(b["actor_user_id"], b["count"]) for b in bursts] == [(ids["psychiatrist"], 6)]
    assert len(bursts[0]["seqs"]) == 6
    assert bursts[0]["first_at"] < bursts[0]["at"]


async def test_break_glass_and_many_patients_outside_the_care_team_are_flagged(
    server: Server, clinic: Clinic
) -> None:
    ids = await user_ids(server, clinic)
    pcp = await token(server, clinic, Role.PCP)
    patients = [await create_patient(server, clinic, headers=pcp) for _ in range(5)]
    psychiatrist = await token(server, clinic, Role.PSYCHIATRIST)
    care_manager = await token(server, clinic, Role.CARE_MANAGER)
    for patient in patients:
        await break_glass(server, psychiatrist, patient["id"], REASON)
    for patient in patients[:4]:
        await break_glass(server, care_manager, patient["id"], REASON)
    found = await flags_of(server, clinic)
    glass = [f for f in found if f["flag"] == "break_glass"]
    assert len(glass) == 9
    assert {f["patient_id"] for f in glass} == {p["id"] for p in patients}
    many = [f for f in found if f["flag"] == "many_patients_outside_care_team"]
    assert [(f["actor_user_id"], f["patients"], f["count"]) for f in many] == [
        (ids["psychiatrist"], 5, 5)
    ]
    assert [f["at"] for f in found] == sorted((f["at"] for f in found), reverse=True)
    audited = (await organization_events(server, clinic))[0]
    assert (audited.resource_type, audited.detail["report"]) == ("audit_log", "flagged")


async def test_a_review_window_is_bounded(server: Server, clinic: Clinic) -> None:
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)
    now = server.clock.now()
    too_long = await server.client.get(
        f"{AUDIT}/flagged",
        params={"since": (now - timedelta(days=93)).isoformat(), "until": now.isoformat()},
        headers=headers,
    )
    assert_error(too_long, 422, "window_too_long")
    body = (await server.client.get(f"{AUDIT}/flagged", headers=headers)).json()
    assert body["until"] > body["since"]
