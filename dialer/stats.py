"""A campaign's live figures for the dashboard: what is happening now and how it has gone.

    figures = await campaign_figures(pool, campaign_id, agents=(logged_in, available))

Definitions (kept here, in one place, because supervisors compare them with the
compliance reports):
- dialing: attempts placed and not answered (originating, ringing);
- waiting: answered by a person, not yet with an agent (in AMD or the queue);
- talking: with an agent;
- contact rate: live answers (answered_human + abandoned) / attempts ended;
- abandonment rate: abandoned / (answered_human + abandoned), the rate the
  abandonment budget is measured in (a live answer not connected to an agent
  within 2 s counts as abandoned: dialer/dispositions.py);
- abandonment headroom: the campaign's policy pack budget (max rate over its rolling
  window) minus the rate in that window, and the abandoned calls still allowed, as the
  compliance gate computes them (dialer/compliance/abandonment.py);
- occupancy: agents talking / agents logged in, now; and over the last 15
  minutes, talk seconds of attempts that ended then / (logged-in agents × 900 s);
- timeline: attempts ended per disposition per 5-minute bucket, last 2 hours.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

import asyncpg

BUCKET = timedelta(minutes=5)
TIMELINE_SPAN = timedelta(hours=2)
OCCUPANCY_SPAN_S = 900


def rates(dispositions: Mapping[str, int]) -> dict[str, float | None]:
    """Contact and abandonment rates from final dispositions; None when there is nothing to divide by."""
    ended = sum(dispositions.values())
    live = dispositions.get("answered_human", 0) + dispositions.get("abandoned", 0)
    return {"contact_rate": live / ended if ended else None,
            "abandonment_rate": dispositions.get("abandoned", 0) / live if live else None}


def timeline(rows: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """[{"at": bucket start ISO, "counts": {disposition: n}}] for every bucket of the span, oldest first."""
    start = _floor(now - TIMELINE_SPAN)
    buckets: dict[datetime, dict[str, int]] = {}
    at = start
    while at <= now:
        buckets[at] = {}
        at += BUCKET
    for row in rows:
        bucket = _floor(row["end_at"])
        if bucket in buckets:
            counts = buckets[bucket]
            counts[row["disposition"]] = counts.get(row["disposition"], 0) + row["n"]
    return [{"at": at.isoformat(), "counts": counts} for at, counts in buckets.items()]


def _floor(moment: datetime) -> datetime:
    seconds = int(BUCKET.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=timezone.utc)


def occupancy(talking: int, logged_in: int, talk_seconds_recent: float) -> dict[str, float | None]:
    return {"occupancy_now": talking / logged_in if logged_in else None,
            "occupancy_15min": min(1.0, talk_seconds_recent / (logged_in * OCCUPANCY_SPAN_S)) if logged_in else None}


async def budget(conn, book, campaign_id: int, kind: str, now: datetime) -> dict[str, Any] | None:
    """The abandonment budget of the campaign's policy pack, as the gate sees it; None if unknown."""
    from dialer.compliance import store

    try:
        pack = await store.pack_for(conn, book, campaign_id, kind)
        return store.headroom(pack, await store.abandonment_stats(conn, campaign_id, pack, now))
    except store.NoPolicy:
        return None


async def campaign_figures(pool: asyncpg.Pool, campaign_id: int, *, agents: tuple[int, int] = (0, 0),
                           now: datetime | None = None, book=None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    logged_in, available = agents
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT state, kind FROM campaigns WHERE id = $1", campaign_id)
        state = row["state"] if row else None
        abandonment = await budget(conn, book, campaign_id, row["kind"], now) if row and book else None
        live = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE state IN ('originating', 'ringing')) AS dialing,"
            " count(*) FILTER (WHERE state = 'answered') AS waiting,"
            " count(*) FILTER (WHERE state = 'connected') AS talking"
            " FROM attempts WHERE campaign_id = $1 AND state <> 'ended'", campaign_id)
        dispositions = {r["disposition"]: r["n"] for r in await conn.fetch(
            "SELECT disposition, count(*) AS n FROM attempts WHERE campaign_id = $1 AND state = 'ended'"
            " GROUP BY disposition", campaign_id)}
        contacts = {r["status"]: r["n"] for r in await conn.fetch(
            "SELECT status, count(*) AS n FROM contacts WHERE campaign_id = $1 GROUP BY status", campaign_id)}
        talk_recent = await conn.fetchval(
            "SELECT coalesce(sum(talk_seconds), 0) FROM attempts WHERE campaign_id = $1 AND agent IS NOT NULL"
            " AND end_at >= $2", campaign_id, now - timedelta(seconds=OCCUPANCY_SPAN_S))
        ended = await conn.fetch(
            "SELECT date_bin('5 minutes', end_at, TIMESTAMPTZ '2000-01-01') AS end_at, disposition, count(*) AS n"
            " FROM attempts WHERE campaign_id = $1 AND state = 'ended' AND end_at >= $2 GROUP BY 1, 2",
            campaign_id, now - TIMELINE_SPAN - BUCKET)
    if state is None:
        raise LookupError(f"no campaign {campaign_id}")
    talking = live["talking"]
    return {
        "campaign_id": campaign_id, "state": state, "at": now.isoformat(),
        "now": {"dialing": live["dialing"], "waiting": live["waiting"], "talking": talking,
                "agents_logged_in": logged_in, "agents_waiting": available},
        "dispositions": dispositions, "contacts": contacts,
        **rates(dispositions), **occupancy(talking, logged_in, float(talk_recent)),
        "abandonment_headroom": abandonment.get("headroom") if abandonment else None,
        "abandonment_budget": abandonment,
        "timeline": timeline(ended, now),
    }
