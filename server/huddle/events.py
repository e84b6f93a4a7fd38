"""The event bus: what changed, for whom, published only after the change committed.

The bus is the fast path for real-time delivery, never the record: a subscriber that
falls behind is cut off (its queue is bounded) and catches up from the database when it
resumes. `MemoryBus` serves one process; a Redis-backed bus will serve several.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("huddle.events")

SUBSCRIBER_BUFFER = 1000


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    recipients: frozenset[uuid.UUID]
    payload: dict[str, Any]


@dataclass(eq=False, slots=True)
class Subscription:
    """One listener's bounded queue. `overflowed` means events were dropped: the
    listener must resume from the database."""

    user_id: uuid.UUID
    queue: asyncio.Queue[Event] = field(
        default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_BUFFER)
    )
    overflowed: bool = False

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True


class EventBus(Protocol):
    async def publish(self, events: Sequence[Event]) -> None: ...

    def subscribe(self, user_id: uuid.UUID) -> Subscription: ...

    def unsubscribe(self, subscription: Subscription) -> None: ...


class MemoryBus:
    """In-process fan-out to each recipient's subscriptions."""

    def __init__(self) -> None:
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)

    async def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            for user_id in event.recipients:
                for subscription in self._subscriptions.get(user_id, ()):
                    subscription.offer(event)

    def subscribe(self, user_id: uuid.UUID) -> Subscription:
        subscription = Subscription(user_id)
        self._subscriptions[user_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        listeners = self._subscriptions.get(subscription.user_id)
        if listeners is not None:
            listeners.discard(subscription)
            if not listeners:
                del self._subscriptions[subscription.user_id]
