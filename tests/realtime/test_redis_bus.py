"""The Redis event bus against a real Redis: instances share events, a local publish is
delivered once, only recipients hear an event, and a lost connection is noticed,
reported, repaired, and followed by a resume for every local subscription.

Each test uses a channel of its own, so parallel runs on one Redis never cross. An
outage is made with a TCP forwarder in front of the real Redis that a test can cut and
restore (Redis itself is shared, so it is never stopped); a killed connection with
CLIENT KILL of exactly the bus's own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from huddle.config import Settings
from huddle.events import Event, Subscription
from huddle.redis_bus import RedisBus
from tests.conftest import open_server, with_settings
from tests.services import REDIS_URL, redis_problem, skip_or_fail

pytestmark = pytest.mark.redis

TIMEOUT_SECONDS = 10.0
# Quick retries, so a repaired connection is back within a fraction of a second.
QUICK = {"first_retry_seconds": 0.05, "max_retry_seconds": 0.2}
T = TypeVar("T")


@pytest.fixture
def redis_url() -> str:
    if problem := redis_problem():
        skip_or_fail(problem)
    return REDIS_URL


@pytest.fixture
async def buses(redis_url: str) -> AsyncIterator[Callable[..., Awaitable[RedisBus]]]:
    """Started buses on one channel of this test's own; stopped afterwards."""
    channel = f"huddle-test:{uuid.uuid4().hex}:events"
    started: list[RedisBus] = []

    async def start(url: str = redis_url) -> RedisBus:
        bus = RedisBus(url, channel=channel, **QUICK)
        await bus.start()
        started.append(bus)
        assert bus.connected
        return bus

    yield start
    for bus in started:
        await bus.stop()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, TIMEOUT_SECONDS)


async def next_event(subscription: Subscription) -> Event:
    return await within(subscription.next())


async def cut_off(subscription: Subscription) -> None:
    """Wait until the subscription is told to resume, as a connection hears it."""
    told = asyncio.Event()
    subscription.on_missed = told.set
    if not subscription.missed:
        await within(told.wait())


async def nothing_else_came(
    bus: RedisBus, recipient: uuid.UUID, *subscriptions: Subscription
) -> None:
    """Each subscription's next event is a marker published after everything else by
    `bus`: one publisher's events arrive in order, so nothing else was waiting."""
    await bus.publish([marker := event("typing", recipient)])
    for subscription in subscriptions:
        assert await next_event(subscription) == marker


def event(kind: str, *recipients: uuid.UUID, **payload: Any) -> Event:
    return Event(kind, frozenset(recipients), {"conversation_id": str(uuid.uuid4()), **payload})


class Forwarder:
    """TCP in front of the real Redis: `cut()` drops every connection and refuses new
    ones until `restore()` (same port)."""

    def __init__(self, redis_url: str) -> None:
        target = urlsplit(redis_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 6379)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                _copy(reader, up_writer), _copy(up_reader, writer), return_exceptions=True
            )
        finally:
            for end in (writer, up_writer):
                self._writers.discard(end)
                end.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@pytest.fixture
async def forwarder(redis_url: str) -> AsyncIterator[Forwarder]:
    forwarder = Forwarder(redis_url)
    await forwarder.restore()
    yield forwarder
    with contextlib.suppress(AssertionError):
        await forwarder.cut()


# ------------------------------------------------------------------------------ tests


async def test_instances_share_events_and_only_recipients_receive_them(buses) -> None:  # type: ignore[no-untyped-def]
    a, b = await buses(), await buses()
    alice, bob = uuid.uuid4(), uuid.uuid4()
    alice_on_a, bob_on_a, bob_on_b = a.subscribe(alice), a.subscribe(bob), b.subscribe(bob)

    created = event("message.created", alice, message_id=str(uuid.uuid4()), seq=1, revision=1)
    await b.publish([created])
    assert await next_event(alice_on_a) == created

    typing = event("typing", bob, user_id=str(alice))
    await b.publish([typing])
    # One publisher's events reach a subscriber in order: when Bob's arrives on A,
    # Alice's arrived before it, so had it been offered to Bob it would come first.
    assert await next_event(bob_on_a) == typing
    assert await next_event(bob_on_b) == typing
    await nothing_else_came(b, alice, alice_on_a)
    await nothing_else_came(b, bob, bob_on_a, bob_on_b)


