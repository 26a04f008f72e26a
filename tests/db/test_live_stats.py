"""Campaign figures and their Server-Sent Events stream on a real PostgreSQL."""
import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from common import users
from common.http_auth import auth_middleware
from dialer import hopper, live
from dialer.stats import rates, timeline
from tests.db.test_hopper import begin, make_campaign, scoped


def test_rates_and_timeline_definitions():
    assert rates({}) == {"contact_rate": None, "abandonment_rate": None}
    r = rates({"answered_human": 30, "abandoned": 1, "no_answer": 60, "busy": 9})
    assert r["contact_rate"] == 31 / 100 and r["abandonment_rate"] == 1 / 31
    now = datetime(2026, 11, 23, 10, 7, tzinfo=timezone.utc)
    rows = [{"end_at": datetime(2026, 11, 23, 10, 5, tzinfo=timezone.utc), "disposition": "busy", "n": 2},
            {"end_at": datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc), "disposition": "busy", "n": 5}]
    buckets = timeline(rows, now)
    assert len(buckets) == 25 and buckets[-1] == {"at": "2026-11-23T10:05:00+00:00", "counts": {"busy": 2}}
    assert sum(sum(b["counts"].values()) for b in buckets) == 2  # older than two hours: not shown


async def test_stats_and_stream_follow_the_calls(pool):
    campaign_id = await make_campaign(pool, 3)
    leads = await hopper.claim(pool, campaign_id, scoped(campaign_id)("me"), 3, lease_s=60)
    first = await begin(pool, leads[0], scoped(campaign_id)("me"))
    token = await users.add_user(pool, f"s{uuid.uuid4().hex[:8]}", "supervisor", by="t")
    from dialer.compliance import policy, store

    await store.sync_packs(pool, policy.shipped_packs(), by="test")
    api = web.Application()
    live.add_routes(api, live.LiveContext(lambda: pool, agents_of=lambda queue: (3, 1), interval_s=0.1))
    app = web.Application(middlewares=[auth_middleware(lambda: pool)])
    app.add_subapp("/api/v1", api)
    client = TestClient(TestServer(app))
    await client.start_server()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        r = await client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=headers)
        figures = await r.json()
        assert figures["now"] == {"dialing": 1, "waiting": 0, "talking": 0, "agents_logged_in": 3,
                                  "agents_waiting": 1}
        assert figures["occupancy_now"] == 0 and figures["contacts"]["dialing"] == 1
        # the collection pack's budget: 3 % of live answers over its window, none used yet
        assert figures["abandonment_budget"]["abandoned"] == 0
        assert figures["abandonment_headroom"] == figures["abandonment_budget"]["max_rate"] > 0
        assert (await client.get("/api/v1/campaigns/999999999/stats", headers=headers)).status == 404
        assert (await client.get(f"/api/v1/campaigns/{campaign_id}/stats")).status == 401

        r = await client.get(f"/api/v1/campaigns/{campaign_id}/live", headers=headers)
        assert r.headers["Content-Type"].startswith("text/event-stream")

        async def next_event():
            lines = []
            while True:
                line = (await asyncio.wait_for(r.content.readline(), 5)).decode().rstrip("\n")
                if line == "" and lines:
                    return json.loads(next(x[6:] for x in lines if x.startswith("data: ")))
                if line:
                    lines.append(line)

        assert (await next_event())["now"]["dialing"] == 1
        await pool.execute("UPDATE attempts SET state = 'connected' WHERE id = $1", first.id)
        changed = await next_event()
        assert changed["now"]["talking"] == 1 and changed["now"]["dialing"] == 0
        assert changed["occupancy_now"] == 1 / 3
        r.close()
    finally:
        await client.close()
