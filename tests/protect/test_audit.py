"""The audit log's core: canonical hashing (pure, with a property test), appending in the
caller's transaction, the append-only triggers, signed checkpoints, and concurrent
appenders, on SQLite and PostgreSQL. Tampering is in test_audit_tamper.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, select, text, update
from sqlalchemy.exc import DBAPIError

from huddle.db import Database
from huddle.protect.audit import (
    GENESIS_HASH,
    HASHED_FIELDS,
    Action,
    AuditRecord,
    ChainBroken,
    CheckpointDoc,
    Outcome,
    VerifyReport,
    append,
    canonical_bytes,
    checkpoint_document,
    checkpoint_from_document,
    create_checkpoint,
    event_hash,
    verify,
)
from huddle.protect.merkle import merkle_root
from huddle.protect.models import AuditChainHead, AuditCheckpoint, AuditEvent
from tests.protect.conftest import (
    KEY_ID,
    ORGANIZATION,
    PATIENT,
    T0,
    DatabaseFactory,
    as_attacker,
    make_records,
    private_database,
    seed,
)

EVENTS = AuditEvent.__table__

# ---------------------------------------------------------------------------- hashing


def sample_fields() -> dict[str, Any]:
    return {
        "seq": 1,
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "at": datetime(2026, 1, 2, 4, 4, 5, 6, tzinfo=timezone(timedelta(hours=1))),
        "organization_id": ORGANIZATION,
        "actor_user_id": None,
        "actor_role": "pcp",
        "action": Action.READ,
        "resource_type": "message",
        "resource_id": "m1",
        "patient_id": None,
        "outcome": Outcome.SUCCESS,
        "source_ip": "10.0.0.1",
        "user_agent": None,
        "request_id": "r1",
        "reason": "Notfall — ü",
        "detail": {"b": "2", "a": "1"},
        "prev_hash": GENESIS_HASH,
    }


def test_hashed_fields_are_every_column_but_the_hash() -> None:
    """A new column must be a decision: hashed from now on (a new format) or not."""
    assert set(HASHED_FIELDS) == {column.name for column in EVENTS.columns} - {"hash"}


def test_canonical_bytes_are_exactly_this_encoding() -> None:
    """The format is frozen: old events must keep verifying after any upgrade."""
    expected = (
        '{"action":"read","actor_role":"pcp","actor_user_id":null,'
        '"at":"2026-01-02T03:04:05.000006Z","detail":{"a":"1","b":"2"},'
        '"id":"12345678-1234-5678-1234-567812345678",'
        '"organization_id":"0b0b0b0b-0000-4000-8000-000000000001","outcome":"success",'
        '"patient_id":null,"prev_hash":"' + "0" * 64 + '","reason":"Notfall — ü",'
        '"request_id":"r1","resource_id":"m1","resource_type":"message","seq":1,'
        '"source_ip":"10.0.0.1","user_agent":null}'
    )
    assert canonical_bytes(sample_fields()) == expected.encode("utf-8")


def test_canonical_bytes_ignore_key_order_and_the_hash_column() -> None:
    fields = sample_fields()
    shuffled = dict(reversed(list(fields.items())), hash="f" * 64)
    assert canonical_bytes(shuffled) == canonical_bytes(fields)


def test_event_hash_covers_the_previous_hash_and_the_canonical_bytes() -> None:
    fields = sample_fields()
    expected = hashlib.sha256(bytes(32) + canonical_bytes(fields)).hexdigest()
    assert event_hash(GENESIS_HASH, fields) == expected
    assert event_hash("11" * 32, fields) != expected


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param({"at": datetime(2026, 1, 2)}, ValueError, id="naive time"),
        pytest.param({"detail": {"n": 1.5}}, TypeError, id="float"),
        pytest.param({"detail": {1: "x"}}, TypeError, id="non-string key"),
    ],
)
def test_canonical_bytes_refuse_values_without_one_encoding(
    change: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        canonical_bytes({**sample_fields(), **change})


def test_canonical_bytes_refuse_missing_fields() -> None:
    fields = sample_fields()
    del fields["prev_hash"]
    with pytest.raises(ValueError, match="prev_hash"):
        canonical_bytes(fields)


optional_text = st.none() | st.text(max_size=12)
optional_uuid = st.none() | st.uuids()
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "seq": st.integers(1, 2**53),
    "id": st.uuids(),
    "at": st.datetimes(timezones=st.just(UTC)),
    "organization_id": optional_uuid,
    "actor_user_id": optional_uuid,
    "actor_role": optional_text,
    "action": st.sampled_from(Action),
    "resource_type": st.text(max_size=12),
    "resource_id": optional_text,
    "patient_id": optional_uuid,
    "outcome": st.sampled_from(Outcome),
    "source_ip": optional_text,
    "user_agent": optional_text,
    "request_id": optional_text,
    "reason": optional_text,
    "detail": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    "prev_hash": st.binary(min_size=32, max_size=32).map(bytes.hex),
}


def chained(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """Number and chain events as `append` does; returns (fields, hash) pairs."""
    result, prev_hash = [], GENESIS_HASH
    for seq, fields in enumerate(events, start=1):
        fields = {**fields, "seq": seq, "prev_hash": prev_hash}
        prev_hash = event_hash(prev_hash, fields)
        result.append((fields, prev_hash))
    return result


def first_broken(chain: list[tuple[dict[str, Any], str]]) -> int | None:
    prev_hash = GENESIS_HASH
    for index, (fields, stored_hash) in enumerate(chain):
        if fields["prev_hash"] != prev_hash or event_hash(prev_hash, fields) != stored_hash:
            return index
        prev_hash = stored_hash
    return None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.fixed_dictionaries(FIELD_VALUES), min_size=1, max_size=6), st.data())
def test_changing_any_field_of_any_event_changes_its_hash_and_breaks_the_chain_there(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    chain = chained(events)
    assert first_broken(chain) is None
    index = data.draw(st.integers(0, len(chain) - 1), label="event")
    name = data.draw(st.sampled_from(HASHED_FIELDS), label="field")
    fields, stored_hash = chain[index]
    new_value = data.draw(FIELD_VALUES[name].filter(lambda v: v != fields[name]), label="to")
    forged = {**fields, name: new_value}

    assert event_hash(fields["prev_hash"], forged) != stored_hash
    chain[index] = (forged, stored_hash)
    assert first_broken(chain) == index


# ---------------------------------------------------------------------------- appending


async def rows_from(database: Database, first_seq: int) -> list[dict[str, Any]]:
    async with database.transaction() as db:
        rows = await db.execute(select(EVENTS).where(EVENTS.c.seq >= first_seq).order_by("seq"))
        return [dict(row._mapping) for row in rows]


async def test_append_numbers_events_contiguously_and_chains_their_hashes(
    shared_db: Database,
) -> None:
    at = datetime(2026, 11, 28, 15, 0, 1, 654321, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    async with shared_db.transaction() as db:
        first = await append(db, make_records(3, tag="one"), at)
    async with shared_db.transaction() as db:
        second = await append(db, make_records(2, tag="two", reason="break-glass: ER"), at)
        head = await db.get(AuditChainHead, 1)

    events = first + second
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert head is not None
    assert (head.seq, head.hash) == (events[-1].seq, events[-1].hash)
    # What the database gives back hashes to what was stored, on both backends: times
    # (to the microsecond, in UTC), UUIDs and JSON details survive the round trip.
    stored = await rows_from(shared_db, seqs[0])
    assert [row["id"] for row in stored[:5]] == [e.id for e in events]
    chained_to = [events[0].prev_hash] + [e.hash for e in events[:4]]
    for row, before in zip(stored[:5], chained_to, strict=True):
        assert row["prev_hash"] == before
        assert event_hash(row["prev_hash"], row) == row["hash"]
    assert stored[0]["at"] == at
    assert stored[0]["detail"] == {"conversation": "one-c0"}
    assert stored[3]["reason"] == "break-glass: ER"


async def test_append_of_nothing_issues_no_sql(shared_db: Database) -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async with shared_db.transaction() as db:
        event.listen(shared_db.engine.sync_engine, "before_cursor_execute", record)
        try:
            assert await append(db, [], T0) == []
        finally:
            event.remove(shared_db.engine.sync_engine, "before_cursor_execute", record)
    assert statements == []


async def test_append_commits_or_rolls_back_with_the_callers_transaction(
    shared_db: Database,
) -> None:
    async with shared_db.transaction() as db:
        head_before = await db.get(AuditChainHead, 1)
        assert head_before is not None
        seq_before = head_before.seq

    class Refused(Exception):
        pass

    async def append_then_fail() -> None:
        async with shared_db.transaction() as db:
            await append(db, make_records(2), T0)
            raise Refused

    with pytest.raises(Refused):
        await append_then_fail()

    async with shared_db.transaction() as db:
        head_after = await db.get(AuditChainHead, 1)
        assert head_after is not None
        assert head_after.seq == seq_before
        assert await db.scalar(select(EVENTS.c.seq).where(EVENTS.c.seq > seq_before)) is None


@pytest.mark.parametrize(
    ("records", "at", "error", "message"),
    [
        pytest.param(make_records(1), datetime(2026, 11, 28, 9), ValueError, "naive", id="naive"),
        pytest.param(
            make_records(1, user_agent="x" * 257), T0, ValueError, "user_agent", id="long field"
        ),
        pytest.param(
            make_records(1, patient_id=str(PATIENT)), T0, TypeError, "patient_id", id="str uuid"
        ),
        pytest.param(
            [AuditRecord(Action.READ, "message", detail={"n": 1})],  # type: ignore[dict-item]
            T0,
            TypeError,
            "detail",
            id="detail value",
        ),
        pytest.param(
            [AuditRecord("peek", "message")],  # type: ignore[arg-type]
            T0,
            ValueError,
            "peek",
            id="unknown action",
        ),
    ],
)
async def test_append_refuses_bad_records_before_writing(
    shared_db: Database, records: list[AuditRecord], at: datetime, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        async with shared_db.transaction() as db:
            await append(db, records, at)


# ---------------------------------------------------------------------------- triggers


async def test_triggers_refuse_update_and_delete_of_audit_events(shared_db: Database) -> None:
    async with shared_db.transaction() as db:
        [appended] = await append(db, make_records(1, tag="trigger"), T0)
    where = EVENTS.c.seq == appended.seq
    for statement in (
        update(EVENTS).where(where).values(action=Action.DELETE.value),
        update(EVENTS).where(where).values(hash="0" * 64),
        delete(EVENTS).where(where),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with shared_db.transaction() as db:
                await db.execute(statement)
    [row] = await rows_from(shared_db, appended.seq)
    assert (row["action"], row["hash"]) == (Action.READ.value, appended.hash)


async def test_triggers_refuse_update_and_delete_of_checkpoints(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    await seed(audit_db, 2)
    async with audit_db.transaction() as db:
        checkpoint = await create_checkpoint(db, signing_key, KEY_ID, T0)
    table = AuditCheckpoint.__table__
    for statement in (
        update(table).where(table.c.id == checkpoint.id).values(tree_size=1),
        delete(table).where(table.c.id == checkpoint.id),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with audit_db.transaction() as db:
                await db.execute(statement)


async def test_postgresql_refuses_truncate(empty_database_factory: DatabaseFactory) -> None:
    async with private_database(empty_database_factory, "postgresql") as database:
        await seed(database, 2)
        for table in ("audit_events", "audit_checkpoints"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with database.transaction() as db:
                    await db.execute(text(f"TRUNCATE {table}"))
        assert len(await rows_from(database, 1)) == 2


# ---------------------------------------------------------------------------- verify, checkpoints


async def test_verify_passes_an_empty_log_and_an_untampered_one(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    keys = {KEY_ID: signing_key.public_key()}
    async with audit_db.transaction() as db:
        empty = await verify(db, keys)
    assert empty == verify_ok(events=0, checkpoints=0)

    await seed(audit_db, 5)
    async with audit_db.transaction() as db:
        await create_checkpoint(db, signing_key, KEY_ID, T0 + timedelta(minutes=1))
    await seed(audit_db, 4)
    async with audit_db.transaction() as db:
        external = await create_checkpoint(db, signing_key, KEY_ID, T0 + timedelta(minutes=2))
        document = checkpoint_from_document(checkpoint_document(external))
    for batch in (1, 4, 9, 1000):  # pages that end inside, at and beyond the log's end
        async with audit_db.transaction() as db:
            report = await verify(db, keys, external=document, batch=batch)
        assert report == verify_ok(events=9, checkpoints=3), batch


def verify_ok(events: int, checkpoints: int) -> VerifyReport:
    return VerifyReport(
        ok=True,
        events_checked=events,
        head_seq=events,
        checkpoints_checked=checkpoints,
        first_bad_seq=None,
        problem=None,
    )


async def test_checkpoint_signs_the_merkle_root_of_the_event_hashes(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    events = await seed(audit_db, 7)
    at = T0 + timedelta(hours=1)
    async with audit_db.transaction() as db:
        checkpoint = await create_checkpoint(db, signing_key, KEY_ID, at)
    assert checkpoint.tree_size == 7
    assert checkpoint.root_hash == merkle_root([bytes.fromhex(e.hash) for e in events]).hex()
    message = f"huddle-audit-checkpoint/v1\n7\n{checkpoint.root_hash}\n2026-11-28T10:30:15.123456Z"
    signing_key.public_key().verify(bytes.fromhex(checkpoint.signature), message.encode())


async def test_checkpoint_of_an_empty_log_covers_nothing(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    async with audit_db.transaction() as db:
        checkpoint = await create_checkpoint(db, signing_key, KEY_ID, T0)
    assert (checkpoint.tree_size, checkpoint.root_hash) == (0, hashlib.sha256(b"").hexdigest())
    async with audit_db.transaction() as db:
        report = await verify(db, {KEY_ID: signing_key.public_key()})
    assert report.ok, report.problem


async def test_verify_fails_a_checkpoint_under_the_wrong_key_or_an_unknown_key_id(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    await seed(audit_db, 3)
    async with audit_db.transaction() as db:
        checkpoint = await create_checkpoint(db, signing_key, KEY_ID, T0)
    wrong_key = Ed25519PrivateKey.generate().public_key()

    async with audit_db.transaction() as db:
        report = await verify(db, {KEY_ID: wrong_key})
    assert not report.ok
    assert report.problem == f"checkpoint {checkpoint.id} of 3 events has an invalid signature"
    assert (report.events_checked, report.checkpoints_checked) == (3, 0)

    async with audit_db.transaction() as db:
        report = await verify(db, {"another-key": signing_key.public_key()})
    unknown = f"checkpoint {checkpoint.id} is signed with an unknown key ('{KEY_ID}')"
    assert report.problem == unknown


async def test_verify_fails_an_external_checkpoint_whose_root_or_size_was_edited(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    """Editing the file kept outside the database breaks its signature."""
    await seed(audit_db, 4)
    async with audit_db.transaction() as db:
        document = checkpoint_document(await create_checkpoint(db, signing_key, KEY_ID, T0))
    keys = {KEY_ID: signing_key.public_key()}
    for edit in ({"root_hash": "ab" * 32}, {"tree_size": 3}, {"signed_at": "2027-01-01T00:00Z"}):
        forged = checkpoint_from_document({**document, **edit})
        async with audit_db.transaction() as db:
            report = await verify(db, keys, external=forged)
        assert not report.ok
        assert report.problem is not None
        assert report.problem.startswith("the external checkpoint of ")
        assert report.problem.endswith("has an invalid signature")


def test_checkpoint_document_round_trips_through_json(signing_key: Ed25519PrivateKey) -> None:
    original = CheckpointDoc(
        tree_size=12,
        root_hash="ab" * 32,
        signed_at=T0,
        key_id=KEY_ID,
        signature=signing_key.sign(b"x").hex(),
    )
    document = json.loads(json.dumps(checkpoint_document(original)))
    assert document["format"] == "huddle-audit-checkpoint/v1"
    assert document["signed_at"] == "2026-11-28T09:30:15.123456Z"
    assert checkpoint_from_document(document) == original


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"format": "something-else/v1"}, "huddle-audit-checkpoint"),
        ({"tree_size": -1}, "tree_size"),
        ({"tree_size": True}, "tree_size"),
        ({"tree_size": "12"}, "tree_size"),
        ({"root_hash": "AB" * 32}, "root_hash"),
        ({"root_hash": "ab"}, "root_hash"),
        ({"signature": "zz" * 64}, "signature"),
        ({"signed_at": "2026-11-28T09:30:15"}, "signed_at"),
        ({"signed_at": 5}, "signed_at"),
        ({"key_id": ""}, "key_id"),
    ],
)
def test_checkpoint_from_document_names_the_first_bad_field(
    edit: dict[str, object], field: str
) -> None:
    document = {
        "format": "huddle-audit-checkpoint/v1",
        "tree_size": 12,
        "root_hash": "ab" * 32,
        "signed_at": "2026-11-28T09:30:15.123456Z",
        "key_id": KEY_ID,
        "signature": "cd" * 64,
    }
    with pytest.raises(ValueError, match=field):
        checkpoint_from_document({**document, **edit})


async def test_create_checkpoint_refuses_naive_times_and_bad_key_ids(
    shared_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    for at, key_id in ((datetime(2026, 1, 1), KEY_ID), (T0, ""), (T0, "k" * 65)):
        with pytest.raises(ValueError, match=r"naive|key_id"):
            async with shared_db.transaction() as db:
                await create_checkpoint(db, signing_key, key_id, at)


async def test_create_checkpoint_refuses_to_sign_a_log_with_a_deleted_event(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    await seed(audit_db, 5)
    async with as_attacker(audit_db) as db:
        await db.execute(delete(EVENTS).where(EVENTS.c.seq == 2))
    with pytest.raises(ChainBroken, match="no checkpoint was signed"):
        async with audit_db.transaction() as db:
            await create_checkpoint(db, signing_key, KEY_ID, T0)
    async with audit_db.transaction() as db:
        assert await db.scalar(select(AuditCheckpoint.id)) is None


# ---------------------------------------------------------------------------- concurrency


async def test_concurrent_appends_keep_seqs_contiguous(audit_db: Database) -> None:
    """20 transactions of 5 records at once: each gets a block of 5 consecutive seqs."""

    async def append_five(n: int) -> list[int]:
        async with audit_db.transaction() as db:
            await db.execute(select(1))  # the transactions overlap before they queue
            events = await append(db, make_records(5, tag=f"tx{n}"), T0)
            return [e.seq for e in events]

    blocks = await asyncio.gather(*(append_five(n) for n in range(20)))
    for block in blocks:
        assert block == list(range(block[0], block[0] + 5))
    assert sorted(seq for block in blocks for seq in block) == list(range(1, 101))
    async with audit_db.transaction() as db:
        report = await verify(db, {})
    assert report == verify_ok(events=100, checkpoints=0)


@pytest.mark.parametrize("first_in_transaction", [True, False])
async def test_verify_sees_one_consistent_log_while_events_are_appended(
    audit_db: Database, first_in_transaction: bool
) -> None:
    """Events committed while verify streams must not look like events beyond the head,
    whether verify opens its transaction or joins one already under way."""
    await seed(audit_db, 20)

    async def verify_slowly() -> VerifyReport:
        async with audit_db.transaction() as db:
            if not first_in_transaction:
                await db.execute(select(1))
            return await verify(db, {}, batch=1)

    async def append_one(n: int) -> None:
        async with audit_db.transaction() as db:
            await append(db, make_records(1, tag=f"late{n}"), T0)

    report, *_ = await asyncio.gather(verify_slowly(), *(append_one(n) for n in range(10)))
    assert report.ok, report.problem
    async with audit_db.transaction() as db:
        assert (await verify(db, {})).events_checked == 30
