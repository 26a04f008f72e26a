"""Operator pages on a real PostgreSQL: log in with a token, a session cookie, pages by role, logout."""
import re
import uuid

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from common import users
from common.auth import RateLimiter
from common.config import PROJECT_ROOT
from common.http_auth import SESSION_COOKIE, auth_middleware
from common.pages import PagesContext, add_pages
from common.pages.analytics import add_api_routes
from ivr.flow_registry import FlowRegistry
from ivr.prompts import PromptCatalog
from tests.db.test_hopper import make_campaign


async def client_for(pool, limiter=None):
    registry = FlowRegistry(PROJECT_ROOT / "flows", PromptCatalog.load(PROJECT_ROOT / "prompts" / "catalog.yaml"))
    registry.load_all()
    app = web.Application(middlewares=[auth_middleware(lambda: pool)])
    add_pages(app, PagesContext(lambda: pool, registry, login_limiter=limiter))
    api = web.Application()
    add_api_routes(api)
    app.add_subapp("/api/v1", api)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def log_in(client, token):
    r = await client.post("/login", data={"token": token, "next": "/flows"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/flows"
    cookie = r.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    return {SESSION_COOKIE: cookie.value}


async def test_login_pages_by_role_and_logout(pool):
    designer = f"d{uuid.uuid4().hex[:8]}"
    token = await users.add_user(pool, designer, "flow_designer", by="t")
    campaign_id = await make_campaign(pool, 2)
    client = await client_for(pool)
    try:
        r = await client.get("/flows", headers={"Accept": "text/html"}, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/login?next=/flows"
        r = await client.post("/login", data={"token": "bcc_" + "x" * 43})
        assert r.status == 401 and "not valid" in await r.text()
        cookies = await log_in(client, token)
        r = await client.get("/flows", cookies=cookies)
        html = await r.text()
        assert r.status == 200 and "outbound_collection" in html and designer in html
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
        r = await client.get("/flows/hotline", cookies=cookies)
        html = await r.text()
        assert r.status == 200 and "<svg" in html and 'id="deploy"' in html and "flow-graph" in html
        assert (await client.get("/flows/nope", cookies=cookies)).status == 404
        r = await client.get(f"/campaigns/{campaign_id}", cookies=cookies)
        assert r.status == 200 and "bankcc.dashboard" in await r.text()  # designers may read campaigns
        r = await client.get(f"/campaigns/{campaign_id}/upload", cookies=cookies)
        assert r.status == 403  # but not upload lists
        r = await client.get("/analytics", cookies=cookies)
        assert r.status == 200 and "Containment" in await r.text()
        assert (await client.get("/api/v1/analytics/ivr?days=abc", cookies=cookies)).status == 400
        r = await client.get("/static/app.js")
        assert r.status == 200 and "EventSource" in await r.text()
        assert (await client.get("/static/../../etc/passwd")).status == 404
        assert (await client.get("/static/secrets.txt")).status == 404
        r = await client.post("/logout", cookies=cookies, data={"csrf_token": csrf}, allow_redirects=False)
        assert r.status == 303
        assert (await client.get("/flows", cookies=cookies, allow_redirects=False)).status in (302, 401)
    finally:
        await client.close()


async def test_login_is_rate_limited_and_never_redirects_away(pool):
    token = await users.add_user(pool, f"m{uuid.uuid4().hex[:8]}", "campaign_manager", by="t")
    now = [0.0]
    client = await client_for(pool, RateLimiter(rate=1 / 60, burst=3, clock=lambda: now[0]))
    try:
        r = await client.post("/login", data={"token": token, "next": "//evil.example/"}, allow_redirects=False)
        assert r.status == 303 and r.headers["Location"] == "/"
        statuses = [(await client.post("/login", data={"token": "wrong"})).status for _ in range(3)]
        assert statuses == [401, 401, 429]
        r = await client.post("/login", data={"token": token})
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0  # even the right token waits
    finally:
        await client.close()
