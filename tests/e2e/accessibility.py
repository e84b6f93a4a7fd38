"""axe-core in the page, for the browser tests: the serious and critical violations of
the page as it is now. The script is evaluated through the DevTools protocol, so the
app's Content-Security-Policy stays in force while it runs."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

AXE_SCRIPT = Path(__file__).resolve().parents[2] / "clients/web/node_modules/axe-core/axe.min.js"


async def serious_violations(page: Page) -> list[str]:
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
