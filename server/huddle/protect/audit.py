"""The tamper-evident audit log: who did what to which resource, whose PHI, and how it
ended (FHIR AuditEvent / RFC 3881 fields).

Events are appended in the caller's transaction and never changed (database triggers
refuse UPDATE and DELETE). Each event's hash covers its content, its sequence number and
the previous event's hash, so editing, deleting or reordering an event breaks the chain.
An attacker with database rights could rebuild the whole chain, so signed checkpoints
(Ed25519 over an RFC 9162 Merkle root of the event hashes), kept outside the database
too, pin the history down: `verify` checks the chain, the head and every checkpoint.

Problems are named by sequence numbers and checkpoint ids, never by content: events
hold PHI.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
import warnings
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import ColumnElement, Row, String, bindparam, insert, select, text, update
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.asyncio import AsyncSession

from huddle.protect.merkle import MerkleTreeBuilder
from huddle.protect.models import AuditChainHead, AuditCheckpoint, AuditEvent

GENESIS_HASH = "0" * 64
CHECKPOINT_FORMAT = "huddle-audit-checkpoint/v1"
_HEAD_ID = 1
# Rows a stream hands out between letting the event loop serve others (_stream_events).
_ROWS_PER_TURN = 100
_EVENTS = AuditEvent.__table__
_HEAD = AuditChainHead.__table__
# Every unit of work ends with these; built once (see messaging/access.py).
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID).with_for_update()
_INSERT_EVENTS = insert(_EVENTS)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == _HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)

# What an event's hash covers (every column but `hash`), fixed so that a new column
# never silently changes the hashes of events written before it existed.
HASHED_FIELDS: tuple[str, ...] = (
    "seq",
    "id",
    "at",
    "organization_id",
    "actor_user_id",
    "actor_role",
    "action",
    "resource_type",
    "resource_id",
    "patient_id",
    "outcome",
    "source_ip",
    "user_agent",
    "request_id",
    "reason",
    "detail",
    "prev_hash",
)
_UUID_FIELDS = ("organization_id", "actor_user_id", "patient_id")
# PostgreSQL enforces VARCHAR lengths and SQLite does not; check here so both agree.
_LENGTH_LIMITS: dict[str, int] = {
    column.name: column.type.length
    for column in _EVENTS.columns
    if isinstance(column.type, String) and column.type.length
}
_KEY_ID_LIMIT: int = AuditCheckpoint.__table__.c.key_id.type.length


class Action(StrEnum):
    """What was done: to a resource (FHIR AuditEvent's C/R/U/D/E) or to an account."""

    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LOGIN = "login"
    LOGOUT = "logout"
    EXPORT = "export"
    BREAK_GLASS = "break_glass"
    LOGIN_FAILED = "login_failed"
    LOGIN_THROTTLED = "login_throttled"
    ACCOUNT_LOCKED = "account_locked"
    MFA_CHALLENGE = "mfa_challenge"
    MFA_FAILED = "mfa_failed"
    MFA_ENROLLED = "mfa_enrolled"
    MFA_RESET = "mfa_reset"
    RECOVERY_CODE_USED = "recovery_code_used"
    REFRESH_REUSED = "refresh_token_reused"
    SESSION_IDLE = "session_idle"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    USER_CREATED = "user_created"
    USER_DEACTIVATED = "user_deactivated"
    USER_REACTIVATED = "user_reactivated"
    ORGANIZATION_UPDATED = "organization_updated"
    KEY_ROTATED = "key_rotated"
    DATA_KEY_DESTROYED = "data_key_destroyed"
    INTEGRITY_FAILURE = "integrity_failure"


class Outcome(StrEnum):
    """How it ended; DENIED is a refusal by policy, ERROR a failure of the system."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What a caller says happened; `append` adds the sequence number, id, time and
    hashes. `detail` holds ids and reasons as strings, never secrets."""

    action: Action
    resource_type: str
    resource_id: str | None = None
    outcome: Outcome = Outcome.SUCCESS
    organization_id: uuid.UUID | None = None
    actor_user_id: uuid.UUID | None = None
    actor_role: str | None = None
    patient_id: uuid.UUID | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    reason: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckpointDoc:
    """A signed checkpoint, as stored or as read back from a file outside the database."""

    tree_size: int
    root_hash: str
    signed_at: datetime
    key_id: str
    signature: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of `verify`.

    `first_bad_seq` is the first event found deleted, modified, replaced, out of place or
    inserted (None when no single event can be named, as when a checkpoint shows that
    history was rewritten); `events_checked` counts the events before it that passed
    every check; `problem` is one sentence naming what is wrong and where, by sequence
    number only.
    """

    ok: bool
    events_checked: int
    head_seq: int
    checkpoints_checked: int
    first_bad_seq: int | None
    problem: str | None


class ChainBroken(Exception):
    """The events do not add up to the chain's head; run `verify` to see where."""


# ---------------------------------------------------------------------------- hashing


def utc_iso(moment: datetime) -> str:
    """`moment` as UTC ISO-8601 with microseconds and a trailing Z; naive is refused."""
    return require_utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def require_utc(moment: datetime) -> datetime:
    """`moment` converted to UTC; raises ValueError for a naive datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("audit times must be timezone-aware (UTC), not naive")
    return moment.astimezone(UTC)


def canonical_bytes(event_fields: Mapping[str, object]) -> bytes:
    """The stable encoding an event's hash covers: every field in HASHED_FIELDS (other
    keys, such as `hash`, are ignored) as compact JSON with sorted keys, UUIDs as
    lowercase strings and times as UTC ISO-8601 with microseconds and a Z.

    Raises ValueError if a field is missing or a time is naive, TypeError for a value
    that has no canonical form (floats, lists, non-string mapping keys).
    """
    try:
        document = {name: _canonical_value(event_fields[name]) for name in HASHED_FIELDS}
    except KeyError as missing:
        raise ValueError(f"audit event lacks the field {missing}") from None
    encoded = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return encoded.encode("utf-8")


def _canonical_value(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, str | uuid.UUID):
        return str(value)  # a StrEnum member becomes its plain value
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return {_mapping_key(key): _canonical_value(item) for key, item in value.items()}
    raise TypeError(f"an audit event cannot hold a {type(value).__name__}")


def _mapping_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError("audit detail keys must be strings")
    return key


def event_hash(prev_hash: str, event_fields: Mapping[str, object]) -> str:
    """Hex SHA-256 over the previous event's hash (as bytes) and this event's
    canonical bytes."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_bytes(event_fields)).hexdigest()


