"""Attempts and dispositions API on a real PostgreSQL: filters, pagination, CSV export, flow results."""
import csv
import io
import json
import uuid

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from common import users
from common.http_auth import auth_middleware
from dialer import attempts_api, hopper
from tests.db.test_hopper import begin, make_campaign, scoped


async def test_attempts_filters_pages_and_export(pool):
    campaign_id = await make_campaign(pool, 5)
    leads = await hopper.claim(pool, campaign_id, scoped(campaign_id)("me"), 5, lease_s=60)
    made = [await begin(pool, lead, scoped(campaign_id)("me")) for lead in leads]
    for a, disposition in zip(made, ["busy", "busy", "machine", "answered_human", "no_answer"]):
        await pool.execute("UPDATE attempts SET state = 'ended', disposition = $2, end_at = now() WHERE id = $1",
                           a.id, disposition)
    await pool.execute("UPDATE attempts SET disposition_reason = '=HYPERLINK(\"x\")' WHERE id = $1", made[0].id)
    await pool.execute("INSERT INTO calls (channel, unique_id, flow_name, flow_version, language, started_at,"
                       " attempt_id, results) VALUES ('c', 'u', 'outbound_collection', 'v', 'zh-CN', now(), $1,"
                       " '{\"promise_to_pay\": true}')", made[3].id)
    token = await users.add_user(pool, f"m{uuid.uuid4().hex[:8]}", "campaign_manager", by="t")
    designer = await users.add_user(pool, f"d{uuid.uuid4().hex[:8]}", "flow_designer", by="t")
    api = web.Application()
    attempts_api.add_routes(api, pool)
    app = web.Application(middlewares=[auth_middleware(lambda: pool)])
    app.add_subapp("/api/v1", api)
    client = TestClient(TestServer(app))
    await client.start_server()
    h = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/campaigns/{campaign_id}"
    try:
        page = await (await client.get(f"{base}/attempts?limit=2", headers=h)).json()
        assert [a["id"] for a in page["attempts"]] == [made[4].id, made[3].id] and "before=" in page["next"]
        page2 = await (await client.get(page["next"], headers=h)).json()
        assert [a["id"] for a in page2["attempts"]] == [made[2].id, made[1].id]
        busy = await (await client.get(f"{base}/attempts?disposition=busy", headers=h)).json()
        assert {a["id"] for a in busy["attempts"]} == {made[0].id, made[1].id}
        one = await (await client.get(f"{base}/attempts?phone=%2B8613800000003", headers=h)).json()
        assert [a["results"] for a in one["attempts"]] == [{"promise_to_pay": True}]
        for bad, field in (("disposition=happy", "disposition"), ("phone=123", "phone"), ("since=yesterday", "since"),
                           ("since=2026-11-23T00:00:00", "since"), ("limit=0", "limit"), ("before=x", "before")):
            r = await client.get(f"{base}/attempts?{bad}", headers=h)
            assert r.status == 400 and (await r.json())["error"]["field"] == field, bad
        r = await client.get(f"{base}/attempts.csv", headers=h)
        text = (await r.read()).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [int(x["id"]) for x in rows] == [a.id for a in made]
        assert rows[0]["disposition_reason"].startswith("'=")  # a formula is never exported live
        assert rows[0]["phone"] == "+8613800000000"
        assert json.loads(rows[3]["results"]) == {"promise_to_pay": True}
        d = await (await client.get(f"{base}/dispositions", headers=h)).json()
        assert d["totals"] == {"busy": 2, "machine": 1, "answered_human": 1, "no_answer": 1}
        r = await client.get(f"{base}/attempts", headers={"Authorization": f"Bearer {designer}"})
        assert r.status == 403  # flow designers do not read attempts
    finally:
        await client.close()
