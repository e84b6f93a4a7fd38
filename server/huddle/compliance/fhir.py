"""The audit log as a FHIR R4 Bundle (type `collection`) of AuditEvent resources.

Codes follow the R4 AuditEvent: `type` is `rest` (audit-event-type) for API actions and
DICOM 110114 "User Authentication" for sign-in events; our own action is the `subtype`
in a Huddle code system; `action` is C/R/U/D/E; `outcome` 0/4/8. Each event's hash and
sequence number travel in the first entity's `detail`, so the chain can be checked
against the export.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from huddle.actor import Role
from huddle.compliance.query import AuditEntry
from huddle.protect.audit import Action, Outcome, utc_iso

FHIR_MEDIA_TYPE = "application/fhir+json"
HUDDLE_SYSTEMS = "https://huddle.example/fhir"
ACTION_SYSTEM = f"{HUDDLE_SYSTEMS}/CodeSystem/audit-action"
ROLE_SYSTEM = f"{HUDDLE_SYSTEMS}/CodeSystem/user-role"
USER_ID_SYSTEM = f"{HUDDLE_SYSTEMS}/sid/user-id"
RESOURCE_ID_SYSTEM = f"{HUDDLE_SYSTEMS}/sid/resource"

EVENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-event-type"
DICOM_SYSTEM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
SOURCE_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/object-role"

REST = {"system": EVENT_TYPE_SYSTEM, "code": "rest", "display": "RESTful Operation"}
USER_AUTHENTICATION = {"system": DICOM_SYSTEM, "code": "110114", "display": "User Authentication"}
AUTHENTICATION_ACTIONS = frozenset(
    {
        Action.LOGIN,
        Action.LOGOUT,
        Action.LOGIN_FAILED,
        Action.LOGIN_THROTTLED,
        Action.ACCOUNT_LOCKED,
        Action.MFA_CHALLENGE,
        Action.MFA_FAILED,
        Action.RECOVERY_CODE_USED,
        Action.REFRESH_REUSED,
        Action.SESSION_IDLE,
    }
)
# DICOM's own subtypes of User Authentication, given beside ours where they exist.
DICOM_SUBTYPES = {
    Action.LOGIN: {"system": DICOM_SYSTEM, "code": "110122", "display": "Login"},
    Action.LOGOUT: {"system": DICOM_SYSTEM, "code": "110123", "display": "Logout"},
}
CRUDE = {Action.CREATE: "C", Action.READ: "R", Action.UPDATE: "U", Action.DELETE: "D"}
OUTCOMES = {Outcome.SUCCESS: "0", Outcome.FAILURE: "4", Outcome.DENIED: "4", Outcome.ERROR: "8"}
EMERGENCY_TREATMENT = {
    "system": ACT_REASON_SYSTEM,
    "code": "ETREAT",
    "display": "Emergency Treatment",
}
APPLICATION_SERVER = {"system": SOURCE_TYPE_SYSTEM, "code": "4", "display": "Application Server"}
PERSON = {"system": ENTITY_TYPE_SYSTEM, "code": "1", "display": "Person"}
SYSTEM_OBJECT = {"system": ENTITY_TYPE_SYSTEM, "code": "2", "display": "System Object"}
PATIENT_ROLE = {"system": OBJECT_ROLE_SYSTEM, "code": "1", "display": "Patient"}


def bundle(entries: Iterable[AuditEntry], at: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": utc_iso(at),
        "entry": [
            {"fullUrl": f"urn:uuid:{entry.id}", "resource": audit_event(entry)} for entry in entries
        ],
    }


def audit_event(entry: AuditEntry) -> dict[str, Any]:
    action = entry.action  # a plain string: an action newer than this mapping is still E
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry.id),
        "type": USER_AUTHENTICATION if action in AUTHENTICATION_ACTIONS else REST,
        "subtype": [
            {"system": ACTION_SYSTEM, "code": action},
            *([DICOM_SUBTYPES[action]] if action in DICOM_SUBTYPES else []),
        ],
        "action": CRUDE.get(action, "E"),
        "recorded": utc_iso(entry.at),
        "outcome": OUTCOMES[Outcome(entry.outcome)],
        "outcomeDesc": _outcome_description(entry),
        "agent": [_agent(entry)],
        "source": {
            "site": str(entry.organization_id),
            "observer": {"display": "Huddle"},
            "type": [APPLICATION_SERVER],
        },
        "entity": _entities(entry),
    }
    if entry.is_break_glass:
        purpose: dict[str, Any] = {"coding": [EMERGENCY_TREATMENT]}
        if entry.reason:
            purpose["text"] = entry.reason
        resource["purposeOfEvent"] = [purpose]
    return resource


def _outcome_description(entry: AuditEntry) -> str:
    # For refusals the reason is a denial code; a break-glass reason goes to purposeOfEvent.
    if entry.outcome != Outcome.SUCCESS and entry.reason:
        return f"{entry.outcome}: {entry.reason}"
    return entry.outcome


def _agent(entry: AuditEntry) -> dict[str, Any]:
    if entry.actor_user_id is None:
        return {"who": {"display": "Huddle"}, "requestor": False}
    who: dict[str, Any] = {
        "identifier": {"system": USER_ID_SYSTEM, "value": str(entry.actor_user_id)}
    }
    if entry.actor_role != Role.PATIENT:
        who["reference"] = f"Practitioner/{entry.actor_user_id}"
    elif entry.actor_patient_id is not None:
        who["reference"] = f"Patient/{entry.actor_patient_id}"
    if entry.actor_name:
        who["display"] = entry.actor_name
    agent: dict[str, Any] = {"who": who, "requestor": True}
    if entry.actor_role:
        agent["role"] = [{"coding": [{"system": ROLE_SYSTEM, "code": entry.actor_role}]}]
    if entry.source_ip:
        agent["network"] = {"address": entry.source_ip, "type": "2"}  # 2: IP address
    return agent


def _entities(entry: AuditEntry) -> list[dict[str, Any]]:
    what: dict[str, Any] = {"display": entry.resource_type}
    if entry.resource_id is not None:
        if entry.resource_type == "patient":
            what["reference"] = f"Patient/{entry.resource_id}"
        else:
            system = f"{RESOURCE_ID_SYSTEM}/{entry.resource_type}"
            what["identifier"] = {"system": system, "value": entry.resource_id}
    entities = [{"what": what, "type": SYSTEM_OBJECT, "detail": _details(entry)}]
    if entry.patient_id is not None:
        entities.append(
            {
                "what": {"reference": f"Patient/{entry.patient_id}"},
                "type": PERSON,
                "role": PATIENT_ROLE,
            }
        )
    return entities


def _details(entry: AuditEntry) -> list[dict[str, str]]:
    pairs = [
        ("hash", entry.hash),
        ("seq", str(entry.seq)),
        ("request_id", entry.request_id),
        ("user_agent", entry.user_agent),
        ("reason", entry.reason),
        *((f"detail.{key}", value) for key, value in sorted(entry.detail.items())),
    ]
    return [{"type": name, "valueString": value} for name, value in pairs if value]