# ---------------------------------------------------------------------------- appending


async def append(
    db: AsyncSession, records: Sequence[AuditRecord], at: datetime
) -> list[AuditEvent]:
    """Append `records`, in order and all stamped `at`, to the chain within the caller's
    transaction: they commit or roll back with the change they describe.

    Locks the chain's head until the transaction ends, so call it as the last thing
    before commit; concurrent appenders queue there and seqs stay contiguous. An empty
    `records` does nothing and takes no lock. Returns the new events (not attached to
    the session). Raises ValueError for a naive `at` or an over-long field, TypeError
    for a wrongly typed one, before any lock is taken.
    """
    if not records:
        return []
    rows = [_new_row(record, require_utc(at)) for record in records]
    seq, prev_hash = await _locked_head(db)
    for row in rows:
        seq += 1
        row["seq"], row["prev_hash"] = seq, prev_hash
        row["hash"] = prev_hash = event_hash(prev_hash, row)
    # Core statements on the tables, not the ORM: every unit of work ends here, and the
    # ORM's bulk insert and flush cost more than the rest of a small append.
    await db.execute(_INSERT_EVENTS, rows)
    await db.execute(_MOVE_HEAD, {"new_seq": seq, "new_hash": prev_hash})
    return [AuditEvent(**row) for row in rows]


def _new_row(record: AuditRecord, at: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uuid.uuid4(),
        "at": at,
        "organization_id": record.organization_id,
        "actor_user_id": record.actor_user_id,
        "actor_role": record.actor_role,
        "action": Action(record.action).value,
        "resource_type": record.resource_type,
        "resource_id": record.resource_id,
        "patient_id": record.patient_id,
        "outcome": Outcome(record.outcome).value,
        "source_ip": record.source_ip,
        "user_agent": record.user_agent,
        "request_id": record.request_id,
        "reason": record.reason,
        "detail": _plain_detail(record.detail),
    }
    _check_types_and_lengths(row)
    return row


