"""Settings read from HUDDLE_* environment variables, validated once at start.

A wrong value raises ConfigError naming the variable; the CLI prints that one line and
exits, so a misconfigured server never starts half-working.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from enum import StrEnum
from ipaddress import ip_network
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

MAX_ACCESS_TOKEN_TTL_SECONDS = 15 * 60
DEFAULT_SECURE_LINK_MINUTES = 72 * 60


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


@dataclass(frozen=True, slots=True)
class PasswordHashing:
    """Argon2id cost parameters (RFC 9106 second recommended option by default)."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4
    max_concurrent: int = 2


@dataclass(frozen=True, slots=True)
class Settings:
    environment: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///var/huddle.db"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    signing_keys_file: Path = Path("secrets/signing-keys.json")
    keyring_file: Path = Path("secrets/keyring.json")
    # The keyring's JSON itself, for platforms that inject secrets as variables.
    keyring_inline: str | None = None
    access_token_ttl_seconds: int = MAX_ACCESS_TOKEN_TTL_SECONDS
    session_lifetime_hours: int = 12
    idle_timeout_minutes: int = 15
    demo_password: str | None = None
    log_level: str = "INFO"
    password_hashing: PasswordHashing = PasswordHashing()
    web_dist_dir: Path = Path("clients/web/dist")
    # Sealed attachment files, one per attachment (only ciphertext is written here).
    blob_dir: Path = Path("var/blobs")
    # 0 turns the periodic audit checkpoints off (e.g. when a cron job signs them).
    audit_checkpoint_minutes: int = 60
    # Scheduled work in this process (escalations, checkpoints, outbox); off for
    # instances that only serve requests, and in tests that drive the jobs themselves.
    background_jobs: bool = True
    # Events held for one WebSocket that is not keeping up before it is closed (4408)
    # to resume from the database: memory per socket against tolerance for bursts.
    ws_event_buffer: int = 1000
    # The server pings each WebSocket this often and drops one that has not answered
    # within the same time; keep it below any proxy's idle timeout.
    ws_ping_seconds: int = 20
    # A resuming WebSocket more tasks behind than this is told `tasks.reset` (re-read the
    # worklist over REST) instead of being sent every changed task.
    ws_task_replay: int = 200
    # Browser origins, besides the public URL's own, that may open the WebSocket.
    extra_origins: frozenset[str] = frozenset()
    # Networks (CIDR strings) of proxies whose X-Forwarded-For names the client, for
    # throttling and audit (huddle.client_address). Strings: Settings reaches msgspec.
    trusted_proxies: tuple[str, ...] = ()
    # Outgoing e-mail (patient notifications). Without a host, development logs
    # notification ids instead of sending; production refuses to start (notify.senders).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str | None = None
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = True
    # How long a secure link in a notification stays valid.
    secure_link_minutes: int = DEFAULT_SECURE_LINK_MINUTES

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def allowed_origins(self) -> frozenset[str]:
        parts = urlsplit(self.public_url)
        return self.extra_origins | {f"{parts.scheme}://{parts.netloc}"}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raise ConfigError on the first bad value."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    reader = _Reader(env)
    hashing_defaults = defaults.password_hashing
    settings = Settings(
        environment=reader.get("HUDDLE_ENV", defaults.environment, _environment),
        database_url=reader.get("HUDDLE_DATABASE_URL", defaults.database_url, _database_url),
        redis_url=reader.get("HUDDLE_REDIS_URL", None, _redis_url),
        host=reader.get("HUDDLE_HOST", defaults.host, _non_empty),
        port=reader.get("HUDDLE_PORT", defaults.port, _int_between(1, 65535)),
        public_url=reader.get("HUDDLE_PUBLIC_URL", defaults.public_url, _http_url),
        signing_keys_file=reader.get("HUDDLE_SIGNING_KEYS_FILE", defaults.signing_keys_file, Path),
        keyring_file=reader.get("HUDDLE_KEYRING_FILE", defaults.keyring_file, Path),
        keyring_inline=reader.get("HUDDLE_KEYRING", None, _non_empty),
        access_token_ttl_seconds=reader.get(
            "HUDDLE_ACCESS_TOKEN_TTL_SECONDS",
            defaults.access_token_ttl_seconds,
            _int_between(30, MAX_ACCESS_TOKEN_TTL_SECONDS),
        ),
        session_lifetime_hours=reader.get(
            "HUDDLE_SESSION_LIFETIME_HOURS", defaults.session_lifetime_hours, _int_between(1, 24)
        ),
        idle_timeout_minutes=reader.get(
            "HUDDLE_IDLE_TIMEOUT_MINUTES", defaults.idle_timeout_minutes, _int_between(1, 60)
        ),
        demo_password=reader.get("HUDDLE_DEMO_PASSWORD", None, _non_empty),
        log_level=reader.get("HUDDLE_LOG_LEVEL", defaults.log_level, _log_level),
        password_hashing=PasswordHashing(
            time_cost=reader.get(
                "HUDDLE_ARGON2_TIME_COST", hashing_defaults.time_cost, _int_between(1, 20)
            ),
            memory_kib=reader.get(
                "HUDDLE_ARGON2_MEMORY_KIB",
                hashing_defaults.memory_kib,
                _int_between(1024, 4 * 1024 * 1024),
            ),
            parallelism=reader.get(
                "HUDDLE_ARGON2_PARALLELISM", hashing_defaults.parallelism, _int_between(1, 16)
            ),
            max_concurrent=reader.get(
                "HUDDLE_ARGON2_MAX_CONCURRENT", hashing_defaults.max_concurrent, _int_between(1, 64)
            ),
        ),
        web_dist_dir=reader.get("HUDDLE_WEB_DIST_DIR", defaults.web_dist_dir, Path),
        blob_dir=reader.get("HUDDLE_BLOB_DIR", defaults.blob_dir, Path),
        ws_event_buffer=reader.get(
            "HUDDLE_WS_EVENT_BUFFER", defaults.ws_event_buffer, _int_between(10, 100_000)
        ),
        ws_ping_seconds=reader.get(
            "HUDDLE_WS_PING_SECONDS", defaults.ws_ping_seconds, _int_between(5, 600)
        ),
        ws_task_replay=reader.get(
            "HUDDLE_WS_TASK_REPLAY", defaults.ws_task_replay, _int_between(10, 10_000)
        ),
        extra_origins=reader.get("HUDDLE_ALLOWED_ORIGINS", frozenset(), _origins),
        trusted_proxies=reader.get("HUDDLE_TRUSTED_PROXIES", (), _networks),
        background_jobs=reader.get("HUDDLE_BACKGROUND_JOBS", defaults.background_jobs, _boolean),
        audit_checkpoint_minutes=reader.get(
            "HUDDLE_AUDIT_CHECKPOINT_MINUTES",
            defaults.audit_checkpoint_minutes,
            _int_between(0, 24 * 60),
        ),
        smtp_host=reader.get("HUDDLE_SMTP_HOST", None, _host_name),
        smtp_port=reader.get("HUDDLE_SMTP_PORT", defaults.smtp_port, _int_between(1, 65535)),
        smtp_from=reader.get("HUDDLE_SMTP_FROM", None, _mail_from),
        smtp_username=reader.get("HUDDLE_SMTP_USERNAME", None, _non_empty),
        smtp_password=reader.get("HUDDLE_SMTP_PASSWORD", None, _non_empty),
        smtp_starttls=reader.get("HUDDLE_SMTP_STARTTLS", defaults.smtp_starttls, _boolean),
        secure_link_minutes=reader.get(
            "HUDDLE_SECURE_LINK_MINUTES",
            defaults.secure_link_minutes,
            _int_between(15, 7 * 24 * 60),
        ),
    )
    _check_smtp(settings)
    _check_production(settings)
    return settings


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def get(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self._env.get(name)
        if raw is None or raw == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None


def _check_production(settings: Settings) -> None:
    if not settings.is_production:
        return
    if settings.demo_password is not None:
        raise ConfigError("HUDDLE_DEMO_PASSWORD: must not be set when HUDDLE_ENV=production")
    if not settings.public_url.startswith("https://"):
        raise ConfigError("HUDDLE_PUBLIC_URL: must be an https:// URL when HUDDLE_ENV=production")


def _check_smtp(settings: Settings) -> None:
    if settings.smtp_host is None:
        return
    if settings.smtp_from is None:
        raise ConfigError("HUDDLE_SMTP_FROM: must be set when HUDDLE_SMTP_HOST is set")
    if (settings.smtp_username is None) != (settings.smtp_password is None):
        raise ConfigError(
            "HUDDLE_SMTP_PASSWORD: HUDDLE_SMTP_USERNAME and HUDDLE_SMTP_PASSWORD go together"
        )
    if settings.smtp_username is not None and not settings.smtp_starttls:
        raise ConfigError(
            "HUDDLE_SMTP_STARTTLS: must be true when HUDDLE_SMTP_USERNAME is set "
            "(credentials are never sent unencrypted)"
        )


def _environment(raw: str) -> Environment:
    try:
        return Environment(raw.lower())
    except ValueError:
        allowed = ", ".join(e.value for e in Environment)
        raise ValueError(f"must be one of {allowed}, got {raw!r}") from None


def _database_url(raw: str) -> str:
    scheme = raw.split("://", 1)[0]
    if scheme not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
        raise ValueError(
            "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
            f"(got a URL starting with {scheme!r})"
        )
    return raw


def _redis_url(raw: str) -> str:
    if urlsplit(raw).scheme not in {"redis", "rediss"}:
        raise ValueError("must be a redis:// or rediss:// URL")
    return raw


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _origins(raw: str) -> frozenset[str]:
    origins = set()
    for item in filter(None, (part.strip().rstrip("/") for part in raw.split(","))):
        parts = urlsplit(item)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
            raise ValueError(f"each origin must look like https://host[:port], got {item!r}")
        origins.add(item)
    return frozenset(origins)


def _networks(raw: str) -> tuple[str, ...]:
    networks = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            networks.append(str(ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(
                f"each entry must be an address or network like 10.0.0.0/8, got {item!r}"
            ) from None
    return tuple(networks)


def _host_name(raw: str) -> str:
    # One colon means host:port (the port has its own variable); IPv6 literals have more.
    if any(c.isspace() or c in "/@" for c in raw) or raw.count(":") == 1:
        raise ValueError(f"must be a host name or address, without scheme or port, got {raw!r}")
    return raw


def _mail_from(raw: str) -> str:
    name, address = parseaddr(raw)
    local, at, domain = address.rpartition("@")
    if not (at and local and "." in domain) or "\r" in raw or "\n" in raw:
        raise ValueError(
            f"must be an address like 'Secure messages <no-reply@example.org>', got {raw!r}"
        )
    return str(Address(display_name=name, addr_spec=address))


def _boolean(raw: str) -> bool:
    value = raw.lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def _non_empty(raw: str) -> str:
    if not raw:
        raise ValueError("must not be empty")
    return raw


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number from {low} to {high}, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"must be DEBUG, INFO, WARNING or ERROR, got {raw!r}")
    return level
