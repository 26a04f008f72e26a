"""The campaign scheduler on a real PostgreSQL and a real APScheduler: it starts, pauses at the
window's end, resumes, finishes, and never resumes a campaign a person paused."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dialer import campaigns
from dialer.scheduler import CampaignScheduler
from tests.db.test_hopper import RULES

SH = ZoneInfo("Asia/Shanghai")


async def make(pool, state: str = "draft", contacts_zones=("Asia/Shanghai",), **schedule) -> int:
    spec = campaigns.validate_campaign({
        "kind": "care", "name": "schedule test", "caller_id": "95588", "trunk": "PJSIP/bankcc-sim",
        "dial_mode": "progressive", "agent_queue": f"q-{uuid.uuid4().hex[:12]}", "flow": "none",
        "retry_rules": RULES, "schedule": schedule})
    campaign = await campaigns.create_campaign(pool, spec, by="test")
    await pool.executemany("INSERT INTO contacts (campaign_id, phone, time_zone) VALUES ($1, $2, $3)",
                           [(campaign["id"], f"+86138{i:08d}", z) for i, z in enumerate(contacts_zones)])
    if state in ("running", "paused"):
        await campaigns.apply_action(pool, campaign["id"], "start", by="manager")
    if state == "paused":
        await campaigns.apply_action(pool, campaign["id"], "pause", by="manager")
    return campaign["id"]


async def state_and_actor(pool, campaign_id):
    row = await pool.fetchrow("SELECT c.state, e.actor FROM campaigns c JOIN campaign_events e ON e.campaign_id = c.id"
                              " WHERE c.id = $1 ORDER BY e.id DESC LIMIT 1", campaign_id)
    return row["state"], row["actor"]


def fixed(moment):
    return lambda: moment


async def test_a_day_of_a_campaign(pool):
    campaign_id = await make(pool, windows={"mon-fri": "09:00-20:00"}, auto_start=True,
                             start_date="2026-11-23", end_date="2026-11-24")
    day = lambda h, m=0: datetime(2026, 11, 23, h, m, tzinfo=SH)  # noqa: E731  a Monday
    steps = [(day(8), "draft", None), (day(9), "running", "start"), (day(12), "running", None),
             (day(20, 30), "paused", "pause"), (day(23), "paused", None),
             (day(9) + timedelta(days=1), "running", "resume"),
             (day(9) + timedelta(days=2), "finished", "finish")]
    for moment, expected_state, expected_action in steps:
        action = await CampaignScheduler(pool, clock=fixed(moment)).review(campaign_id)
        assert (action[0] if action else None) == expected_action, moment
        assert (await state_and_actor(pool, campaign_id))[0] == expected_state, moment
    events = await pool.fetch("SELECT action, actor FROM campaign_events WHERE campaign_id = $1 ORDER BY id",
                              campaign_id)
    assert [(e["action"], e["actor"]) for e in events] == [
        ("create", "test"), ("start", "scheduler: start date reached and a calling window is open"),
        ("pause", "scheduler: outside the calling windows"), ("resume", "scheduler: a calling window opened"),
        ("finish", "scheduler: end date passed")]


async def test_a_campaign_a_person_paused_stays_paused(pool):
    campaign_id = await make(pool, state="paused", windows={"mon-sun": "00:00-24:00"})
    assert await CampaignScheduler(pool, clock=fixed(datetime(2026, 11, 23, 10, tzinfo=SH))).review(campaign_id) is None
    assert await state_and_actor(pool, campaign_id) == ("paused", "manager")


async def test_callee_zones_keep_a_campaign_open(pool):
    # 22:00 in Shanghai is 09:00 in New York: a campaign with New York contacts stays open
    campaign_id = await make(pool, state="running", contacts_zones=("Asia/Shanghai", "America/New_York"),
                             windows={"mon-sun": "09:00-20:00"})
    late = datetime(2026, 11, 23, 22, 0, tzinfo=SH)
    assert await CampaignScheduler(pool, clock=fixed(late)).review(campaign_id) is None
    await pool.execute("UPDATE contacts SET status = 'done' WHERE campaign_id = $1 AND time_zone = 'America/New_York'",
                       campaign_id)
    assert (await CampaignScheduler(pool, clock=fixed(late)).review(campaign_id))[0] == "pause"


async def test_apscheduler_wakes_at_the_window_end(pool):
    # The schedule's clock is shifted so that 20:00 Shanghai time is 1.5 s away in real time.
    target = datetime(2026, 11, 23, 20, 0, tzinfo=SH)
    shift = target - datetime.now(timezone.utc) - timedelta(seconds=1.5)
    clock = lambda: datetime.now(timezone.utc) + shift  # noqa: E731
    campaign_id = await make(pool, state="running", windows={"mon-sun": "09:00-20:00"})
    scheduler = CampaignScheduler(pool, clock=clock, sweep_s=3600)
    await scheduler.start()
    try:
        for _ in range(60):
            await asyncio.sleep(0.1)
            if scheduler.applied:
                break
        assert (await state_and_actor(pool, campaign_id)) == ("running", "manager")
        for _ in range(50):  # the wake-up is due 1.5 s after the start
            await asyncio.sleep(0.1)
            if any(c == campaign_id for c, _, _ in scheduler.applied):
                break
        assert await state_and_actor(pool, campaign_id) == ("paused", "scheduler: outside the calling windows")
        job = scheduler.aps.get_job(f"campaign-{campaign_id}")
        assert job is not None  # the next wake-up (09:00 tomorrow) is booked
        assert (job.next_run_time - datetime.now(timezone.utc)) > timedelta(hours=12)
    finally:
        await scheduler.stop()