def _plain_detail(detail: Mapping[str, str]) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in detail.items()):
        raise TypeError("audit detail keys and values must be strings")
    return dict(detail)


def _check_types_and_lengths(row: Mapping[str, Any]) -> None:
    for name in _UUID_FIELDS:
        if row[name] is not None and not isinstance(row[name], uuid.UUID):
            raise TypeError(f"audit field {name} must be a UUID")
    for name, limit in _LENGTH_LIMITS.items():
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"audit field {name} must be a string")
        if value is not None and len(value) > limit:
            raise ValueError(f"audit field {name} is longer than {limit} characters")


async def _locked_head(db: AsyncSession) -> tuple[int, str]:
    """The chain head's (seq, hash), locked until the transaction ends."""
    head = (await db.execute(_LOCK_HEAD)).one_or_none()
    if head is None:
        raise RuntimeError("the audit chain head row is missing; is the database migrated?")
    return head.seq, head.hash


async def _current_head(db: AsyncSession) -> AuditChainHead | None:
    query = (
        select(AuditChainHead)
        .where(AuditChainHead.id == _HEAD_ID)
        .execution_options(populate_existing=True)
    )
    return await db.scalar(query)


def _present(head: AuditChainHead | None) -> AuditChainHead:
    if head is None:
        raise RuntimeError("the audit chain head row is missing; is the database migrated?")
    return head


async def _stream_events(
    db: AsyncSession,
    columns: Sequence[ColumnElement[Any]],
    batch: int,
    up_to_seq: int | None = None,
) -> AsyncIterator[Row[Any]]:
    """Events in seq order, `batch` at a time by keyset on seq. The first batch has no
    lower bound, so rows forged with seq <= 0 are seen too. Every _ROWS_PER_TURN rows it
    lets the event loop run: the caller's work on each row (hashing it) would otherwise
    hold the loop for a whole batch, ~0.1 s for 1,000 events when verifying."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    after: int | None = None
    while True:
        query = select(*columns).order_by(_EVENTS.c.seq).limit(batch)
        if after is not None:
            query = query.where(_EVENTS.c.seq > after)
        if up_to_seq is not None:
            query = query.where(_EVENTS.c.seq <= up_to_seq)
        rows = (await db.execute(query)).all()
        for count, row in enumerate(rows, 1):
            yield row
            if count % _ROWS_PER_TURN == 0:
                await asyncio.sleep(0)
        if len(rows) < batch:
            return
        after = rows[-1].seq


# ---------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True, slots=True)
class LogRoot:
    """The Merkle root over the hashes of events 1..tree_size."""

    tree_size: int
    root_hash: str


async def create_checkpoint(
    db: AsyncSession,
    signing_key: Ed25519PrivateKey,
    key_id: str,
    at: datetime,
    *,
    batch: int = 1000,
) -> AuditCheckpoint:
    """Sign and store, in one transaction, a checkpoint of events 1..N, N being the
    head's seq when it is read: `root_of_log`, then `store_checkpoint`. Raises as they do
    (and signs nothing)."""
    _check_signer(key_id, at)
    return await store_checkpoint(db, await root_of_log(db, batch=batch), signing_key, key_id, at)


async def root_of_log(db: AsyncSession, *, batch: int = 1000) -> LogRoot:
    """The root over events 1..N, N being the head's seq when it is read. Only reads, so
    it may run in `Database.snapshot()`: the head and its events commit together and
    events never change, so the events up to the head seen here are complete, and
    appenders never wait on the hashing. Raises ChainBroken when those events do not add
    up to the head."""
    head = _present(await _current_head(db))
    tree, last_hash = MerkleTreeBuilder(), GENESIS_HASH
    columns = (_EVENTS.c.seq, _EVENTS.c.hash)
    async for row in _stream_events(db, columns, batch, up_to_seq=head.seq):
        tree.append(_hash_bytes(row.seq, row.hash))
        last_hash = row.hash
    if tree.size != head.seq or last_hash != head.hash:
        raise ChainBroken(
            f"the audit log does not add up to its head (seq {head.seq}); no checkpoint was signed"
        )
    return LogRoot(head.seq, tree.root().hex())


async def store_checkpoint(
    db: AsyncSession,
    root: LogRoot,
    signing_key: Ed25519PrivateKey,
    key_id: str,
    at: datetime,
) -> AuditCheckpoint:
    """Sign `root` (from `root_of_log`, in this transaction or an earlier one: the events
    it covers never change) and store it. Raises ValueError for a naive `at` or a bad
    `key_id`."""
    signed_at = _check_signer(key_id, at)
    message = checkpoint_message(root.tree_size, root.root_hash, signed_at)
    checkpoint = AuditCheckpoint(
        tree_size=root.tree_size,
        root_hash=root.root_hash,
        signed_at=signed_at,
        key_id=key_id,
        signature=signing_key.sign(message).hex(),
    )
    db.add(checkpoint)
    await db.flush()
    return checkpoint


def _check_signer(key_id: str, at: datetime) -> datetime:
    """`at` as UTC; ValueError for a naive `at` or a bad `key_id`."""
    signed_at = require_utc(at)
    if not key_id or len(key_id) > _KEY_ID_LIMIT:
        raise ValueError(f"key_id must be 1 to {_KEY_ID_LIMIT} characters")
    return signed_at


def _hash_bytes(seq: int, hex_hash: str) -> bytes:
    try:
        return bytes.fromhex(hex_hash)
    except ValueError:
        raise ChainBroken(f"event {seq} has a malformed hash") from None


def checkpoint_message(tree_size: int, root_hash: str, signed_at: datetime) -> bytes:
    """The exact bytes a checkpoint's Ed25519 signature covers."""
    return f"{CHECKPOINT_FORMAT}\n{tree_size}\n{root_hash}\n{utc_iso(signed_at)}".encode()


