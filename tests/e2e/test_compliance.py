"""The compliance officer's audit review in a real browser: find a clinician's access to a
patient, export it as CSV and as FHIR, see that the chain verifies, and see nothing of
another organization. Also keyboard use, 360 px and axe-core on the screen.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from playwright.async_api import Browser, Download, Page, expect

from tests.e2e.accessibility import serious_violations
from tests.e2e.test_signin import DEMO_PASSWORD, api_sign_in, sign_in

COMPLIANCE = "compliance@example.org"
PCP = "pcp@example.org"
PCP_NAME = "Dr. Priya Chandra"
MARIA_MRN = "RCH-100001"


@asynccontextmanager
async def phone_page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    """A fresh page at a phone's width (360 px), where layout problems show first."""
    context = await browser.new_context(base_url=base_url, viewport={"width": 360, "height": 780})
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def downloaded_text(download: Download) -> str:
    path = Path(await download.path())
    return await asyncio.to_thread(path.read_text, encoding="utf-8")


async def user_id(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    return me.json()["user"]["id"]


async def open_audit_review(page: Page, email: str = COMPLIANCE) -> None:
    await page.goto("/")
    await sign_in(page, email, DEMO_PASSWORD)
    await expect(page.get_by_role("heading", name="Audit review", level=1)).to_be_visible()


async def test_the_officer_finds_the_pcps_access_to_a_patient_and_exports_it(
    page: Page, live_server: str
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        pcp = await api_sign_in(client, PCP, DEMO_PASSWORD)
        pcp_id = await user_id(client, pcp)
        found = await client.get("/api/v1/patients", params={"mrn": MARIA_MRN}, headers=pcp)
        patient_id = found.json()["patients"][0]["id"]
        read = await client.get(f"/api/v1/patients/{patient_id}", headers=pcp)
        assert read.status_code == 200, read.text

    await open_audit_review(page)
    await page.get_by_role("button", name="Check the audit chain").click()
    await expect(page.get_by_text(re.compile(r"^Intact\."))).to_be_visible()

    search = page.get_by_role("region", name="Search the audit log")
    await search.get_by_label("Patient MRN or phone").fill(MARIA_MRN)
    await search.get_by_role("button", name="Find patient").click()
    await expect(
        search.get_by_text("Maria Delgado (MRN RCH-100001, born 1979-04-12)")
    ).to_be_visible()
    await search.get_by_label("Action").select_option(label="Read")
    await search.get_by_role("button", name="Search", exact=True).click()

    rows = page.locator("table.audit-table tbody tr")
    pcp_rows = rows.filter(has_text=PCP_NAME)
    await expect(pcp_rows.first).to_be_visible()
    await pcp_rows.first.get_by_role("button", name=re.compile("^Details")).click()
    detail = page.get_by_role("dialog", name=re.compile(r"Audit event #\d+"))
    await expect(detail).to_contain_text(patient_id)
    await expect(detail).to_contain_text(pcp_id)
    await detail.get_by_role("button", name="Only this person's events").click()

    await expect(detail).to_have_count(0)
    # The person is now the picker's choice.
    await expect(search.get_by_label("User", exact=True)).to_have_value(pcp_id)
    await expect(rows.first).to_contain_text(PCP_NAME)
    assert await rows.count() == await pcp_rows.count()

    async with page.expect_download() as csv_download:
        await page.get_by_role("button", name="Download CSV").click()
    download = await csv_download.value
    assert download.suggested_filename.endswith(".csv")
    exported = list(csv.DictReader(io.StringIO(await downloaded_text(download))))
    assert exported, "the CSV holds the matching events"
    assert {(e["actor_user_id"], e["patient_id"], e["action"]) for e in exported} == {
        (pcp_id, patient_id, "read")
    }
    await expect(page.get_by_role("status").filter(has_text="Downloaded")).to_be_visible()

    async with page.expect_download() as fhir_download:
        await page.get_by_role("button", name="Download FHIR AuditEvents").click()
    bundle = json.loads(await downloaded_text(await fhir_download.value))
    assert bundle["resourceType"] == "Bundle"
    resources = [entry["resource"] for entry in bundle["entry"]]
    assert len(resources) == len(exported)
    assert {r["resourceType"] for r in resources} == {"AuditEvent"}
    assert all(
        r["agent"][0]["who"]["reference"] == f"Practitioner/{pcp_id}"
        and f"Patient/{patient_id}" in json.dumps(r["entity"])
        for r in resources
    )


async def test_the_officer_finds_a_person_by_name_with_the_keyboard(
    page: Page, live_server: str
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        pcp = await api_sign_in(client, PCP, DEMO_PASSWORD)
        pcp_id = await user_id(client, pcp)
        assert (await client.get("/api/v1/conversations", headers=pcp)).status_code == 200

    await open_audit_review(page)
    search = page.get_by_role("region", name="Search the audit log")
    picker = search.get_by_label("User", exact=True)
    # Staff only, by name and role: never a patient (the demo patient has an account).
    await expect(picker.locator("option", has_text=PCP_NAME)).to_have_count(1)  # loaded
    options = await picker.locator("option").all_inner_texts()
    assert options[0] == "Anyone"
    assert f"{PCP_NAME} — Primary-care provider" in options
    assert "Jordan Lee — Compliance officer" in options
    assert not [o for o in options if "Maria Delgado" in o or "Patient" in o]

    name = search.get_by_label("Find a person by name")
    await name.focus()
    await page.keyboard.type("chandra")
    await expect(search.get_by_text("1 of ")).to_have_text(re.compile(r"^1 of \d+ match\.$"))
    await page.keyboard.press("Enter")  # the only match is chosen; focus moves to the list
    await expect(picker).to_be_focused()
    await expect(picker).to_have_value(pcp_id)
    await search.get_by_role("button", name="Search", exact=True).focus()
    await page.keyboard.press("Enter")

    rows = search.locator("table.audit-table tbody tr")
    await expect(rows.first).to_contain_text(PCP_NAME)
    assert await rows.count() == await rows.filter(has_text=PCP_NAME).count()

    await picker.focus()
    await page.keyboard.press("Home")  # back to "Anyone", as in any list
    await expect(picker).to_have_value("")


async def test_break_glass_is_flagged_and_listed_in_the_accounting_of_disclosures(
    page: Page, live_server: str
) -> None:
    reason = "Covering for Dr. Chandra: patient called about a medication question"
    async with httpx.AsyncClient(base_url=live_server) as client:
        other_pcp = await api_sign_in(client, "pcp2@example.org", DEMO_PASSWORD)
        found = await client.get(
            "/api/v1/patients", params={"mrn": "RCH-100002"}, headers=other_pcp
        )
        assert found.json()["count"] == 0, "Dr. Novak is not on James Whitfield's care team"
        compliance = await api_sign_in(client, COMPLIANCE, DEMO_PASSWORD)
        lookup = await client.get(
            "/api/v1/patients", params={"mrn": "RCH-100002"}, headers=compliance
        )
        patient_id = lookup.json()["patients"][0]["id"]
        grant = await client.post(
            f"/api/v1/patients/{patient_id}/break-glass", headers=other_pcp, json={"reason": reason}
        )
        assert grant.status_code == 200, grant.text
        read = await client.get(f"/api/v1/patients/{patient_id}", headers=other_pcp)
        assert read.status_code == 200, read.text

    await open_audit_review(page)
    flagged = page.get_by_role("region", name="Flagged for review")
    # Two break-glass flags, newest first: the read under the grant, then the grant itself
    # with its reason. (Reads outside clinic hours may add after-hours flags.)
    novak_flags = (
        flagged.get_by_role("listitem")
        .filter(has_text="Dr. Lena Novak")
        .filter(has_text="Break-glass access")
    )
    await expect(novak_flags).to_have_count(2)
    flag = novak_flags.last
    await flag.get_by_role("button", name=re.compile(r"^Open event #")).click()
    detail = page.get_by_role("dialog")
    await expect(detail).to_contain_text(reason)
    await expect(detail).to_contain_text(patient_id)
    await detail.get_by_role("button", name="Close").click()
    await expect(detail).to_have_count(0)

    accounting = page.get_by_role("region", name="Accounting of disclosures")
    await accounting.get_by_label("Patient MRN or phone").fill("555-0102")
    await accounting.get_by_role("button", name="Find patient").click()
    await expect(accounting.get_by_text("James Whitfield (MRN RCH-100002")).to_be_visible()
    await accounting.get_by_role("button", name="List who accessed this record").click()
    novak = accounting.locator("tbody tr").filter(has_text="Dr. Lena Novak")
    await expect(novak).to_have_count(1)
    await expect(novak).to_contain_text("Break-glass")
    await expect(accounting.locator("tbody tr").filter(has_text=PCP_NAME)).to_have_count(1)


async def test_a_part_2_record_is_reviewed_by_its_record_id(page: Page, live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as client:
        pcp = await api_sign_in(client, PCP, DEMO_PASSWORD)
        found = await client.get("/api/v1/patients", params={"mrn": "RCH-100004"}, headers=pcp)
        part2_id = found.json()["patients"][0]["id"]

    await open_audit_review(page)
    search = page.get_by_role("region", name="Search the audit log")
    lookup = search.get_by_label("Patient MRN or phone")
    for unknown in ("RCH-999999", "RCH-100004"):
        await lookup.fill(unknown)
        await search.get_by_role("button", name="Find patient").click()
        await expect(search.get_by_role("alert")).to_contain_text(
            "No patient has that MRN or phone number."
        )

    await lookup.fill(part2_id)
    await search.get_by_role("button", name="Find patient").click()
    await expect(search.get_by_text(f"Patient: record {part2_id}")).to_be_visible()
    await search.get_by_role("button", name="Search", exact=True).click()
    rows = search.locator("table.audit-table tbody tr")
    await expect(rows.filter(has_text=PCP_NAME).first).to_be_visible()


async def test_an_officer_of_another_organization_sees_nothing_of_this_one(
    page: Page, live_server: str, huddle_cli: Callable[..., str]
) -> None:
    admin_email, password = "ines@hillcrest.example", "orchard-silver-kettle-drum-42"
    officer_email = "quinn@hillcrest.example"
    huddle_cli(
        *("org", "create", "--name", "Hillcrest Clinic"),
        *("--admin-email", admin_email, "--admin-name", "Ines Park"),
        HUDDLE_ADMIN_PASSWORD=password,
    )
    async with httpx.AsyncClient(base_url=live_server) as client:
        admin = await api_sign_in(client, admin_email, password)
        created = await client.post(
            "/api/v1/users",
            headers=admin,
            json={
                "email": officer_email,
                "display_name": "Quinn Avery",
                "role": "compliance_officer",
                "password": password,
            },
        )
        assert created.status_code == 201, created.text

    await page.goto("/")
    await sign_in(page, officer_email, password)
    await expect(page.get_by_role("heading", name="Audit review", level=1)).to_be_visible()
    await expect(page.get_by_text("Hillcrest Clinic").first).to_be_visible()
    results = page.locator("table.audit-table")
    await expect(results.first).to_be_visible()
    for demo_person in (PCP_NAME, "Carmen Ruiz, LCSW", "Jordan Lee", "Alex Admin"):
        await expect(page.get_by_text(demo_person)).to_have_count(0)
    # The people picker lists this organization's staff only.
    await expect(page.get_by_label("User", exact=True).locator("option")).to_have_text(
        ["Anyone", "Ines Park — Administrator", "Quinn Avery — Compliance officer"]
    )

    search = page.get_by_role("region", name="Search the audit log")
    await search.get_by_label("Patient MRN or phone").fill(MARIA_MRN)
    await search.get_by_role("button", name="Find patient").click()
    await expect(search.get_by_role("alert")).to_contain_text(
        "No patient has that MRN or phone number."
    )


async def test_the_audit_review_has_no_serious_accessibility_violations(
    browser: Browser, live_server: str
) -> None:
    async with phone_page(browser, live_server) as page:
        await open_audit_review(page)
        await expect(page.locator("table.audit-table").first).to_be_visible()
        await page.get_by_role("button", name="Check the audit chain").click()
        await expect(page.get_by_text(re.compile(r"^Intact\."))).to_be_visible()
        assert await serious_violations(page) == []

        # By keyboard: Enter opens an event, Escape closes it and focus returns to the row.
        details = page.get_by_role("button", name=re.compile("^Details")).first
        await details.focus()
        await page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_be_visible()
        assert await serious_violations(page) == []
        await page.keyboard.press("Escape")
        await expect(dialog).to_have_count(0)
        await expect(details).to_be_focused()
        # Usable at 360 px: only the tables' own regions scroll sideways, never the page.
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
