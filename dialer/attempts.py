"""Attempts in PostgreSQL: opened before the Originate, updated as the call goes, closed once.

    start(conn, lead, ...)      contact scheduled -> dialing and the attempt row, in the caller's
                                transaction; None if our lease on the contact was lost
    progress(pool, id, facts)   ring / answer / AMD / agent as they happen, so a crash mid-call
                                leaves what was known
    close(pool, id, facts, ...) the disposition, and the contact's next status by the campaign's
                                retry rules, in one transaction; a second close is a no-op

The decisions are dialer.dispositions' (pure); this module only reads and writes.
"""
from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

import asyncpg

from dialer import dispositions
from dialer.facts import CallFacts
from dialer.hopper import Lead


@dataclass(frozen=True)
class Attempt:
    id: int
    campaign_id: int
    contact_id: int
    phone: str
    attempt_no: int
    action_id: str
    unique_id: str
    dial_string: str


def _ts(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, timezone.utc) if epoch is not None else None


def new_ids() -> tuple[str, str]:
    """(action id, channel unique id). The unique id is ours (Originate ChannelId), so it
    is in the database before Asterisk ever sees the call."""
    return f"bankcc-{secrets.token_hex(8)}", str(uuid.uuid4())


async def start(conn: asyncpg.Connection, lead: Lead, *, owner: str, dial_mode: str, dial_string: str,
                decision: dict[str, Any]) -> Attempt | None:
    row = await conn.fetchrow(
        "UPDATE contacts SET status = 'dialing', attempts = attempts + 1, lease_owner = NULL,"
        " lease_expires_at = NULL, last_attempt_at = now()"
        " WHERE id = $1 AND status = 'scheduled' AND lease_owner = $2 RETURNING attempts, phone, campaign_id",
        lead.contact_id, owner)
    if row is None:
        return None
    action_id, unique_id = new_ids()
    attempt_id = await conn.fetchval(
        "INSERT INTO attempts (campaign_id, contact_id, phone, attempt_no, dialer_id, dial_mode, dial_string,"
        " action_id, unique_id, decision, facts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        row["campaign_id"], lead.contact_id, row["phone"], row["attempts"], owner, dial_mode, dial_string,
        action_id, unique_id, json.dumps(decision), json.dumps({"unique_id": unique_id, "action_id": action_id}))
    return Attempt(attempt_id, row["campaign_id"], lead.contact_id, row["phone"], row["attempts"], action_id,
                   unique_id, dial_string)


def state_of(f: CallFacts) -> str:
    if f.agent_at is not None:
        return "connected"
    if f.answer_at is not None:
        return "answered"
    if f.ring_at is not None:
        return "ringing"
    return "originating"


_PROGRESS = """
UPDATE attempts SET state = $2, channel = COALESCE($3, channel), originate_at = COALESCE(originate_at, $4),
    ring_at = COALESCE(ring_at, $5), answer_at = COALESCE(answer_at, $6), agent_at = COALESCE(agent_at, $7),
    amd_status = COALESCE($8, amd_status), amd_cause = COALESCE($9, amd_cause), queue = COALESCE($10, queue),
    agent = COALESCE($11, agent), facts = $12
WHERE id = $1 AND state <> 'ended'"""


async def progress(pool, attempt_id: int, f: CallFacts) -> None:
    await pool.execute(_PROGRESS, attempt_id, state_of(f), f.channel, _ts(f.originated_at), _ts(f.ring_at),
                       _ts(f.answer_at), _ts(f.agent_at), f.amd_status, f.amd_cause, f.queue, f.agent,
                       json.dumps(f.as_json()))


_CLOSE = """
UPDATE attempts SET state = 'ended', channel = COALESCE($2, channel), originate_at = COALESCE(originate_at, $3),
    ring_at = COALESCE(ring_at, $4), answer_at = COALESCE(answer_at, $5), agent_at = COALESCE(agent_at, $6),
    end_at = $7, ring_seconds = $8, hold_seconds = $9, talk_seconds = $10, originate_reason = $11,
    dial_status = $12, amd_status = COALESCE($13, amd_status), amd_cause = COALESCE($14, amd_cause),
    queue = COALESCE($15, queue), queue_status = $16, agent = COALESCE($17, agent), hangup_cause = $18,
    hangup_cause_text = $19, hangup_by = $20, disposition = $21, disposition_reason = $22, next_status = $23,
    next_attempt_at = $24, closed_by = $25, facts = $26
WHERE id = $1 AND state <> 'ended'"""


