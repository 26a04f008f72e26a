"""The lead hopper: contacts a dialer holds, leased in PostgreSQL, ready to be dialled.

Several dialer processes may work one campaign. Each claims a batch of dialable
contacts with `SELECT … FOR UPDATE SKIP LOCKED` (two claims never see the same
row, and neither waits for the other), marking them `scheduled` with a lease:
its owner and an expiry. The owner renews the lease while it holds the lead and
releases it when it stops; a lease that has expired (its owner died) is fair
game for the next claim. Turning a lead into a call (dialer/attempts.py) only
succeeds while the caller still holds the lease.

Dialable: status new, or retry whose next_attempt_at has come, or scheduled
with an expired lease. Due retries go first, then new contacts in list order.
With `open_zones`, only contacts whose callee zone is inside the campaign's
calling windows now (dialer/schedule.py; an unknown zone counts as the
campaign's `default_zone`) are claimed.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Lead:
    contact_id: int
    campaign_id: int
    phone: str
    attempts: int          # attempts already made
    time_zone: str | None
    name: str


_CLAIM = """
WITH picked AS (
    SELECT id FROM contacts
    WHERE campaign_id = $1
      AND (status = 'new'
           OR (status = 'retry' AND next_attempt_at <= now())
           OR (status = 'scheduled' AND lease_expires_at < now()))
      AND ($5::text[] IS NULL OR coalesce(time_zone, $6) = ANY($5::text[]))
    ORDER BY next_attempt_at NULLS LAST, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE contacts c
SET status = 'scheduled', lease_owner = $2, lease_expires_at = now() + make_interval(secs => $4)
FROM picked WHERE c.id = picked.id
RETURNING c.id, c.campaign_id, c.phone, c.attempts, c.time_zone, c.name"""

# Back to what it was: a contact that was never dialled is new, else a due retry.
_RELEASE = """
UPDATE contacts SET status = CASE WHEN attempts = 0 THEN 'new' ELSE 'retry' END,
                    lease_owner = NULL, lease_expires_at = NULL
WHERE status = 'scheduled' AND lease_owner = $1 AND ($2::bigint[] IS NULL OR id = ANY($2))"""


async def claim(pool: asyncpg.Pool | asyncpg.Connection, campaign_id: int, owner: str, limit: int,
                lease_s: float, open_zones: list[str] | None = None, default_zone: str = "") -> list[Lead]:
    if limit <= 0 or open_zones == []:
        return []
    rows = await pool.fetch(_CLAIM, campaign_id, owner, limit, float(lease_s), open_zones, default_zone)
    rows = sorted(rows, key=lambda r: r["id"])  # RETURNING order is not the pick order
    return [Lead(r["id"], r["campaign_id"], r["phone"], r["attempts"], r["time_zone"], r["name"]) for r in rows]


async def renew(pool, owner: str, contact_ids: list[int], lease_s: float) -> set[int]:
    """Extend our leases; returns the ids we still hold (an expired one may have been taken)."""
    if not contact_ids:
        return set()
    rows = await pool.fetch(
        "UPDATE contacts SET lease_expires_at = now() + make_interval(secs => $3)"
        " WHERE id = ANY($2) AND status = 'scheduled' AND lease_owner = $1 RETURNING id",
        owner, contact_ids, float(lease_s))
    return {r["id"] for r in rows}


async def release(pool, owner: str, contact_ids: list[int] | None = None) -> int:
    """Give leads back (all of `owner`'s when contact_ids is None)."""
    result = await pool.execute(_RELEASE, owner, contact_ids)
    return int(result.split()[-1])


async def remaining(pool, campaign_id: int) -> dict[str, int]:
    """Contacts by status that still need the dialer (new, retry, scheduled, dialing)."""
    rows = await pool.fetch("SELECT status, count(*) AS n FROM contacts WHERE campaign_id = $1"
                            " AND status IN ('new', 'retry', 'scheduled', 'dialing') GROUP BY status", campaign_id)
    return {r["status"]: r["n"] for r in rows}


class Hopper:
    """One campaign's leads held by this dialer: refilled below half, leases renewed."""

    def __init__(self, pool: asyncpg.Pool, owner: str, campaign_id: int, *, size: int, lease_s: float,
                 open_zones=None, default_zone: str = ""):
        self.pool, self.owner, self.campaign_id = pool, owner, campaign_id
        self.size, self.lease_s = size, lease_s
        self.open_zones = open_zones  # () -> zones open now (dialer/schedule.py), or None: no zone filter
        self.default_zone = default_zone
        self.leads: deque[Lead] = deque()
        self._renewed = time.monotonic()

    def __len__(self) -> int:
        return len(self.leads)

    async def refill(self) -> None:
        if time.monotonic() - self._renewed > self.lease_s / 3:
            held = await renew(self.pool, self.owner, [lead.contact_id for lead in self.leads], self.lease_s)
            self.leads = deque(lead for lead in self.leads if lead.contact_id in held)
            self._renewed = time.monotonic()
        zones = self.open_zones() if self.open_zones else None
        if zones is not None:  # leads whose window closed while we held them go back
            closed = [lead for lead in self.leads if (lead.time_zone or self.default_zone) not in zones]
            if closed:
                self.leads = deque(lead for lead in self.leads if lead not in closed)
                await release(self.pool, self.owner, [lead.contact_id for lead in closed])
        if len(self.leads) <= self.size // 2:
            self.leads.extend(await claim(self.pool, self.campaign_id, self.owner, self.size - len(self.leads),
                                          self.lease_s, zones, self.default_zone))

    def take(self, n: int) -> list[Lead]:
        return [self.leads.popleft() for _ in range(min(n, len(self.leads)))]

    def put_back(self, leads: list[Lead]) -> None:
        """Leads taken but not dialled (the lease is still ours)."""
        self.leads.extendleft(reversed(leads))

    async def release(self) -> None:
        ids = [lead.contact_id for lead in self.leads]
        self.leads.clear()
        if ids:
            await release(self.pool, self.owner, ids)
