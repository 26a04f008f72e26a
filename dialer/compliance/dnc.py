"""Do-not-call: a number on the global list, or on this campaign's, is never dialled.

Entries come from opt-outs during calls (the `opt_out` flow node), agents' dispositions,
imports and manual additions (store.py). An entry counts from the moment it was added,
so `explain` at an earlier time shows the decision as it was then. Numbers are E.164.
"""
from __future__ import annotations

from datetime import datetime

from dialer.compliance.model import Contact, DncEntry, History, RuleResult, allow, deny
from dialer.compliance.policy import Pack

RULE = "do_not_call"


def matching(contact: Contact, pack: Pack, entries: tuple[DncEntry, ...], now: datetime) -> list[DncEntry]:
    scopes = pack.dnc_scopes
    return [e for e in entries if e.phone == contact.phone and e.added_at <= now
            and ((e.scope == "global" and "global" in scopes)
                 or (e.scope == "campaign" and "campaign" in scopes and e.campaign_id == contact.campaign_id))]


def evaluate(contact: Contact, pack: Pack, history: History, now: datetime) -> RuleResult:
    hits = matching(contact, pack, history.dnc, now)
    if not hits:
        return allow(RULE, f"not on the {' or '.join(pack.dnc_scopes)} do-not-call list", pack.dnc_source)
    first = min(hits, key=lambda e: e.added_at)
    where = "global list" if first.scope == "global" else f"campaign {first.campaign_id}'s list"
    return deny(RULE, f"on the {where} since {first.added_at:%Y-%m-%d %H:%M} UTC ({first.source})", pack.dnc_source,
                entries=[{"scope": e.scope, "campaign_id": e.campaign_id, "source": e.source,
                          "added_at": e.added_at.isoformat()} for e in hits])
