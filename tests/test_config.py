"""Settings: defaults, every variable validated, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from huddle.config import ConfigError, Environment, load_settings


def test_defaults_serve_sqlite_on_localhost() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite+aiosqlite:///var/huddle.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.access_token_ttl_seconds == 900
    assert settings.idle_timeout_minutes == 15
    assert settings.session_lifetime_hours == 12
    assert settings.environment is Environment.DEVELOPMENT


def test_values_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "HUDDLE_DATABASE_URL": "postgresql+asyncpg://huddle@db/huddle",
            "HUDDLE_REDIS_URL": "redis://127.0.0.1:6379/0",
            "HUDDLE_PORT": "9000",
            "HUDDLE_ACCESS_TOKEN_TTL_SECONDS": "300",
            "HUDDLE_IDLE_TIMEOUT_MINUTES": "10",
            "HUDDLE_SIGNING_KEYS_FILE": "/etc/huddle/keys.json",
            "HUDDLE_LOG_LEVEL": "debug",
            "HUDDLE_WS_EVENT_BUFFER": "50",
            "HUDDLE_WS_PING_SECONDS": "45",
            "HUDDLE_WS_TASK_REPLAY": "500",
        }
    )
    assert settings.port == 9000
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.access_token_ttl_seconds == 300
    assert settings.idle_timeout_minutes == 10
    assert settings.signing_keys_file == Path("/etc/huddle/keys.json")
    assert settings.log_level == "DEBUG"
    assert (settings.ws_event_buffer, settings.ws_ping_seconds) == (50, 45)
    assert settings.ws_task_replay == 500


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HUDDLE_PORT", "abc"),
        ("HUDDLE_PORT", "70000"),
        ("HUDDLE_DATABASE_URL", "mysql://root@localhost/huddle"),
        ("HUDDLE_REDIS_URL", "http://localhost"),
        ("HUDDLE_ENV", "staging"),
        ("HUDDLE_ACCESS_TOKEN_TTL_SECONDS", "3600"),
        ("HUDDLE_IDLE_TIMEOUT_MINUTES", "0"),
        ("HUDDLE_SESSION_LIFETIME_HOURS", "48"),
        ("HUDDLE_PUBLIC_URL", "not a url"),
        ("HUDDLE_LOG_LEVEL", "LOUD"),
        ("HUDDLE_ARGON2_MEMORY_KIB", "8"),
        ("HUDDLE_WS_EVENT_BUFFER", "5"),
        ("HUDDLE_WS_PING_SECONDS", "0"),
        ("HUDDLE_WS_TASK_REPLAY", "5"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({name: value})
    message = str(error.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


def test_database_url_errors_do_not_echo_credentials() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({"HUDDLE_DATABASE_URL": "mysql://admin:s3cret@db/huddle"})
    assert "s3cret" not in str(error.value)


def test_production_refuses_demo_password_and_plain_http() -> None:
    with pytest.raises(ConfigError, match="HUDDLE_DEMO_PASSWORD"):
        load_settings(
            {
                "HUDDLE_ENV": "production",
                "HUDDLE_PUBLIC_URL": "https://huddle.example.org",
                "HUDDLE_DEMO_PASSWORD": "x" * 20,
            }
        )
    with pytest.raises(ConfigError, match="HUDDLE_PUBLIC_URL"):
        load_settings({"HUDDLE_ENV": "production", "HUDDLE_PUBLIC_URL": "http://huddle.test"})
    assert load_settings(
        {"HUDDLE_ENV": "production", "HUDDLE_PUBLIC_URL": "https://huddle.example.org"}
    ).is_production