def checkpoint_document(checkpoint: AuditCheckpoint | CheckpointDoc) -> dict[str, object]:
    """A checkpoint as a JSON-ready dict, to keep outside the database."""
    return {
        "format": CHECKPOINT_FORMAT,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "signed_at": utc_iso(checkpoint.signed_at),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def checkpoint_from_document(doc: Mapping[str, object]) -> CheckpointDoc:
    """Read back what `checkpoint_document` wrote. Checks the shape only (the signature
    is checked by `verify`); raises ValueError naming the first bad field."""
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"not a {CHECKPOINT_FORMAT} document")
    tree_size = doc.get("tree_size")
    if not isinstance(tree_size, int) or isinstance(tree_size, bool) or tree_size < 0:
        raise ValueError("checkpoint tree_size must be a whole number >= 0")
    key_id = doc.get("key_id")
    if not isinstance(key_id, str) or not key_id:
        raise ValueError("checkpoint key_id must be a non-empty string")
    return CheckpointDoc(
        tree_size=tree_size,
        root_hash=_hex_field(doc, "root_hash", 32),
        signed_at=_time_field(doc, "signed_at"),
        key_id=key_id,
        signature=_hex_field(doc, "signature", 64),
    )


def _hex_field(doc: Mapping[str, object], name: str, size: int) -> str:
    value = doc.get(name)
    if not (isinstance(value, str) and len(value) == 2 * size and _is_lower_hex(value)):
        raise ValueError(f"checkpoint {name} must be {2 * size} lowercase hex digits")
    return value


def _is_lower_hex(value: str) -> bool:
    return all(char in "0123456789abcdef" for char in value)


