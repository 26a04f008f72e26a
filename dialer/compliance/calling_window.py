"""Calling windows in the callee's local time: may a call placed now ring to its end inside one?

A call must not be *ringing* outside the window, so the question for a call placed at
`now` is whether every instant of [now, now + ring allowance] falls inside an allowed
range of its own local date (ring allowance = the dialer's ring timeout, at least the
pack's minimum ring time, plus a set-up margin: Pack.ring_allowance_s).

Local time is the callee's: the contact's zone, else the number's own (dialer/phones.py),
else the pack's fallback zones, and then the call must fit the window in every one of
them (a US number of unknown zone is only called when it is allowed from Hawaii to Maine).

The allowed ranges of a local date come from the pack's windows for the campaign kind
and weekday, adjusted by the holiday calendar (a public holiday uses `on_holiday`; a
make-up working day, 调休上班, may use the Monday windows), intersected with the
campaign's own schedule windows.

DST: wall time is continuous and increasing between two UTC-offset changes, so the
interval is cut at the offset change (found by bisection: a ring allowance is minutes,
and zones do not change offset twice within minutes) and each piece's wall-clock
extent is checked against the ranges. A wall time skipped by spring-forward is never
"occupied"; a wall time repeated by fall-back is checked both times.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from common.weekly_hours import parse_days, parse_ranges
from dialer.compliance import calendar
from dialer.compliance.model import CampaignFacts, Contact, RuleResult, allow, defer, deny
from dialer.compliance.policy import Pack, Ranges, WindowRule

RULE = "calling_window"
SEARCH_DAYS = 14  # how far ahead a deferred contact's next window is looked for
MIDNIGHT = time(0, 0)
UTC = timezone.utc


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def merge(ranges: Iterable[tuple[time, time]]) -> Ranges:
    """Sorted, with touching or overlapping ranges joined (08:00-12:00 + 12:00-14:00 = 08:00-14:00)."""
    out: list[tuple[time, time]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def intersect(a: Ranges, b: Ranges) -> Ranges:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return merge(out)


@lru_cache(maxsize=256)
def _campaign_weekly(windows_json: tuple[tuple[str, str], ...]) -> tuple[Ranges, ...]:
    days: list[Ranges] = [() for _ in range(7)]
    for spec, ranges in windows_json:
        parsed = merge(parse_ranges(ranges))
        for day in parse_days(spec):
            days[day] = parsed
    return tuple(days)


def pack_ranges(rule: WindowRule, kind: str, day: date) -> tuple[Ranges, str]:
    """The pack's allowed ranges on a local date, and what kind of day it is."""
    weekly = rule.for_kind(kind)
    h = rule.holidays
    if calendar.is_holiday(h.calendar, day, h.subdivision):
        if h.on_holiday == "closed":
            return (), "public holiday (closed)"
        if h.on_holiday == "weekday":
            return merge(weekly.on(0)), "public holiday (weekday windows)"
        if h.on_holiday == "weekend":
            return merge(weekly.on(6)), "public holiday (Sunday windows)"
        if h.on_holiday == "same":
            return merge(weekly.on(day.weekday())), "public holiday (usual windows)"
        return merge(h.on_holiday), "public holiday (holiday windows)"
    if h.makeup_workday == "weekday" and calendar.is_makeup_workday(h.calendar, day, h.subdivision):
        return merge(weekly.on(0)), "make-up working day (weekday windows)"
    return merge(weekly.on(day.weekday())), ("weekend" if day.weekday() >= 5 else "weekday")


def campaign_ranges(schedule: dict[str, Any] | None, day: date) -> Ranges | None:
    """The campaign's own windows that day (None: the campaign sets none); closed on its holidays."""
    if not schedule or not schedule.get("windows"):
        return None
    if schedule.get("holidays") and calendar.is_holiday(schedule["holidays"], day):
        return ()
    return _campaign_weekly(tuple(sorted(schedule["windows"].items())))[day.weekday()]


def _schedule_key(schedule: dict[str, Any] | None) -> tuple:
    if not schedule or not schedule.get("windows"):
        return ()
    return (tuple(sorted(schedule["windows"].items())), schedule.get("holidays"))


_DAY_CACHE_LIMIT = 50_000


def day_info(pack: Pack, campaign: CampaignFacts, day: date) -> tuple[Ranges, str]:
    """(allowed ranges, kind of day) on a local date; cached on the pack (packs are immutable)."""
    cache = pack.__dict__.get("_day_cache")
    if cache is None:
        cache = {}
        object.__setattr__(pack, "_day_cache", cache)
    key = (campaign.kind, _schedule_key(campaign.schedule), day)
    found = cache.get(key)
    if found is None:
        ranges, kind = pack_ranges(pack.windows, campaign.kind, day)
        own = campaign_ranges(campaign.schedule, day)
        found = (ranges if own is None else intersect(ranges, own), kind)
        if len(cache) >= _DAY_CACHE_LIMIT:
            cache.clear()
        cache[key] = found
    return found


