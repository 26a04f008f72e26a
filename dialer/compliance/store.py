"""The gate's edge to PostgreSQL: packs and selections, history in one query, DNC lists,
refusals, audit. Everything that decides lives in the pure modules next to this one.

    await sync_packs(pool, shipped_packs(), by=...)   # store each (name, version) once
    book = await PolicyBook.load(pool)                # every stored version, parsed
    pack = await pack_for(conn, book, campaign_id, kind)
    facts = await gather(conn, leads, campaign, pack, now)   # {contact_id: (Contact, History)}, one round trip
    await refuse(conn, contact, decision, owner=...)  # Deny -> excluded, Defer -> retry at until

Who acts is set with `SET LOCAL bankcc.actor` so the audit triggers of migration 0006
record it.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import asyncpg

from dialer.compliance import abandonment, attempt_caps
from dialer.compliance.model import (AbandonmentStats, CampaignFacts, Contact, Decision, DncEntry, History,
                                     PastAttempt)
from dialer.compliance.policy import Pack, PolicyError, default_pack_name, load_pack_text

log = logging.getLogger(__name__)

UNANSWERED_SQL = "(disposition IS NULL OR disposition NOT IN ('answered_human', 'abandoned', 'dropped'))"
_CONSENT_YES = {"yes", "y", "true", "1", "是", "同意", "consent", "opt-in", "opt_in"}
_CONSENT_NO = {"no", "n", "false", "0", "否", "拒绝", "不同意", "opt-out", "opt_out"}


def consent_of(value: str | None) -> bool | None:
    if value is None:
        return None
    text = value.strip().lower()
    return True if text in _CONSENT_YES else False if text in _CONSENT_NO else None


async def set_actor(conn: asyncpg.Connection, actor: str) -> None:
    """Name who acts for the audit triggers, for the rest of the transaction."""
    await conn.execute("SELECT set_config('bankcc.actor', $1, true)", actor)


# --- packs ------------------------------------------------------------------------------------

async def sync_packs(pool, packs: dict[str, Pack], *, by: str) -> list[str]:
    """Store packs not stored yet; a stored (name, version) whose text changed is an error."""
    added = []
    async with pool.acquire() as conn, conn.transaction():
        await set_actor(conn, by)
        for pack in packs.values():
            stored = await conn.fetchval("SELECT sha256 FROM policy_packs WHERE name = $1 AND version = $2",
                                         pack.name, pack.version)
            if stored is None:
                await conn.execute("INSERT INTO policy_packs (name, version, title, sha256, body, loaded_by)"
                                   " VALUES ($1, $2, $3, $4, $5, $6)", pack.name, pack.version, pack.title,
                                   pack.sha256, pack.text, by)
                added.append(pack.label)
            elif stored != pack.sha256:
                raise PolicyError(f"pack {pack.label}", "its file changed but its version did not: stored decisions "
                                                        "refer to the old text; raise `version:` to publish a change")
    return added


@dataclass
class PolicyBook:
    """Every stored pack version, parsed."""
    packs: dict[tuple[str, int], Pack]

    @classmethod
    async def load(cls, pool) -> "PolicyBook":
        rows = await pool.fetch("SELECT name, version, body FROM policy_packs")
        packs = {}
        for r in rows:
            packs[(r["name"], r["version"])] = load_pack_text(r["body"], f"policy_packs[{r['name']}@{r['version']}]")
        return cls(packs)

    def latest(self, name: str) -> Pack | None:
        versions = [v for (n, v) in self.packs if n == name]
        return self.packs[(name, max(versions))] if versions else None

    def get(self, name: str, version: int | None) -> Pack | None:
        return self.latest(name) if version is None else self.packs.get((name, version))


class NoPolicy(LookupError):
    pass


async def selection(conn, campaign_id: int) -> tuple[str, int | None, str] | None:
    row = await conn.fetchrow("SELECT pack_name, pack_version, selected_by FROM campaign_policy WHERE campaign_id = $1",
                              campaign_id)
    return (row["pack_name"], row["pack_version"], row["selected_by"]) if row else None


async def pack_for(conn, book: PolicyBook, campaign_id: int, kind: str) -> Pack:
    chosen = await selection(conn, campaign_id)
    name, version = (chosen[0], chosen[1]) if chosen else (default_pack_name(kind), None)
    pack = book.get(name, version)
    if pack is None:
        raise NoPolicy(f"campaign {campaign_id}: policy pack {name}{'@' + str(version) if version else ''} "
                       f"is not loaded")
    return pack


async def select_pack(pool, campaign_id: int, name: str, version: int | None, *, by: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await set_actor(conn, by)
        if not await conn.fetchval("SELECT true FROM policy_packs WHERE name = $1 AND ($2::int IS NULL OR version = $2)",
                                   name, version):
            raise NoPolicy(f"no policy pack {name}{'@' + str(version) if version else ''}")
        await conn.execute(
            "INSERT INTO campaign_policy (campaign_id, pack_name, pack_version, selected_by) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (campaign_id) DO UPDATE SET pack_name = $2, pack_version = $3, selected_by = $4,"
            " selected_at = now()", campaign_id, name, version, by)


# --- history, in one round trip ----------------------------------------------------------------

_GATHER = """
SELECT 'a' AS k, a.phone, a.contact_id, a.campaign_id, a.created_at AS at, a.disposition AS text1,
       NULL::text AS text2, NULL::text AS text3, NULL::bigint AS n1, NULL::bigint AS n2
  FROM attempts a
 WHERE (a.phone = ANY($1::text[]) OR a.contact_id = ANY($2::bigint[])) AND a.created_at > $4 AND a.created_at <= $3
