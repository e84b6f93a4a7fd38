"""The SMTP and secure-link settings: validated at start like every other setting."""

from __future__ import annotations

import pytest

from huddle.config import ConfigError, load_settings
from huddle.notify import senders

SMTP = {"HUDDLE_SMTP_HOST": "mail.example.org", "HUDDLE_SMTP_FROM": "no-reply@example.org"}


def test_smtp_settings_are_read() -> None:
    settings = load_settings(
        SMTP
        | {
            "HUDDLE_SMTP_PORT": "2525",
            "HUDDLE_SMTP_USERNAME": "huddle",
            "HUDDLE_SMTP_PASSWORD": "relay-s3cret",
            "HUDDLE_SMTP_STARTTLS": "yes",
            "HUDDLE_SECURE_LINK_MINUTES": "1440",
        }
    )
    assert (settings.smtp_host, settings.smtp_port) == ("mail.example.org", 2525)
    assert settings.smtp_from == "no-reply@example.org"
    assert (settings.smtp_username, settings.smtp_password) == ("huddle", "relay-s3cret")
    assert settings.smtp_starttls is True
    assert settings.secure_link_minutes == 1440
    assert "relay-s3cret" not in repr(settings)
    assert isinstance(senders.sender_from(settings), senders.EmailSender)


def test_defaults_log_instead_of_sending_outside_production() -> None:
    settings = load_settings({})
    assert settings.smtp_host is None
    assert settings.smtp_starttls is True
    assert settings.secure_link_minutes == 72 * 60
    assert isinstance(senders.sender_from(settings), senders.LogSender)


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"HUDDLE_SMTP_HOST": "mail.example.org:25"}, "HUDDLE_SMTP_HOST"),
        ({"HUDDLE_SMTP_HOST": "smtp://mail.example.org"}, "HUDDLE_SMTP_HOST"),
        ({"HUDDLE_SMTP_PORT": "0"}, "HUDDLE_SMTP_PORT"),
        ({"HUDDLE_SMTP_FROM": "nobody"}, "HUDDLE_SMTP_FROM"),
        ({"HUDDLE_SMTP_FROM": ""}, "HUDDLE_SMTP_FROM"),
        ({"HUDDLE_SMTP_STARTTLS": "maybe"}, "HUDDLE_SMTP_STARTTLS"),
        ({"HUDDLE_SMTP_USERNAME": "huddle"}, "HUDDLE_SMTP_PASSWORD"),
        (
            {
                "HUDDLE_SMTP_USERNAME": "huddle",
                "HUDDLE_SMTP_PASSWORD": "relay-s3cret",
                "HUDDLE_SMTP_STARTTLS": "false",
            },
            "HUDDLE_SMTP_STARTTLS",
        ),
        ({"HUDDLE_SECURE_LINK_MINUTES": "5"}, "HUDDLE_SECURE_LINK_MINUTES"),
        ({"HUDDLE_SECURE_LINK_MINUTES": "100000"}, "HUDDLE_SECURE_LINK_MINUTES"),
    ],
)
def test_bad_smtp_settings_name_their_variable(changes: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as error:
        load_settings(SMTP | changes)
    assert "relay-s3cret" not in str(error.value)
