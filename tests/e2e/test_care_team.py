"""The care team's screens in real Chromium against a real server: two people (PCP and
care manager, each in their own browser context) converse live in the demo referral
thread, lose the network mid-conversation and end with identical threads; idle logoff
clears the page; another organization sees nothing. axe-core checks each screen."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from tests.e2e.accessibility import serious_violations
from tests.e2e.own_clinic import own_clinic
from tests.e2e.test_signin import DEMO_PASSWORD, api_sign_in, sign_in

PCP, CARE = "pcp@example.org", "care@example.org"
REFERRAL_THREAD = "Referral: Care management"
PATIENT = "Maria Delgado"
# The second PCP, a patient of her panel and a clinician on its team (see demo.py).
SECOND_PCP, SECOND_MRN, SECOND_PATIENT = "pcp2@example.org", "RCH-100011", "Keisha Martin"
COLLEAGUE, COLLEAGUE_EMAIL = "Theo Grant, LPC", "bh@example.org"


async def open_as(
    browser: Browser, base_url: str, email: str, password: str = DEMO_PASSWORD, **options: object
) -> Page:
    context = await browser.new_context(base_url=base_url, **options)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto("/")
    await sign_in(page, email, password)
    await expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()
    return page


@pytest.fixture
async def people(browser: Browser, live_server: str) -> AsyncIterator[Callable[..., object]]:
    opened: list[Page] = []

    async def open_page(email: str, **options: object) -> Page:
        page = await open_as(browser, live_server, email, **options)
        opened.append(page)
        return page

    yield open_page
    for page in opened:
        await page.context.close()


def shown_messages(page: Page):  # type: ignore[no-untyped-def]
    """Bodies of the confirmed messages in the open thread, in order."""
    return page.locator("ol.messages li.message:not(.pending) .body")


async def send(page: Page, text: str, *, urgent: bool = False) -> None:
    await page.get_by_label("Message", exact=True).fill(text)
    if urgent:
        await page.get_by_label("Urgent").check()
    await page.get_by_role("button", name="Send", exact=True).click()


async def test_pcp_and_care_manager_converse_live(people) -> None:  # type: ignore[no-untyped-def]
    pcp: Page = await people(PCP)
    care: Page = await people(CARE)
    assert await serious_violations(pcp) == []
    for page in (pcp, care):
        await page.get_by_role("link", name=REFERRAL_THREAD).click()
        await expect(
            page.get_by_role("heading", name=f"{PATIENT}: {REFERRAL_THREAD}")
        ).to_be_visible()
    await expect(care.get_by_role("button", name="Mark accepted")).to_be_visible()
    assert await serious_violations(care) == []

    await send(pcp, "Maria's PHQ-9 went up to 17 today.", urgent=True)
    mine = care.locator("li.message").filter(has_text="PHQ-9 went up to 17")
    await expect(mine).to_be_visible()
    await expect(mine.get_by_text("Urgent")).to_be_visible()
    # Reading it shows up on the sender's side.
    await expect(pcp.get_by_text("Read by Carmen Ruiz, LCSW")).to_be_visible()

    await mine.get_by_role("button", name="Reply").click()
    await care.get_by_label("Message", exact=True).fill("I'll call her this afternoon")
    await expect(pcp.get_by_text("Carmen Ruiz, LCSW is typing…")).to_be_visible()
    await care.get_by_role("button", name="Send", exact=True).click()
    answer = pcp.locator("li.message").filter(has_text="call her this afternoon")
    await expect(answer).to_be_visible()
    await expect(answer).to_contain_text("Replying to Dr. Priya Chandra: Maria's PHQ-9")

    # The receiver accepts the referral; the status change reaches both sides.
    await care.get_by_role("button", name="Mark accepted").click()
    for page in (pcp, care):
        await expect(page.get_by_role("button", name="Mark scheduled")).to_be_visible()

    # An edit and its history, then a redaction, seen live on the other side.
    own = pcp.locator("li.message").filter(has_text="PHQ-9 went up to 17")
    await own.get_by_role("button", name="Edit").click()
    await pcp.get_by_label("Edit message").fill("Maria's PHQ-9 went up to 18 today.")
    await pcp.get_by_role("button", name="Save").click()
    edited = care.locator("li.message").filter(
        has_text="PHQ-9 went up to 18", has_not_text="Replying"
    )
    await expect(edited).to_be_visible()
    await edited.get_by_role("button", name="Edited — show history").click()
    await expect(edited.get_by_role("list", name="Earlier versions")).to_contain_text("up to 17")
    await (
        pcp.locator("li.message")
        .filter(has_text="up to 18")
        .get_by_role("button", name="Delete")
        .click()
    )
    await pcp.get_by_role("button", name="Confirm delete").click()
    await expect(care.get_by_text("This message was deleted.")).to_be_visible()
    await expect(care.get_by_text("PHQ-9 went up to 18")).to_have_count(0)
    assert (
        await shown_messages(pcp).all_inner_texts() == await shown_messages(care).all_inner_texts()
    )


async def test_a_network_cut_mid_conversation_loses_and_doubles_nothing(people) -> None:  # type: ignore[no-untyped-def]
    pcp: Page = await people(PCP)
    care: Page = await people(CARE)
    for page in (pcp, care):
        await page.get_by_role("link", name="Thread with the patient").click()
    await send(pcp, "Before the cut")
    await expect(care.get_by_text("Before the cut")).to_be_visible()

    await care.context.set_offline(True)
    await expect(care.get_by_role("status")).to_contain_text("Offline")
    await send(pcp, "Sent while you were offline (1)")
    await send(pcp, "Sent while you were offline (2)")
    await send(care, "Typed while offline")
    await expect(care.locator("li.pending")).to_have_text(
        ["Carmen Ruiz, LCSW Sending…Typed while offline"]
    )
    await expect(pcp.get_by_text("Sent while you were offline (2)")).to_be_visible()

    await care.context.set_offline(False)
    await expect(care.get_by_text("Sent while you were offline (2)")).to_be_visible()
    await expect(pcp.get_by_text("Typed while offline")).to_be_visible()
    await expect(care.locator("li.pending")).to_have_count(0)
    await send(pcp, "After the cut")
    await expect(care.get_by_text("After the cut")).to_be_visible()
    # Compare once the PCP's own copy is confirmed too (pending ones are not shown_messages).
    await expect(pcp.locator("li.pending")).to_have_count(0)

    pcp_thread = await shown_messages(pcp).all_inner_texts()
    await expect(shown_messages(care)).to_have_text(pcp_thread)
    assert pcp_thread.count("Typed while offline") == 1
    assert pcp_thread.count("Sent while you were offline (1)") == 1


async def thread_of_second_pcp(client: httpx.AsyncClient) -> str:
    """A new thread of the second PCP's about a patient of her panel, with the
    behavioral-health clinician (nobody else in the browser tests writes to either)."""
    headers = await api_sign_in(client, SECOND_PCP, DEMO_PASSWORD)
    found = await client.get("/api/v1/patients", params={"mrn": SECOND_MRN}, headers=headers)
    patient_id = found.json()["patients"][0]["id"]
    team = await client.get(f"/api/v1/patients/{patient_id}/care-team", headers=headers)
    (clinician,) = [m for m in team.json()["members"] if m["display_name"] == COLLEAGUE]
    created = await client.post(
        "/api/v1/conversations",
        json={"kind": "staff", "patient_id": patient_id, "member_ids": [clinician["user_id"]]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def writer_into(
    client: httpx.AsyncClient, conversation: str
) -> Callable[[str], Awaitable[None]]:
    """The colleague's send into `conversation`, over the API."""
    colleague = await api_sign_in(client, COLLEAGUE_EMAIL, DEMO_PASSWORD)

    async def colleague_writes(text: str) -> None:
        sent = await client.post(
            f"/api/v1/conversations/{conversation}/messages",
            json={"body": text},
            headers=colleague,
        )
        assert sent.status_code == 201, sent.text

    return colleague_writes


