"""The abandonment budget: how many answered people a campaign may leave without an agent.

Definition (FCC 47 CFR 64.1200(a)(7), Ofcom's persistent-misuse policy): a call is
*live-answered* when a person (not an answering machine, by AMD) picks up; it is
*abandoned* when that person is not connected to an agent within `connect_within_s`
(2 s) of the answer — whether the dialer hung up or the person did while waiting.
Calls a campaign hands to an outbound IVR flow are connected at the answer.

    rate     = abandoned / live_answered           over the rolling window (30 days US, 24 h UK)
    headroom = max_rate - rate                     the pacer's number: <= 0 means over budget
    left     = floor(max_rate * live) - abandoned  abandoned calls still affordable now

Pure: the store counts calls by is_abandoned()'s rule in SQL (store.ABANDONMENT_SQL);
tests/db checks both agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.compliance.model import AbandonmentStats, CampaignFacts, RuleResult, allow, defer
from dialer.compliance.policy import AbandonmentRule

RULE = "abandonment_budget"
RECHECK = timedelta(minutes=5)  # an over-budget campaign is looked at again after this


def is_abandoned(*, answered: bool, machine: bool, disposition: str | None, seconds_to_agent: float | None,
                 connect_within_s: float) -> bool | None:
    """True abandoned, False connected in time, None not a live answer (not counted at all)."""
    if not answered or machine:
        return None
    if disposition in ("abandoned", "dropped"):
        return True
    if seconds_to_agent is None:
        # No agent: an outbound flow took it (answered_human), or the call is still open.
        return disposition != "answered_human" and disposition is not None
    return seconds_to_agent > connect_within_s


@dataclass(frozen=True)
class AbandonmentBudget:
    max_rate: float
    window: timedelta
    connect_within_s: float

    @classmethod
    def of(cls, rule: AbandonmentRule) -> "AbandonmentBudget":
        return cls(rule.max_rate, timedelta(hours=rule.window_hours), rule.connect_within_seconds)

    def rate(self, stats: AbandonmentStats) -> float:
        return stats.abandoned / stats.live_answered if stats.live_answered else 0.0

    def headroom(self, stats: AbandonmentStats) -> float:
        """max_rate minus the current rate; the pacer may over-dial only while this is positive."""
        return self.max_rate - self.rate(stats)

    def abandons_left(self, stats: AbandonmentStats) -> int:
        return math.floor(self.max_rate * stats.live_answered + 1e-9) - stats.abandoned

    def explain(self, stats: AbandonmentStats) -> dict:
        return {"live_answered": stats.live_answered, "abandoned": stats.abandoned,
                "rate": round(self.rate(stats), 5), "max_rate": self.max_rate,
                "headroom": round(self.headroom(stats), 5), "abandons_left": self.abandons_left(stats),
                "window_hours": self.window / timedelta(hours=1), "connect_within_s": self.connect_within_s}


def evaluate(campaign: CampaignFacts, rule: AbandonmentRule, stats: AbandonmentStats | None,
             now: datetime) -> RuleResult:
    budget = AbandonmentBudget.of(rule)
    stats = stats or AbandonmentStats(0, 0)
    facts = budget.explain(stats)
    # Over budget = the rate already exceeds it. Holding earlier (no room for one more abandon)
    # would stop a young campaign after its first abandon; the pacer uses the headroom for that.
    over = budget.headroom(stats) < 0
    if not over:
        return allow(RULE, f"{facts['rate'] * 100:.2f}% of {stats.live_answered} live answers abandoned "
                           f"(budget {rule.max_rate * 100:g}%)", rule.source, **facts)
    if campaign.dial_mode not in rule.enforce_for_modes:
        return allow(RULE, f"over the abandonment budget, but {campaign.dial_mode} dialling places a call only for a "
                           f"free agent", rule.source, **facts)
    return defer(RULE, f"abandonment budget used up: {stats.abandoned} of {stats.live_answered} live answers "
                       f"abandoned ({facts['rate'] * 100:.2f}%, budget {rule.max_rate * 100:g}%)",
                 now + RECHECK, rule.source, **facts)
