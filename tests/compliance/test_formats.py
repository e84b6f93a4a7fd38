"""The export formats and the page cursor on their own: CSV quoting and formula
neutralising, FHIR R4 AuditEvent codes (validated with fhir.resources' R4B models, which
are wire-compatible with R4 for AuditEvent), and cursors that refuse garbage."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from fhir.resources.R4B.bundle import Bundle

from huddle.compliance import fhir
from huddle.compliance.export import csv_bytes, export_filename, neutralized
from huddle.compliance.query import COLUMNS
from huddle.compliance.schemas import decode_cursor, encode_cursor
from tests.compliance.entries import ORGANIZATION, entry


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_cells_a_spreadsheet_would_run_get_a_quote(start: str) -> None:
    assert neutralized(f"{start}SUM(A1:A9)") == f"'{start}SUM(A1:A9)"


def test_plain_cells_stay_as_they_are() -> None:
    for cell in ("read", "10.0.0.1", "", "'quoted", "a=b"):
        assert neutralized(cell) == cell


def test_csv_quotes_per_rfc_4180_and_round_trips() -> None:
    awkward = 'Crisis, "urgent"\nsecond line'
    formula = '=HYPERLINK("http://evil.test","open") urgent review'
    rows = [entry(reason=awkward), entry(reason=formula, detail={"k": "-1"})]
    raw = csv_bytes(rows)
    assert raw.startswith(",".join(COLUMNS).encode() + b"\r\n")
    parsed = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert [r["reason"] for r in parsed] == [awkward, "'" + formula]
    assert parsed[0]["seq"] == str(rows[0].seq)
    assert parsed[0]["at"] == "2026-11-23T12:00:00.000000Z"
    assert parsed[1]["detail"] == '{"k":"-1"}'
    assert parsed[0]["actor_name"] == "Dr. Ada Okafor"


def test_export_filenames_name_the_organization_and_utc_time() -> None:
    at = datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC)
    assert export_filename(ORGANIZATION, at, "csv") == f"audit-{ORGANIZATION}-20261128T093015Z.csv"


def test_cursors_round_trip_and_refuse_what_we_never_made() -> None:
    for seq in (1, 42, 2**63 - 1):
        cursor = encode_cursor(seq)
        assert cursor is not None
        assert decode_cursor(cursor) == seq
    assert encode_cursor(None) is None
    for garbage in ("", "!!!", "abc", b64("abc"), b64("0"), b64("-5"), b64(str(2**63)), b64("½")):
        with pytest.raises(ValueError, match="not a cursor"):
            decode_cursor(garbage)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def fhir_event(**fields: object) -> dict:  # type: ignore[type-arg]
    resource = fhir.audit_event(entry(**fields))
    FhirAuditEvent.model_validate(resource)
    return resource


def test_a_care_team_read_is_a_rest_read_by_a_practitioner() -> None:
    patient = uuid.uuid4()
    resource = fhir_event(patient_id=patient)
    assert resource["type"]["code"] == "rest"
    assert resource["type"]["system"] == fhir.EVENT_TYPE_SYSTEM
    assert resource["subtype"] == [{"system": fhir.ACTION_SYSTEM, "code": "read"}]
    assert (resource["action"], resource["outcome"]) == ("R", "0")
    (agent,) = resource["agent"]
    assert agent["who"]["reference"].startswith("Practitioner/")
    assert agent["requestor"] is True
    assert agent["network"] == {"address": "10.20.30.40", "type": "2"}
    assert resource["source"]["type"][0]["code"] == "4"
    what, whose = resource["entity"]
    assert what["what"]["reference"] == f"Patient/{patient}"
    assert {"type": "hash", "valueString": "ab" * 32} in what["detail"]
    assert whose["what"]["reference"] == f"Patient/{patient}"
    assert whose["role"]["code"] == "1"
    assert "purposeOfEvent" not in resource


@pytest.mark.parametrize(
    ("action", "outcome", "crude", "code"),
    [
        ("create", "success", "C", "0"),
        ("update", "denied", "U", "4"),
        ("delete", "failure", "D", "4"),
        ("export", "success", "E", "0"),
        ("integrity_failure", "error", "E", "8"),
    ],
)
def test_actions_and_outcomes_map_to_r4_codes(
    action: str, outcome: str, crude: str, code: str
) -> None:
    resource = fhir_event(action=action, outcome=outcome, reason="not_on_care_team")
    assert (resource["action"], resource["outcome"]) == (crude, code)
    if outcome != "success":
        assert resource["outcomeDesc"] == f"{outcome}: not_on_care_team"


def test_sign_in_events_are_dicom_user_authentication() -> None:
    resource = fhir_event(action="login", resource_type="session", patient_id=None)
    assert resource["type"] == fhir.USER_AUTHENTICATION
    assert {"system": fhir.DICOM_SYSTEM, "code": "110122", "display": "Login"} in resource[
        "subtype"
    ]
    assert len(resource["entity"]) == 1  # no patient


def test_break_glass_is_emergency_treatment_with_its_reason() -> None:
    resource = fhir_event(action="break_glass", reason="Crisis call, PCP away")
    (purpose,) = resource["purposeOfEvent"]
    assert purpose["coding"][0]["code"] == "ETREAT"
    assert purpose["coding"][0]["system"] == fhir.ACT_REASON_SYSTEM
    assert purpose["text"] == "Crisis call, PCP away"


def test_a_patient_agent_is_their_own_record_never_their_name() -> None:
    own_record = uuid.uuid4()
    resource = fhir_event(actor_role="patient", actor_name="Patient", actor_patient_id=own_record)
    who = resource["agent"][0]["who"]
    assert who["reference"] == f"Patient/{own_record}"
    assert who["display"] == "Patient"


def test_a_system_event_has_a_non_requesting_agent() -> None:
    resource = fhir_event(actor_user_id=None, actor_role=None, actor_name=None, source_ip=None)
    assert resource["agent"] == [{"who": {"display": "Huddle"}, "requestor": False}]


def test_a_bundle_is_an_r4_collection() -> None:
    made = fhir.bundle([entry(), entry(action="update")], datetime.now(UTC))
    parsed = Bundle.model_validate(made)
    assert parsed.type == "collection"
    assert [e.resource.action for e in parsed.entry] == ["R", "U"]
