"""The administrator's screen in a real browser: create an account that can then sign in,
deactivate and reactivate it, reset its second factor, change the organization's idle
timeout, see nothing of another organization, and no serious accessibility violations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from playwright.async_api import Browser, Page, expect

from huddle.identity import totp
from tests.e2e.accessibility import serious_violations
from tests.e2e.own_clinic import own_clinic
from tests.e2e.test_compliance import phone_page
from tests.e2e.test_signin import DEMO_PASSWORD, api_sign_in, sign_in

ADMIN = "admin@example.org"


async def open_administration(page: Page, email: str = ADMIN, password: str = DEMO_PASSWORD):
    await page.goto("/")
    await sign_in(page, email, password)
    await expect(page.get_by_role("heading", name="Administration", level=1)).to_be_visible()


@asynccontextmanager
async def fresh_page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    """A page in a browser context of its own: another person, or a later visit."""
    context = await browser.new_context(base_url=base_url)
    try:
        yield await context.new_page()
    finally:
        await context.close()


def user_row(page: Page, name: str):  # type: ignore[no-untyped-def]
    users = page.get_by_role("region", name="Users", exact=True)
    return users.locator("tbody tr").filter(has_text=name)


async def confirm(page: Page, action: str, name: str) -> None:
    await user_row(page, name).get_by_role("button", name=f"{action} for {name}").click()
    await page.get_by_role("button", name=f"Yes, {action.lower()}").click()


async def test_an_admin_creates_a_user_who_can_sign_in_then_manages_the_account(
    page: Page, browser: Browser, live_server: str
) -> None:
    name, email, password = "Robin Hale", "robin@example.org", "quiet-harbor-lantern-2026"
    await open_administration(page)

    form = page.get_by_role("region", name="Add a user")
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("E-mail").fill(email)
    await form.get_by_label("Role").select_option(label="Care manager")
    await form.get_by_label("Initial password").fill("too-short")
    await form.get_by_role("button", name="Create user").click()
    await expect(form.get_by_role("alert")).to_contain_text("at least 15 characters")

    await form.get_by_label("Initial password").fill(password)
    await form.get_by_role("button", name="Create user").click()
    await expect(form.get_by_role("status")).to_have_text(f"Created {name} (Care manager).")
    await expect(user_row(page, name)).to_contain_text("Active")
    await expect(form.get_by_label("Name")).to_have_value("")

    # The new person signs in in a browser of their own.
    async with fresh_page(browser, live_server) as robin:
        await robin.goto("/")
        await sign_in(robin, email, password)
        await expect(robin.get_by_role("button", name="Sign out")).to_be_visible()

    async with httpx.AsyncClient(base_url=live_server) as client:
        # Robin turns on two-step sign-in, so the admin has a second factor to reset.
        robin_api = await api_sign_in(client, email, password)
        enrol = await client.post("/api/v1/me/mfa/enrol", headers=robin_api)
        code = totp.code_at(enrol.json()["secret"], datetime.now(UTC))
        confirmed = await client.post(
            "/api/v1/me/mfa/confirm", headers=robin_api, json={"code": code}
        )
        assert confirmed.status_code == 200, confirmed.text

        # The admin comes back later (a new visit) and finds the second factor on.
        async with fresh_page(browser, live_server) as admin:
            await open_administration(admin)
            await expect(user_row(admin, name)).to_contain_text("Two-step sign-in on")
            await confirm(admin, "Reset two-step sign-in", name)
            await expect(admin.get_by_role("status")).to_have_text(
                f"{name} must set up two-step sign-in again."
            )
            await expect(user_row(admin, name)).to_contain_text("Password only")

            await confirm(admin, "Deactivate", name)
            await expect(admin.get_by_role("status")).to_have_text(f"{name} is deactivated.")
            await expect(user_row(admin, name)).to_contain_text("Deactivated")
            refused = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": password}
            )
            assert refused.status_code == 401

            await confirm(admin, "Reactivate", name)
            await expect(admin.get_by_role("status")).to_have_text(f"{name} can sign in again.")
            await expect(user_row(admin, name)).to_contain_text("Active")
            assert await api_sign_in(client, email, password)


async def test_an_admin_changes_the_idle_timeout(page: Page, live_server: str) -> None:
    await open_administration(page)
    settings = page.get_by_role("region", name="Organization settings")
    idle = settings.get_by_label("Automatic sign-out after (minutes idle)")
    await expect(idle).to_have_value("15")

    await idle.fill("90")
    await settings.get_by_role("button", name="Save settings").click()
    problem = settings.get_by_text("Enter a whole number of minutes from 1 to 60.")
    await expect(problem).to_be_visible()
    await expect(idle).to_have_attribute("aria-invalid", "true")
    await expect(idle).to_be_focused()

    await idle.fill("20")
    await settings.get_by_role("button", name="Save settings").click()
    await expect(settings.get_by_role("status")).to_have_text("Settings saved.")
    async with httpx.AsyncClient(base_url=live_server) as client:
        admin = await api_sign_in(client, ADMIN, DEMO_PASSWORD)
        saved = (await client.get("/api/v1/organization", headers=admin)).json()
        assert saved["idle_timeout_minutes"] == 20
        restored = await client.patch(
            "/api/v1/organization", headers=admin, json={"idle_timeout_minutes": 15}
        )
        assert restored.status_code == 200, restored.text


async def test_an_admin_sets_clinic_hours_the_after_hours_reply_and_who_is_on_call(
    page: Page, live_server: str, huddle_cli: Callable[..., str]
) -> None:
    # A clinic of its own, so the on-call change cannot touch other tests' demo clinic.
    email, password = "sam@ashford.example", "willow-amber-compass-tide-73"
    huddle_cli(
        *("org", "create", "--name", "Ashford Clinic"),
        *("--admin-email", email, "--admin-name", "Sam Ito"),
        HUDDLE_ADMIN_PASSWORD=password,
    )
    async with httpx.AsyncClient(base_url=live_server) as client:
        admin = await api_sign_in(client, email, password)
        clinician = {
            "email": "kai@ashford.example",
            "display_name": "Dr. Kai Moreno",
            "role": "psychiatrist",
            "password": password,
        }
        created = await client.post("/api/v1/users", headers=admin, json=clinician)
        assert created.status_code == 201, created.text

        await open_administration(page, email, password)
        settings = page.get_by_role("region", name="Organization settings")
        await settings.get_by_label("Closes").fill("17:30")
        await settings.get_by_label("Saturday").check()
        reply = "We are closed. If this is an emergency, call 911 or go to the nearest ER."
        await settings.get_by_label("Automatic reply to patients after hours").fill(reply)
        await settings.get_by_label("On call").select_option(
            label="Dr. Kai Moreno (Consulting psychiatrist)"
        )
        await settings.get_by_role("button", name="Save settings").click()
        await expect(settings.get_by_role("status")).to_have_text("Settings saved.")

        saved = (await client.get("/api/v1/organization", headers=admin)).json()
        assert saved["clinic_closes"] == "17:30"
        assert saved["clinic_days"].split(",")[-1] == "sat"
        assert saved["after_hours_reply"] == reply
        assert saved["on_call_user_id"] == created.json()["id"]


async def test_an_admin_of_another_organization_sees_only_their_own(
    page: Page, huddle_cli: Callable[..., str]
) -> None:
    email, password = "dana@brookside.example", "meadow-copper-violin-train-58"
    huddle_cli(
        *("org", "create", "--name", "Brookside Clinic"),
        *("--admin-email", email, "--admin-name", "Dana Wolfe"),
        HUDDLE_ADMIN_PASSWORD=password,
    )
    await open_administration(page, email, password)

    await expect(page.get_by_text("Brookside Clinic").first).to_be_visible()
    users = page.get_by_role("region", name="Users", exact=True).locator("tbody tr")
    await expect(users).to_have_count(1)
    await expect(users).to_contain_text("Dana Wolfe")
    for demo_person in ("Alex Admin", "Dr. Priya Chandra", "Jordan Lee", "Carmen Ruiz, LCSW"):
        await expect(page.get_by_text(demo_person)).to_have_count(0)


async def test_the_admin_screen_has_no_serious_accessibility_violations(
    browser: Browser, live_server: str
) -> None:
    async with phone_page(browser, live_server) as page:
        await open_administration(page)
        await expect(page.get_by_role("region", name="Organization settings")).to_be_visible()
        assert await serious_violations(page) == []
        # Usable at 360 px: only the tables' own regions scroll sideways, never the page.
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360


CEDAR_STAFF = [
    ("ames", "Dr. Ruth Ames", "pcp"),
    ("brooks", "Nia Brooks", "care_manager"),
    ("reyes", "Omar Reyes", "care_manager"),
]
CEDAR_PATIENTS = ["Ada Finch", "Bo Lindqvist", "Cyrus Vale"]


async def cedar_clinic(client: httpx.AsyncClient, huddle_cli: Callable[..., str]) -> str:
    """A clinic of its own (moving the demo clinic's care teams would change other tests'):
    a PCP whose three patients all have Nia Brooks, a care manager who is leaving, on
    their team, and the first also Omar Reyes. Returns the password of all of them."""
    password = "cedar-lantern-harbor-quill-61"
    ids = await own_clinic(
        client,
        huddle_cli,
        name="Cedar Clinic",
        domain="cedar.example",
        admin=("tan", "Mei Tan"),
        staff=CEDAR_STAFF,
        password=password,
    )
    pcp = await api_sign_in(client, "ames@cedar.example", password)
    for n, name in enumerate(CEDAR_PATIENTS):
        record = {"full_name": name, "date_of_birth": f"1970-05-0{n + 1}", "mrn": f"CDR-{n}"}
        patient = (await client.post("/api/v1/patients", headers=pcp, json=record)).json()
        for login in ["brooks", "reyes"][: 2 if n == 0 else 1]:
            member = {"user_id": ids[login], "team_role": "care_manager"}
            team = f"/api/v1/patients/{patient['id']}/care-team"
            assert (await client.post(team, headers=pcp, json=member)).status_code == 200
    # Nia is leaving: her account is off, and her patients must stay covered.
    admin = await api_sign_in(client, "tan@cedar.example", password)
    off = await client.post(f"/api/v1/users/{ids['brooks']}/deactivate", headers=admin)
    assert off.status_code == 200
    return password


async def test_an_admin_transfers_a_leavers_caseload_and_sees_the_counts_change(
    page: Page, live_server: str, huddle_cli: Callable[..., str]
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        password = await cedar_clinic(client, huddle_cli)
        await open_administration(page, "tan@cedar.example", password)
        care_teams = page.get_by_role("region", name="Care teams")
        caseloads = care_teams.get_by_role("region", name="Caseloads of 3 clinicians")
        nia, omar = (caseloads.locator("tr").filter(has_text=who) for who in ("Nia", "Omar"))
        await expect(nia).to_have_text("Nia BrooksCare managerDeactivated3")
        await expect(omar).to_have_text("Omar ReyesCare managerActive1")

        await care_teams.get_by_label("From").select_option(
            label="Nia Brooks (Care manager, deactivated, 3 care teams)"
        )
        # Only an active colleague with the same role can take it (not Dr. Ames, a PCP).
        await expect(care_teams.get_by_label("To").locator("option")).to_have_text(
            ["Choose a colleague", "Omar Reyes (Care manager, 1 care team)"]
        )
        await care_teams.get_by_label("To").select_option(
            label="Omar Reyes (Care manager, 1 care team)"
        )
        await care_teams.get_by_role("button", name="Transfer caseload").click()
        question = care_teams.get_by_text("Move Nia Brooks's 3 care teams to Omar Reyes?")
        await expect(question).to_be_visible()
        assert await serious_violations(page) == []
        await care_teams.get_by_role("button", name="Yes, transfer").click()
        await expect(care_teams.get_by_role("status")).to_have_text(
            "Moved 3 care teams from Nia Brooks to Omar Reyes (Omar Reyes was already on 1 of "
            "them). Omar Reyes is now on 3 care teams."
        )
        await expect(nia).to_have_text("Nia BrooksCare managerDeactivated0")
        await expect(omar).to_have_text("Omar ReyesCare managerActive3")
        # Nia has nothing left to move; nothing on the page names a patient.
        await expect(care_teams.get_by_label("From").locator("option")).to_have_text(
            [
                "Choose whose caseload",
                "Dr. Ruth Ames (Primary-care provider, 3 care teams)",
                "Omar Reyes (Care manager, 3 care teams)",
            ]
        )
        content = await page.content()
        assert [name for name in CEDAR_PATIENTS if name in content] == []

        # Omar now reaches each of those patients (and is on each team once).
        omar_api = await api_sign_in(client, "reyes@cedar.example", password)
        listed = (await client.get("/api/v1/patients", headers=omar_api)).json()["patients"]
        assert sorted(p["full_name"] for p in listed) == CEDAR_PATIENTS
