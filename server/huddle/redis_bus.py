"""The event bus across instances: one Redis pub/sub channel, fanned out in each process.

Every process holds ONE long-lived subscription to the channel and routes what arrives
to its own sockets through a `MemoryBus`, so a socket opening or closing touches no
Redis state (no per-user channels, no keys left behind). An event published here is
delivered to this process's sockets at once and sent to Redis tagged with this
process's `origin`; the copy that comes back from Redis is dropped, so each local
socket gets it exactly once.

Redis is only the fast path. If the subscription breaks, the subscriber logs it (no
PHI: events carry ids and cursors, never content, and are never logged), `/ready`
reports it, and it reconnects with backoff. Events published elsewhere meanwhile are
lost to this process, so on every (re)subscribe each local subscription is cut off:
its socket closes with 4408 and the client resumes from the database.

Why `redis.asyncio` directly rather than Litestar channels' `RedisChannelsPubSubBackend`:
that backend relies on redis-py's silent reconnect-and-resubscribe, so an outage leaves
no trace (nobody learns that events were missed, nothing tells sockets to resume), and
the plugin's worker that drives it dies on the first broker error (DESIGN §9). Owning
the loop lets us refuse silent reconnects (retries=0 on the subscriber), notice a dead
connection (PING when idle), reconnect with backoff, and report all of it in `/ready`,
in about the code the backend's adapter would have needed anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from huddle.events import SUBSCRIBER_BUFFER, Event, MemoryBus, Subscription, Watcher

log = logging.getLogger("huddle.events")

# Pub/sub channels are global to a Redis server (not per database number): deployments
# sharing one Redis share this channel. Harmless (others' events find no subscribers)
# but wasteful; give each deployment its own Redis.
CHANNEL = "huddle:events"
WIRE_VERSION = 1
# Failed reconnect attempts between two log lines while Redis stays down.
LOG_EVERY_FAILURES = 30


class WireEvent(msgspec.Struct, frozen=True):
    """An event as JSON on the channel: ids and cursors only, never content."""

    origin: str
    type: str
    recipients: list[uuid.UUID]
    payload: dict[str, Any]
    v: int = WIRE_VERSION


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(WireEvent).decode


class RedisBus:
    """An EventBus shared by every instance subscribed to the same Redis channel.

    Until `start()` (and after `stop()`) it delivers within this process only, as CLI
    commands need. `publish` raises RedisError when Redis cannot take the events (local
    delivery has happened by then); the caller logs it and moves on.
    """

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        first_retry_seconds: float = 0.1,
        max_retry_seconds: float = 2.0,
        ping_after_idle_seconds: float = 5.0,
        dead_after_silent_seconds: float = 15.0,
        timeout_seconds: float = 2.0,
        buffer: int = SUBSCRIBER_BUFFER,
    ) -> None:
        self.url = url
        self.channel = channel
        self.origin = uuid.uuid4().hex
        # Shown by CLIENT LIST, so operators (and tests) can tell our connections apart.
        self.client_name = f"huddle-events-{self.origin[:12]}"
        self.outages = 0
        self._local = MemoryBus(buffer)
        self._first_retry = first_retry_seconds
        self._max_retry = max_retry_seconds
        self._ping_after = ping_after_idle_seconds
        self._dead_after = dead_after_silent_seconds
        self._timeout = timeout_seconds
        self._publisher: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._up = asyncio.Event()
        self._down = asyncio.Event()
        self._down.set()
        self._attempted = asyncio.Event()

    # ------------------------------------------------------------------ EventBus

    async def publish(self, events: Sequence[Event]) -> None:
        self._local.deliver(events)  # our own copy from Redis is dropped in _receive
        if self._publisher is None or not events:
            return
        frames = [
            _encode(WireEvent(self.origin, e.type, list(e.recipients), e.payload)) for e in events
        ]
        if len(frames) == 1:
            await self._publisher.publish(self.channel, frames[0])
            return
        async with self._publisher.pipeline(transaction=False) as pipe:
            for frame in frames:
                pipe.publish(self.channel, frame)
            await pipe.execute()

    def subscribe(self, user_id: uuid.UUID) -> Subscription:
        return self._local.subscribe(user_id)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._local.unsubscribe(subscription)

    def watch(self, watcher: Watcher) -> None:
        self._local.watch(watcher)

    async def start(self) -> None:
        """Start the subscriber; wait (briefly) for its first attempt, so a server with
        Redis at hand is subscribed before it takes its first connection."""
        if self._task is not None:
            return
        self._attempted.clear()
        self._publisher = self._client(retries=1)  # once more at once: a stale pooled socket
        self._task = asyncio.create_task(self._listen_forever(), name="huddle-event-bus")
        self._task.add_done_callback(self._on_subscriber_done)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attempted.wait(), 2 * self._timeout)
        if not self.connected:
            log.warning("event bus: starting without Redis; /ready says so until it connects")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._set_connected(False)
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            await publisher.aclose()

    async def problem(self) -> str | None:
        if self._task is None or self._task.done() or self._publisher is None:
            return "The event bus (Redis) subscriber is not running."
        if not self.connected:
            return "The event bus is not subscribed to Redis; it is reconnecting."
        try:
            await asyncio.wait_for(self._publisher.ping(), self._timeout)
        except (RedisError, OSError, TimeoutError):
            return "The event bus cannot reach Redis."
        return None

    # ------------------------------------------------------------ state, for probes

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    async def wait_connected(self) -> None:
        await self._up.wait()

    async def wait_disconnected(self) -> None:
        await self._down.wait()

    def _set_connected(self, connected: bool) -> None:
        (self._up if connected else self._down).set()
        (self._down if connected else self._up).clear()

    # ---------------------------------------------------------------- subscriber

    def _client(self, *, retries: int) -> Redis:
        return Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), retries),
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
            client_name=self.client_name,
        )

    async def _listen_forever(self) -> None:
        """Subscribe, listen, and on any failure reconnect with backoff; never return."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lost(exc)
            finally:
                self._attempted.set()
            await asyncio.sleep(self._retry_delay())

    async def _listen_once(self) -> None:
        # No silent retries: redis-py would reconnect and resubscribe behind our back,
        # and we would never learn that events were missed meanwhile.
        client = self._client(retries=0)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            confirmation = await pubsub.get_message(timeout=self._timeout)
            if not confirmation or confirmation["type"] != "subscribe":
                raise RedisError("no subscribe confirmation")
            self._subscribed()
            await self._receive_until_broken(pubsub)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def _receive_until_broken(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        last_heard = loop.time()
        while True:
            message = await pubsub.get_message(timeout=self._ping_after)
            now = loop.time()
            if message is None:
                # A half-open connection reads nothing forever: ask, and give up if no
                # answer (pong or event) comes in time.
                if now - last_heard > self._dead_after:
                    raise RedisError("Redis stopped answering")
                await pubsub.ping()
                continue
            last_heard = now
            if message["type"] == "message":
                self._receive(message["data"])

    def _receive(self, data: bytes) -> None:
        try:
            wire = _decode(data)
        except msgspec.DecodeError:
            log.warning("event bus: skipped a malformed message (%d bytes)", len(data))
            return
        if wire.v != WIRE_VERSION:
            log.warning("event bus: skipped a message of wire version %s", wire.v)
            return
        if wire.origin == self.origin:
            return  # delivered locally when it was published
        self._local.deliver([Event(wire.type, frozenset(wire.recipients), wire.payload)])

    def _subscribed(self) -> None:
        # Anything published while we were not subscribed is lost to this process: every
        # local socket (also those opened during the outage) must resume.
        self._set_connected(True)
        self._attempted.set()
        resumed = self._local.cut_off_all()
        if self._failures or resumed:
            log.info("event bus: subscribed to Redis again; %d sockets told to resume", resumed)
        self._failures = 0

    def _lost(self, exc: Exception) -> None:
        was_connected = self.connected
        self._set_connected(False)
        self.outages += was_connected
        self._failures += 1
        if isinstance(exc, RedisError | OSError):
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            if was_connected or self._failures % LOG_EVERY_FAILURES == 1:
                log.warning(
                    "event bus: no Redis subscription (%s); real-time delivery across "
                    "instances paused, reconnecting (attempt %d)",
                    reason,
                    self._failures,
                )
        else:
            log.error("event bus: subscriber failed; reconnecting", exc_info=exc)

    def _retry_delay(self) -> float:
        base = min(self._max_retry, self._first_retry * 2 ** max(0, self._failures - 1))
        # Jitter, so N instances do not reconnect in lockstep after an outage.
        return base * random.uniform(0.5, 1.0)

    def _on_subscriber_done(self, task: asyncio.Task[None]) -> None:
        self._set_connected(False)
        if not task.cancelled() and task.exception() is not None:
            log.error("event bus: subscriber stopped", exc_info=task.exception())
