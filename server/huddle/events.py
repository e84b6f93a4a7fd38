"""The event bus: what changed, for whom, published only after the change committed.

The bus is the fast path for real-time delivery, never the record: a subscriber that
falls behind is cut off (its queue is bounded) and catches up from the database when it
resumes. `MemoryBus` serves one process; `huddle.redis_bus.RedisBus` shares events
between several (it feeds what other instances publish into a `MemoryBus` of its own).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("huddle.events")

# Events held for one listener before it counts as too slow (HUDDLE_WS_EVENT_BUFFER).
SUBSCRIBER_BUFFER = 1000


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    recipients: frozenset[uuid.UUID]
    payload: dict[str, Any]


@dataclass(eq=False, slots=True)
class Subscription:
    """One listener's bounded buffer of events. `missed` is set once events were
    dropped (the buffer was full, or the bus lost its broker): the listener must stop
    and resume from the database. `on_missed` is called at that moment, so a listener
    stuck writing to a client that stopped reading learns of it at once.

    The buffer is a deque made when an event arrives and dropped when it is read
    empty: thousands of idle sockets hold none (an asyncio.Queue is four deques)."""

    user_id: uuid.UUID
    buffer: int = SUBSCRIBER_BUFFER
    missed: bool = False
    on_missed: Callable[[], None] | None = None
    _events: deque[Event] | None = None
    _arrived: asyncio.Future[None] | None = None

    def offer(self, event: Event) -> None:
        if self._events is None:
            self._events = deque()
        if len(self._events) >= self.buffer:
            self.cut_off()
            return
        self._events.append(event)
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    async def next(self) -> Event:
        """The oldest event not yet read, waiting for one if there is none."""
        while not self._events:
            self._arrived = asyncio.get_running_loop().create_future()
            try:
                await self._arrived
            finally:
                self._arrived = None
        event = self._events.popleft()
        if not self._events:
            self._events = None
        return event

    def cut_off(self) -> None:
        """Events were (or may have been) missed: the listener must resume."""
        if self.missed:
            return
        self.missed = True
        if self.on_missed is not None:
            self.on_missed()


class Watcher(Protocol):
    """Sees every event this process receives, whoever it is for (a cache that must
    drop what an event makes stale), and hears when events may have been lost."""

    def notice(self, event: Event) -> None: ...

    def missed(self) -> None: ...


class EventBus(Protocol):
    @property
    def kind(self) -> str:
        """`memory` or `redis`, for /ready."""
        ...

    async def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, user_id: uuid.UUID) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...

    def watch(self, watcher: Watcher) -> None: ...

    async def start(self) -> None:
        """Begin receiving other instances' events (the server's startup hook)."""
        ...

    async def stop(self) -> None: ...

    async def problem(self) -> str | None:
        """None when real-time delivery works, else why not (no PHI), for /ready."""
        ...


class MemoryBus:
    """In-process fan-out to each recipient's subscriptions."""

    kind = "memory"

    def __init__(self, buffer: int = SUBSCRIBER_BUFFER) -> None:
        self._buffer = buffer
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self._watchers: list[Watcher] = []

    async def publish(self, events: Sequence[Event]) -> None:
        self.deliver(events)

    def deliver(self, events: Sequence[Event]) -> None:
        """Offer each event to its recipients' subscriptions in this process."""
        for event in events:
            for watcher in self._watchers:
                try:
                    watcher.notice(event)
                except Exception:  # one odd event must not stop delivery to everyone
                    log.exception("event watcher failed on a %s event", event.type)
            for user_id in event.recipients:
                for subscription in self._subscriptions.get(user_id, ()):
                    subscription.offer(event)

    def subscribe(self, user_id: uuid.UUID) -> Subscription:
        subscription = Subscription(user_id, self._buffer)
        self._subscriptions[user_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        listeners = self._subscriptions.get(subscription.user_id)
        if listeners is not None:
            listeners.discard(subscription)
            if not listeners:
                del self._subscriptions[subscription.user_id]

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def cut_off_all(self) -> int:
        """Cut off every subscription (see Subscription.cut_off) and tell the watchers;
        returns how many subscriptions."""
        for watcher in self._watchers:
            watcher.missed()
        count = 0
        for listeners in self._subscriptions.values():
            for subscription in listeners:
                subscription.cut_off()
                count += 1
        return count

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def problem(self) -> str | None:
        return None