async def test_idle_logoff_happens_while_a_colleague_keeps_writing_into_the_open_thread(
    browser: Browser, live_server: str
) -> None:
    """Messages arriving live, the read receipts and list refreshes they cause are the
    page's own traffic, not the person's: an unattended screen still signs out on time
    and drops every trace of the patient (HIPAA automatic logoff)."""
    context = await browser.new_context(base_url=live_server)
    async with httpx.AsyncClient(base_url=live_server) as client:
        conversation = await thread_of_second_pcp(client)
        colleague_writes = await writer_into(client, conversation)

        try:
            page = await context.new_page()
            await page.clock.install()
            await page.goto("/")
            await sign_in(page, SECOND_PCP, DEMO_PASSWORD)
            await page.locator(f'a[href="/conversations/{conversation}"]').click()
            await expect(page.get_by_role("heading", name=SECOND_PATIENT)).to_be_visible()
            # Let the opening requests finish: opening the thread is activity.
            await page.clock.run_for("00:02")
            await page.wait_for_load_state("networkidle")

            # The demo clinic signs out after 15 minutes without activity (the page 15 s
            # sooner); a message arrives in the open thread every minute meanwhile.
            for minute in range(1, 14):
                await colleague_writes(f"Still waiting on the labs ({minute})")
                await expect(shown_messages(page).last).to_have_text(
                    f"Still waiting on the labs ({minute})"
                )
                await page.clock.run_for("01:00")
            await colleague_writes("Still waiting on the labs (14)")
            await expect(shown_messages(page).last).to_have_text("Still waiting on the labs (14)")
            await page.clock.run_for("00:45")
            warning = page.get_by_role("alertdialog", name="Still there?")
            await expect(warning).to_be_visible()
            await expect(warning.get_by_role("button", name="Stay signed in")).to_be_focused()
            await colleague_writes("Still waiting on the labs (15)")
            await expect(shown_messages(page).last).to_have_text("Still waiting on the labs (15)")
            await page.clock.run_for("01:00")

            await expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
            await expect(page.get_by_role("alert")).to_have_text(
                "You were signed out after a period of inactivity."
            )
            content = await page.content()
            assert SECOND_PATIENT not in content
            assert "Still waiting on the labs" not in content
            assert await context.cookies() == []
        finally:
            await context.close()


