"""Sessions this process checked a moment ago, so most requests learn that their session
is still good without a database transaction.

An entry is used only while all of these hold, else the request takes the full check
(`service.authenticate`), which also writes `last_seen_at` and ends idle sessions:

- it was read from the database less than `RECHECK` ago;
- the session was seen within `ACTIVITY_RESOLUTION`, so nothing needs writing and it
  cannot have gone idle (the shortest idle timeout is minutes);
- the session has not expired.

A session that ends is forgotten at once in every instance: whatever ends it announces
`session.ended` on the event bus, and the cache watches the bus. When the bus may have
lost events (Redis reconnected), the cache empties. `RECHECK` bounds what remains: a
change the bus does not carry (an organization's idle timeout or MFA policy) reaches
requests within it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from huddle.actor import Actor, RequestContext, Role
from huddle.events import Event

# Sent to a user's connections, and seen by every instance's cache, when a session ends.
SESSION_ENDED = "session.ended"
RECHECK = timedelta(seconds=5)
# A session's last_seen_at is written at most this often, so reads do not all become writes.
ACTIVITY_RESOLUTION = timedelta(seconds=15)
# Far more than any clinic has signed in at once; past it the cache starts again.
MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class CheckedSession:
    """What a full check found, enough to build the caller's Actor again."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    patient_id: uuid.UUID | None
    needs_mfa_enrolment: bool
    expires_at: datetime
    last_seen_at: datetime
    checked_at: datetime

    def actor(self, context: RequestContext) -> Actor:
        return Actor(
            user_id=self.user_id,
            organization_id=self.organization_id,
            role=self.role,
            session_id=self.session_id,
            context=context,
            patient_id=self.patient_id,
        )


class SessionCache:
    def __init__(self) -> None:
        self._entries: dict[uuid.UUID, CheckedSession] = {}
        # Moves whenever something is forgotten: a check that was in flight meanwhile
        # may have read a session that has just ended, so it is not remembered.
        self.epoch = 0

    def fresh(
        self, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> CheckedSession | None:
        """The entry, if a request may rely on it now (see the module's rules)."""
        entry = self._entries.get(session_id)
        if (
            entry is None
            or entry.user_id != user_id
            or now - entry.checked_at >= RECHECK
            or now - entry.last_seen_at >= ACTIVITY_RESOLUTION
            or now >= entry.expires_at
        ):
            return None
        return entry

    def remember(self, entry: CheckedSession, *, checked_in_epoch: int) -> None:
        if checked_in_epoch != self.epoch:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[entry.session_id] = entry

    def forget(self, session_id: uuid.UUID) -> None:
        self.epoch += 1
        self._entries.pop(session_id, None)

    # events.Watcher: the bus shows this cache every event this process receives.

    def notice(self, event: Event) -> None:
        if event.type == SESSION_ENDED:
            self.forget(uuid.UUID(event.payload["session_id"]))

    def missed(self) -> None:
        self.epoch += 1
        self._entries.clear()
