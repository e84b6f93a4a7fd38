"""How a notification leaves Huddle: the `Sender` interface, an SMTP `EmailSender`, and
the `LogSender` used in development when no SMTP server is configured.

What is sent says only that a secure message is waiting, with its link: no names, no
clinic, no clinical words, no message text. Failures are reported as short codes, never
with the server's reply (it can quote the recipient's address).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol
from urllib.parse import urlsplit

from huddle.config import ConfigError, Settings
from huddle.notify.service import Channel

log = logging.getLogger("huddle.notify")

SMTP_TIMEOUT_SECONDS = 30.0
SUBJECT = "You have a new secure message"
TEXT = """\
Hello,

A new secure message is waiting for you.

To read it and reply, open this link and confirm your date of birth:

{link}

The link works once and expires on {expires} (UTC). If it has expired, a new link
comes with your next message.

If you were not expecting this e-mail, you can ignore it. Please do not reply to this
e-mail: replies are not read.
"""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One notification, ready to send. `address` and `link` exist only in memory."""

    notification_id: uuid.UUID
    address: str
    link: str
    expires_at: datetime


class SendFailed(Exception):
    """The message was not accepted; `code` is short and safe to store and log."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Sender(Protocol):
    channel: Channel

    async def send(self, outgoing: Outgoing) -> None:
        """Hand the message over for delivery; raise SendFailed if it was refused."""
        ...


def sender_from(settings: Settings) -> Sender:
    """The e-mail sender the settings describe. Raises ConfigError in production
    without an SMTP server: patients would never hear of their messages."""
    if settings.smtp_host is None:
        if settings.is_production:
            raise ConfigError("HUDDLE_SMTP_HOST: must be set when HUDDLE_ENV=production")
        return LogSender()
    return EmailSender(settings)


def compose_email(outgoing: Outgoing, *, sender: str, public_url: str) -> EmailMessage:
    """The whole e-mail. Its Message-ID is the notification's id, so a mail system that
    receives a retry of a message it already accepted can recognise the duplicate."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = outgoing.address
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{outgoing.notification_id}@{_mail_domain(public_url)}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        TEXT.format(link=outgoing.link, expires=outgoing.expires_at.strftime("%Y-%m-%d %H:%M"))
    )
    return message


class EmailSender:
    """SMTP with the standard library, in a worker thread: one connection per message
    (notifications are few; a long-lived connection would need keep-alive handling)."""

    channel = Channel.EMAIL

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None
        assert settings.smtp_from is not None
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._from = settings.smtp_from
        self._starttls = settings.smtp_starttls
        self._username = settings.smtp_username
        self._password = settings.smtp_password
        self._public_url = settings.public_url

    async def send(self, outgoing: Outgoing) -> None:
        message = compose_email(outgoing, sender=self._from, public_url=self._public_url)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            raise SendFailed("smtp_recipient_refused") from None
        except smtplib.SMTPResponseException as refused:
            raise SendFailed(f"smtp_{refused.smtp_code}") from None
        except smtplib.SMTPNotSupportedError:
            raise SendFailed("smtp_starttls_unsupported") from None
        except smtplib.SMTPServerDisconnected:
            raise SendFailed("smtp_unavailable") from None
        except smtplib.SMTPException:  # (a subclass of OSError: keep it first)
            raise SendFailed("smtp_error") from None
        except ssl.SSLError:
            raise SendFailed("smtp_tls_failed") from None
        except OSError:  # refused, unreachable, timed out
            raise SendFailed("smtp_unavailable") from None


class LogSender:
    """Development without an SMTP server: logs that a notification would go out, by
    id only (never the address or the link)."""

    channel = Channel.EMAIL

    async def send(self, outgoing: Outgoing) -> None:
        log.info(
            "notification not e-mailed (HUDDLE_SMTP_HOST unset)",
            extra={"fields": {"notification_id": str(outgoing.notification_id)}},
        )


def _mail_domain(public_url: str) -> str:
    return urlsplit(public_url).hostname or "huddle.invalid"
