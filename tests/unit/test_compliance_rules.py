"""The compliance gate on the shipped packs: concrete cases a compliance officer would ask about."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from dialer.compliance.abandonment import AbandonmentBudget, is_abandoned
from dialer.compliance.decision import decide
from dialer.compliance.model import AbandonmentStats, CampaignFacts, Contact, DncEntry, History, PastAttempt
from dialer.compliance.policy import shipped_packs

UTC = timezone.utc
SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
PHONE = "+8613800000001"


def pack(name):
    return shipped_packs()[name]


def at(tz, *args):
    return datetime(*args, tzinfo=tz).astimezone(UTC)


def cn(**kw):
    return Contact(1, 1, PHONE, "Asia/Shanghai", kw.pop("consent", None))


COLLECTION = CampaignFacts(1, "collection", "progressive", 30.0)
CARE = CampaignFacts(1, "care", "progressive", 30.0)


def test_collection_window_leaves_room_to_ring_before_22_00():
    p = pack("cn-collection")  # ring 30 s + 5 s set-up
    assert decide(cn(), COLLECTION, p, History(), at(SH, 2026, 3, 3, 21, 59, 0)).verdict == "allow"
    late = decide(cn(), COLLECTION, p, History(), at(SH, 2026, 3, 3, 21, 59, 30))
    assert late.verdict == "defer"
    assert late.until == at(SH, 2026, 3, 4, 8, 0)
    assert "calling_window" in late.reasons[0]
    early = decide(cn(), COLLECTION, p, History(), at(SH, 2026, 3, 4, 7, 59, 59))
    assert early.verdict == "defer" and early.until == at(SH, 2026, 3, 4, 8, 0)


def test_marketing_is_closed_on_national_day_and_open_on_the_make_up_saturday():
    p = pack("cn-marketing")
    holiday = decide(cn(consent=True), CARE, p, History(), at(SH, 2026, 10, 1, 10, 0))
    assert holiday.verdict == "defer"
    window = next(r for r in holiday.evaluations if r.rule == "calling_window")
    assert window.facts["day"] == "public holiday (closed)"
    # 1-3 and 5-7 October 2026 are public holidays (days off); Sunday the 4th is an ordinary
    # Sunday in the calendar, so the weekend windows apply (10:00).
    assert holiday.until == at(SH, 2026, 10, 4, 10, 0)
    # Saturday 10 October 2026 is a make-up working day: weekday windows (until 20:00).
    assert decide(cn(consent=True), CARE, p, History(), at(SH, 2026, 10, 10, 19, 0)).verdict == "allow"
    # An ordinary Saturday closes at 18:00.
    assert decide(cn(consent=True), CARE, p, History(), at(SH, 2026, 10, 17, 19, 0)).verdict == "defer"


def test_marketing_needs_consent_on_record():
    p = pack("cn-marketing")
    now = at(SH, 2026, 3, 3, 10, 0)
    assert decide(cn(consent=True), CARE, p, History(), now).verdict == "allow"
    refused = decide(cn(consent=None), CARE, p, History(), now)
    assert refused.verdict == "deny" and refused.reasons[0].startswith("consent:")


def test_us_number_of_unknown_zone_waits_for_hawaii():
    p = pack("us-tcpa")
    contact = Contact(1, 1, "+12125550100", None)
    now = at(NY, 2026, 3, 3, 9, 0)  # 04:00 in Honolulu
    d = decide(contact, COLLECTION, p, History(), now)
    assert d.verdict == "defer"
    assert d.until == at(ZoneInfo("Pacific/Honolulu"), 2026, 3, 3, 8, 0)
    known = Contact(1, 1, "+12125550100", "America/New_York")
    assert decide(known, COLLECTION, p, History(), now).verdict == "allow"


def test_us_window_follows_daylight_saving_time():
    p = pack("us-tcpa")
    contact = Contact(1, 1, "+12125550100", "America/New_York")
    # 8 March 2026: clocks go 02:00 EST -> 03:00 EDT. 08:00 EDT is 12:00 UTC (13:00 UTC the day before).
    assert decide(contact, COLLECTION, p, History(), datetime(2026, 3, 8, 11, 59, tzinfo=UTC)).verdict == "defer"
    assert decide(contact, COLLECTION, p, History(), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)).verdict == "allow"
    assert decide(contact, COLLECTION, p, History(), datetime(2026, 3, 7, 12, 30, tzinfo=UTC)).verdict == "defer"


def attempt(when, disposition="no_answer", phone=PHONE, contact_id=1, campaign_id=1):
    return PastAttempt(when, campaign_id, contact_id, phone, disposition)


def test_six_unanswered_calls_a_day_then_wait_for_the_callee_s_midnight():
    p = pack("cn-collection")
    now = at(SH, 2026, 3, 3, 15, 0)
    tries = tuple(attempt(now - timedelta(hours=k + 1)) for k in range(6))
    d = decide(cn(), COLLECTION, p, History(tries), now)
    assert d.verdict == "defer" and d.until == at(SH, 2026, 3, 4, 0, 0)
    # An answered call does not count against the unanswered cap; nor do yesterday's calls.
    answered = tries[:5] + (attempt(now - timedelta(hours=2), "answered_human"),)
    assert decide(cn(), COLLECTION, p, History(answered), now).verdict == "allow"
    yesterday = tuple(attempt(at(SH, 2026, 3, 2, 20, k)) for k in range(6))
    assert decide(cn(), COLLECTION, p, History(yesterday), now).verdict == "allow"
    # The cap is per number: calls from another campaign count too.
    other = tuple(attempt(now - timedelta(hours=k + 1), campaign_id=9, contact_id=99) for k in range(6))
    assert decide(cn(), COLLECTION, p, History(other), now).verdict == "defer"


def test_regulation_f_seven_in_seven():
    p = pack("us-tcpa")
    contact = Contact(1, 1, "+12125550100", "America/New_York")
    now = at(NY, 2026, 3, 10, 12, 0)
    tries = tuple(attempt(now - timedelta(days=k, hours=1), phone="+12125550100") for k in range(7))
    d = decide(contact, COLLECTION, p, History(tries), now)
    assert d.verdict == "defer"
    assert d.until == tries[-1].at + timedelta(days=7)  # when the oldest of the seven drops out
    assert decide(contact, COLLECTION, p, History(tries[:6]), now).verdict == "allow"


def test_ofcom_no_recall_within_72_hours_of_an_abandoned_call():
    p = pack("uk-ofcom")
    contact = Contact(1, 1, "+447700900123", "Europe/London")
    now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    dropped = attempt(now - timedelta(hours=71), "dropped", phone="+447700900123")
    d = decide(contact, COLLECTION, p, History((dropped,)), now)
    assert d.verdict == "defer" and d.until == dropped.at + timedelta(hours=72)
    old = attempt(now - timedelta(hours=73), "abandoned", phone="+447700900123")
    assert decide(contact, COLLECTION, p, History((old,)), now).verdict == "allow"


def test_do_not_call_entries_by_scope_and_time():
    p = pack("cn-collection")
    now = at(SH, 2026, 3, 3, 10, 0)
    on_global = DncEntry(PHONE, "global", None, "opt_out_call", now - timedelta(minutes=1))
    d = decide(cn(), COLLECTION, p, History(dnc=(on_global,)), now)
    assert d.verdict == "deny" and "global list" in d.reasons[0]
    other_campaign = DncEntry(PHONE, "campaign", 2, "agent", now - timedelta(days=1))
    assert decide(cn(), COLLECTION, p, History(dnc=(other_campaign,)), now).verdict == "allow"
    this_campaign = DncEntry(PHONE, "campaign", 1, "agent", now - timedelta(days=1))
    assert decide(cn(), COLLECTION, p, History(dnc=(this_campaign,)), now).verdict == "deny"
    later = DncEntry(PHONE, "global", None, "import", now + timedelta(minutes=1))  # explain at an earlier time
    assert decide(cn(), COLLECTION, p, History(dnc=(later,)), now).verdict == "allow"


def test_abandonment_budget_holds_back_over_dialling_only():
    p = pack("us-tcpa")
    contact = Contact(1, 1, "+12125550100", "America/New_York")
    now = at(NY, 2026, 3, 10, 12, 0)
    over = History(abandonment=AbandonmentStats(live_answered=100, abandoned=4))
    predictive = CampaignFacts(1, "collection", "predictive", 30.0)
    d = decide(contact, predictive, p, over, now)
    assert d.verdict == "defer" and "abandonment_budget" in d.reasons[0]
    assert decide(contact, COLLECTION, p, over, now).verdict == "allow"  # progressive
    within = History(abandonment=AbandonmentStats(live_answered=100, abandoned=3))
    assert decide(contact, predictive, p, within, now).verdict == "allow"


def test_abandonment_budget_numbers_and_definition():
    budget = AbandonmentBudget(0.03, timedelta(days=30), 2.0)
    stats = AbandonmentStats(live_answered=200, abandoned=4)
    assert budget.rate(stats) == pytest.approx(0.02)
    assert budget.headroom(stats) == pytest.approx(0.01)
    assert budget.abandons_left(stats) == 2
    assert budget.abandons_left(AbandonmentStats(100, 3)) == 0
    assert is_abandoned(answered=True, machine=False, disposition="answered_human", seconds_to_agent=2.5,
                        connect_within_s=2) is True
    assert is_abandoned(answered=True, machine=False, disposition="answered_human", seconds_to_agent=1.9,
                        connect_within_s=2) is False
    assert is_abandoned(answered=True, machine=False, disposition="dropped", seconds_to_agent=None,
                        connect_within_s=2) is True
    assert is_abandoned(answered=True, machine=True, disposition="machine", seconds_to_agent=None,
                        connect_within_s=2) is None
    assert is_abandoned(answered=False, machine=False, disposition="no_answer", seconds_to_agent=None,
                        connect_within_s=2) is None


def test_ring_time_below_the_minimum_is_refused():
    p = pack("us-tcpa")
    contact = Contact(1, 1, "+12125550100", "America/New_York")
    short = CampaignFacts(1, "collection", "progressive", 10.0)
    d = decide(contact, short, p, History(), at(NY, 2026, 3, 10, 12, 0))
    assert d.verdict == "deny" and d.reasons[0].startswith("ring_time:")


def test_a_refusal_names_every_rule_that_stood_in_the_way():
    p = pack("cn-marketing")
    now = at(SH, 2026, 3, 3, 23, 0)
    d = decide(cn(consent=None), CARE, p, History(dnc=(DncEntry(PHONE, "global", None, "refusal",
                                                                 now - timedelta(days=3)),)), now)
    assert d.verdict == "deny"
    assert {r.split(":")[0] for r in d.reasons} == {"do_not_call", "consent"}
    body = d.as_json(sources=True)
    assert body["policy"] == "cn-marketing@1"
    assert not any("source" in r for r in d.as_json()["rules"])  # stored decisions name the pack version instead
    assert {r["rule"] for r in body["rules"] if r["verdict"] != "allow"} == {"do_not_call", "consent",
                                                                             "calling_window"}
    assert all(r["source"] for r in body["rules"])


def test_naive_clock_is_refused():
    with pytest.raises(ValueError):
        decide(cn(), COLLECTION, pack("cn-collection"), History(), datetime(2026, 3, 3, 10, 0))
