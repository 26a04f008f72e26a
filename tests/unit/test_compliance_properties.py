"""Property tests of the compliance gate against brute-force oracles.

Over generated contacts, time zones (DST zones, half- and quarter-hour zones), holiday
calendars with make-up working days, histories and clocks (many of them next to a DST
change or a window edge): the gate never allows a call that any rule forbids, and never
refuses one that every rule allows. The oracles are written independently of the rules:
the calling window is checked second by second over the whole ring time, the caps by
counting attempts one by one.
"""
from __future__ import annotations

import os
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays as holidays_lib
from hypothesis import HealthCheck, given, settings, strategies as st

from dialer.compliance import calling_window
from dialer.compliance.decision import decide
from dialer.compliance.model import AbandonmentStats, CampaignFacts, Contact, DncEntry, History, PastAttempt
from dialer.compliance.policy import (AbandonmentRule, CapRule, CapsRule, HolidayRule, Pack, WeeklyWindows,
                                      WindowRule)

UTC = timezone.utc
# More with COMPLIANCE_EXAMPLES=2000 (a nightly run); 200 keeps the unit suite quick.
EXAMPLES = int(os.environ.get("COMPLIANCE_EXAMPLES", "200"))
ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata",
         "Australia/Adelaide", "America/St_Johns", "Asia/Kathmandu", "Pacific/Chatham", "America/Santiago",
         "Europe/Berlin", "Pacific/Honolulu"]
CALENDARS = [None, "CN", "US", "GB"]
DISPOSITIONS = ["answered_human", "abandoned", "dropped", "no_answer", "busy", "machine", "failed", "unknown", None]


def _transitions() -> list[datetime]:
    """Every UTC-offset change of ZONES in 2025-2027 (found hour by hour, then to the second)."""
    out = []
    for name in ZONES:
        tz = ZoneInfo(name)
        t = datetime(2025, 1, 1, tzinfo=UTC)
        while t < datetime(2027, 12, 31, tzinfo=UTC):
            nxt = t + timedelta(hours=1)
            if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
                lo, hi = t, nxt
                while hi - lo > timedelta(seconds=1):
                    mid = lo + (hi - lo) / 2
                    if mid.astimezone(tz).utcoffset() == nxt.astimezone(tz).utcoffset():
                        hi = mid
                    else:
                        lo = mid
                out.append((name, hi.replace(microsecond=0)))
            t = nxt
    return sorted(set(out), key=lambda zt: (zt[1], zt[0]))


TRANSITIONS = _transitions()
_CN = holidays_lib.country_holidays("CN", years=[2025, 2026, 2027])
SPECIAL_DAYS = sorted({d for d in _CN if d.year >= 2025} | {d for d in _CN.weekend_workdays if d.year >= 2025})


# --- strategies ---------------------------------------------------------------------------------

minutes = st.integers(0, 24 * 60)


