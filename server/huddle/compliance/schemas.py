"""Response bodies of the audit API and the patient's access log, and the page cursor."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import msgspec

from huddle.actor import Role
from huddle.compliance.disclosures import PersonAccess
from huddle.compliance.query import AuditEntry
from huddle.compliance.review import Flag, FlagKind
from huddle.compliance.service import AccessLogEntry, CheckpointSummary, Person, Verification

# Sequence numbers are BIGINT; a cursor naming a larger one is not ours.
MAX_SEQ = 2**63 - 1


def encode_cursor(seq: int | None) -> str | None:
    """The opaque cursor of a page that ends at event `seq`."""
    if seq is None:
        return None
    return base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The seq a cursor names; raises ValueError for anything `encode_cursor` never made."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor") from None
    if not (text.isdigit() and text.isascii() and 0 < int(text) <= MAX_SEQ):
        raise ValueError("not a cursor")
    return int(text)


class AuditEventOut(msgspec.Struct):
    seq: int
    id: uuid.UUID
    at: datetime
    organization_id: uuid.UUID
    actor_user_id: uuid.UUID | None
    actor_role: str | None
    # Staff by display name; a patient as "Patient", never by name.
    actor_name: str | None
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: uuid.UUID | None
    outcome: str
    source_ip: str | None
    user_agent: str | None
    request_id: str | None
    reason: str | None
    detail: dict[str, str]
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEventOut:
        return cls(**{name: getattr(entry, name) for name in cls.__struct_fields__})


class AuditPageOut(msgspec.Struct):
    events: list[AuditEventOut]
    # Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: str | None


class CheckpointOut(msgspec.Struct):
    tree_size: int
    root_hash: str
    signed_at: datetime
    key_id: str

    @classmethod
    def of(cls, summary: CheckpointSummary) -> CheckpointOut:
        return cls(summary.tree_size, summary.root_hash, summary.signed_at, summary.key_id)


class PersonOut(msgspec.Struct):
    """A member of staff in the people picker: who, in which role, still active or not."""

    id: uuid.UUID
    display_name: str
    role: Role
    is_active: bool

    @classmethod
    def of(cls, person: Person) -> PersonOut:
        return cls(person.id, person.display_name, person.role, person.is_active)


class PeopleOut(msgspec.Struct):
    people: list[PersonOut]
    count: int


class VerificationOut(msgspec.Struct):
    ok: bool
    events_checked: int
    head_seq: int
    checkpoints_checked: int
    first_bad_seq: int | None
    problem: str | None
    latest_checkpoint: CheckpointOut | None

    @classmethod
    def of(cls, verification: Verification) -> VerificationOut:
        report, latest = verification.report, verification.latest_checkpoint
        return cls(
            ok=report.ok,
            events_checked=report.events_checked,
            head_seq=report.head_seq,
            checkpoints_checked=report.checkpoints_checked,
            first_bad_seq=report.first_bad_seq,
            problem=report.problem,
            latest_checkpoint=None if latest is None else CheckpointOut.of(latest),
        )


class DisclosureOut(msgspec.Struct):
    actor_user_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    first_at: datetime
    last_at: datetime
    accesses: int
    denied: int
    kinds: list[str]
    flagged: bool

    @classmethod
    def of(cls, line: PersonAccess) -> DisclosureOut:
        return cls(
            line.actor_user_id,
            line.actor_name,
            line.actor_role,
            line.first_at,
            line.last_at,
            line.accesses,
            line.denied,
            list(line.kinds),
            line.flagged,
        )


class DisclosuresOut(msgspec.Struct):
    patient_id: uuid.UUID
    since: datetime | None
    until: datetime | None
    people: list[DisclosureOut]


class FlagOut(msgspec.Struct):
    flag: FlagKind
    # The newest event behind the flag (open it with GET /audit/{seq}).
    seq: int
    at: datetime
    first_at: datetime
    count: int
    actor_user_id: uuid.UUID | None
    actor_role: str | None
    actor_name: str | None
    patient_id: uuid.UUID | None  # for a single event
    patients: int  # distinct patients behind the flag
    seqs: list[int]  # every event behind the flag, newest first

    @classmethod
    def of(cls, flag: Flag) -> FlagOut:
        newest = flag.newest
        return cls(
            flag=flag.kind,
            seq=newest.seq,
            at=newest.at,
            first_at=flag.first_at,
            count=len(flag.events),
            actor_user_id=newest.actor_user_id,
            actor_role=newest.actor_role,
            actor_name=newest.actor_name,
            patient_id=newest.patient_id if len(flag.events) == 1 else None,
            patients=flag.patients,
            seqs=[e.seq for e in flag.events],
        )


class FlagsOut(msgspec.Struct):
    since: datetime
    until: datetime
    # False when the window held more candidate events than one review scans.
    complete: bool
    flags: list[FlagOut]


class AccessLogEntryOut(msgspec.Struct):
    at: datetime
    # "You", or the staff member's display name.
    who: str
    role: str | None
    action: str
    resource_type: str

    @classmethod
    def of(cls, entry: AccessLogEntry) -> AccessLogEntryOut:
        return cls(entry.at, entry.who, entry.role, entry.action, entry.resource_type)


class AccessLogOut(msgspec.Struct):
    entries: list[AccessLogEntryOut]
    next_cursor: str | None
