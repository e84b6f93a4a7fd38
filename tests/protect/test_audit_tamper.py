"""An attacker with database admin rights turns the triggers off and rewrites the audit
log; `verify` must notice and name the first bad event. Each test has a private database
(SQLite and PostgreSQL), since the shared one's chain must stay intact."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from huddle.db import Database
from huddle.protect.audit import (
    GENESIS_HASH,
    CheckpointDoc,
    VerifyReport,
    checkpoint_document,
    checkpoint_from_document,
    create_checkpoint,
    event_hash,
    verify,
)
from huddle.protect.models import AuditChainHead, AuditCheckpoint, AuditEvent
from tests.protect.conftest import KEY_ID, T0, as_attacker, seed

EVENTS = AuditEvent.__table__
HEAD = AuditChainHead.__table__
CHECKPOINTS = AuditCheckpoint.__table__
Row = dict[str, Any]


async def verify_log(
    database: Database,
    signing_key: Ed25519PrivateKey | None = None,
    external: CheckpointDoc | None = None,
) -> VerifyReport:
    keys = {KEY_ID: signing_key.public_key()} if signing_key else {}
    async with database.transaction() as db:
        # A small batch, so problems straddle the keyset pages.
        return await verify(db, keys, external=external, batch=3)


async def all_events(db: AsyncSession) -> list[Row]:
    return [dict(row._mapping) for row in await db.execute(select(EVENTS).order_by("seq"))]


async def replace_rows(db: AsyncSession, *rows: Row) -> None:
    """Put `rows` in at their seqs, deleting whatever was there (ids stay unique)."""
    await db.execute(delete(EVENTS).where(EVENTS.c.seq.in_([row["seq"] for row in rows])))
    await db.execute(insert(EVENTS), list(rows))


def rehashed(row: Row) -> Row:
    """`row` with a hash matching its (changed) content, as the attacker can compute."""
    return {**row, "hash": event_hash(row["prev_hash"], row)}


async def rewrite_history(db: AsyncSession, events: list[Row], from_seq: int) -> None:
    """Renumber and re-chain `events` from `from_seq` on and move the head to match:
    a forgery no hash in the database can reveal."""
    await db.execute(delete(EVENTS).where(EVENTS.c.seq >= from_seq))
    prev_hash, rewritten = GENESIS_HASH, []
    for seq, row in enumerate(events, start=1):
        if seq >= from_seq:
            row = rehashed({**row, "seq": seq, "prev_hash": prev_hash})
            rewritten.append(row)
        prev_hash = row["hash"]
    await db.execute(insert(EVENTS), rewritten)
    await db.execute(update(HEAD).values(seq=len(events), hash=prev_hash))


def assert_problem(
    report: VerifyReport, first_bad_seq: int | None, problem: str, events_checked: int
) -> None:
    assert not report.ok
    assert report.problem == problem
    assert report.first_bad_seq == first_bad_seq
    assert report.events_checked == events_checked


# ---------------------------------------------------------------------------- the chain


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"action": "delete"}, id="action"),
        pytest.param({"detail": {"conversation": "another"}}, id="detail"),
        pytest.param({"at": T0 + timedelta(days=1)}, id="time"),
        pytest.param({"prev_hash": "ab" * 32}, id="prev_hash"),
        pytest.param({"hash": "ab" * 32}, id="hash"),
    ],
)
async def test_a_modified_event_is_named(audit_db: Database, change: Row) -> None:
    await seed(audit_db, 10)
    async with as_attacker(audit_db) as db:
        await db.execute(update(EVENTS).where(EVENTS.c.seq == 4).values(**change))
    report = await verify_log(audit_db)
    assert_problem(report, 4, "event 4 was modified (its hash does not match its content)", 3)
    assert report.head_seq == 10


async def test_of_two_modified_events_the_first_is_named(audit_db: Database) -> None:
    await seed(audit_db, 10)
    async with as_attacker(audit_db) as db:
        for seq in (8, 3):
            await db.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(reason="x"))
    report = await verify_log(audit_db)
    assert_problem(report, 3, "event 3 was modified (its hash does not match its content)", 2)


@pytest.mark.parametrize(
    ("deleted", "problem"),
    [
        ([5], "event 5 is missing (deleted): the chain jumps from 4 to 6"),
        ([5, 6, 7], "events 5 to 7 are missing (deleted): the chain jumps from 4 to 8"),
        ([1], "event 1 is missing (deleted): the log starts at 2"),
    ],
)
async def test_a_deleted_event_is_named(
    audit_db: Database, deleted: list[int], problem: str
) -> None:
    await seed(audit_db, 10)
    async with as_attacker(audit_db) as db:
        await db.execute(delete(EVENTS).where(EVENTS.c.seq.in_(deleted)))
    report = await verify_log(audit_db)
    assert_problem(report, deleted[0], problem, deleted[0] - 1)


def swap_whole_rows(third: Row, sixth: Row) -> tuple[Row, Row]:
    return {**sixth, "seq": 3}, {**third, "seq": 6}


def swap_content_keep_hashes(third: Row, sixth: Row) -> tuple[Row, Row]:
    kept = ("seq", "prev_hash", "hash")
    return (
        {**sixth, **{name: third[name] for name in kept}},
        {**third, **{name: sixth[name] for name in kept}},
    )


def swap_and_rehash(third: Row, sixth: Row) -> tuple[Row, Row]:
    return rehashed({**sixth, "seq": 3}), rehashed({**third, "seq": 6})


MODIFIED_3 = "event 3 was modified (its hash does not match its content)"
OUT_OF_PLACE_3 = "event 3 is out of place: it is not chained to event 2 (reordered or replaced)"


@pytest.mark.parametrize(
    ("swap", "problem"),
    [
        pytest.param(swap_whole_rows, MODIFIED_3, id="whole rows"),
        pytest.param(swap_content_keep_hashes, MODIFIED_3, id="content only"),
        pytest.param(swap_and_rehash, OUT_OF_PLACE_3, id="rehashed for their new seqs"),
    ],
)
async def test_reordered_events_are_named(
    audit_db: Database, swap: Callable[[Row, Row], tuple[Row, Row]], problem: str
) -> None:
    await seed(audit_db, 10)
    async with as_attacker(audit_db) as db:
        events = await all_events(db)
        await replace_rows(db, *swap(events[2], events[5]))
    report = await verify_log(audit_db)
    assert_problem(report, 3, problem, 2)


@pytest.mark.parametrize(
    ("seq", "problem"),
    [
        pytest.param(5, "event 5 was replaced (event 6 is chained to another hash)", id="middle"),
        pytest.param(9, "event 9 was replaced (event 10 is chained to another hash)", id="9 of 10"),
        pytest.param(10, "event 10 was replaced (the head's hash is not its hash)", id="last"),
    ],
)
async def test_a_replaced_event_is_named_though_its_own_hash_is_right(
    audit_db: Database, seq: int, problem: str
) -> None:
    """The attacker swaps in a forged event with a correct hash of its own but leaves
    the rest of the chain alone."""
    await seed(audit_db, 10)
    async with as_attacker(audit_db) as db:
        original = (await all_events(db))[seq - 1]
        forged = rehashed({**original, "id": uuid.uuid4(), "action": "export"})
        await replace_rows(db, forged)
    report = await verify_log(audit_db)
    assert_problem(report, seq, problem, seq - 1)


@pytest.mark.parametrize(
    ("seq", "problem"),
    [
        pytest.param(11, "event 11 lies beyond the head (10): inserted", id="after the head"),
        pytest.param(0, "event 0 is not part of the chain, which starts at 1", id="before 1"),
    ],
)
async def test_an_event_inserted_outside_the_chain_is_named(
    audit_db: Database, seq: int, problem: str
) -> None:
    await seed(audit_db, 10)
    async with as_attacker(audit_db) as db:
        last = (await all_events(db))[-1]
        forged = rehashed({**last, "seq": seq, "id": uuid.uuid4(), "prev_hash": last["hash"]})
        await db.execute(insert(EVENTS).values(forged))
    report = await verify_log(audit_db)
    assert_problem(report, seq, problem, max(0, min(10, seq - 1)))


async def test_a_truncated_tail_is_named(audit_db: Database) -> None:
    await seed(audit_db, 10)
    async with as_attacker(audit_db) as db:
        await db.execute(delete(EVENTS).where(EVENTS.c.seq >= 8))
    report = await verify_log(audit_db)
    assert_problem(report, 8, "events after 7 are missing: the head says 10 (truncated)", 7)


# ---------------------------------------------------------------------------- checkpoints


async def signed_checkpoint(database: Database, signing_key: Ed25519PrivateKey) -> CheckpointDoc:
    """Sign a checkpoint of the whole log and keep a copy outside the database."""
    async with database.transaction() as db:
        stored = await create_checkpoint(db, signing_key, KEY_ID, T0 + timedelta(hours=1))
    return checkpoint_from_document(checkpoint_document(stored))


async def delete_checkpoints(database: Database) -> None:
    async with as_attacker(database) as db:
        await db.execute(delete(CHECKPOINTS))


async def stored_checkpoint_ids(database: Database) -> list[int]:
    async with database.transaction() as db:
        return list(await db.scalars(select(CHECKPOINTS.c.id).order_by("tree_size")))


async def test_truncation_with_the_head_moved_back_is_caught_by_a_checkpoint(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    await seed(audit_db, 10)
    external = await signed_checkpoint(audit_db, signing_key)
    [checkpoint_id] = await stored_checkpoint_ids(audit_db)
    async with as_attacker(audit_db) as db:
        seventh = (await all_events(db))[6]
        await db.execute(delete(EVENTS).where(EVENTS.c.seq >= 8))
        await db.execute(update(HEAD).values(seq=7, hash=seventh["hash"]))

    report = await verify_log(audit_db, signing_key)
    problem = f"checkpoint {checkpoint_id} covers 10 events but the log has only 7 (truncated)"
    assert_problem(report, 8, problem, 7)
    assert report.head_seq == 7

    # With the stored checkpoints gone too, the database alone looks whole...
    await delete_checkpoints(audit_db)
    assert (await verify_log(audit_db, signing_key)).ok
    # ...but not next to the checkpoint kept outside it.
    report = await verify_log(audit_db, signing_key, external=external)
    problem = "the external checkpoint covers 10 events but the log has only 7 (truncated)"
    assert_problem(report, 8, problem, 7)


def modify_sixth(events: list[Row]) -> list[Row]:
    return [*events[:5], {**events[5], "action": "export", "reason": "routine"}, *events[6:]]


def insert_before_sixth(events: list[Row]) -> list[Row]:
    forged = {**events[5], "id": uuid.uuid4(), "patient_id": uuid.uuid4()}
    return [*events[:5], forged, *events[5:]]


@pytest.mark.parametrize("forge", [modify_sixth, insert_before_sixth])
async def test_a_rechained_forgery_is_caught_only_by_a_checkpoint(
    audit_db: Database, signing_key: Ed25519PrivateKey, forge: Callable[[list[Row]], list[Row]]
) -> None:
    """The attacker edits or inserts event 6, re-chains every later event and moves the
    head: the chain checks out, and only a signed checkpoint covering event 6 can tell."""
    await seed(audit_db, 4)
    await signed_checkpoint(audit_db, signing_key)  # before the forgery: stays valid
    await seed(audit_db, 6)
    external = await signed_checkpoint(audit_db, signing_key)
    _, covering_id = await stored_checkpoint_ids(audit_db)
    async with as_attacker(audit_db) as db:
        await rewrite_history(db, forge(await all_events(db)), from_seq=6)

    report = await verify_log(audit_db, signing_key)
    problem = f"checkpoint {covering_id} of 10 events does not match the log (history rewritten)"
    assert_problem(report, None, problem, report.head_seq)
    assert report.checkpoints_checked == 1  # the one of 4 events still matches

    await delete_checkpoints(audit_db)
    assert (await verify_log(audit_db, signing_key)).ok  # the chain alone checks out
    report = await verify_log(audit_db, signing_key, external=external)
    problem = "the external checkpoint of 10 events does not match the log (history rewritten)"
    assert_problem(report, None, problem, report.head_seq)


async def test_a_checkpoint_forged_for_the_rewritten_log_fails_its_signature(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    """Covering tracks with a fresh checkpoint needs the signing key, kept elsewhere."""
    await seed(audit_db, 10)
    await signed_checkpoint(audit_db, signing_key)
    async with as_attacker(audit_db) as db:
        await rewrite_history(db, modify_sixth(await all_events(db)), from_seq=6)
        await db.execute(delete(CHECKPOINTS))
    async with audit_db.transaction() as db:
        await create_checkpoint(db, Ed25519PrivateKey.generate(), KEY_ID, T0)
    [forged_id] = await stored_checkpoint_ids(audit_db)

    report = await verify_log(audit_db, signing_key)
    problem = f"checkpoint {forged_id} of 10 events has an invalid signature"
    assert_problem(report, None, problem, 10)


async def test_a_stored_checkpoint_with_an_edited_root_fails_its_signature(
    audit_db: Database, signing_key: Ed25519PrivateKey
) -> None:
    await seed(audit_db, 5)
    await signed_checkpoint(audit_db, signing_key)
    [checkpoint_id] = await stored_checkpoint_ids(audit_db)
    async with as_attacker(audit_db) as db:
        await db.execute(update(CHECKPOINTS).values(root_hash="ab" * 32))
    report = await verify_log(audit_db, signing_key)
    problem = f"checkpoint {checkpoint_id} of 5 events has an invalid signature"
    assert_problem(report, None, problem, 5)
