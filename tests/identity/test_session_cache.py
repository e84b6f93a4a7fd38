"""The session cache (identity/session_cache.py): a request may skip the database check
of its session for a moment, yet a session ended anywhere stops working everywhere at
once, and one ended behind the bus's back stops within RECHECK.

Two app instances share the database and a real Redis, as two `huddle serve` processes
do. The clock is frozen unless a test moves it, so the cache's own expiry never rescues
a test that should fail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from huddle.actor import Role
from huddle.clock import ManualClock
from huddle.config import Settings
from huddle.events import Event, MemoryBus
from huddle.identity.models import AuthSession
from huddle.identity.session_cache import RECHECK, SESSION_ENDED, CheckedSession, SessionCache
from tests.conftest import Clinic, Server, bearer, make_clinic, open_server, sign_in, with_settings
from tests.services import REDIS_URL, redis_problem, skip_or_fail

pytestmark = pytest.mark.redis

PROPAGATION_SECONDS = 5.0


@pytest.fixture
async def two_instances(settings: Settings, clock: ManualClock) -> AsyncIterator[list[Server]]:
    if problem := redis_problem():
        skip_or_fail(problem)
    shared = with_settings(settings, redis_url=REDIS_URL)
    async for first in open_server(shared, clock):
        async for second in open_server(shared, clock):
            yield [first, second]


async def me(server: Server, token: str) -> httpx.Response:
    return await server.client.get("/api/v1/me", headers=bearer(token))


async def refused_within(server: Server, token: str, seconds: float) -> httpx.Response:
    """Ask until the token is refused (events cross Redis asynchronously)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await me(server, token)
        if response.status_code != 200 or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.02)


async def test_a_logout_on_one_instance_ends_the_session_on_the_other(two_instances) -> None:  # type: ignore[no-untyped-def]
    first, second = two_instances
    clinic: Clinic = await make_clinic(first.rt)
    token = (await sign_in(first.client, clinic.email(Role.PCP)))["access_token"]
    assert (await me(second, token)).status_code == 200  # now in the second's cache

    logout = await first.client.post("/api/v1/auth/logout", headers=bearer(token))
    assert logout.status_code == 204

    refused = await refused_within(second, token, PROPAGATION_SECONDS)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "session_revoked"


async def test_a_deactivated_user_is_refused_at_once_on_the_same_instance(server: Server) -> None:
    clinic = await make_clinic(server.rt)
    token = (await sign_in(server.client, clinic.email(Role.CARE_MANAGER)))["access_token"]
    admin = (await sign_in(server.client, clinic.email(Role.ADMIN)))["access_token"]
    assert (await me(server, token)).status_code == 200
    user_id = (await me(server, token)).json()["user"]["id"]

    deactivated = await server.client.post(
        f"/api/v1/users/{user_id}/deactivate", headers=bearer(admin)
    )
    assert deactivated.status_code == 200, deactivated.text

    assert (await me(server, token)).status_code == 401


async def test_a_session_ended_behind_the_bus_stops_working_within_the_recheck(
    server: Server,
) -> None:
    """A change no event announces (here: a row revoked by hand) is seen once the cached
    check is RECHECK old."""
    clinic = await make_clinic(server.rt)
    token = (await sign_in(server.client, clinic.email(Role.PCP)))["access_token"]
    user_id = uuid.UUID((await me(server, token)).json()["user"]["id"])
    async with server.rt.db.transaction() as db:
        await db.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id)
            .values(revoked_at=server.clock.now(), revoked_reason="test")
        )

    assert (await me(server, token)).status_code == 200  # still the cached check
    server.clock.advance(RECHECK)
    refused = await me(server, token)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "session_revoked"


def checked(session_id: uuid.UUID, now: datetime) -> CheckedSession:
    return CheckedSession(
        session_id=session_id,
        user_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        role=Role.PCP,
        patient_id=None,
        needs_mfa_enrolment=False,
        expires_at=now + timedelta(hours=1),
        last_seen_at=now,
        checked_at=now,
    )


def test_a_check_in_flight_when_a_session_ends_is_not_remembered() -> None:
    """The database said 'good', but a session ended before the answer was stored: the
    answer may be the ended session's, so the next request checks again."""
    cache, now = SessionCache(), datetime.now(UTC)
    entry = checked(uuid.uuid4(), now)
    started = cache.epoch
    cache.notice(Event(SESSION_ENDED, frozenset(), {"session_id": str(entry.session_id)}))
    cache.remember(entry, checked_in_epoch=started)
    assert cache.fresh(entry.session_id, entry.user_id, now) is None
    cache.remember(entry, checked_in_epoch=cache.epoch)
    assert cache.fresh(entry.session_id, entry.user_id, now) == entry


async def test_a_failing_watcher_does_not_stop_delivery() -> None:
    bus, user = MemoryBus(), uuid.uuid4()
    bus.watch(SessionCache())
    subscription = bus.subscribe(user)
    odd = Event(SESSION_ENDED, frozenset({user}), {"session_id": "not-a-uuid"})
    bus.deliver([odd])
    assert await asyncio.wait_for(subscription.next(), 10) == odd
