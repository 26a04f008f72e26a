"""Operator pages in a real headless Chromium (Debian's `chromium`, driven by Playwright) against the
running service on embedded defaults: log in, upload a list and see its progress and row errors,
start a campaign and watch the dashboard update live, view and validate a flow diagram, change a
calling window and add a do-not-call number as compliance.
Screenshots go to test-artifacts/screenshots/.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import uuid

import aiohttp
import asyncpg
import pytest

from common.config import PROJECT_ROOT
from common.users import add_user
from tests.e2e.conftest import ADMIN_HEADERS, service_ports, start_service, stop_service

pytestmark = pytest.mark.e2e

SHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; `make system-deps` does it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        await b.close()


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def log_in(browser, base: str, token: str):
    context = await browser.new_context(bypass_csp=True)  # Playwright evaluates its waits as scripts
    page = await context.new_page()
    await page.goto(f"{base}/flows")  # not logged in: sent to the login page
    assert "/login" in page.url
    await page.fill("input[name=token]", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/flows")
    return page


async def test_operator_pages_in_a_real_browser(browser, asterisk_available, own_database_url, tmp_path):
    env = service_ports(f"e2e-pages-{os.getpid()}")
    service = await asyncio.to_thread(start_service, env, tmp_path / "service.log", own_database_url,
                                      PROJECT_ROOT / "flows", lambda h: h.get("status") in ("ok", "degraded"))
    base = service.http
    pool = await asyncpg.create_pool(own_database_url, min_size=1, max_size=2)
    try:
        manager_token = await add_user(pool, f"mgr{uuid.uuid4().hex[:6]}", "campaign_manager", by="e2e")
        designer_token = await add_user(pool, f"dsg{uuid.uuid4().hex[:6]}", "flow_designer", by="e2e")
        officer_token = await add_user(pool, f"cmp{uuid.uuid4().hex[:6]}", "compliance", by="e2e")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/api/v1/campaigns", headers=ADMIN_HEADERS, json={
                    "kind": "care", "name": "Browser test survey", "caller_id": "95588", "trunk": "PJSIP/nowhere",
                    "dial_mode": "progressive", "agent_queue": "nobody", "flow": "outbound_care",
                    "schedule": {"windows": {"mon-sun": "00:00-24:00"}}}) as r:
                assert r.status == 201, await r.text()
                campaign = await r.json()

        # --- a campaign manager uploads a list with two bad rows -------------------------------------
        page = await log_in(browser, base, manager_token)
        await page.goto(f"{base}/")
        await page.click(f"text=Browser test survey")
        await page.wait_for_selector("#state")
        assert (await page.inner_text("#state")) == "draft"
        await page.goto(f"{base}/campaigns/{campaign['id']}/upload")
        csv = tmp_path / "survey.csv"
        csv.write_text("phone,name\n13800000001,张伟\n13800000002,李娜\nnot-a-phone,Bad One\n"
                       "13800000003,王芳\n12,Too Short\n", encoding="utf-8")
        await page.set_input_files("input[type=file]", str(csv))
        await page.click("#upload button[type=submit]")
        await page.wait_for_selector("#upload-summary")
        summary = await page.inner_text("#upload-summary")
        assert "accepted 3" in summary and "rejected 2" in summary, summary
        await page.wait_for_selector("#upload-errors")
        errors = await page.inner_text("#upload-errors")
        assert "4" in errors and "6" in errors  # the bad rows' numbers (header is row 1)
        assert await page.get_attribute("#progress", "value") == "100"
        await shot(page, "upload-with-row-errors")

        # --- the dashboard updates live (Server-Sent Events) when the campaign starts -----------------
        await page.goto(f"{base}/campaigns/{campaign['id']}")
        await page.wait_for_function("document.body.dataset.updates >= '1'")
        assert (await page.inner_text("#contacts")).count("new") == 1
        await page.click("button[data-action=start]")
        # The survey's pack (cn-marketing) needs consent, which this list lacks: the gate excludes all
        # three contacts and the campaign finishes; the dashboard shows each step as it happens.
        await page.wait_for_function("document.querySelector('#state').textContent !== 'draft'", timeout=10_000)
        await page.wait_for_function("document.querySelector('#contacts').textContent.includes('excluded')",
                                     timeout=15_000)
        assert "excluded3" in (await page.inner_text("#contacts")).replace("\t", "").replace(" ", "")
        await page.wait_for_function("document.querySelector('#state').textContent === 'finished'", timeout=15_000)
        assert int(await page.evaluate("document.body.dataset.updates")) >= 2  # pushed, not reloaded
        assert "live" in await page.inner_text("#live-status")
        await shot(page, "campaign-dashboard")
        # a campaign manager may not deploy flows: no editor on the flow page
        await page.goto(f"{base}/flows/outbound_care")
        assert await page.query_selector("#deploy") is None

        # --- a flow designer views the diagram and validates a broken change --------------------------
        page = await log_in(browser, base, designer_token)
        await page.goto(f"{base}/flows/hotline")
        nodes = await page.locator("svg.flow-graph g.node").count()
        assert nodes >= 30
        text = await page.input_value("#flow-text")
        await page.fill("#flow-text", text.replace("next: language_menu", "next: nowhere", 1))
        await page.click("#validate")
        await page.wait_for_selector("#flow-result.error")
        assert "nowhere" in await page.inner_text("#flow-result")
        await shot(page, "flow-designer")

        # --- compliance changes a calling window (a new pack version) and adds a do-not-call entry ---
        page = await log_in(browser, base, officer_token)
        await page.goto(f"{base}/compliance")
        assert "09:00-12:00, 14:00-20:00" in await page.inner_text("table.packs")
        await page.goto(f"{base}/compliance/packs/cn-marketing")
        before = int(await page.inner_text("#pack-version"))
        text = await page.input_value("#pack-text")
        assert f"version: {before + 1}" in text  # the editor proposes the next version
        await page.fill("#pack-text", text.replace('mon-fri: "09:00-12:00, 14:00-20:00"',
                                                   'mon-fri: "09:30-12:00, 14:00-19:30"', 1))
        await page.click("#publish")
        await page.wait_for_selector("#pack-result.ok")
        await page.wait_for_function(f"document.querySelector('#pack-version').textContent === '{before + 1}'",
                                     timeout=10_000)
        assert "09:30-12:00, 14:00-19:30" in await page.inner_text("table.versions")
        await shot(page, "compliance-window-changed")
        await page.goto(f"{base}/compliance")
        await page.fill("#dnc-add input[name=phone]", "13800000002")
        await page.click("#dnc-add button")
        await page.wait_for_selector("#dnc-added.ok")
        await page.fill("#dnc-search input[name=phone]", "+8613800000002")
        await page.click("#dnc-search button")
        await page.wait_for_selector("#dnc-entries")
        assert "global" in await page.inner_text("#dnc-entries")
        await shot(page, "compliance-dnc")
        audit = await pool.fetch("SELECT actor, path, status FROM api_audit WHERE method = 'POST' ORDER BY id")
        assert any(a["path"] == "/api/v1/policies" and a["status"] == 201 for a in audit)
    finally:
        await pool.close()
        await asyncio.to_thread(stop_service, service)