@st.composite
def day_ranges(draw):
    """Mostly open days with one or two ranges (some touching midnight), sometimes closed."""
    if draw(st.integers(0, 5)) == 0:
        return ()
    cuts = sorted(set(draw(st.lists(st.sampled_from([0, 60, 8 * 60, 9 * 60 + 30, 12 * 60, 14 * 60, 20 * 60, 21 * 60,
                                                      22 * 60, 23 * 60 + 30, 24 * 60]) | minutes,
                                    min_size=2, max_size=4))))
    if len(cuts) % 2:
        cuts = cuts[:-1]
    out = []
    for a, b in zip(cuts[::2], cuts[1::2]):
        out.append((time(a // 60, a % 60), time.max if b == 24 * 60 else time(b // 60, b % 60)))
    return tuple(out)


@st.composite
def windows(draw):
    return WeeklyWindows(tuple(draw(day_ranges()) for _ in range(7)))


@st.composite
def packs(draw):
    on_holiday = draw(st.sampled_from(["closed", "weekday", "weekend", "same"]) | day_ranges().filter(bool))
    rule = WindowRule(by_kind={"collection": draw(windows())} if draw(st.booleans()) else {},
                      default=draw(windows()),
                      holidays=HolidayRule(draw(st.sampled_from(CALENDARS)), None, on_holiday,
                                           draw(st.sampled_from(["weekday", "same"]))),
                      fallback_zones=tuple(draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True))),
                      setup_margin_s=float(draw(st.integers(0, 10))), source="test")

    def cap():
        return CapRule(draw(st.none() | st.integers(1, 6)), draw(st.none() | st.integers(1, 10)),
                       draw(st.none() | st.integers(1, 20)), draw(st.sampled_from(["all", "unanswered"])))
    caps = CapsRule(cap(), cap(), float(draw(st.sampled_from([0, 30, 240]))),
                    float(draw(st.sampled_from([0, 24, 72]))), "test")
    abandonment = AbandonmentRule(0.03, 720, 2, True, ("power", "predictive"), "test")
    return Pack("prop", 1, "property pack", "XX", rule, float(draw(st.sampled_from([0, 15, 15, 15, 40]))), "test",
                tuple(draw(st.sampled_from([["global", "campaign"], ["global"], ["campaign"]]))), "test",
                draw(st.integers(0, 3)) == 0, "test", caps, abandonment)


@st.composite
def clocks(draw):
    """Whole-second instants, often within minutes of a DST change."""
    if draw(st.booleans()):
        _, base = draw(st.sampled_from(TRANSITIONS))
        return base + timedelta(seconds=draw(st.integers(-3 * 3600, 3 * 3600)))
    if draw(st.booleans()):  # a Chinese public holiday or make-up working day
        day = draw(st.sampled_from(SPECIAL_DAYS))
        return datetime.combine(day, time(0), tzinfo=UTC) + timedelta(seconds=draw(st.integers(-8 * 3600, 86400)))
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 3 * 365 * 86400)))


PHONES = ["+8613800000001", "+8613800000002", "+12125550100", "+447700900123", "+8613900000003"]