async def test_a_batch_arrives_in_order(buses) -> None:  # type: ignore[no-untyped-def]
    a, b = await buses(), await buses()
    alice = uuid.uuid4()
    alice_on_a = a.subscribe(alice)
    batch = [event("message.created", alice, revision=n) for n in range(1, 6)]
    await b.publish(batch)
    assert [await next_event(alice_on_a) for _ in batch] == batch


async def test_a_local_publish_is_delivered_locally_once(buses) -> None:  # type: ignore[no-untyped-def]
    a, b = await buses(), await buses()
    alice = uuid.uuid4()
    alice_on_a, alice_on_b = a.subscribe(alice), b.subscribe(alice)
    mine = event("message.created", alice, revision=1)
    await a.publish([mine])
    assert await next_event(alice_on_a) == mine
    assert await next_event(alice_on_b) == mine  # it did go through Redis
    # A's own copy reached A's subscriber before B's marker did, and was dropped.
    await nothing_else_came(b, alice, alice_on_a)


async def test_unsubscribed_listeners_receive_nothing(buses) -> None:  # type: ignore[no-untyped-def]
    a, b = await buses(), await buses()
    alice = uuid.uuid4()
    gone, staying = a.subscribe(alice), a.subscribe(alice)
    a.unsubscribe(gone)
    await b.publish([first := event("typing", alice)])
    assert await next_event(staying) == first
    # Delivered to A's subscribers all at once: had `gone` been one, it would be waiting.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(gone.next(), 0.2)


async def test_malformed_messages_are_skipped_and_the_bus_carries_on(buses, admin) -> None:  # type: ignore[no-untyped-def]
    a, b = await buses(), await buses()
    alice = uuid.uuid4()
    alice_on_a = a.subscribe(alice)
    await admin.publish(a.channel, b"not json")
    await admin.publish(
        a.channel, b'{"origin": "x", "type": "typing", "recipients": [], "payload": {}, "v": 99}'
    )
    await b.publish([fine := event("typing", alice)])
    assert await next_event(alice_on_a) == fine
    assert a.connected
    assert a.outages == 0


async def test_a_killed_connection_is_replaced_and_local_listeners_resume(buses, admin) -> None:  # type: ignore[no-untyped-def]
    a, b = await buses(), await buses()
    alice = uuid.uuid4()
    alice_on_a = a.subscribe(alice)
    (connection,) = [
        c for c in await admin.client_list(_type="pubsub") if c["name"] == a.client_name
    ]
    assert await admin.client_kill_filter(_id=connection["id"]) == 1

    # The wake-up comes once A has subscribed again: events may have been missed.
    await cut_off(alice_on_a)
    assert a.outages == 1
    assert a.connected
    assert await a.problem() is None

    fresh = a.subscribe(alice)
    await b.publish([live := event("message.created", alice, revision=2)])
    assert await next_event(fresh) == live
    assert not fresh.missed


async def test_while_redis_is_unreachable_local_delivery_goes_on_and_all_resume_after(  # type: ignore[no-untyped-def]
    buses, forwarder
) -> None:
    a = await buses(forwarder.url)
    alice = uuid.uuid4()
    before = a.subscribe(alice)

    await forwarder.cut()
    await within(a.wait_disconnected())
    assert "event bus" in (await a.problem() or "")
    during = a.subscribe(alice)
    local = event("message.created", alice, revision=3)
    with pytest.raises(RedisError):
        await a.publish([local])  # the caller logs it; the change is committed already
    assert await next_event(before) == local
    assert await next_event(during) == local

    await forwarder.restore()
    await within(a.wait_connected())
    assert await a.problem() is None
    for subscription in (before, during):  # also the one opened during the outage
        await cut_off(subscription)
    assert not a.subscribe(alice).missed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_ready_reports_the_event_bus(settings: Settings, clock, forwarder) -> None:  # type: ignore[no-untyped-def]
    servers = open_server(with_settings(settings, redis_url=forwarder.url), clock)
    async with contextlib.aclosing(servers):
        server = await anext(servers)
        bus = server.rt.events
        assert isinstance(bus, RedisBus)
        ready = await server.client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["events"] == "redis"

        await forwarder.cut()
        await within(bus.wait_disconnected())
        refused = await server.client.get("/ready")
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "not_ready"
        assert "event bus" in refused.json()["error"]["detail"]

        await forwarder.restore()
        await within(bus.wait_connected())
        assert (await server.client.get("/ready")).status_code == 200
        with contextlib.suppress(StopAsyncIteration):
            await anext(servers)  # shut the app down
    assert (await bus.problem() or "").endswith("not running.")
