"""Tasks in real Chromium against a real server with the demo clinic: a message becomes
a task and the asker sees the thread's note live; a role-queue task claimed in one
browser shows as claimed in another (and a colleague who was too late is told so); a
warm handoff from the PCP reaches the BH consultant as a prompt and the PCP sees it
accepted. axe-core checks the worklist, the task form and the prompt."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.accessibility import serious_violations
from tests.e2e.test_signin import DEMO_PASSWORD, api_sign_in, sign_in

PCP, CARE, BH, ADMIN = "pcp@example.org", "care@example.org", "bh@example.org", "admin@example.org"
PSYCHIATRIST = "psych@example.org"
REFERRAL_THREAD = "Referral: Care management"
PATIENT = "Maria Delgado"
PHONE = {"viewport": {"width": 360, "height": 740}}


@pytest.fixture
async def people(browser: Browser, live_server: str) -> AsyncIterator[Callable[..., object]]:
    """Opens a signed-in page per person, each in a browser context of its own."""
    opened: list[Page] = []

    async def open_page(email: str, password: str = DEMO_PASSWORD, **options: object) -> Page:
        context = await browser.new_context(base_url=live_server, **options)  # type: ignore[arg-type]
        page = await context.new_page()
        opened.append(page)
        await page.goto("/")
        await sign_in(page, email, password)
        await expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()
        return page

    yield open_page
    for page in opened:
        await page.context.close()


async def open_referral_thread(page: Page) -> None:
    await page.get_by_role("link", name=REFERRAL_THREAD).click()
    await expect(page.get_by_role("heading", name=f"{PATIENT}: {REFERRAL_THREAD}")).to_be_visible()


async def open_worklist(page: Page) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Worklist").click()
    await expect(page.get_by_role("heading", name="Worklist", level=1)).to_be_focused()


async def send(page: Page, text: str) -> None:
    await page.get_by_label("Message", exact=True).fill(text)
    await page.get_by_role("button", name="Send", exact=True).click()


def notes_after(page: Page, text: str):  # type: ignore[no-untyped-def]
    """The system notes after the message with `text` in the open thread: the notes this
    test caused, never the demo data's (the demo thread has its own "made a task" note)
    nor those of a test that ran earlier against the same server."""
    return (
        page.locator("li.message")
        .filter(has_text=text)
        .locator("xpath=following-sibling::li[contains(concat(' ', @class, ' '), ' system ')]")
    )


def section(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("region", name=re.compile(f"^{re.escape(name)} \\("))


def card(page: Page, section_name: str, title: str):  # type: ignore[no-untyped-def]
    return section(page, section_name).get_by_role("listitem", name=title)


async def test_a_care_manager_turns_the_pcps_message_into_a_task_seen_live_in_the_thread(
    people,  # type: ignore[no-untyped-def]
) -> None:
    pcp: Page = await people(PCP)
    care: Page = await people(CARE)
    for page in (pcp, care):
        await open_referral_thread(page)
    ask = f"Please recheck Maria's blood pressure next week ({uuid.uuid4().hex[:6]})"
    await send(pcp, ask)

    message = care.locator("li.message").filter(has_text=ask)
    await message.get_by_role("button", name="Make a task").click()
    form = care.get_by_role("form", name="Make a task from this message")
    title = form.get_by_label("Task", exact=True)
    await expect(title).to_be_focused()
    await expect(title).to_have_value(ask)  # prefilled from the message
    await form.get_by_label("Kind").select_option(label="Call patient")
    await form.get_by_label("Priority").select_option(label="High")
    await form.get_by_label("Due (optional)").fill("2030-01-15T09:30")
    assert await serious_violations(care) == []
    await form.get_by_role("button", name="Make task").click()

    # The PCP never reloads: the thread's note arrives over her socket.
    note = notes_after(pcp, ask).filter(
        has_text=re.compile(r"Carmen Ruiz, LCSW made a task from message #\d+: call patient")
    )
    await expect(note).to_be_visible()
    await expect(care.get_by_role("status").filter(has_text="Task made.")).to_be_visible()

    await care.get_by_role("link", name="Open the worklist").click()
    mine = card(care, "Mine", ask)
    await expect(mine).to_contain_text(PATIENT)
    await expect(mine).to_contain_text("Call patient")
    await expect(mine).to_contain_text("High")
    await mine.get_by_role("button", name="Accept").click()
    await expect(mine.get_by_text("Accepted", exact=True)).to_be_visible()
    accepted = notes_after(pcp, ask).filter(
        has_text="Task (call patient) accepted by Carmen Ruiz, LCSW."
    )
    await expect(accepted).to_be_visible()

    # The task keeps its source message, takes comments and tells its history.
    await mine.get_by_role("button", name="Details, comments and history").click()
    await expect(mine.locator("blockquote")).to_contain_text(f"by Dr. Priya Chandra: {ask}")
    comment = "Left a voicemail; trying again tomorrow."
    await mine.get_by_label("Add a comment").fill(comment)
    await mine.get_by_role("button", name="Comment", exact=True).click()
    await expect(mine.get_by_role("list").filter(has_text=comment)).to_be_visible()
    await expect(mine.locator(".task-history")).to_contain_text(
        "You: changed its status (Open → Accepted)"
    )
    assert await serious_violations(care) == []


async def test_a_queue_task_claimed_in_one_browser_shows_claimed_in_the_others(
    people,  # type: ignore[no-untyped-def]
    live_server: str,
) -> None:
    # A second care manager, off Maria's care team: she sees the queue, not the patient.
    second_email = f"care-{uuid.uuid4().hex[:8]}@example.org"
    second_password = "second-care-manager-quiet-lake-42"
    async with httpx.AsyncClient(base_url=live_server) as client:
        admin = await api_sign_in(client, ADMIN, DEMO_PASSWORD)
        created = await client.post(
            "/api/v1/users",
            headers=admin,
            json={
                "email": second_email,
                "display_name": "Rosa Lind, RN",
                "role": "care_manager",
                "password": second_password,
            },
        )
        assert created.status_code == 201, created.text

    pcp: Page = await people(PCP)
    care: Page = await people(CARE, **PHONE)
    second: Page = await people(second_email, second_password)
    for page in (care, second):
        await open_worklist(page)

    await open_referral_thread(pcp)
    ask = f"Could a care manager set up the next PHQ-9? ({uuid.uuid4().hex[:6]})"
    await send(pcp, ask)
    message = pcp.locator("li.message").filter(has_text=ask)
    await message.get_by_role("button", name="Make a task").click()
    form = pcp.get_by_role("form", name="Make a task from this message")
    await form.get_by_label("Kind").select_option(label="Screening")
    await form.get_by_label("For").select_option(label="Care managers")
    await form.get_by_role("button", name="Make task").click()
    await expect(pcp.get_by_role("status").filter(has_text="Task made.")).to_be_visible()
    await open_worklist(pcp)
    asked = card(pcp, "Asked of others", ask)
    await expect(asked).to_contain_text("For Care managers (queue)")

    # Both care managers see it arrive in their queue, without a reload.
    queue = "Care managers' queue"
    for page in (care, second):
        await expect(card(page, queue, ask)).to_be_visible()
    assert await serious_violations(care) == []  # the worklist at 360 px
    assert await care.evaluate("document.documentElement.scrollWidth") <= 360

    await card(care, queue, ask).get_by_role("button", name="Claim").click()
    await expect(card(care, "Mine", ask)).to_contain_text("Accepted")
    await expect(card(care, queue, ask)).to_have_count(0)
    # The PCP's worklist follows: claimed by Carmen, accepted.
    await expect(asked).to_contain_text("For Carmen Ruiz, LCSW")
    await expect(asked).to_contain_text("Accepted")

    # The colleague who was too late (the task left her sight, so nothing told her)
    # is told plainly, and the task leaves her list.
    await card(second, queue, ask).get_by_role("button", name="Claim").click()
    await expect(second.get_by_role("alert")).to_have_text(
        "Someone else claimed this task first: it is on their worklist now."
    )
    await expect(second.get_by_role("listitem", name=ask)).to_have_count(0)


async def test_a_warm_handoff_is_accepted_by_the_consultant_and_the_pcp_sees_it_live(
    people,  # type: ignore[no-untyped-def]
) -> None:
    pcp: Page = await people(PCP)
    consultant: Page = await people(BH)
    await open_referral_thread(pcp)

    handoff = pcp.get_by_role("region", name="Warm handoff")
    await handoff.get_by_label("Note for the consultant (optional)").fill(
        "Exam room 4, PHQ-9 of 17"
    )
    await handoff.get_by_role("button", name="Patient is here now").click()
    await expect(handoff.get_by_role("status")).to_contain_text("waiting for an answer")

    # The consultant's prompt arrives live and takes the keyboard focus.
    prompt = consultant.get_by_role("alertdialog", name="Warm handoff: a patient is here now")
    await expect(prompt).to_contain_text("Dr. Priya Chandra asks you to see Maria Delgado now")
    await expect(prompt).to_contain_text("Exam room 4, PHQ-9 of 17")
    accept = prompt.get_by_role("button", name="Accept")
    await expect(accept).to_be_focused()
    assert await serious_violations(consultant) == []
    await consultant.keyboard.press("Enter")
    await expect(prompt).to_have_count(0)

    # The PCP sees it accepted, live, by name (the consultant joined the care team).
    await expect(handoff.get_by_role("status")).to_contain_text(
        re.compile(r"Accepted by Theo Grant, LPC after \d+ s\.")
    )
    # The newest note (the handoff's own "made a task" note came before it): an earlier
    # handoff's identical note in this thread must not pass for it.
    await expect(pcp.locator("li.message.system").last).to_contain_text(
        "Task (warm handoff) accepted by Theo Grant, LPC."
    )
    # On the consultant's worklist it is now theirs, with the patient's name.
    await open_worklist(consultant)
    await expect(
        consultant.get_by_role("region", name=re.compile("^Mine")).get_by_role(
            "listitem", name="Warm handoff: the patient is here now"
        )
    ).to_contain_text(PATIENT)


async def test_a_declined_warm_handoff_passes_to_the_next_consultant(
    people,  # type: ignore[no-untyped-def]
) -> None:
    pcp: Page = await people(PCP)
    consultant: Page = await people(BH, **PHONE)
    await open_worklist(pcp)
    handoff = pcp.get_by_role("region", name="Warm handoff")
    await handoff.get_by_label("Patient", exact=True).select_option(
        label=f"{PATIENT} (MRN RCH-100001)"
    )
    await handoff.get_by_role("button", name="Patient is here now").click()
    await expect(handoff.get_by_role("status")).to_contain_text("waiting for an answer")

    prompt = consultant.get_by_role("alertdialog", name="Warm handoff: a patient is here now")
    await expect(prompt.get_by_role("button", name="Accept")).to_be_focused()
    await consultant.keyboard.press("Tab")
    await consultant.keyboard.press("Enter")  # Decline…
    reason = prompt.get_by_label("Why are you declining?")
    await expect(reason).to_be_focused()
    assert await serious_violations(consultant) == []  # the prompt at 360 px
    await reason.fill("With a patient in crisis until 3 pm")
    await prompt.get_by_role("button", name="Decline", exact=True).click()
    await expect(prompt).to_have_count(0)

    # It went on to the psychiatrist at once, and the PCP hears where it went.
    await expect(handoff.get_by_role("status")).to_have_text(
        re.compile(r"Warm handoff sent to Dr\. Sam Okafor \(passed on once\): waiting")
    )

    # The psychiatrist declines too: nobody is left, so it goes back to the PCP, who reads
    # what happened and what to do now (the patient is still waiting).
    psychiatrist: Page = await people(PSYCHIATRIST)
    last = psychiatrist.get_by_role("alertdialog", name="Warm handoff: a patient is here now")
    await last.get_by_role("button", name="Decline…").click()
    await last.get_by_label("Why are you declining?").fill("Off site today")
    await last.get_by_role("button", name="Decline", exact=True).click()
    await expect(last).to_have_count(0)
    nobody_left = (
        "Both consultants declined this warm handoff, and no other consultant is available."
        " Last reason given: “Off site today”. The patient is still waiting: reach"
        " behavioral health another way (call the on-call clinician) or make a follow-up"
        " task, then cancel this handoff on your worklist."
    )
    await expect(handoff.get_by_role("status")).to_have_text(nobody_left)

    # The server holds it so: a reload asks neither consultant again.
    for page in (psychiatrist, consultant):
        await page.reload()
        await expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()
        await open_worklist(page)
        await expect(section(page, "Mine")).to_be_visible()
        await expect(page.get_by_role("alertdialog")).to_have_count(0)

    # On the PCP's worklist it is hers again, overdue, with the same words and the one
    # thing left to do: cancel it once behavioral health was reached another way.
    await pcp.reload()  # the worklist stays open across the reload
    await expect(pcp.get_by_role("heading", name="Worklist", level=1)).to_be_visible()
    back = card(pcp, "Mine", "Warm handoff: the patient is here now")
    await expect(back).to_contain_text("Overdue")
    await expect(back).to_contain_text("For you; asked by you")
    await expect(back.get_by_text(nobody_left)).to_be_visible()
    await expect(back.get_by_role("button", name="Cancel task…")).to_be_visible()
    await expect(back.get_by_role("button", name="Accept")).to_have_count(0)
    await expect(pcp.get_by_role("alertdialog")).to_have_count(0)
    assert await serious_violations(pcp) == []
