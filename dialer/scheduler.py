"""APScheduler drives campaign schedules: starts, pauses at window ends, resumes, finishes.

    scheduler = CampaignScheduler(pool)
    await scheduler.start()      # reviews every live campaign now, then wakes at each one's next change
    ...
    await scheduler.stop()

What to do is decided by dialer/schedule.py (pure); this module only reads the
campaign, applies the action in the same transaction (the campaign row locked,
so a person's pause and ours cannot cross) and books the next wake-up as an
APScheduler date job per campaign. A sweep every `sweep_s` seconds reviews all
live campaigns again: it picks up new campaigns and repairs anything a missed
wake-up (a restart, a suspended machine) left behind, so the schedule holds
even though job state is kept in memory only.

Each change is a campaign_events row whose actor says why, e.g.
"scheduler: outside the calling windows"; the scheduler only resumes a
campaign whose last pause was its own.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Callable

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dialer.campaigns import transition
from dialer.schedule import CampaignSchedule, desired_action

log = logging.getLogger(__name__)

ACTOR = "scheduler"
LIVE_STATES = ("draft", "running", "paused")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


async def campaign_zones(conn, campaign_id: int) -> list[str | None]:
    """The callee zones of the contacts still to be called (None: unknown, the campaign's zone)."""
    rows = await conn.fetch("SELECT DISTINCT time_zone FROM contacts WHERE campaign_id = $1"
                            " AND status IN ('new', 'retry', 'scheduled', 'dialing')", campaign_id)
    return [r["time_zone"] for r in rows] or [None]


class CampaignScheduler:
    def __init__(self, pool: asyncpg.Pool, *, sweep_s: float = 30.0, clock: Callable[[], datetime] = utc_now):
        self.pool = pool
        self.sweep_s = sweep_s
        self.clock = clock  # the schedule's clock; tests shift it, wake-ups are booked in real time
        self.aps = AsyncIOScheduler(timezone=timezone.utc,
                                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
        self.applied: list[tuple[int, str, str]] = []  # (campaign, action, why), most recent last

    async def start(self) -> None:
        self.aps.start()
        self.aps.add_job(self.sweep, "interval", seconds=self.sweep_s, id="sweep", next_run_time=utc_now())

    async def stop(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)

    async def sweep(self) -> None:
        try:
            ids = [r["id"] for r in await self.pool.fetch(
                "SELECT id FROM campaigns WHERE state = ANY($1::text[]) ORDER BY id", list(LIVE_STATES))]
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("campaign schedules: cannot read campaigns (%s); next sweep in %gs", exc, self.sweep_s)
            return
        for campaign_id in ids:
            await self.review(campaign_id)

    async def review(self, campaign_id: int) -> tuple[str, str] | None:
        """Apply what the schedule asks of this campaign now, and book the next wake-up."""
        now = self.clock()
        try:
            action, schedule, zones = await self._apply(campaign_id, now)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("campaign %s: schedule review failed (%s); the sweep tries again", campaign_id, exc)
            return None
        if schedule is not None:
            self._book(campaign_id, schedule, zones, now)
        return action

    async def _apply(self, campaign_id: int, now: datetime):
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT state, schedule FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id)
            if row is None or row["state"] not in LIVE_STATES:
                self._unbook(campaign_id)
                return None, None, []
            raw = row["schedule"]
            schedule = CampaignSchedule.from_json(json.loads(raw) if isinstance(raw, str) else raw)
            last = await conn.fetchrow("SELECT action, actor FROM campaign_events WHERE campaign_id = $1"
                                       " ORDER BY id DESC LIMIT 1", campaign_id)
            paused_by_us = (row["state"] == "paused" and last is not None and last["action"] == "pause"
                            and last["actor"].startswith(ACTOR))
            zones = await campaign_zones(conn, campaign_id)
            action = desired_action(row["state"], paused_by_scheduler=paused_by_us, schedule=schedule,
                                    zones=zones, now=now)
            if action is None:
                return None, schedule, zones
            name, why = action
            new_state = transition(row["state"], name)
            await conn.execute("UPDATE campaigns SET state = $2, updated_at = now() WHERE id = $1",
                               campaign_id, new_state)
            await conn.execute("INSERT INTO campaign_events (campaign_id, action, from_state, to_state, actor)"
                               " VALUES ($1, $2, $3, $4, $5)", campaign_id, name, row["state"], new_state,
                               f"{ACTOR}: {why}")
        log.info("campaign %s: %s (%s)", campaign_id, name, why)
        self.applied.append((campaign_id, name, why))
        del self.applied[:-100]
        return action, schedule, zones

    def _book(self, campaign_id: int, schedule: CampaignSchedule, zones, now: datetime) -> None:
        change = schedule.next_change(zones, now)
        if change is None:  # nothing within the horizon: the sweep looks again
            self._unbook(campaign_id)
            return
        run_at = utc_now() + (change - now)  # the schedule's clock may be shifted (tests); jobs run in real time
        self.aps.add_job(self.review, "date", run_date=run_at, args=[campaign_id], id=f"campaign-{campaign_id}",
                         replace_existing=True)

    def _unbook(self, campaign_id: int) -> None:
        job = self.aps.get_job(f"campaign-{campaign_id}")
        if job is not None:
            job.remove()
