"""Publishing policy pack versions and importing DNC files over HTTP, on a real PostgreSQL."""
import uuid

from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer

from common import users
from common.http_auth import auth_middleware
from common.pages.compliance import next_version
from dialer import policies_api
from dialer.compliance import store
from dialer.compliance.policy import load_pack_file, pack_dirs


async def client_for(pool):
    api = web.Application()
    policies_api.add_routes(api, pool)
    app = web.Application(middlewares=[auth_middleware(lambda: pool)])
    app.add_subapp("/api/v1", api)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_publish_a_changed_window_as_a_new_version(pool, tmp_path):
    shipped = load_pack_file(next(p for d in pack_dirs() for p in d.glob("us-tcpa.yaml")))
    name = f"t{uuid.uuid4().hex[:8]}"
    text = shipped.text.replace("pack: us-tcpa", f"pack: {name}", 1)
    officer = await users.add_user(pool, f"c{uuid.uuid4().hex[:8]}", "compliance", by="t")
    manager = await users.add_user(pool, f"m{uuid.uuid4().hex[:8]}", "campaign_manager", by="t")
    client = await client_for(pool)
    h = {"Authorization": f"Bearer {officer}"}
    try:
        r = await client.post("/api/v1/policies", data=text.encode(), headers=h)
        assert r.status == 201 and (await r.json())["version"] == shipped.version
        changed = next_version(text, shipped.version).replace('"08:00-21:00"', '"09:00-20:00"', 1)
        r = await client.post("/api/v1/policies", data=changed.encode(),
                              headers={"Authorization": f"Bearer {manager}"})
        assert r.status == 403  # managers cannot change policies
        r = await client.post("/api/v1/policies", data=text.encode(), headers=h)
        assert r.status == 409 and (await r.json())["error"]["field"] == "version"  # published versions never change
        r = await client.post("/api/v1/policies", data=b"pack: [broken", headers=h)
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_pack"
        r = await client.post("/api/v1/policies", data=changed.encode(), headers=h)
        assert r.status == 201, await r.text()
        versions = (await (await client.get(f"/api/v1/policies/{name}", headers=h)).json())["versions"]
        assert [v["version"] for v in versions] == [shipped.version + 1, shipped.version]
        assert versions[0]["windows"]["default"] == {"mon-sun": "09:00-20:00"}
        audit = await store.audit(pool, limit=20)
        assert any(a["actor"].startswith("c") and name in json_text(a) for a in audit)
    finally:
        await client.close()


def json_text(obj) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, default=str)


async def test_dnc_import_over_http(pool):
    officer = await users.add_user(pool, f"c{uuid.uuid4().hex[:8]}", "compliance", by="t")
    client = await client_for(pool)
    h = {"Authorization": f"Bearer {officer}"}
    base = 13900000000 + int(uuid.uuid4().int % 1_000_000) * 100
    try:
        form = FormData()
        form.add_field("file", f"phone\n{base}\n{base + 1}\nnot a number\n{base}\n".encode(), filename="dnc.csv")
        r = await client.post("/api/v1/dnc/import", data=form, headers=h)
        result = await r.json()
        assert r.status == 201 and result["rows_added"] == 2 and result["rows_invalid"] == 1, result
        assert await store.search_dnc(pool, f"+86{base + 1}")
        r = await client.post("/api/v1/dnc/import", data=b"{}", headers={**h, "Content-Type": "application/json"})
        assert r.status == 400 and (await r.json())["error"]["field"] == "file"
    finally:
        await client.close()


async def test_impact_shows_who_a_window_blocks(pool):
    from datetime import datetime, timezone

    from tests.db.test_hopper import make_campaign

    shipped = load_pack_file(next(p for d in pack_dirs() for p in d.glob("cn-collection.yaml")))
    name = f"t{uuid.uuid4().hex[:8]}"
    text = shipped.text.replace("pack: cn-collection", f"pack: {name}", 1)
    officer = await users.add_user(pool, f"c{uuid.uuid4().hex[:8]}", "compliance", by="t")
    campaign_id = await make_campaign(pool, 3)  # Shanghai mobiles (+86138...)
    await pool.execute("INSERT INTO campaign_policy (campaign_id, pack_name, selected_by) VALUES ($1, $2, 't')"
                       " ON CONFLICT (campaign_id) DO UPDATE SET pack_name = EXCLUDED.pack_name", campaign_id, name)
    client = await client_for(pool)
    h = {"Authorization": f"Bearer {officer}"}
    try:
        assert (await client.post("/api/v1/policies", data=text.encode(), headers=h)).status == 201
        narrower = next_version(text, shipped.version)
        narrower = narrower.replace('mon-sun: "08:00-22:00"', 'mon-sun: "09:00-10:00"', 1)
        assert narrower != next_version(text, shipped.version), "the pack's window line was not found"
        assert (await client.post("/api/v1/policies", data=narrower.encode(), headers=h)).status == 201
        at = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)  # 11:00 in Shanghai, a Tuesday
        r = await client.get(f"/api/v1/policies/{name}/impact?at={at.isoformat()}", headers=h)
        body = await r.json()
        assert r.status == 200, body
        mine = next(c for c in body["campaigns"] if c["campaign_id"] == campaign_id)
        assert mine == {"campaign_id": campaign_id, "campaign": "hopper test", "contacts_to_call": 3,
                        "blocked_now": 3, "blocked_now_before": 0}, body
        r = await client.get(f"/api/v1/policies/{name}/impact?at=2026-11-24T03:00:00", headers=h)
        assert r.status == 400 and (await r.json())["error"]["field"] == "at"
    finally:
        await client.close()
