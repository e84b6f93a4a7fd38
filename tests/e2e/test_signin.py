"""Signing in and out of the web client in a real browser, as a person would.

Each test uses its own demo account (or its own clinic), so the order they run in and
the sign-in throttle of one account never matter to another.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from playwright.async_api import Page, expect

from huddle.identity import totp

DEMO_PASSWORD = "correct-violet-lantern-7"
DEMO_CLINIC = "Riverside Community Health (demo)"


async def sign_in(page: Page, email: str, password: str) -> None:
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in_heading(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("heading", name="Sign in", exact=True)


async def api_sign_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    answer = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_demo_pcp_signs_in_sees_who_they_are_and_signs_out(page: Page) -> None:
    await page.goto("/")
    await sign_in(page, "pcp@example.org", DEMO_PASSWORD)

    await expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()
    banner = page.get_by_role("banner")
    await expect(banner.get_by_text("Dr. Priya Chandra", exact=True)).to_be_visible()
    await expect(banner.get_by_text("Primary-care provider", exact=True)).to_be_visible()
    await expect(banner.get_by_text(DEMO_CLINIC, exact=True)).to_be_visible()

    await page.get_by_role("button", name="Sign out").click()

    await expect(sign_in_heading(page)).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("You have signed out.")
    await expect(page.get_by_label("E-mail")).to_have_value("")
    await expect(page.get_by_label("Password")).to_have_value("")
    await expect(page.get_by_text("Dr. Priya Chandra")).to_have_count(0)


async def test_wrong_password_shows_the_servers_message_and_clears_the_field(
    page: Page,
) -> None:
    await page.goto("/")
    await sign_in(page, "care@example.org", "not-the-right-password")

    await expect(page.get_by_role("alert")).to_have_text("The e-mail or password is incorrect.")
    password = page.get_by_label("Password")
    await expect(password).to_have_value("")
    await expect(password).to_be_focused()
    await expect(page.get_by_label("E-mail")).to_have_value("care@example.org")
    await expect(sign_in_heading(page)).to_be_visible()


async def test_a_deep_link_loads_the_app(page: Page) -> None:
    response = await page.goto("/conversations/123")

    assert response is not None
    assert response.status == 200
    await expect(sign_in_heading(page)).to_be_visible()
    await expect(page.get_by_label("E-mail")).to_be_focused()


async def test_the_app_runs_under_the_content_security_policy(page: Page) -> None:
    console: list[str] = []
    page_errors: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    response = await page.goto("/")
    assert response is not None
    # The policy really is in force, so a clean console means the app obeys it.
    assert "script-src 'self'" in response.headers["content-security-policy"]
    await sign_in(page, "pcp@example.org", DEMO_PASSWORD)
    await page.get_by_role("link", name="Thread with the patient").click()
    await expect(
        page.get_by_role("log", name="Messages").get_by_role("listitem")
    ).not_to_have_count(0)
    await page.get_by_role("button", name="Sign out").click()
    await expect(sign_in_heading(page)).to_be_visible()

    assert [text for text in console if "Content Security Policy" in text] == []
    assert page_errors == []


async def test_tokens_live_only_in_http_only_cookies_the_page_cannot_read(page: Page) -> None:
    await page.goto("/")
    await sign_in(page, "pcp@example.org", DEMO_PASSWORD)
    await expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()

    assert await page.evaluate("localStorage.length") == 0
    assert await page.evaluate("sessionStorage.length") == 0
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert set(cookies) == {"huddle_access", "huddle_refresh", "huddle_csrf"}
    assert cookies["huddle_access"]["httpOnly"]
    assert cookies["huddle_refresh"]["httpOnly"]
    assert {c["sameSite"] for c in cookies.values()} == {"Strict"}
    # The page sees only the CSRF token, never a token that signs requests.
    assert await page.evaluate("document.cookie") == (
        f"huddle_csrf={cookies['huddle_csrf']['value']}"
    )
    # A reload keeps the session (the cookies), and signing out ends it for good.
    await page.reload()
    await expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(sign_in_heading(page)).to_be_visible()
    assert await page.context.cookies() == []
    await page.reload()
    await expect(sign_in_heading(page)).to_be_visible()


async def test_a_locked_account_says_how_long_to_wait(page: Page, live_server: str) -> None:
    # An account of its own, in a role no other test counts on: a demo account locked
    # here would lock other tests out, and a new consultant would join warm handoffs.
    email, password = f"locked-{uuid.uuid4().hex[:8]}@example.org", "locked-out-quiet-fern-42"
    async with httpx.AsyncClient(base_url=live_server) as client:
        admin = await api_sign_in(client, "admin@example.org", DEMO_PASSWORD)
        created = await client.post(
            "/api/v1/users",
            headers=admin,
            json={
                "email": email,
                "display_name": "Lee Park",
                "role": "compliance_officer",
                "password": password,
            },
        )
        assert created.status_code == 201, created.text
        for _ in range(5):
            refused = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": "guess"}
            )
            assert refused.status_code == 401

    await page.goto("/")
    await sign_in(page, email, password)

    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("locked")
    await expect(alert).to_contain_text(
        re.compile(r"try again in (about \d+ minutes?|\d+ seconds?)\.")
    )
    await expect(sign_in_heading(page)).to_be_visible()


async def test_a_session_ended_elsewhere_sends_the_person_back_to_sign_in(
    page: Page, live_server: str
) -> None:
    await page.goto("/")
    await sign_in(page, "compliance@example.org", DEMO_PASSWORD)
    await expect(page.get_by_role("heading", name="Audit review")).to_be_visible()

    # An administrator deactivates and reactivates the account: its sessions end at once.
    async with httpx.AsyncClient(base_url=live_server) as client:
        admin = await api_sign_in(client, "admin@example.org", DEMO_PASSWORD)
        users = (await client.get("/api/v1/users", headers=admin)).json()["users"]
        user_id = next(u["id"] for u in users if u["email"] == "compliance@example.org")
        for action in ("deactivate", "reactivate"):
            answer = await client.post(f"/api/v1/users/{user_id}/{action}", headers=admin)
            assert answer.status_code == 200, answer.text

    await page.get_by_role("button", name="Sign out").click()

    await expect(page.get_by_role("alert")).to_have_text(
        "Your session has ended. Please sign in again."
    )
    await expect(sign_in_heading(page)).to_be_visible()
    await sign_in(page, "compliance@example.org", DEMO_PASSWORD)
    await expect(page.get_by_role("heading", name="Audit review")).to_be_visible()


async def test_mandatory_mfa_enrolment_then_a_recovery_code_sign_in(
    page: Page, live_server: str, huddle_cli: Callable[..., str]
) -> None:
    email, password = "morgan@lakeside.example", "harbor-quiet-maple-stone-91"
    huddle_cli(
        *("org", "create", "--name", "Lakeside Clinic"),
        *("--admin-email", email, "--admin-name", "Morgan Reyes"),
        HUDDLE_ADMIN_PASSWORD=password,
    )
    async with httpx.AsyncClient(base_url=live_server) as client:
        admin = await api_sign_in(client, email, password)
        changed = await client.patch(
            "/api/v1/organization", headers=admin, json={"mfa_required": True}
        )
        assert changed.status_code == 200, changed.text

    await page.goto("/")
    await sign_in(page, email, password)
    await expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    secret = (await page.locator("code.secret").inner_text()).replace(" ", "")
    await expect(page.locator("code.uri")).to_contain_text("otpauth://totp/")
    await page.get_by_label("6-digit code").fill(totp.code_at(secret, datetime.now(UTC)))
    await page.get_by_role("button", name="Turn on two-step sign-in").click()

    await expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    recovery_codes = await page.locator("ol.codes code").all_inner_texts()
    assert len(recovery_codes) == 10
    await page.get_by_role("button", name="I have saved these").click()
    await expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    await expect(page.get_by_text("Lakeside Clinic", exact=False).first).to_be_visible()

    await page.get_by_role("button", name="Sign out").click()
    await sign_in(page, email, password)
    await expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
    await page.get_by_label("Code").fill("12345")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_have_text("The code is not valid.")
    await expect(page.get_by_label("Code")).to_have_value("")

    await page.get_by_label("Code").fill(recovery_codes[0])
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Administration")).to_be_visible()
