"""The periodic audit checkpoint: signed when due and the log grew, skipped otherwise."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from huddle import migrate
from huddle.jobs.audit_checkpoints import checkpoint_if_due
from huddle.protect import audit
from huddle.protect.models import AuditCheckpoint
from tests.conftest import Server, make_clinic, open_server, with_settings
from tests.services import run_sync


async def count(server: Server) -> int:
    async with server.rt.db.transaction() as db:
        return await db.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0


async def test_a_checkpoint_is_signed_when_due_and_only_then(
    settings, clock, empty_database_factory
) -> None:  # type: ignore[no-untyped-def]
    url = empty_database_factory("sqlite")  # a log of its own: the shared one keeps growing
    run_sync(migrate.upgrade, url)
    hour = timedelta(hours=1)
    async for server in open_server(with_settings(settings, database_url=url), clock):
        assert not await checkpoint_if_due(server.rt, hour)  # empty log: nothing to sign
        await make_clinic(server.rt)
        assert await checkpoint_if_due(server.rt, hour)
        assert not await checkpoint_if_due(server.rt, hour)  # signed just now
        server.clock.advance(hour + timedelta(seconds=1))
        assert not await checkpoint_if_due(server.rt, hour)  # due, but nothing new
        await make_clinic(server.rt)
        assert await checkpoint_if_due(server.rt, hour)
        assert await count(server) == 2
        report = await _verify(server)
        assert report.ok
        assert report.checkpoints_checked == 2


async def _verify(server: Server) -> audit.VerifyReport:
    async with server.rt.db.transaction() as db:
        return await audit.verify(db, server.rt.keyring.audit_public_keys())