async def test_a_message_sent_while_the_socket_connects_shows_in_the_open_thread(
    browser: Browser, live_server: str
) -> None:
    """The thread is read over REST while the socket is held back; a colleague's message
    sent in between is in neither that page nor any frame (it precedes the socket's
    starting point), so the page must read the thread again once the socket is live."""
    context = await browser.new_context(base_url=live_server)
    held: list[WebSocketRoute] = []

    def hold(socket: WebSocketRoute) -> None:
        held.append(socket)

    await context.route_web_socket("**/api/v1/ws", hold)
    async with httpx.AsyncClient(base_url=live_server) as client:
        conversation = await thread_of_second_pcp(client)
        colleague_writes = await writer_into(client, conversation)

        try:
            await colleague_writes("Before you opened the thread")
            page = await context.new_page()
            await page.goto("/")
            await sign_in(page, SECOND_PCP, DEMO_PASSWORD)
            await page.locator(f'a[href="/conversations/{conversation}"]').click()
            await expect(shown_messages(page)).to_have_text(["Before you opened the thread"])
            await expect(page.get_by_text("Reconnecting…")).to_be_visible()

            await colleague_writes("While your page was connecting")
            held[0].connect_to_server()
            await expect(page.get_by_text("Reconnecting…")).to_be_hidden()
            await expect(shown_messages(page)).to_have_text(
                ["Before you opened the thread", "While your page was connecting"]
            )
            await colleague_writes("Once you were live")
            await expect(shown_messages(page)).to_have_text(
                [
                    "Before you opened the thread",
                    "While your page was connecting",
                    "Once you were live",
                ]
            )
        finally:
            await context.close()


