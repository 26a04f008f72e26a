"""Why was (or wasn't) this number called? The answer from the database, for people.

    report = await explain(pool, "+8613800000001", campaign_id=7, at=datetime(...))
    print(render(report))

For each contact with the number (in one campaign, or all): the decisions recorded up to
`at` (the allowed ones are in attempts.decision, the refused ones in compliance_decisions),
the one in force at `at`, and what the gate decides at `at` from the history as it was then
(under the pack the campaign uses now). Plus the number's do-not-call entries.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from dialer.compliance import store
from dialer.compliance.decision import decide
from dialer.compliance.model import CampaignFacts
from dialer.compliance.policy import rule_source
from dialer.phones import normalise

RECORDED_LIMIT = 20


async def explain(pool, phone: str, *, campaign_id: int | None = None, at: datetime | None = None,
                  book: store.PolicyBook | None = None, ring_timeout_s: float = 30.0,
                  region: str = "CN") -> dict[str, Any]:
    """PhoneError if `phone` is not a callable number."""
    number = normalise(phone, region).e164
    at = at or datetime.now(timezone.utc)
    if at.tzinfo is None:
        raise ValueError("the time must include its offset, e.g. 2026-03-03T20:59:00+08:00")
    book = book or await store.PolicyBook.load(pool)
    contacts = await pool.fetch(
        "SELECT c.id AS contact_id, c.campaign_id, c.phone, c.status, c.attempts, c.next_attempt_at, k.kind,"
        " k.name, k.dial_mode, k.schedule FROM contacts c JOIN campaigns k ON k.id = c.campaign_id"
        " WHERE c.phone = $1 AND ($2::bigint IS NULL OR c.campaign_id = $2) ORDER BY c.campaign_id", number,
        campaign_id)
    out: dict[str, Any] = {"phone": number, "at": at.isoformat(), "contacts": [],
                           "do_not_call": await store.search_dnc(pool, number)}
    for c in contacts:
        facts = CampaignFacts(c["campaign_id"], c["kind"], c["dial_mode"], ring_timeout_s, json.loads(c["schedule"]))
        entry: dict[str, Any] = {"campaign_id": c["campaign_id"], "campaign": c["name"], "contact_id": c["contact_id"],
                                 "status": c["status"], "attempts": c["attempts"],
                                 "next_attempt_at": c["next_attempt_at"].isoformat() if c["next_attempt_at"] else None}
        recorded = await _recorded(pool, c["contact_id"], at, book)
        entry["recorded"] = recorded
        entry["in_force"] = recorded[0] if recorded else None
        try:
            async with pool.acquire() as conn:
                pack = await store.pack_for(conn, book, c["campaign_id"], c["kind"])

                class _Lead:
                    contact_id, phone = c["contact_id"], number
                gathered = await store.gather(conn, [_Lead()], facts, pack, at)
            contact, history = gathered[c["contact_id"]]
            entry["gate_at"] = decide(contact, facts, pack, history, at).as_json(sources=True)
        except store.NoPolicy as exc:
            entry["gate_at"] = {"verdict": "none", "error": str(exc)}
        out["contacts"].append(entry)
    return out


async def _recorded(pool, contact_id: int, at: datetime, book: store.PolicyBook) -> list[dict[str, Any]]:
    """Decisions on record for the contact up to `at`, newest first, each rule with its source
    from the pack version the decision names."""
    rows = await pool.fetch(
        "(SELECT 'attempt' AS kind, id, created_at AS at, decision, disposition FROM attempts"
        "  WHERE contact_id = $1 AND created_at <= $2 ORDER BY created_at DESC LIMIT $3)"
        " UNION ALL"
        " (SELECT 'refusal', id, decided_at, decision, NULL FROM compliance_decisions"
        "  WHERE contact_id = $1 AND decided_at <= $2 ORDER BY decided_at DESC LIMIT $3)"
        " ORDER BY at DESC LIMIT $3", contact_id, at, RECORDED_LIMIT)
    out = []
    for r in rows:
        decision = json.loads(r["decision"])
        gate = decision.get("compliance", decision) if r["kind"] == "attempt" else decision
        rules = gate.get("rules", [])
        pack = _pack_of(book, gate.get("policy"))
        if pack is not None:
            rules = [{**rule, "source": rule.get("source") or rule_source(pack, rule["rule"])} for rule in rules]
        item = {"kind": r["kind"], "id": r["id"], "at": r["at"].isoformat(), "verdict": gate.get("verdict"),
                "policy": gate.get("policy"), "reasons": gate.get("reasons", []), "rules": rules}
        if r["kind"] == "attempt":
            item["disposition"] = r["disposition"]
        if gate.get("until"):
            item["until"] = gate["until"]
        out.append(item)
    return out


def _pack_of(book: store.PolicyBook, label: str | None):
    name, _, version = (label or "").partition("@")
    return book.get(name, int(version)) if version.isdigit() else None


def render(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    lines = [f"{report['phone']} at {report['at']}"]
    if report["do_not_call"]:
        for e in report["do_not_call"]:
            where = "global list" if e["scope"] == "global" else f"campaign {e['campaign_id']}'s list"
            lines.append(f"  do-not-call: on the {where} since {e['added_at']} ({e['source']}, by {e['added_by']})")
    else:
        lines.append("  do-not-call: not listed")
    if not report["contacts"]:
        lines.append("  not a contact of any campaign" + (" (given)" if report.get("campaign_id") else ""))
    for c in report["contacts"]:
        lines.append(f"  campaign {c['campaign_id']} ({c['campaign']}), contact {c['contact_id']}: {c['status']}, "
                     f"{c['attempts']} attempt(s)")
        gate = c["gate_at"]
        if gate.get("verdict") == "none":
            lines.append(f"    gate: {gate['error']}")
        else:
            head = f"    gate at that time ({gate['policy']}): {gate['verdict'].upper()}"
            if gate.get("until"):
                head += f" until {gate['until']}"
            lines.append(head)
            for rule in gate["rules"]:
                mark = {"allow": "ok ", "deny": "NO ", "defer": "WAIT"}[rule["verdict"]]
                lines.append(f"      {mark} {rule['rule']}: {rule['reason']}")
        if c["in_force"]:
            r = c["in_force"]
            what = f"attempt {r['id']} placed ({r.get('disposition') or 'open'})" if r["kind"] == "attempt" \
                else f"refused ({r['verdict']}{' until ' + r['until'] if r.get('until') else ''})"
            lines.append(f"    last recorded decision: {r['at']}: {what} under {r['policy'] or 'no gate'}")
            for reason in r["reasons"]:
                lines.append(f"      - {reason}")
        else:
            lines.append("    no decision recorded before that time")
    return "\n".join(lines)
