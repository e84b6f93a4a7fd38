"""The process-wide parts every service needs, built once by create_app or the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

import huddle.models  # noqa: F401  (every table is mapped before the first query)
from huddle.clock import Clock, SystemClock
from huddle.config import Settings
from huddle.db import Database
from huddle.events import EventBus, MemoryBus
from huddle.group_commit import GroupCommit
from huddle.identity.passwords import PasswordHasher
from huddle.identity.session_cache import SessionCache
from huddle.identity.tokens import SigningKeys, TokenSigner
from huddle.protect.crypto import Envelope
from huddle.protect.keyring import FileKeyring
from huddle.redis_bus import RedisBus


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: Database
    clock: Clock
    passwords: PasswordHasher
    tokens: TokenSigner
    keyring: FileKeyring
    envelope: Envelope
    events: EventBus
    sessions: SessionCache
    group_commit: GroupCommit = field(default_factory=GroupCommit)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        """Raises SigningKeyError or KeyringError if a secret file is missing or bad."""
        clock = clock or SystemClock()
        keys = SigningKeys.load(settings.signing_keys_file)
        keyring = load_keyring(settings)
        events = build_event_bus(settings)
        sessions = SessionCache()
        events.watch(sessions)
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            clock=clock,
            passwords=PasswordHasher(settings.password_hashing),
            tokens=TokenSigner(keys, issuer=settings.public_url, clock=clock),
            keyring=keyring,
            envelope=Envelope(keyring, clock),
            events=events,
            sessions=sessions,
        )


def build_event_bus(settings: Settings) -> EventBus:
    """In-process without HUDDLE_REDIS_URL (one instance); Redis pub/sub with it."""
    if settings.redis_url:
        return RedisBus(settings.redis_url, buffer=settings.ws_event_buffer)
    return MemoryBus(settings.ws_event_buffer)


def load_keyring(settings: Settings) -> FileKeyring:
    if settings.keyring_inline:
        return FileKeyring(None, inline=settings.keyring_inline)
    return FileKeyring(settings.keyring_file)
