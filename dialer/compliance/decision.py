"""The compliance gate: may this contact be dialled now, under this policy pack?

    decide(contact, campaign, pack, history, now) -> Allow | Deny(reasons) | Defer(until, reasons)

Pure and fast: the store gathers `history` for a whole hopper batch in one query, the
engine calls this per lead, and the decision (every rule's evaluation, with its source)
is stored with the attempt or with the skipped contact.

Every rule is evaluated (not just up to the first refusal), so a decision explains all
that stood in the way. Combination: any rule that denies -> Deny (the contact is not
called in this campaign again); else any rule that defers -> Defer until the latest of
their times (no rule allows before then; the gate decides afresh at that time); else Allow.
"""
from __future__ import annotations

from datetime import datetime

from dialer.compliance import abandonment, attempt_caps, calling_window, dnc
from dialer.compliance.model import (Allow, CampaignFacts, Contact, Decision, Defer, Deny, History, RuleResult, allow,
                                     deny)
from dialer.compliance.policy import Pack


def consent(contact: Contact, pack: Pack) -> RuleResult:
    if not pack.consent_required:
        return allow("consent", "consent is not required for this kind of call", pack.consent_source)
    if contact.consent is True:
        return allow("consent", "the customer's consent is on record", pack.consent_source)
    return deny("consent", "no consent to be called is on record for this contact", pack.consent_source)


def ring_time(campaign: CampaignFacts, pack: Pack) -> RuleResult:
    if campaign.ring_timeout_s + 1e-9 < pack.ring_min_seconds:
        return deny("ring_time", f"calls would ring only {campaign.ring_timeout_s:g} s before counting as no answer; "
                                 f"{pack.ring_min_seconds:g} s is the minimum (BANKCC_DIALER_RING_TIMEOUT_S)",
                    pack.ring_source)
    return allow("ring_time", f"rings {campaign.ring_timeout_s:g} s (minimum {pack.ring_min_seconds:g} s)",
                 pack.ring_source)


def evaluate_all(contact: Contact, campaign: CampaignFacts, pack: Pack, history: History,
                 now: datetime) -> tuple[RuleResult, ...]:
    return (dnc.evaluate(contact, pack, history, now),
            consent(contact, pack),
            ring_time(campaign, pack),
            calling_window.evaluate(contact, campaign, pack, now),
            *attempt_caps.evaluate(contact, pack, history, now),
            abandonment.evaluate(campaign, pack.abandonment, history.abandonment, now))


def combine(evaluations: tuple[RuleResult, ...], pack: Pack, now: datetime) -> Decision:
    denied = [e for e in evaluations if e.verdict == "deny"]
    if denied:
        return Deny(evaluations, pack.label, now, tuple(f"{e.rule}: {e.reason}" for e in denied))
    deferred = [e for e in evaluations if e.verdict == "defer"]
    if deferred:
        return Defer(evaluations, pack.label, now, max(e.until for e in deferred),
                     tuple(f"{e.rule}: {e.reason}" for e in deferred))
    return Allow(evaluations, pack.label, now)


def decide(contact: Contact, campaign: CampaignFacts, policy: Pack, history: History, now: datetime) -> Decision:
    if now.tzinfo is None:
        raise ValueError("decide() needs an aware datetime (UTC)")
    return combine(evaluate_all(contact, campaign, policy, history, now), policy, now)
