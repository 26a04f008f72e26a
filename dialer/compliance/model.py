"""What the compliance gate decides about: the contact, the campaign, the history, the verdicts.

Plain frozen data, no I/O. The store (dialer/compliance/store.py) fills these from
PostgreSQL in one batch per dialling tick; the rules (one module each) and
dialer/compliance/decision.py only read them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Union

# Dispositions (dialer/dispositions.py) in which a person picked up. Everything else,
# and an attempt still open, counts as "unanswered" for caps that count only those.
ANSWERED_DISPOSITIONS = frozenset({"answered_human", "abandoned", "dropped"})


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: int
    campaign_id: int
    phone: str                    # E.164
    time_zone: str | None = None  # contacts.time_zone, else the number's own zone; None if unknown
    consent: bool | None = None   # recorded consent to be called (contacts.custom.consent); None: not recorded


@dataclass(frozen=True, slots=True)
class CampaignFacts:
    id: int
    kind: str                     # activation | installments | collection | care
    dial_mode: str = "progressive"
    ring_timeout_s: float = 30.0  # how long the dialer lets a call ring (BANKCC_DIALER_RING_TIMEOUT_S)
    # The campaign's own windows (campaigns.schedule), inside the pack's: both must allow.
    schedule: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PastAttempt:
    at: datetime                  # when it was placed (attempts.created_at)
    campaign_id: int
    contact_id: int
    phone: str
    disposition: str | None       # None while the call is still open

    @property
    def answered(self) -> bool:
        return self.disposition in ANSWERED_DISPOSITIONS

    @property
    def abandoned(self) -> bool:
        """The dialer answered a person and had no agent for them (dialer/dispositions.py)."""
        return self.disposition in ("abandoned", "dropped")


@dataclass(frozen=True, slots=True)
class DncEntry:
    phone: str
    scope: str                    # global | campaign
    campaign_id: int | None       # scope campaign
    source: str                   # opt_out_call | agent | import | manual | refusal
    added_at: datetime
    note: str = ""


@dataclass(frozen=True, slots=True)
class AbandonmentStats:
    """A campaign's live answers and abandoned calls over the budget's rolling window."""
    live_answered: int
    abandoned: int


@dataclass(frozen=True)
class History:
    """Everything the rules know about the past of one number / contact, as of the decision."""
    attempts: tuple[PastAttempt, ...] = ()      # to this number (any campaign) or this contact, recent
    # Attempts ever (up to the decision) in this campaign: (all, unanswered), of this contact / to this number.
    lifetime_contact: tuple[int, int] = (0, 0)
    lifetime_number: tuple[int, int] = (0, 0)
    dnc: tuple[DncEntry, ...] = ()              # entries for this number (global or any campaign)
    abandonment: AbandonmentStats | None = None  # the campaign's; None: not known


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's evaluation: allow, deny or defer (until), why, and where the rule comes from."""
    rule: str
    verdict: str                  # allow | deny | defer
    reason: str
    until: datetime | None = None
    source: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def as_json(self, sources: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "verdict": self.verdict, "reason": self.reason}
        if self.until is not None:
            out["until"] = self.until.isoformat()
        if sources and self.source:
            # Left out of stored decisions: the pack version they name has it (policy.rule_source),
            # and a decision row per contact per refusal would repeat paragraphs of citation.
            out["source"] = self.source
        if self.facts:
            out["facts"] = self.facts
        return out


def allow(rule: str, reason: str, source: str = "", **facts: Any) -> RuleResult:
    return RuleResult(rule, "allow", reason, None, source, facts)


def deny(rule: str, reason: str, source: str = "", **facts: Any) -> RuleResult:
    return RuleResult(rule, "deny", reason, None, source, facts)


def defer(rule: str, reason: str, until: datetime, source: str = "", **facts: Any) -> RuleResult:
    return RuleResult(rule, "defer", reason, until, source, facts)


@dataclass(frozen=True)
class _Decision:
    evaluations: tuple[RuleResult, ...]
    policy: str                   # pack@version
    at: datetime

    def rules_json(self, sources: bool = False) -> list[dict[str, Any]]:
        return [e.as_json(sources) for e in self.evaluations]


@dataclass(frozen=True)
class Allow(_Decision):
    verdict = "allow"

    @property
    def reasons(self) -> tuple[str, ...]:
        return ()

    def as_json(self, sources: bool = False) -> dict[str, Any]:
        return {"gate": "compliance", "verdict": "allow", "allowed": True, "policy": self.policy,
                "at": self.at.isoformat(), "rules": self.rules_json(sources)}


@dataclass(frozen=True)
class Deny(_Decision):
    reasons: tuple[str, ...] = ()
    verdict = "deny"

    def as_json(self, sources: bool = False) -> dict[str, Any]:
        return {"gate": "compliance", "verdict": "deny", "allowed": False, "policy": self.policy,
                "at": self.at.isoformat(), "reasons": list(self.reasons), "rules": self.rules_json(sources)}


@dataclass(frozen=True)
class Defer(_Decision):
    until: datetime | None = None
    reasons: tuple[str, ...] = ()
    verdict = "defer"

    def as_json(self, sources: bool = False) -> dict[str, Any]:
        return {"gate": "compliance", "verdict": "defer", "allowed": False, "policy": self.policy,
                "at": self.at.isoformat(), "until": self.until.isoformat() if self.until else None,
                "reasons": list(self.reasons), "rules": self.rules_json(sources)}


Decision = Union[Allow, Deny, Defer]
