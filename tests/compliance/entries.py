"""Audit entries made in memory, for the pure rules and formats."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from huddle.compliance.query import AuditEntry

# A Monday, inside clinic hours.
MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ORGANIZATION = uuid.UUID("0b0b0b0b-0000-4000-8000-00000000000a")
_seqs = itertools.count(1)


def entry(**fields: Any) -> AuditEntry:
    """A successful read of a patient record by a PCP, unless `fields` say otherwise."""
    patient = fields.pop("patient_id", uuid.uuid4())
    values: dict[str, Any] = {
        "seq": next(_seqs),
        "id": uuid.uuid4(),
        "at": MONDAY_NOON,
        "organization_id": ORGANIZATION,
        "actor_user_id": uuid.UUID("0d0d0d0d-0000-4000-8000-00000000000b"),
        "actor_role": "pcp",
        "actor_name": "Dr. Ada Okafor",
        "action": "read",
        "resource_type": "patient",
        "resource_id": str(patient),
        "patient_id": patient,
        "outcome": "success",
        "source_ip": "10.20.30.40",
        "user_agent": "pytest",
        "request_id": "req-1",
        "reason": None,
        "detail": {"via": "care_team"},
        "hash": "ab" * 32,
        **fields,
    }
    return AuditEntry(**values)