def _time_field(doc: Mapping[str, object], name: str) -> datetime:
    value = doc.get(name)
    try:
        return require_utc(datetime.fromisoformat(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"checkpoint {name} must be an ISO-8601 UTC time") from None


def _doc_of(checkpoint: AuditCheckpoint) -> CheckpointDoc:
    return CheckpointDoc(
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        signed_at=checkpoint.signed_at,
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
    )


def _signature_valid(checkpoint: CheckpointDoc, key: Ed25519PublicKey) -> bool:
    message = checkpoint_message(checkpoint.tree_size, checkpoint.root_hash, checkpoint.signed_at)
    try:
        key.verify(bytes.fromhex(checkpoint.signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------- verifying


@dataclass(frozen=True, slots=True)
class _Failure:
    first_bad_seq: int | None
    problem: str


class _ChainWalk:
    """Checks events one at a time in seq order, remembering the Merkle root at each
    size a checkpoint asks about, and stops at the first problem.

    An event whose own hash is right but which is not chained to the event before it
    is held back until the next event (or the head) shows which of the two is out of
    place: if the next one is chained to it, the event before was replaced.
    """

    def __init__(self, head: AuditChainHead, root_sizes: set[int]) -> None:
        self.head_seq, self.head_hash = head.seq, head.hash
        self.verified = 0
        self.last_hash = GENESIS_HASH
        self.roots: dict[int, str] = {}
        self._root_sizes = root_sizes
        self._tree = MerkleTreeBuilder()
        self._unlinked: Mapping[str, Any] | None = None
        self._remember_root()

    def check(self, event: Mapping[str, Any]) -> _Failure | None:
        """None if `event` continues the chain (and it is taken in), else what is wrong."""
        if self._unlinked is not None:
            return self._judge_unlinked(self._unlinked, event)
        failure = self._problem_with(event)
        if failure is None and self._unlinked is None:
            self._take(event)
        return failure

    def finish(self) -> _Failure | None:
        """After the last event: what is wrong with the chain's end, if anything."""
        if self._unlinked is not None:
            return self._judge_unlinked(self._unlinked, None)
        last = self.verified
        if last < self.head_seq:
            return _Failure(
                last + 1,
                f"events after {last} are missing: the head says {self.head_seq} (truncated)",
            )
        if self.last_hash != self.head_hash:
            if last == 0:
                return _Failure(None, "the head does not match the empty log")
            return _Failure(last, f"event {last} was replaced (the head's hash is not its hash)")
        return None

    def _problem_with(self, event: Mapping[str, Any]) -> _Failure | None:
        seq, expected = event["seq"], self.verified + 1
        if seq < expected:
            return _Failure(seq, f"event {seq} is not part of the chain, which starts at 1")
        if seq > expected and expected <= self.head_seq:
            return _Failure(expected, _gap_problem(expected, min(seq, self.head_seq + 1), seq))
        if seq > self.head_seq:
            return _Failure(seq, f"event {seq} lies beyond the head ({self.head_seq}): inserted")
        if event_hash(event["prev_hash"], event) != event["hash"]:
            return _Failure(seq, f"event {seq} was modified (its hash does not match its content)")
        if event["prev_hash"] != self.last_hash:
            self._unlinked = event
        return None

    def _judge_unlinked(
        self, unlinked: Mapping[str, Any], following: Mapping[str, Any] | None
    ) -> _Failure:
        seq = unlinked["seq"]
        if seq > 1 and self._stays_in_place(unlinked, following):
            return _Failure(
                seq - 1, f"event {seq - 1} was replaced (event {seq} is chained to another hash)"
            )
        return _Failure(seq, _link_problem(seq))

    def _stays_in_place(
        self, event: Mapping[str, Any], following: Mapping[str, Any] | None
    ) -> bool:
        if following is None:
            return self.head_seq == event["seq"] and self.head_hash == event["hash"]
        return following["seq"] == event["seq"] + 1 and following["prev_hash"] == event["hash"]

    def _take(self, event: Mapping[str, Any]) -> None:
        self.verified += 1
        self.last_hash = event["hash"]
        self._tree.append(bytes.fromhex(self.last_hash))
        self._remember_root()

    def _remember_root(self) -> None:
        if self._tree.size in self._root_sizes:
            self.roots[self._tree.size] = self._tree.root().hex()


def _gap_problem(first_missing: int, end_missing: int, found: int) -> str:
    """Events first_missing..end_missing-1 are absent and `found` comes next."""
    if end_missing == first_missing + 1:
        what = f"event {first_missing} is missing (deleted)"
    else:
        what = f"events {first_missing} to {end_missing - 1} are missing (deleted)"
    if first_missing == 1:
        return f"{what}: the log starts at {found}"
    return f"{what}: the chain jumps from {first_missing - 1} to {found}"


def _link_problem(seq: int) -> str:
    if seq == 1:
        return "event 1 does not start the chain (its prev_hash is not the genesis hash)"
    return (
        f"event {seq} is out of place: it is not chained to event {seq - 1} (reordered or replaced)"
    )


async def verify(
    db: AsyncSession,
    public_keys: Mapping[str, Ed25519PublicKey],
    external: CheckpointDoc | None = None,
    batch: int = 1000,
) -> VerifyReport:
    """Check the whole audit log and report the first problem found.

    Streams events in seq order (`batch` at a time) and checks that seqs run from 1
    without gaps, each prev_hash is the previous event's hash, each hash matches its
    event's content, and the chain ends at the head. Then checks every stored
    checkpoint, and `external` if given: signed by a key in `public_keys`, no larger
    than the log, and its Merkle root equals the root of that many events.

    Read-only, and consistent while others append: best run in `Database.snapshot()`,
    which reads one state of the log without holding appenders up. In any other
    transaction it is consistent too: on PostgreSQL, called first in its transaction,
    it reads one REPEATABLE READ snapshot; called later, it holds appenders off (a share
    lock on the head) until the transaction ends, as SQLite's BEGIN IMMEDIATE
    transactions always do.
    """
    head = await _head_for_verify(db)
    if head is None:
        return _report(0, 0, 0, _Failure(None, "the audit chain head is missing"))
    checkpoints = await _checkpoints_to_check(db, external)
    walk = _ChainWalk(head, {checkpoint.tree_size for _, checkpoint in checkpoints})
    failure = await _walk_events(db, walk, batch) or walk.finish()
    if failure is not None:
        return _report(walk.verified, head.seq, 0, failure)
    checked = 0
    for name, checkpoint in checkpoints:
        if failure := _checkpoint_problem(name, checkpoint, walk, public_keys):
            return _report(walk.verified, head.seq, checked, failure)
        checked += 1
    return _report(walk.verified, head.seq, checked, None)


async def _head_for_verify(db: AsyncSession) -> AuditChainHead | None:
    """The head, read so that the events read after it are the ones it describes, not
    those plus events committed meanwhile (which would look inserted beyond the head)."""
    if db.get_bind().dialect.name != "postgresql":
        # A WAL read transaction (a snapshot) reads one state from its first read on;
        # BEGIN IMMEDIATE excludes other writers.
        return await _current_head(db)
    with warnings.catch_warnings():
        # Raised when the transaction has begun already; the check below handles that.
        warnings.filterwarnings("ignore", "Connection is already established", SAWarning)
        await db.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    if await db.scalar(text("SHOW transaction_isolation")) in ("repeatable read", "serializable"):
        return await _current_head(db)
    query = (
        select(AuditChainHead)
        .where(AuditChainHead.id == _HEAD_ID)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    return await db.scalar(query)


async def _walk_events(db: AsyncSession, walk: _ChainWalk, batch: int) -> _Failure | None:
    async for row in _stream_events(db, tuple(_EVENTS.columns), batch):
        if failure := walk.check(row._mapping):
            return failure
    return None


async def _checkpoints_to_check(
    db: AsyncSession, external: CheckpointDoc | None
) -> list[tuple[str, CheckpointDoc]]:
    stored = await db.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size, AuditCheckpoint.id)
    )
    named = [(f"checkpoint {row.id}", _doc_of(row)) for row in stored]
    if external is not None:
        named.append(("the external checkpoint", external))
    return named


def _checkpoint_problem(
    name: str,
    checkpoint: CheckpointDoc,
    walk: _ChainWalk,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> _Failure | None:
    size = checkpoint.tree_size
    key = public_keys.get(checkpoint.key_id)
    if key is None:
        return _Failure(None, f"{name} is signed with an unknown key ({checkpoint.key_id!r})")
    if not _signature_valid(checkpoint, key):
        return _Failure(None, f"{name} of {size} events has an invalid signature")
    if size > walk.verified:
        return _Failure(
            walk.verified + 1,
            f"{name} covers {size} events but the log has only {walk.verified} (truncated)",
        )
    if walk.roots.get(size) != checkpoint.root_hash:
        return _Failure(None, f"{name} of {size} events does not match the log (history rewritten)")
    return None


def _report(
    verified: int, head_seq: int, checkpoints_checked: int, failure: _Failure | None
) -> VerifyReport:
    first_bad = failure.first_bad_seq if failure else None
    return VerifyReport(
        ok=failure is None,
        # An event replaced with a hash of its own passes its own checks; it still counts
        # as bad, so only what precedes the first bad event counts as checked.
        events_checked=verified if first_bad is None else max(0, min(verified, first_bad - 1)),
        head_seq=head_seq,
        checkpoints_checked=checkpoints_checked,
        first_bad_seq=first_bad,
        problem=failure.problem if failure else None,
    )
