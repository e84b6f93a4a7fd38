"""Verifying the audit chain through the API, in a private database (tampering with the
shared one would break every other test's chain)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from huddle import migrate
from huddle.actor import Role
from huddle.clock import ManualClock
from huddle.config import Settings
from huddle.protect import audit
from huddle.protect.models import AuditEvent
from tests.compliance.factories import AUDIT, create_patient, organization_events, token
from tests.conftest import Server, make_clinic, open_server, with_settings
from tests.protect.conftest import as_attacker
from tests.services import run_sync

VERIFICATION = f"{AUDIT}/verification"


@pytest.fixture
async def private_server(
    settings: Settings, clock: ManualClock, empty_database_factory
) -> AsyncIterator[Server]:  # type: ignore[no-untyped-def]
    """A server on a freshly migrated database of the same backend as `settings`."""
    backend = "postgresql" if settings.database_url.startswith("postgresql") else "sqlite"
    url = empty_database_factory(backend)
    run_sync(migrate.upgrade, url)
    async for opened in open_server(with_settings(settings, database_url=url), clock):
        yield opened


async def test_verification_passes_then_names_the_tampered_event(private_server: Server) -> None:
    server = private_server
    clinic = await make_clinic(server.rt)
    await create_patient(server, clinic)
    headers = await token(server, clinic, Role.COMPLIANCE_OFFICER)

    intact = (await server.client.get(VERIFICATION, headers=headers)).json()
    assert intact["ok"] is True
    assert intact["events_checked"] == intact["head_seq"] > 0
    assert (intact["first_bad_seq"], intact["problem"], intact["latest_checkpoint"]) == (
        None,
        None,
        None,
    )
    checked = (await organization_events(server, clinic))[0]
    assert (checked.resource_type, checked.detail["report"], checked.detail["ok"]) == (
        "audit_log",
        "verification",
        "true",
    )

    key_id, key = server.rt.keyring.audit_signing_key()
    async with server.rt.db.transaction() as db:
        signed = await audit.create_checkpoint(db, key, key_id, server.clock.now())
    with_checkpoint = (await server.client.get(VERIFICATION, headers=headers)).json()
    assert with_checkpoint["ok"] is True
    assert with_checkpoint["checkpoints_checked"] == 1
    assert with_checkpoint["latest_checkpoint"]["tree_size"] == signed.tree_size
    assert with_checkpoint["latest_checkpoint"]["root_hash"] == signed.root_hash
    assert with_checkpoint["latest_checkpoint"]["key_id"] == key_id

    created = next(e for e in await organization_events(server, clinic) if e.action == "create")
    async with as_attacker(server.rt.db) as db:
        await db.execute(
            update(AuditEvent.__table__)
            .where(AuditEvent.__table__.c.seq == created.seq)
            .values(reason="nothing to see")
        )
    tampered = await server.client.get(VERIFICATION, headers=headers)
    assert tampered.status_code == 200
    report = tampered.json()
    assert report["ok"] is False
    assert report["first_bad_seq"] == created.seq
    assert report["events_checked"] == created.seq - 1
    assert f"event {created.seq} was modified" in report["problem"]
    assert set(report) == {
        "ok",
        "events_checked",
        "head_seq",
        "checkpoints_checked",
        "first_bad_seq",
        "problem",
        "latest_checkpoint",
    }