async def test_a_user_of_another_organization_sees_nothing(
    browser: Browser, live_server: str, huddle_cli: Callable[..., str]
) -> None:
    admin_email, password = "ana@hillside.example", "hillside-quiet-river-stone-42"
    huddle_cli(
        *("org", "create", "--name", "Hillside Clinic"),
        *("--admin-email", admin_email, "--admin-name", "Ana Admin"),
        HUDDLE_ADMIN_PASSWORD=password,
    )
    async with httpx.AsyncClient(base_url=live_server) as client:
        admin = await api_sign_in(client, admin_email, password)
        created = await client.post(
            "/api/v1/users",
            headers=admin,
            json={
                "email": "pcp@hillside.example",
                "display_name": "Dr. Hill",
                "role": "pcp",
                "password": password,
            },
        )
        assert created.status_code in (200, 201), created.text
        pcp = await api_sign_in(client, PCP, DEMO_PASSWORD)
        demo_threads = (await client.get("/api/v1/conversations", headers=pcp)).json()
    demo_thread = demo_threads["conversations"][0]["id"]

    context = await browser.new_context(base_url=live_server)
    try:
        page = await context.new_page()
        await page.goto("/")
        await sign_in(page, "pcp@hillside.example", password)
        await expect(page.get_by_text("No conversations yet.")).to_be_visible()
        await page.goto(f"/conversations/{demo_thread}")
        await expect(page.get_by_role("alert")).to_be_visible()
        await expect(page.locator("li.message")).to_have_count(0)
        assert PATIENT not in await page.content()
    finally:
        await context.close()


async def test_a_referral_made_with_the_keyboard_opens_its_thread(people) -> None:  # type: ignore[no-untyped-def]
    pcp: Page = await people(PCP)
    await pcp.get_by_role("link", name="Conversations").focus()
    await pcp.keyboard.press("Tab")
    new_referral = pcp.get_by_role("link", name="New referral")
    await expect(new_referral).to_be_focused()
    # Focus is visible: a solid outline, not the browser's faint default.
    outline = await new_referral.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    await pcp.keyboard.press("Enter")
    await expect(pcp.get_by_role("heading", name="New referral")).to_be_focused()
    assert await serious_violations(pcp) == []

    await pcp.get_by_label("Patient", exact=True).select_option(label=f"{PATIENT} (MRN RCH-100001)")
    await pcp.get_by_label("Refer to").select_option(label="Psychiatry")
    await pcp.get_by_label("Urgency").select_option(label="Urgent")
    await pcp.get_by_label("Reason").fill("Medication review: partial response to sertraline")
    await pcp.get_by_label("Reason").press("Tab")
    await pcp.keyboard.press("Tab")  # past the warm-handoff box, to the button
    await pcp.keyboard.press("Enter")

    await expect(
        pcp.get_by_role("heading", name=f"{PATIENT}: Referral: Psychiatry")
    ).to_be_visible()
    panel = pcp.get_by_role("region", name="Referral to Psychiatry")
    await expect(panel).to_contain_text("Sent")
    await expect(panel).to_contain_text("partial response to sertraline")
    await pcp.get_by_role("link", name="Conversations").click()
    await expect(pcp.get_by_text("urgent · Sent")).to_be_visible()