async def close(pool: asyncpg.Pool, attempt_id: int, f: CallFacts, verdict: dispositions.Verdict, *,
                closed_by: str, now: datetime | None = None) -> dispositions.NextStep | None:
    """Close the attempt and move its contact on; None if it was already closed."""
    now = now or datetime.now(timezone.utc)
    ring, hold, talk = dispositions.durations(f)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT a.contact_id, a.attempt_no, c.retry_rules FROM attempts a JOIN campaigns c ON c.id = a.campaign_id"
            " WHERE a.id = $1 AND a.state <> 'ended' FOR UPDATE OF a", attempt_id)
        if row is None:
            return None
        step = dispositions.next_step(verdict, row["attempt_no"], json.loads(row["retry_rules"]), now)
        await conn.execute(
            _CLOSE, attempt_id, f.channel, _ts(f.originated_at), _ts(f.ring_at), _ts(f.answer_at), _ts(f.agent_at),
            _ts(f.end_at), ring, hold, talk, f.originate_reason, f.dial_status, f.amd_status, f.amd_cause, f.queue,
            f.queue_status, f.agent, f.hangup_cause, f.hangup_cause_text, verdict.hangup_by, verdict.disposition,
            verdict.reason, step.status, step.next_attempt_at, closed_by, json.dumps(f.as_json()))
        await conn.execute(
            "UPDATE contacts SET status = $2, next_attempt_at = $3, last_disposition = $4"
            " WHERE id = $1 AND status = 'dialing'", row["contact_id"], step.status, step.next_attempt_at,
            verdict.disposition)
    return step


async def in_flight(conn, queue: str) -> tuple[int, int]:
    """(placed and not yet with an agent, talking to an agent) for every campaign sending its
    calls to `queue`, all dialers: campaigns sharing agents must pace as one."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE a.state IN ('originating', 'ringing', 'answered')) AS flying,"
        " count(*) FILTER (WHERE a.state = 'connected') AS connected"
        " FROM attempts a JOIN campaigns c ON c.id = a.campaign_id"
        " WHERE a.state <> 'ended' AND c.agent_queue = $1", queue)
    return row["flying"], row["connected"]


def facts_from_json(data: dict[str, Any], human_route: str = "queue") -> CallFacts:
    """The facts an attempt row kept (attempts.facts), for picking a call up after a restart."""
    known = {f.name for f in fields(CallFacts)}
    values = {k: v for k, v in data.items() if k in known}
    values.setdefault("human_route", human_route)
    values["notes"] = tuple(values.get("notes") or ())
    return CallFacts(**values)


# --- dialer processes -----------------------------------------------------------------------

async def heartbeat(pool, dialer_id: str, *, starting: bool = False) -> None:
    if starting:
        await pool.execute("INSERT INTO dialer_nodes (id) VALUES ($1) ON CONFLICT (id) DO UPDATE"
                           " SET started_at = now(), heartbeat_at = now()", dialer_id)
    else:
        await pool.execute("INSERT INTO dialer_nodes (id) VALUES ($1) ON CONFLICT (id) DO UPDATE"
                           " SET heartbeat_at = now()", dialer_id)


async def open_for_reconcile(pool, dialer_id: str, stale_after_s: float) -> list[asyncpg.Record]:
    """Open attempts this dialer should check against Asterisk: its own, and those of
    dialers that stopped beating (or never registered)."""
    return await pool.fetch(
        "SELECT a.id, a.dialer_id, a.unique_id, a.action_id, a.state, a.facts, a.created_at,"
        " (a.dialer_id = $1) AS own FROM attempts a LEFT JOIN dialer_nodes n ON n.id = a.dialer_id"
        " WHERE a.state <> 'ended' AND (a.dialer_id = $1 OR n.id IS NULL"
        " OR n.heartbeat_at < now() - make_interval(secs => $2)) ORDER BY a.id", dialer_id, float(stale_after_s))


async def take_over(pool, attempt_id: int, old_owner: str, new_owner: str) -> bool:
    result = await pool.execute("UPDATE attempts SET dialer_id = $3 WHERE id = $1 AND dialer_id = $2"
                                " AND state <> 'ended'", attempt_id, old_owner, new_owner)
    return result.endswith(" 1")