def day_ranges(pack: Pack, campaign: CampaignFacts, day: date) -> Ranges:
    return day_info(pack, campaign, day)[0]


@lru_cache(maxsize=4096)
def describe(ranges: Ranges) -> tuple[str, ...]:
    return tuple(f"{s:%H:%M}-{'24:00' if e == time.max else f'{e:%H:%M}'}" for s, e in ranges)


def _piece_fits(w0: datetime, w1: datetime, ranges_of: Callable[[date], Ranges], *, sup: bool) -> bool:
    """Wall times from w0 to w1 (w1 itself only reached if not `sup`), increasing, all allowed?"""
    d0 = w0.date()
    if w1.date() == d0:
        return any(s <= w0.time() and w1.time() <= e for s, e in ranges_of(d0))
    # Crosses local midnight: to 24:00 on d0, then on from 00:00 of the next day.
    if not any(s <= w0.time() and e == time.max for s, e in ranges_of(d0)):
        return False
    if sup and w1.time() == MIDNIGHT and w1.date() == d0 + timedelta(days=1):
        return True  # ends just before midnight
    if w1.date() != d0 + timedelta(days=1):
        return False  # longer than a day: never, for a ring allowance
    return any(s == MIDNIGHT and w1.time() <= e for s, e in ranges_of(w1.date()))


def _transition(start: datetime, end: datetime, tz: ZoneInfo) -> datetime:
    """The first instant in (start, end] with end's UTC offset (to the second)."""
    target = end.astimezone(tz).utcoffset()
    lo, hi = start, end
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    whole = hi.replace(microsecond=0)  # offsets change on whole seconds
    if whole > lo and whole.astimezone(tz).utcoffset() == target:
        return whole
    return hi


def fits(now: datetime, allowance_s: float, tz: ZoneInfo, ranges_of: Callable[[date], Ranges]) -> bool:
    """Is every instant of [now, now + allowance] inside an allowed range of its local date in `tz`?"""
    end = now + timedelta(seconds=allowance_s)
    a, b = now.astimezone(tz), end.astimezone(tz)
    if a.utcoffset() == b.utcoffset():
        return _piece_fits(a.replace(tzinfo=None), b.replace(tzinfo=None), ranges_of, sup=False)
    change = _transition(now, end, tz)
    before = (change + a.utcoffset()).replace(tzinfo=None)  # the wall time the old offset runs up to
    return (_piece_fits(a.replace(tzinfo=None), before, ranges_of, sup=True)
            and _piece_fits(change.astimezone(tz).replace(tzinfo=None), b.replace(tzinfo=None), ranges_of, sup=False))


def callee_zones(contact: Contact, pack: Pack) -> tuple[tuple[str, ...], str]:
    if contact.time_zone:
        return (contact.time_zone,), "callee"
    return pack.windows.fallback_zones, "fallback"


def next_opening(now: datetime, allowance_s: float, zones: tuple[ZoneInfo, ...],
                 ranges_of: Callable[[date], Ranges]) -> datetime | None:
    """The earliest range start (or now) within SEARCH_DAYS at which a call fits in every zone."""
    candidates: set[datetime] = set()
    for tz in zones:
        today = now.astimezone(tz).date()
        for k in range(SEARCH_DAYS + 1):
            day = today + timedelta(days=k)
            for start, _ in ranges_of(day):
                at = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
                if at > now:
                    candidates.add(at)
    for at in sorted(candidates):
        if all(fits(at, allowance_s, tz, ranges_of) for tz in zones):
            return at
    return None


def evaluate(contact: Contact, campaign: CampaignFacts, pack: Pack, now: datetime) -> RuleResult:
    rule = pack.windows
    names, zone_source = callee_zones(contact, pack)
    zones = tuple(zone(n) for n in names)
    allowance = pack.ring_allowance_s(campaign.ring_timeout_s)

    def ranges_of(day: date) -> Ranges:
        return day_info(pack, campaign, day)[0]

    local = now.astimezone(zones[0])
    today, day_kind = day_info(pack, campaign, local.date())
    facts = {"zones": list(names), "zone_from": zone_source, "local_time": local.isoformat(timespec="seconds"),
             "day": day_kind, "ring_allowance_s": allowance, "windows": list(describe(today))}
    if all(fits(now, allowance, tz, ranges_of) for tz in zones):
        return allow(RULE, f"inside the calling window at {local:%a %H:%M} {names[0]}"
                     + (" (and every fallback zone)" if len(zones) > 1 else ""), rule.source, **facts)
    opening = next_opening(now, allowance, zones, ranges_of)
    why = (f"outside the calling window at {local:%a %Y-%m-%d %H:%M} {names[0]} ({day_kind}), or too close to its "
           f"end to ring {allowance:g} s")
    if opening is None:
        return deny(RULE, why + f"; no window in the next {SEARCH_DAYS} days", rule.source, **facts)
    return defer(RULE, why, opening, rule.source, **facts)
