"""The patient's portal in real Chromium at a phone's width (360 px): Maria signs in,
sees only her own thread, replies (the care team sees it live), and reads who has viewed
her record. axe-core checks each screen."""

from __future__ import annotations

import uuid

from playwright.async_api import Browser, Page, expect

from tests.e2e.accessibility import serious_violations
from tests.e2e.test_signin import DEMO_PASSWORD, sign_in

PHONE = {"width": 360, "height": 740}


async def fits_the_screen(page: Page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


async def test_the_patient_signs_in_replies_and_reads_her_access_log(
    browser: Browser, live_server: str
) -> None:
    patient_context = await browser.new_context(base_url=live_server, viewport=PHONE)
    staff_context = await browser.new_context(base_url=live_server)
    try:
        page = await patient_context.new_page()
        await page.goto("/")
        assert await serious_violations(page) == []
        await sign_in(page, "patient@example.org", DEMO_PASSWORD)

        await expect(
            page.get_by_role("heading", name="Messages with your care team")
        ).to_be_visible()
        await expect(page.get_by_text("How have you been sleeping?")).to_be_visible()
        # Only her own thread: the referral between the PCP and care manager is not hers.
        await expect(page.get_by_text("Referral", exact=False)).to_have_count(0)
        await expect(page.get_by_label("Urgent")).to_have_count(0)
        assert await fits_the_screen(page)
        assert await serious_violations(page) == []

        staff = await staff_context.new_page()
        await staff.goto("/")
        await sign_in(staff, "care@example.org", DEMO_PASSWORD)
        await staff.get_by_role("link", name="Thread with the patient").click()

        # Her own words this run: the demo thread keeps what earlier tests wrote.
        reply = f"Sleeping through the night now! ({uuid.uuid4().hex[:6]})"
        await page.get_by_label("Message", exact=True).fill(reply)
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(staff.locator("li.message").filter(has_text=reply)).to_be_visible()
        await expect(
            page.locator("li.message:not(.pending)").filter(has_text=reply)
        ).to_be_visible()

        await page.get_by_role("link", name="Who viewed my record").click()
        log = page.get_by_role("table")
        await expect(log).to_be_visible()
        await expect(log.get_by_role("row")).not_to_have_count(1)  # more than the header
        await expect(log).to_contain_text("Carmen Ruiz, LCSW")
        assert await fits_the_screen(page)
        assert await serious_violations(page) == []
    finally:
        await patient_context.close()
        await staff_context.close()