UNION ALL
SELECT 'd', d.phone, NULL, d.campaign_id, d.added_at, d.scope, d.source, d.note, NULL, NULL
  FROM dnc_entries d WHERE d.phone = ANY($1::text[]) AND d.added_at <= $3
UNION ALL
SELECT 'lc', NULL, a.contact_id, NULL, NULL, NULL, NULL, NULL, count(*),
       count(*) FILTER (WHERE """ + UNANSWERED_SQL.replace("disposition", "a.disposition") + """)
  FROM attempts a WHERE a.contact_id = ANY($2::bigint[]) AND a.created_at <= $3 GROUP BY a.contact_id
UNION ALL
SELECT 'ln', a.phone, NULL, NULL, NULL, NULL, NULL, NULL, count(*),
       count(*) FILTER (WHERE """ + UNANSWERED_SQL.replace("disposition", "a.disposition") + """)
  FROM attempts a WHERE a.campaign_id = $5 AND a.phone = ANY($1::text[]) AND a.created_at <= $3 GROUP BY a.phone
UNION ALL
SELECT 'c', c.phone, c.id, c.campaign_id, NULL, c.custom->>'consent', c.time_zone, NULL, NULL, NULL
  FROM contacts c WHERE c.id = ANY($2::bigint[])
UNION ALL
SELECT 'ab', NULL, NULL, $5, NULL, NULL, NULL, NULL,
       count(*) FILTER (WHERE live), count(*) FILTER (WHERE live AND abandoned)
  FROM (SELECT (a.amd_status IS DISTINCT FROM 'MACHINE' AND a.disposition IS DISTINCT FROM 'machine'
                AND a.disposition IS NOT NULL) AS live,
               (a.disposition IN ('abandoned', 'dropped')
                OR (a.agent_at IS NOT NULL AND a.agent_at - a.answer_at > make_interval(secs => $7))
                OR (a.agent_at IS NULL AND a.disposition IS DISTINCT FROM 'answered_human')) AS abandoned
          FROM attempts a
         WHERE a.campaign_id = $5 AND a.answer_at IS NOT NULL AND a.answer_at > $6 AND a.answer_at <= $3) x
