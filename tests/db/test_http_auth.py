"""The auth middleware on a real PostgreSQL: tokens, sessions with CSRF, roles, fail-closed routes, rate limits."""
import uuid

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from common import users
from common.auth import RateLimiter
from common.http_auth import SESSION_COOKIE, USER, auth_middleware, requires


@requires("dnc.write")
async def add_dnc(request):
    return web.json_response({"by": request[USER].name})


@requires("campaigns.read")
async def campaigns(request):
    return web.json_response({"by": request[USER].name})


@requires("lists.upload")
async def upload(request):
    return web.json_response({"ok": True})


async def unmarked(request):
    return web.json_response({"oops": True})


async def health(request):
    return web.json_response({"status": "ok"})


async def client_for(pool, limiter=None):
    app = web.Application(middlewares=[auth_middleware(lambda: pool, upload_limiter=limiter)])
    app.router.add_get("/health", health)
    app.router.add_post("/api/v1/dnc", add_dnc)
    app.router.add_get("/api/v1/campaigns", campaigns)
    app.router.add_post("/api/v1/lists", upload)
    app.router.add_get("/api/v1/unmarked", unmarked)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def name():
    return f"u{uuid.uuid4().hex[:10]}"


async def test_tokens_roles_and_fail_closed(pool):
    manager, officer = name(), name()
    m_token = await users.add_user(pool, manager, "campaign_manager", by="t")
    c_token = await users.add_user(pool, officer, "compliance", by="t")
    client = await client_for(pool)
    try:
        assert (await client.get("/health")).status == 200  # public
        r = await client.get("/api/v1/campaigns")
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthenticated"
        r = await client.get("/api/v1/campaigns", headers={"Authorization": "Bearer bcc_" + "x" * 43})
        assert r.status == 401
        r = await client.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {m_token}"})
        assert r.status == 200 and (await r.json()) == {"by": manager}
        r = await client.post("/api/v1/dnc", headers={"Authorization": f"Bearer {m_token}"})
        body = await r.json()
        assert r.status == 403 and "dnc.write" in body["error"]["message"]
        r = await client.post("/api/v1/dnc", headers={"Authorization": f"Bearer {c_token}"})
        assert r.status == 200 and (await r.json()) == {"by": officer}
        r = await client.get("/api/v1/unmarked", headers={"Authorization": f"Bearer {c_token}"})
        assert r.status == 403  # no permission on the route: nobody gets in
        audit = await pool.fetch("SELECT actor, method, path, status FROM api_audit WHERE actor = ANY($1) AND"
                                 " method = 'POST' ORDER BY id", [manager, officer])
        assert [(a["actor"], a["path"], a["status"]) for a in audit] == [
            (manager, "/api/v1/dnc", 403), (officer, "/api/v1/dnc", 200)]  # refused writes are on record too
        assert await pool.fetchval("SELECT count(*) FROM api_audit WHERE method = 'USER' AND target = $1", manager) == 1
        import asyncpg
        import pytest
        with pytest.raises(asyncpg.RaiseError):
            await pool.execute("UPDATE api_audit SET actor = 'nobody' WHERE actor = $1", manager)
        with pytest.raises(asyncpg.RaiseError):
            await pool.execute("DELETE FROM api_audit WHERE actor = $1", manager)
    finally:
        await client.close()


async def test_sessions_need_csrf_for_writes(pool):
    officer = name()
    await users.add_user(pool, officer, "compliance", by="t")
    session_id, session = await users.open_session(pool, users.User(officer, "compliance"))
    client = await client_for(pool)
    try:
        cookies = {SESSION_COOKIE: session_id}
        assert (await client.get("/api/v1/campaigns", cookies=cookies)).status == 200
        r = await client.post("/api/v1/dnc", cookies=cookies)
        assert r.status == 403 and (await r.json())["error"]["code"] == "csrf"
        r = await client.post("/api/v1/dnc", cookies=cookies, headers={"X-CSRF-Token": "wrong"})
        assert r.status == 403
        r = await client.post("/api/v1/dnc", cookies=cookies, headers={"X-CSRF-Token": session.csrf_token})
        assert r.status == 200
        r = await client.post("/api/v1/dnc", cookies=cookies, data={"csrf_token": session.csrf_token})
        assert r.status == 200
        r = await client.get("/api/v1/campaigns", cookies={SESSION_COOKIE: "nope"}, headers={"Accept": "text/html"},
                             allow_redirects=False)
        assert r.status == 302 and r.headers["Location"].startswith("/login")
    finally:
        await client.close()


async def test_uploads_are_rate_limited_per_user(pool):
    manager = name()
    token = await users.add_user(pool, manager, "campaign_manager", by="t")
    now = [0.0]
    client = await client_for(pool, RateLimiter(rate=0.1, burst=2, clock=lambda: now[0]))
    try:
        statuses = [(await client.post("/api/v1/lists", headers={"Authorization": f"Bearer {token}"})).status
                    for _ in range(3)]
        assert statuses == [200, 200, 429]
        r = await client.post("/api/v1/lists", headers={"Authorization": f"Bearer {token}"})
        assert r.headers["Retry-After"] == "10"
    finally:
        await client.close()
