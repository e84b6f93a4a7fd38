"""A real SMTP server (aiosmtpd on loopback) capturing what Huddle sends, an app that
sends to it, and a patient thread (care team and the patient's portal account).

Nothing runs the outbox in the background here (tests drive `deliver_due`), and each
test starts from an outbox with nothing outstanding: earlier tests of other domains in
the same database leave notifications nobody delivers.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from huddle.actor import Role
from huddle.clock import ManualClock
from huddle.config import Settings
from huddle.notify import senders
from huddle.notify.models import Notification
from huddle.notify.outbox import deliver_due
from huddle.notify.service import Status
from tests.conftest import Server, open_server, with_settings
from tests.live_server import free_port
from tests.messaging.conftest import Thread, thread  # noqa: F401  (the fixture, reused)

SENDER = "Secure messages <no-reply@huddle.test>"
LINK = re.compile(r"http://127\.0\.0\.1:8000/secure/([A-Za-z0-9_-]+)")


@dataclass
class Captured:
    recipients: list[str]
    message: EmailMessage
    raw: str

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return body.get_content()

    @property
    def token(self) -> str:
        found = LINK.search(self.text)
        assert found, "no secure link in the e-mail"
        return found.group(1)


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps every message accepted; refuses all while
    `refuse_with` holds an SMTP reply."""

    port: int = 0
    refuse_with: str | None = None
    messages: list[Captured] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with:
            return self.refuse_with
        raw: bytes = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(Captured(list(envelope.rcpt_tos), parsed, raw.decode()))
        self.received.set()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Captured]:
        with self._lock:
            return [m for m in self.messages if address in m.recipients]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def mail_settings(settings: Settings, mailbox: Mailbox) -> Settings:
    return with_settings(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_from=SENDER,
        smtp_starttls=False,
    )


@pytest.fixture
async def server(settings: Settings, clock: ManualClock, mailbox: Mailbox) -> AsyncIterator[Server]:
    """The app, sending e-mail to the test's SMTP server (overrides tests.conftest)."""
    async for opened in open_server(mail_settings(settings, mailbox), clock):
        await settle_outbox(opened)
        yield opened


async def settle_outbox(server: Server) -> None:
    async with server.rt.db.transaction() as db:
        await db.execute(
            update(Notification)
            .where(Notification.status.in_([Status.PENDING.value, Status.SENDING.value]))
            .values(status=Status.FAILED.value, last_error="test_reset")
        )


async def deliver(server: Server) -> int:
    """One pass of the outbox worker, now, through the configured SMTP server."""
    return await deliver_due(server.rt, senders.sender_from(server.rt.settings), server.clock.now())


async def start_patient_thread(thread: Thread) -> str:  # noqa: F811
    response = await thread.server.client.post(
        "/api/v1/conversations",
        json={"kind": "patient", "patient_id": thread.patient_id},
        headers=await thread.headers(Role.CARE_MANAGER),
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def post_message(
    thread: Thread,  # noqa: F811
    conversation: str,
    role: Role,
    body: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    response = await thread.server.client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"body": body},
        headers=headers or await thread.headers(role),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def confirm(
    server: Server, token: str, date_of_birth: str, client: httpx.AsyncClient | None = None
) -> httpx.Response:
    return await (client or server.client).post(
        f"/api/v1/patient-links/{token}/confirm", json={"date_of_birth": date_of_birth}
    )


def link_session(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def unique() -> str:
    return uuid.uuid4().hex[:8]
