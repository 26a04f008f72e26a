"""Attempt caps: how often a number and a contact may be called.

    per_number   attempts to the phone number, across every campaign of the bank
    per_contact  attempts to the contact (one person in one campaign)
each with   per_day      the callee's local calendar day (China's guideline counts days)
            per_7_days   rolling 7 × 24 h (Regulation F's 7-in-7)
            lifetime     within this campaign (the contact's whole life in it)
            counts       all | unanswered (a person picked up = answered; an open call counts as unanswered)
plus        min_gap_minutes         between two attempts to the number or the contact
            after_abandoned_hours   no call to a number within this after an abandoned one (Ofcom: 72 h)

A day or 7-day cap defers the contact until the count falls below the cap; a lifetime
cap denies it. Only attempts placed before the decision time count (explain at a past
time sees the history as it was).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from dialer.compliance.calling_window import UTC, zone
from dialer.compliance.model import Contact, History, PastAttempt, RuleResult, allow, defer, deny
from dialer.compliance.policy import CapRule, Pack

RULE = "attempt_caps"
WEEK = timedelta(days=7)


def _counted(attempts: list[PastAttempt], cap: CapRule) -> list[PastAttempt]:
    return attempts if cap.counts == "all" else [a for a in attempts if not a.answered]


def next_local_midnight(now: datetime, zone_name: str) -> datetime:
    tz = zone(zone_name)
    local = now.astimezone(tz)
    nxt = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    return nxt if nxt > now else now + timedelta(hours=1)


def _cap_results(name: str, cap: CapRule, attempts: list[PastAttempt], lifetime: tuple[int, int], day_zone: str,
                 now: datetime, source: str) -> list[RuleResult]:
    out: list[RuleResult] = []
    what = "attempts" if cap.counts == "all" else "unanswered attempts"
    if cap.lifetime is not None:
        used = lifetime[0] if cap.counts == "all" else lifetime[1]
        rule = f"{RULE}.{name}.lifetime"
        if used >= cap.lifetime:
            out.append(deny(rule, f"{used} {what} {name.replace('_', ' ')} in this campaign: the cap is {cap.lifetime}",
                            source, used=used, cap=cap.lifetime))
        else:
            out.append(allow(rule, f"{used} of {cap.lifetime} {what} in this campaign", source, used=used,
                             cap=cap.lifetime))
    if cap.per_7_days is not None:
        rule = f"{RULE}.{name}.per_7_days"
        times = sorted(a.at for a in _counted([a for a in attempts if a.at > now - WEEK], cap))
        if len(times) >= cap.per_7_days:
            until = times[len(times) - cap.per_7_days] + WEEK
            out.append(defer(rule, f"{len(times)} {what} in the last 7 days: the cap is {cap.per_7_days}", until,
                             source, used=len(times), cap=cap.per_7_days))
        else:
            out.append(allow(rule, f"{len(times)} of {cap.per_7_days} {what} in 7 days", source, used=len(times),
                             cap=cap.per_7_days))
    if cap.per_day is not None:
        rule = f"{RULE}.{name}.per_day"
        tz = zone(day_zone)
        today = now.astimezone(tz).date()
        used = len(_counted([a for a in attempts if a.at.astimezone(tz).date() == today], cap))
        if used >= cap.per_day:
            out.append(defer(rule, f"{used} {what} today ({day_zone}): the cap is {cap.per_day}",
                             next_local_midnight(now, day_zone), source, used=used, cap=cap.per_day))
        else:
            out.append(allow(rule, f"{used} of {cap.per_day} {what} today", source, used=used, cap=cap.per_day))
    return out


def evaluate(contact: Contact, pack: Pack, history: History, now: datetime) -> list[RuleResult]:
    caps = pack.caps
    past = [a for a in history.attempts if a.at <= now]
    to_number = [a for a in past if a.phone == contact.phone]
    to_contact = [a for a in past if a.contact_id == contact.contact_id and a.campaign_id == contact.campaign_id]
    # "Today" is the callee's: their zone, else the pack's first fallback zone.
    day_zone = contact.time_zone or pack.windows.fallback_zones[0]
    out = _cap_results("per_number", caps.per_number, to_number, history.lifetime_number, day_zone, now, caps.source)
    out += _cap_results("per_contact", caps.per_contact, to_contact, history.lifetime_contact, day_zone, now,
                        caps.source)
    if caps.min_gap_minutes:
        gap = timedelta(minutes=caps.min_gap_minutes)
        rule = f"{RULE}.min_gap"
        recent = [a.at for a in to_number + to_contact if a.at > now - gap]
        if recent:
            last = max(recent)
            out.append(defer(rule, f"called {int((now - last).total_seconds() // 60)} min ago: at least "
                                   f"{caps.min_gap_minutes:g} min between calls", last + gap, caps.source))
        else:
            out.append(allow(rule, f"no call in the last {caps.min_gap_minutes:g} min", caps.source))
    if caps.after_abandoned_hours:
        quiet = timedelta(hours=caps.after_abandoned_hours)
        rule = f"{RULE}.after_abandoned"
        abandoned = [a.at for a in to_number if a.abandoned and a.at > now - quiet]
        if abandoned:
            last = max(abandoned)
            out.append(defer(rule, f"an abandoned call at {last:%Y-%m-%d %H:%M} UTC: no call for "
                                   f"{caps.after_abandoned_hours:g} h after it", last + quiet, caps.source))
        else:
            out.append(allow(rule, f"no abandoned call in the last {caps.after_abandoned_hours:g} h", caps.source))
    return out


def lookback(pack: Pack) -> timedelta:
    """How far back the store must read attempts for these rules."""
    c = pack.caps
    return max(WEEK + timedelta(days=1), timedelta(minutes=c.min_gap_minutes), timedelta(hours=c.after_abandoned_hours))
