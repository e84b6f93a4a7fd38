"""Audit-log fixtures: a private migrated database per test (the audit chain is global,
so tests that tamper or count from seq 1 must not share one), the shared one, records
and signing keys."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from huddle import migrate
from huddle.db import Database
from huddle.protect.audit import Action, AuditEvent, AuditRecord, Outcome, append
from tests.services import run_sync

T0 = datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC)
KEY_ID = "audit-test-1"
ORGANIZATION = uuid.UUID("0b0b0b0b-0000-4000-8000-000000000001")
PATIENT = uuid.UUID("0c0c0c0c-0000-4000-8000-000000000002")
ACTOR = uuid.UUID("0d0d0d0d-0000-4000-8000-000000000003")

DatabaseFactory = Callable[[str], str]


@asynccontextmanager
async def private_database(factory: DatabaseFactory, backend: str) -> AsyncIterator[Database]:
    """A freshly migrated database of `backend` that only this test uses."""
    url = factory(backend)
    run_sync(migrate.upgrade, url)
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def audit_db(
    request: pytest.FixtureRequest, empty_database_factory: DatabaseFactory
) -> AsyncIterator[Database]:
    """A private database, once per backend: its audit log starts empty at seq 1."""
    async with private_database(empty_database_factory, request.param) as database:
        yield database


@pytest.fixture
async def shared_db(database_url: str) -> AsyncIterator[Database]:
    """The session's shared database (other tests append to its audit log too)."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def make_records(count: int, tag: str = "r", **fields: object) -> list[AuditRecord]:
    """`count` records of a clinician reading a patient's messages."""
    base: dict[str, object] = {
        "action": Action.READ,
        "resource_type": "message",
        "outcome": Outcome.SUCCESS,
        "organization_id": ORGANIZATION,
        "actor_user_id": ACTOR,
        "actor_role": "pcp",
        "patient_id": PATIENT,
        "source_ip": "10.1.2.3",
        "user_agent": "pytest",
    }
    return [
        AuditRecord(
            **{  # type: ignore[arg-type]
                **base,
                "resource_id": f"{tag}-{i}",
                "request_id": f"{tag}-request-{i}",
                "detail": {"conversation": f"{tag}-c{i}"},
                **fields,
            }
        )
        for i in range(count)
    ]


async def seed(database: Database, count: int, per_append: int = 3) -> list[AuditEvent]:
    """Append `count` events, `per_append` per transaction, a second apart."""
    events: list[AuditEvent] = []
    for start in range(0, count, per_append):
        size = min(per_append, count - start)
        async with database.transaction() as db:
            at = T0 + timedelta(seconds=start)
            events += await append(db, make_records(size, tag=f"e{start}"), at)
    return events


AUDIT_TABLES = ("audit_events", "audit_checkpoints")


@asynccontextmanager
async def as_attacker(database: Database) -> AsyncIterator[AsyncSession]:
    """A transaction of someone with database admin rights: the append-only triggers
    are off inside it and back on when it commits, as a careful attacker leaves them."""
    async with database.transaction() as db:
        if db.get_bind().dialect.name == "postgresql":
            for table in AUDIT_TABLES:
                await db.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield db
            for table in AUDIT_TABLES:
                await db.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:
            triggers = (
                await db.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                        "AND tbl_name IN ('audit_events', 'audit_checkpoints')"
                    )
                )
            ).all()
            for name, _ in triggers:
                await db.execute(text(f"DROP TRIGGER {name}"))
            yield db
            for _, sql in triggers:
                await db.execute(text(sql))
