"""Screenshots of each main screen of the web client for the README (`make screenshots`).

Starts a real `huddle serve` with the demo clinic in a temporary directory (as the
browser tests do), signs in as each demo user in Debian's Chromium and saves PNGs under
the directory given (default docs/screenshots/). The web client must be built first.

    python -m tests.e2e.screenshots [OUTPUT_DIR]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

from tests.e2e.conftest import CHROMIUM_ARGS, WEB_DIST
from tests.live_server import ServerProcess, load_demo, server_environment
from tests.services import CHROMIUM

DEMO_PASSWORD = "correct-violet-lantern-7"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


async def signed_in(browser: Browser, base_url: str, email: str, viewport: dict[str, int]) -> Page:
    """A page of a new browser context, signed in as `email`, showing their first screen."""
    context = await browser.new_context(base_url=base_url, viewport=viewport)
    page = await context.new_page()
    await page.goto("/")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await settle(page)
    return page


async def settle(page: Page) -> None:
    """Wait until the screen has loaded what it shows (WebSockets do not count)."""
    await page.wait_for_load_state("networkidle")
    await expect(page.locator("[aria-busy=true]")).to_have_count(0)


async def scroll_to_top_of(page: Page, selector: str) -> None:
    await page.locator(selector).evaluate("section => section.scrollIntoView()")


async def shoot(page: Page, directory: Path, name: str, *, full_page: bool = False) -> None:
    await settle(page)
    await page.screenshot(path=directory / f"{name}.png", full_page=full_page)
    print(f"saved {directory / name}.png")


async def take_all(base_url: str, directory: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await (await browser.new_context(base_url=base_url, viewport=DESKTOP)).new_page()
            await page.goto("/")
            await shoot(page, directory, "sign-in")

            page = await signed_in(browser, base_url, "pcp@example.org", DESKTOP)
            # Lists load once the live connection is up: wait for what they show.
            first_conversation = page.locator("a[href^='/conversations/']").first
            await expect(first_conversation).to_be_visible()
            await expect(page.locator("main h2").first).not_to_have_text("Patient")  # the name
            await shoot(page, directory, "conversations")
            await first_conversation.click()
            await expect(page.locator("li.message").first).to_be_visible()
            await shoot(page, directory, "thread", full_page=True)
            await page.goto("/referrals/new")
            await expect(page.locator("#referral-form-title")).to_be_visible()
            await shoot(page, directory, "referral-form")

            page = await signed_in(browser, base_url, "care@example.org", DESKTOP)
            await page.goto("/tasks")
            await expect(page.locator("li.task").first).to_be_visible()
            await shoot(page, directory, "worklist")

            page = await signed_in(browser, base_url, "patient@example.org", PHONE)
            await shoot(page, directory, "patient")

            page = await signed_in(browser, base_url, "compliance@example.org", DESKTOP)
            await page.get_by_role("button", name="Check the audit chain").click()
            await expect(page.get_by_text("Intact.")).to_be_visible()
            await shoot(page, directory, "audit-review")
            await scroll_to_top_of(page, "#audit-search")
            await shoot(page, directory, "audit-search")
            await page.get_by_role("button", name="Details").first.click()
            await expect(page.get_by_role("dialog")).to_be_visible()
            await shoot(page, directory, "audit-event")

            page = await signed_in(browser, base_url, "admin@example.org", DESKTOP)
            await shoot(page, directory, "administration")
            await scroll_to_top_of(page, "#organization")
            await shoot(page, directory, "organization-settings")
            await scroll_to_top_of(page, "#care-teams")
            await shoot(page, directory, "care-teams")
        finally:
            await browser.close()


def main() -> None:
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots").resolve()
    if not (WEB_DIST / "index.html").is_file():
        sys.exit(f"the web client is not built ({WEB_DIST / 'index.html'}): run `make web`")
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="huddle-screenshots-") as home:
        env = server_environment(Path(home), HUDDLE_WEB_DIST_DIR=str(WEB_DIST))
        # The page's origin must be the public URL's, or its WebSocket is refused.
        env["HUDDLE_PUBLIC_URL"] = f"http://127.0.0.1:{env['HUDDLE_PORT']}"
        load_demo(env)
        server = ServerProcess(env, Path(home) / "serve.log")
        server.start()
        try:
            asyncio.run(take_all(server.base_url, directory))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