"""


def _zone_of(phone: str, explicit: str | None) -> str | None:
    from dialer.phones import PhoneError, normalise, valid_time_zone

    zone = valid_time_zone(explicit)
    if zone:
        return zone
    try:
        return normalise(phone, "CN").time_zone
    except PhoneError:
        return None


async def gather(conn, leads: Sequence[Any], campaign: CampaignFacts, pack: Pack,
                 now: datetime) -> dict[int, tuple[Contact, History]]:
    """Contact and History per lead (anything with contact_id and phone), as of `now`: one query."""
    phones = sorted({lead.phone for lead in leads})
    ids = [lead.contact_id for lead in leads]
    since = now - attempt_caps.lookback(pack)
    window_start = now - timedelta(hours=pack.abandonment.window_hours)
    rows = await conn.fetch(_GATHER, phones, ids, now, since, campaign.id, window_start,
                            float(pack.abandonment.connect_within_seconds))
    attempts: list[PastAttempt] = []
    dnc: list[DncEntry] = []
    life_contact: dict[int, tuple[int, int]] = {}
    life_number: dict[str, tuple[int, int]] = {}
    contacts: dict[int, asyncpg.Record] = {}
    stats = AbandonmentStats(0, 0)
    for r in rows:
        k = r["k"]
        if k == "a":
            attempts.append(PastAttempt(r["at"], r["campaign_id"], r["contact_id"], r["phone"], r["text1"]))
        elif k == "d":
            dnc.append(DncEntry(r["phone"], r["text1"], r["campaign_id"], r["text2"], r["at"], r["text3"] or ""))
        elif k == "lc":
            life_contact[r["contact_id"]] = (r["n1"], r["n2"])
        elif k == "ln":
            life_number[r["phone"]] = (r["n1"], r["n2"])
        elif k == "c":
            contacts[r["contact_id"]] = r
        elif k == "ab":
            stats = AbandonmentStats(r["n1"] or 0, r["n2"] or 0)
    out = {}
    for lead in leads:
        c = contacts.get(lead.contact_id)
        zone = _zone_of(lead.phone, c["text2"] if c else None)
        contact = Contact(lead.contact_id, campaign.id, lead.phone, zone, consent_of(c["text1"]) if c else None)
        mine = tuple(a for a in attempts if a.phone == lead.phone or a.contact_id == lead.contact_id)
        history = History(mine, life_contact.get(lead.contact_id, (0, 0)), life_number.get(lead.phone, (0, 0)),
                          tuple(e for e in dnc if e.phone == lead.phone), stats)
        out[lead.contact_id] = (contact, history)
    return out


async def abandonment_stats(conn, campaign_id: int, pack: Pack, now: datetime) -> AbandonmentStats:
    class _None:
        contact_id, phone = -1, ""
    facts = await gather(conn, [_None()], CampaignFacts(campaign_id, "care"), pack, now)
    return facts[-1][1].abandonment


def headroom(pack: Pack, stats: AbandonmentStats) -> dict[str, Any]:
    """What the pacer needs: abandonment.AbandonmentBudget.explain (headroom, abandons_left, ...)."""
    return abandonment.AbandonmentBudget.of(pack.abandonment).explain(stats)


# --- the gate's refusals -----------------------------------------------------------------------

async def refuse(conn, contact: Contact, decision: Decision, *, owner: str) -> bool:
    """Deny: the contact is excluded. Defer: back to retry at `until`. Both recorded; False if
    our lease on the contact was lost meanwhile (nothing is changed then)."""
    if decision.verdict == "deny":
        done = await conn.fetchval(
            "UPDATE contacts SET status = 'excluded', lease_owner = NULL, lease_expires_at = NULL,"
            " last_disposition = 'compliance_denied' WHERE id = $1 AND status = 'scheduled' AND lease_owner = $2"
            " RETURNING true", contact.contact_id, owner)
        until = None
    else:
        done = await conn.fetchval(
            "UPDATE contacts SET status = 'retry', next_attempt_at = $3, lease_owner = NULL, lease_expires_at = NULL"
            " WHERE id = $1 AND status = 'scheduled' AND lease_owner = $2 RETURNING true",
            contact.contact_id, owner, decision.until)
        until = decision.until
    if not done:
        return False
    await conn.execute(
        "INSERT INTO compliance_decisions (campaign_id, contact_id, phone, verdict, until, policy, decision, dialer_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", contact.campaign_id, contact.contact_id, contact.phone,
        decision.verdict, until, decision.policy, json.dumps(decision.as_json(), ensure_ascii=False), owner)
    return True


# --- do-not-call -------------------------------------------------------------------------------

SOURCES = ("opt_out_call", "agent", "import", "manual", "refusal")
IMPORT_TIMEOUT_S = 3600  # a national list takes minutes; the pool's command timeout is for queries


def e164(raw: str, region: str = "CN") -> str:
    """The number in E.164; dialer.phones.PhoneError if it is not a callable number."""
    from dialer.phones import normalise

    return normalise(raw, region).e164


async def add_dnc(pool, phone: str, *, scope: str = "global", campaign_id: int | None = None, source: str = "manual",
                  by: str, note: str = "", attempt_id: int | None = None) -> bool:
    """Add one entry (phone already E.164); False if the number was on that list already."""
    if scope not in ("global", "campaign") or (scope == "campaign") != (campaign_id is not None):
        raise ValueError("scope must be global, or campaign with a campaign id")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}")
    async with pool.acquire() as conn, conn.transaction():
        await set_actor(conn, by)
        added = await conn.fetchval(
            "INSERT INTO dnc_entries (phone, scope, campaign_id, source, note, attempt_id, added_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
            phone, scope, campaign_id, source, note, attempt_id, by)
    return bool(added)


async def search_dnc(pool, phone: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT id, phone, scope, campaign_id, source, note, attempt_id, import_id, added_by,"
                            " added_at FROM dnc_entries WHERE phone = $1 ORDER BY id", phone)
    return [{**dict(r), "added_at": r["added_at"].isoformat()} for r in rows]


async def opt_out_for_call(pool, *, unique_id: str, caller: str, scope: str, source: str = "opt_out_call",
                           by: str) -> dict[str, Any]:
    """An opt-out pressed during a call: the dialled number (found from the attempt whose channel
    this is; else the caller id) goes on the global list or the call's campaign's list."""
    row = await pool.fetchrow("SELECT id, campaign_id, phone FROM attempts WHERE unique_id = $1", unique_id) \
        if unique_id else None
    if row is not None:
        phone, campaign_id, attempt_id = row["phone"], row["campaign_id"], row["id"]
    else:
        phone, campaign_id, attempt_id = e164(caller), None, None
    if scope == "campaign" and campaign_id is None:
        scope = "global"  # not a campaign call: the wider list is the safe side
    added = await add_dnc(pool, phone, scope=scope, campaign_id=campaign_id if scope == "campaign" else None,
                          source=source, by=by, note="pressed during a call", attempt_id=attempt_id)
    return {"phone": phone, "scope": scope, "campaign_id": campaign_id, "attempt_id": attempt_id, "added": added}


@dataclass
class ImportResult:
    import_id: int
    rows_read: int
    rows_added: int
    rows_invalid: int
    seconds: float
    staging_seconds: float = 0.0  # reading, normalising and COPYing into the staging table


def _numbers(lines: Iterable[str], region: str) -> Iterator[str | None]:
    """E.164 per data line (first CSV column), None for a bad one; a header line is skipped."""
    from dialer.phones import PhoneError, normalise

    first = True
    for line in lines:
        cell = line.split(",", 1)[0].strip().strip('"')
        if not cell:
            continue
        if first and not any(ch.isdigit() for ch in cell):
            first = False
            continue  # header
        first = False
        try:
            yield normalise(cell, region).e164
        except PhoneError:
            yield None


async def import_dnc(pool, path: Path, *, scope: str = "global", campaign_id: int | None = None, by: str,
                     region: str = "CN", batch: int = 200_000) -> ImportResult:
    """Load a DNC file (one number a line, or CSV with the number first): numbers normalised to
    E.164, COPY'd into a staging table, then added where not listed yet. One audit row."""
    import time

    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    read = invalid = 0
    async with pool.acquire() as conn, conn.transaction():
        await set_actor(conn, by)
        import_id = await conn.fetchval(
            "INSERT INTO dnc_imports (filename, sha256, scope, campaign_id, imported_by) VALUES ($1, $2, $3, $4, $5)"
            " RETURNING id", path.name, digest.hexdigest(), scope, campaign_id, by)
        await conn.execute("CREATE TEMP TABLE dnc_staging (phone text) ON COMMIT DROP")
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            numbers = _numbers(f, region)
            while True:
                buf = io.StringIO()
                n = 0
                for number in numbers:
                    read += 1
                    if number is None:
                        invalid += 1
                    else:
                        buf.write(number)
                        buf.write("\n")
                    n += 1
                    if n >= batch:
                        break
                if buf.tell():
                        await conn.copy_to_table("dnc_staging", source=_once(buf.getvalue().encode("utf-8")),
                                             columns=["phone"], timeout=IMPORT_TIMEOUT_S)
                if n < batch:
                    break
        staged = time.perf_counter() - started
        added = await conn.fetchval(
            "WITH ins AS (INSERT INTO dnc_entries (phone, scope, campaign_id, source, import_id, added_by)"
            # In number order: the list's index is then filled front to back instead of at random.
            " SELECT phone, $1, $2::bigint, 'import', $3::bigint, $4 FROM (SELECT DISTINCT phone FROM dnc_staging) s"
            " ORDER BY phone ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM ins", scope, campaign_id,
            import_id, by,
            timeout=IMPORT_TIMEOUT_S)
        await conn.execute("INSERT INTO compliance_audit (actor, action, object, object_id, after)"
                           " VALUES ($1, 'dnc.import', 'dnc_imports', $2, $3)", by, str(import_id),
                           json.dumps({"file": path.name, "sha256": digest.hexdigest(), "scope": scope,
                                       "campaign_id": campaign_id, "rows_read": read, "rows_added": added,
                                       "rows_invalid": invalid}))
        await conn.execute("UPDATE dnc_imports SET rows_read = $2, rows_added = $3, rows_invalid = $4,"
                           " finished_at = now() WHERE id = $1", import_id, read, added, invalid)
    if added > 100_000:
        # What autovacuum would do minutes later: until the new rows' pages are marked all-visible and
        # the statistics know them, the gate's lookups were measured 20x slower (benchmarks/compliance.py).
        await pool.execute("VACUUM (ANALYZE) dnc_entries", timeout=IMPORT_TIMEOUT_S)
    return ImportResult(import_id, read, added, invalid, time.perf_counter() - started, staged)


async def _once(data: bytes):
    """COPY source: asyncpg takes an async iterable of bytes (plain bytes would be a path)."""
    yield data


async def audit(pool, *, limit: int = 100) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT id, at, actor, action, object, object_id, before, after FROM compliance_audit"
                            " ORDER BY id DESC LIMIT $1", limit)
    return [{**dict(r), "at": r["at"].isoformat(), "before": json.loads(r["before"]) if r["before"] else None,
             "after": json.loads(r["after"]) if r["after"] else None} for r in rows]


UTC = timezone.utc


class OptOutRecorder:
    """What the IVR's `opt_out` node calls (ivr.call.Services.opt_out): one opt-out, written at
    once, so the next dial decision anywhere sees it."""

    def __init__(self, pool):
        self.pool = pool

    async def __call__(self, *, unique_id: str, caller: str, scope: str, source: str, by: str) -> dict[str, Any]:
        return await opt_out_for_call(self.pool, unique_id=unique_id, caller=caller, scope=scope, source=source, by=by)