async def test_attachments_upload_and_download(people) -> None:  # type: ignore[no-untyped-def]
    pcp: Page = await people(PCP)
    care: Page = await people(CARE)
    for page in (pcp, care):
        await page.get_by_role("link", name="Thread with the patient").click()
    note = b"Sleep diary, week 3: 6.5 h a night on average.\n"
    # A name of this run's own: the demo thread keeps what earlier tests uploaded.
    name = f"sleep-diary-{uuid.uuid4().hex[:6]}.txt"

    await pcp.get_by_label("Attach a file").set_input_files(
        files=[{"name": name, "mimeType": "text/plain", "buffer": note}]
    )
    await pcp.get_by_role("button", name="Upload").click()
    await expect(pcp.get_by_role("link", name=name)).to_be_visible()

    # The care manager's list is read again when the thread moves on.
    await send(pcp, "I attached Maria's sleep diary")
    link = care.get_by_role("link", name=name)
    await expect(link).to_be_visible()
    async with care.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename == name
    assert Path(await download.path()).read_bytes() == note  # noqa: ASYNC240 (a small file)

    await pcp.get_by_label("Attach a file").set_input_files(
        files=[
            {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90\x00"}
        ]
    )
    await pcp.get_by_role("button", name="Upload").click()
    await expect(pcp.get_by_role("region", name="Attachments").get_by_role("alert")).to_be_visible()
    await expect(pcp.get_by_role("link", name="tool.exe")).to_have_count(0)


MAPLE_STAFF = [
    ("park", "Dr. Ines Park", "pcp"),
    ("ortega", "Luis Ortega", "care_manager"),
    ("soto", "Dr. Rafael Soto", "psychiatrist"),
]
MAPLE_PATIENT = "Nora Quinn"


async def maple_clinic(client: httpx.AsyncClient, huddle_cli: Callable[..., str]) -> str:
    """A clinic of its own (the demo clinic's care teams are other tests' ground): a PCP
    alone on her patient's care team, a staff thread about that patient with the
    psychiatrist, and a care manager who could join. Returns their password."""
    password = "maple-quarry-lantern-fig-29"
    ids = await own_clinic(
        client,
        huddle_cli,
        name="Maple Clinic",
        domain="maple.example",
        admin=("admin", "Maple Admin"),
        staff=MAPLE_STAFF,
        password=password,
    )
    pcp = await api_sign_in(client, "park@maple.example", password)
    record = {"full_name": MAPLE_PATIENT, "date_of_birth": "1981-07-04", "mrn": "MPL-1"}
    patient = (await client.post("/api/v1/patients", headers=pcp, json=record)).json()
    thread = {"kind": "staff", "patient_id": patient["id"], "member_ids": [ids["soto"]]}
    created = await client.post("/api/v1/conversations", headers=pcp, json=thread)
    assert created.status_code == 201, created.text
    return password


async def test_a_clinician_adds_and_removes_a_care_team_member_in_the_patients_thread(
    browser: Browser, live_server: str, huddle_cli: Callable[..., str]
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        password = await maple_clinic(client, huddle_cli)
        pcp: Page = await open_as(browser, live_server, "park@maple.example", password)
        try:
            await pcp.get_by_role("link", name="Dr. Rafael Soto").click()
            await expect(pcp.get_by_role("heading", name=MAPLE_PATIENT)).to_be_visible()
            team = pcp.get_by_role("region", name="Care team")
            members = team.get_by_role("listitem")
            await expect(members).to_have_text(["Dr. Ines Park (you)Primary-care providerRemove"])
            assert await serious_violations(pcp) == []

            # The last member cannot leave: the server says why.
            await team.get_by_role("button", name="Remove Dr. Ines Park from the care team").click()
            await expect(team.get_by_text("You will no longer see")).to_be_visible()
            await team.get_by_role("button", name="Yes, remove").click()
            await expect(team.get_by_role("alert")).to_have_text(
                "A patient must keep at least one care-team member."
            )

            colleague = team.get_by_label("Add a colleague")
            await expect(colleague.locator("option")).to_have_text(
                [
                    "Choose a colleague",
                    "Dr. Rafael Soto (Consulting psychiatrist)",
                    "Luis Ortega (Care manager)",
                ]
            )
            await colleague.select_option(label="Luis Ortega (Care manager)")
            await team.get_by_role("button", name="Add to care team").click()
            await expect(team.get_by_role("status")).to_have_text(
                "Luis Ortega joined the care team."
            )
            await expect(members).to_have_text(
                [
                    "Dr. Ines Park (you)Primary-care providerRemove",
                    "Luis OrtegaCare managerRemove",
                ]
            )
            assert await serious_violations(pcp) == []
            ortega = await api_sign_in(client, "ortega@maple.example", password)
            listed = (await client.get("/api/v1/patients", headers=ortega)).json()["patients"]
            assert [p["full_name"] for p in listed] == [MAPLE_PATIENT]

            await team.get_by_role("button", name="Remove Luis Ortega from the care team").click()
            await team.get_by_role("button", name="Yes, remove").click()
            await expect(team.get_by_role("status")).to_have_text("Luis Ortega left the care team.")
            await expect(members).to_have_text(["Dr. Ines Park (you)Primary-care providerRemove"])
            listed = (await client.get("/api/v1/patients", headers=ortega)).json()["patients"]
            assert listed == []
        finally:
            await pcp.context.close()
