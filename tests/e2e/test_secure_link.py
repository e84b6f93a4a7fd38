"""The patient's secure-link page in a real browser: a link as the "secure message
waiting" e-mail carries it, the date-of-birth step, the thread and a reply.

No e-mail is sent here: the link is issued straight into the test server's database with
the server's own token helper and table, exactly as the outbox does before it e-mails it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

import httpx
from playwright.async_api import Page, expect

PATIENT_EMAIL = "patient@example.org"
CARE_MANAGER = "care@example.org"
DEMO_PASSWORD = "correct-violet-lantern-7"
DATE_OF_BIRTH = "1979-04-12"
WRONG_DATE_OF_BIRTH = "1980-04-12"
PATIENT_MESSAGE = "A bit better this week, thank you. Still waking up early."
EXPIRED = "This link has expired or was already used. Ask your care team for a new one."

# Runs with the server's settings: one fresh secure link into Maria Delgado's patient
# thread, printed as {"token", "conversation_id"}. The plain token exists only here.
ISSUE_LINK = textwrap.dedent(
    """
    import asyncio, json, uuid
    from datetime import timedelta

    from sqlalchemy import select

    from huddle.config import load_settings
    from huddle.identity.models import User
    from huddle.messaging.models import Conversation
    from huddle.notify.models import SecureLink
    from huddle.notify.service import new_link_token
    from huddle.runtime import Runtime


    async def main():
        rt = Runtime.build(load_settings())
        try:
            now = rt.clock.now()
            async with rt.db.transaction() as db:
                user = (
                    await db.execute(select(User).where(User.email == {email!r}))
                ).scalar_one()
                conversation = (
                    await db.execute(
                        select(Conversation).where(
                            Conversation.patient_id == user.patient_id,
                            Conversation.kind == "patient",
                        )
                    )
                ).scalar_one()
                token, token_hash = new_link_token()
                db.add(
                    SecureLink(
                        id=uuid.uuid4(),
                        token_hash=token_hash,
                        user_id=user.id,
                        patient_id=user.patient_id,
                        conversation_id=conversation.id,
                        created_at=now,
                        expires_at=now + timedelta(minutes=rt.settings.secure_link_minutes),
                        failed_attempts=0,
                    )
                )
            print(json.dumps({{"token": token, "conversation_id": str(conversation.id)}}))
        finally:
            await rt.db.dispose()


    asyncio.run(main())
    """
).format(email=PATIENT_EMAIL)


def issue_link(server_env: dict[str, str]) -> tuple[str, str]:
    """A fresh one-time link for the demo patient: (token, conversation id)."""
    done = subprocess.run(
        [sys.executable, "-c", ISSUE_LINK],
        env=server_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    issued = json.loads(done.stdout.strip().splitlines()[-1])
    return issued["token"], issued["conversation_id"]


async def confirm(page: Page, date_of_birth: str) -> None:
    await page.get_by_label("Date of birth").fill(date_of_birth)
    await page.get_by_role("button", name="Continue").click()


async def test_a_patient_opens_a_secure_link_reads_and_replies(
    page: Page, live_server: str, server_env: dict[str, str]
) -> None:
    token, conversation_id = issue_link(server_env)

    await page.goto(f"/secure/{token}")
    heading = page.get_by_role("heading", name="Secure message")
    await expect(heading).to_be_visible()
    await expect(heading).to_be_focused()
    await expect(page.get_by_label("E-mail")).to_have_count(0)  # not the staff sign-in

    await confirm(page, WRONG_DATE_OF_BIRTH)
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_role("alert")).not_to_have_text(EXPIRED)
    await expect(heading).to_be_visible()

    await confirm(page, DATE_OF_BIRTH)
    thread_heading = page.get_by_role("heading", name="Your secure messages")
    await expect(thread_heading).to_be_focused()
    await expect(page.get_by_text(PATIENT_MESSAGE, exact=True)).to_be_visible()
    assert token not in page.url
    assert page.url.endswith("/secure")

    # A reply of this run's own: the demo thread keeps what earlier tests wrote.
    reply = f"Thanks, see you Thursday. ({uuid.uuid4().hex[:6]})"
    await page.get_by_label("Your reply").fill(reply)
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_text(reply, exact=True)).to_be_visible()
    await expect(page.get_by_label("Your reply")).to_have_value("")
    await expect(page.get_by_role("alert")).to_have_count(0)

    async with httpx.AsyncClient(base_url=live_server) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": CARE_MANAGER, "password": DEMO_PASSWORD}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        answer = await client.get(
            f"/api/v1/conversations/{conversation_id}/messages", headers=headers
        )
    assert answer.status_code == 200, answer.text
    bodies = [message["body"] for message in answer.json()["messages"]]
    assert reply in bodies

    # The link worked once: opening it again, even with the right answer, says so.
    await page.goto(f"/secure/{token}")
    await confirm(page, DATE_OF_BIRTH)
    await expect(page.get_by_role("alert")).to_have_text(EXPIRED)
    await expect(page.get_by_label("Your reply")).to_have_count(0)


async def test_the_secure_page_runs_under_the_content_security_policy(
    page: Page, server_env: dict[str, str]
) -> None:
    token, _ = issue_link(server_env)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    await page.goto(f"/secure/{token}")
    await confirm(page, DATE_OF_BIRTH)
    await expect(page.get_by_text(PATIENT_MESSAGE, exact=True)).to_be_visible()

    assert problems == []