@st.composite
def scenarios(draw):
    now = draw(clocks())
    pack = draw(packs())
    contact = Contact(draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.sampled_from(PHONES)),
                      draw(st.sampled_from(ZONES) if draw(st.integers(0, 4)) else st.none()),
                      draw(st.sampled_from([True, True, False, None])))
    campaign = CampaignFacts(contact.campaign_id, draw(st.sampled_from(["collection", "care"])),
                             draw(st.sampled_from(["progressive", "power", "predictive"])),
                             float(draw(st.sampled_from([10, 20, 30, 30, 45]))))
    if draw(st.booleans()):  # most of the interest is at a window's edges: move the clock next to one
        tz = ZoneInfo(contact.time_zone or pack.windows.fallback_zones[0])
        day = now.astimezone(tz).date()
        edges = [edge for r in oracle_ranges(pack, campaign, day) for edge in r]
        if edges:
            edge = draw(st.sampled_from(edges))
            at = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) if edge == time.max
                  else datetime.combine(day, edge, tzinfo=tz))
            allowance = int(max(campaign.ring_timeout_s, pack.ring_min_seconds) + pack.windows.setup_margin_s)
            now = at.astimezone(UTC) + timedelta(seconds=draw(st.integers(-allowance - 3, 3)))
    attempts = tuple(PastAttempt(now - timedelta(seconds=draw(st.integers(-3600, 9 * 86400))),
                                 draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.sampled_from(PHONES)),
                                 draw(st.sampled_from(DISPOSITIONS)))
                     for _ in range(draw(st.integers(0, 5))))
    dnc = tuple(DncEntry(draw(st.sampled_from(PHONES)), scope, draw(st.integers(1, 2)) if scope == "campaign" else None,
                         "import", now - timedelta(seconds=draw(st.integers(-86400, 86400))))
                for scope in draw(st.lists(st.sampled_from(["global", "campaign"]), max_size=1)))
    live = draw(st.integers(0, 200))
    stats = AbandonmentStats(live, draw(st.integers(0, max(live // 25, 0))))
    lifetime = tuple(draw(st.integers(0, 3)) for _ in range(4))
    history = History(attempts, (lifetime[0], min(lifetime[0], lifetime[1])), (lifetime[2], min(lifetime[2], lifetime[3])),
                      dnc, stats)
    return contact, campaign, pack, history, now


# --- oracles ------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _calendar(country: str, year: int):
    return holidays_lib.country_holidays(country, years=year)


def oracle_ranges(pack: Pack, campaign: CampaignFacts, day: date):
    rule = pack.windows
    weekly = rule.by_kind.get(campaign.kind, rule.default)
    cal = rule.holidays.calendar
    if cal:
        h = _calendar(cal, day.year)
        if day in h:
            on = rule.holidays.on_holiday
            return {"closed": (), "weekday": weekly.days[0], "weekend": weekly.days[6],
                    "same": weekly.days[day.weekday()]}.get(on, on) if isinstance(on, str) else on
        if rule.holidays.makeup_workday == "weekday" and day in getattr(h, "weekend_workdays", ()):
            return weekly.days[0]
    return weekly.days[day.weekday()]


def instant_allowed(t: datetime, tz: ZoneInfo, pack, campaign) -> bool:
    local = t.astimezone(tz)
    wall = local.time().replace(tzinfo=None)
    return any(s <= wall <= e for s, e in oracle_ranges(pack, campaign, local.date()))


def oracle_window_ok(contact, campaign, pack, now) -> bool:
    zones = [contact.time_zone] if contact.time_zone else list(pack.windows.fallback_zones)
    allowance = int(max(campaign.ring_timeout_s, pack.ring_min_seconds) + pack.windows.setup_margin_s)
    for name in zones:
        tz = ZoneInfo(name)
        for k in range(allowance + 1):
            if not instant_allowed(now + timedelta(seconds=k), tz, pack, campaign):
                return False
    return True


def oracle_forbidden(contact, campaign, pack, history, now) -> list[str]:
    """Every rule that forbids the call now, counted the slow way."""
    out = []
    for e in history.dnc:
        if e.phone == contact.phone and e.added_at <= now and (
                (e.scope == "global" and "global" in pack.dnc_scopes)
                or (e.scope == "campaign" and "campaign" in pack.dnc_scopes and e.campaign_id == contact.campaign_id)):
            out.append("dnc")
    if pack.consent_required and contact.consent is not True:
        out.append("consent")
    if campaign.ring_timeout_s < pack.ring_min_seconds:
        out.append("ring")
    if not oracle_window_ok(contact, campaign, pack, now):
        out.append("window")
    day_tz = ZoneInfo(contact.time_zone or pack.windows.fallback_zones[0])
    for name, cap, life in (("number", pack.caps.per_number, history.lifetime_number),
                            ("contact", pack.caps.per_contact, history.lifetime_contact)):
        def mine(a):
            if a.at > now:
                return False
            if name == "number":
                return a.phone == contact.phone
            return a.contact_id == contact.contact_id and a.campaign_id == contact.campaign_id

        def counts(a):
            return cap.counts == "all" or a.disposition not in ("answered_human", "abandoned", "dropped")
        n_day = n_week = 0
        for a in history.attempts:
            if mine(a) and counts(a):
                if a.at.astimezone(day_tz).date() == now.astimezone(day_tz).date():
                    n_day += 1
                if now - a.at < timedelta(days=7):
                    n_week += 1
        if cap.per_day is not None and n_day >= cap.per_day:
            out.append(f"{name}.day")
        if cap.per_7_days is not None and n_week >= cap.per_7_days:
            out.append(f"{name}.week")
        if cap.lifetime is not None and (life[0] if cap.counts == "all" else life[1]) >= cap.lifetime:
            out.append(f"{name}.lifetime")
    for a in history.attempts:
        to_me = a.phone == contact.phone or (a.contact_id == contact.contact_id
                                              and a.campaign_id == contact.campaign_id)
        if to_me and a.at <= now and now - a.at < timedelta(minutes=pack.caps.min_gap_minutes):
            out.append("gap")
        if (a.phone == contact.phone and a.at <= now and a.disposition in ("abandoned", "dropped")
                and now - a.at < timedelta(hours=pack.caps.after_abandoned_hours)):
            out.append("abandoned_recall")
    stats = history.abandonment
    if (stats.live_answered and stats.abandoned / stats.live_answered > pack.abandonment.max_rate
            and campaign.dial_mode in pack.abandonment.enforce_for_modes):
        out.append("abandonment")
    return out


# --- properties ---------------------------------------------------------------------------------

@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_gate_allows_exactly_what_every_rule_allows(scenario):
    contact, campaign, pack, history, now = scenario
    decision = decide(contact, campaign, pack, history, now)
    forbidden = oracle_forbidden(contact, campaign, pack, history, now)
    if decision.verdict == "allow":
        assert not forbidden, f"allowed although {forbidden} forbid it: {decision.as_json()}"
    else:
        assert forbidden, f"{decision.verdict} although every rule allows: {decision.as_json()}"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_deferred_call_is_allowed_by_the_window_at_its_time(scenario):
    contact, campaign, pack, history, now = scenario
    result = calling_window.evaluate(contact, campaign, pack, now)
    assert (result.verdict == "allow") == oracle_window_ok(contact, campaign, pack, now)
    if result.verdict == "defer":
        assert result.until > now
        assert oracle_window_ok(contact, campaign, pack, result.until), result.as_json()
        assert calling_window.evaluate(contact, campaign, pack, result.until).verdict == "allow"


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(scenarios())
def test_a_decision_is_a_function_of_its_inputs_and_explains_itself(scenario):
    contact, campaign, pack, history, now = scenario
    first, second = (decide(contact, campaign, pack, history, now) for _ in range(2))
    assert first.as_json() == second.as_json()
    body = first.as_json(sources=True)
    assert body["policy"] == "prop@1" and body["rules"]
    assert all(r["source"] for r in body["rules"])
    if first.verdict != "allow":
        assert first.reasons and all(any(r["rule"] in reason for r in body["rules"] if r["verdict"] != "allow")
                                     for reason in first.reasons)
    if first.verdict == "defer":
        assert first.until > now


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_window_edges_next_to_a_dst_change(data):
    """A window edge near the wall time a zone jumps from or to, a call ringing across the change."""
    name, change = data.draw(st.sampled_from(TRANSITIONS))
    tz = ZoneInfo(name)
    before, after = (change - timedelta(seconds=1)).astimezone(tz), change.astimezone(tz)
    wall = data.draw(st.sampled_from([before + timedelta(seconds=1), after]))  # 02:00 / 03:00 style edges
    edge_minutes = (wall.hour * 60 + wall.minute + data.draw(st.integers(-3, 3))) % (24 * 60)
    edge = time(edge_minutes // 60, edge_minutes % 60)
    ranges = ((time(0), edge),) if data.draw(st.booleans()) and edge > time(0) else ((edge, time.max),)
    weekly = WeeklyWindows(tuple(ranges for _ in range(7)))
    rule = WindowRule({}, weekly, HolidayRule(None, None, "same", "same"), (name,), 0.0, "test")
    pack = Pack("dst", 1, "dst", "XX", rule, 15.0, "test", ("global",), "test", False, "test",
                CapsRule(CapRule(None, None, None, "all"), CapRule(None, None, None, "all"), 0.0, 0.0, "test"),
                AbandonmentRule(0.03, 720, 2, True, ("power",), "test"))
    campaign = CampaignFacts(1, "care", "progressive", float(data.draw(st.sampled_from([15, 30, 60]))))
    contact = Contact(1, 1, PHONES[0], name, True)
    now = change - timedelta(seconds=data.draw(st.integers(-5, int(campaign.ring_timeout_s) + 5)))
    result = calling_window.evaluate(contact, campaign, pack, now)
    assert (result.verdict == "allow") == oracle_window_ok(contact, campaign, pack, now), result.as_json()
