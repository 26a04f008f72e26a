"""Business hours in the bank's local time, with a public-holiday calendar.

Pure: `BusinessHours.status(now)` answers for any instant, so the `hours`
node, the linter and tests share one definition. China moves working days
around public holidays ("调休"): a weekend day the government declares a
working day follows the Monday-Friday hours, and the holidays package
names those days in its entries ("Day off (substituted from MM/DD/YYYY)").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


class HoursError(ValueError):
    pass


def parse_days(spec: str) -> tuple[int, ...]:
    """'mon-fri' -> (0..4), 'sat' -> (5,), 'sat,sun' -> (5, 6)."""
    days: list[int] = []
    for part in spec.lower().split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in DAYS or last not in DAYS:
                raise HoursError(f"unknown day range {part!r} (use mon..sun)")
            a, b = DAYS.index(first), DAYS.index(last)
            if a > b:
                raise HoursError(f"day range {part!r} runs backwards")
            days.extend(range(a, b + 1))
        elif part in DAYS:
            days.append(DAYS.index(part))
        else:
            raise HoursError(f"unknown day {part!r} (use mon..sun)")
    return tuple(days)


def parse_ranges(spec: str) -> tuple[tuple[time, time], ...]:
    """'08:00-12:00, 13:00-20:00' -> ((08:00, 12:00), (13:00, 20:00)); '24:00' allowed as an end."""
    ranges = []
    for part in spec.split(","):
        m = _RANGE.match(part)
        if not m:
            raise HoursError(f"{part.strip()!r} is not a time range like 08:00-20:00")
        h1, m1, h2, m2 = map(int, m.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise HoursError(f"{part.strip()!r} is not a valid time range")
        start, end = time(h1, m1), time.max if h2 == 24 else time(h2, m2)
        if start >= end:
            raise HoursError(f"{part.strip()!r} ends before it starts")
        ranges.append((start, end))
    return tuple(ranges)


@lru_cache(maxsize=64)
def _calendar(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, make-up working days) for one country and year."""
    import holidays as holidays_lib

    try:
        entries = holidays_lib.country_holidays(country, years=year)
    except NotImplementedError:
        raise HoursError(f"no holiday calendar for country {country!r}") from None
    makeup = set()
    for name in entries.values():
        for month, day, yr in _SUBSTITUTED.findall(name):
            makeup.add(date(int(yr), int(month), int(day)))
    return frozenset(entries), frozenset(makeup)


@dataclass(frozen=True)
class BusinessHours:
    timezone: str
    week: dict[int, tuple[tuple[time, time], ...]]  # weekday -> open ranges; missing = closed
    holiday_country: str | None = None
    closed_dates: frozenset[date] = field(default_factory=frozenset)
    open_dates: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise HoursError(f"unknown time zone {self.timezone!r}") from None
        if self.holiday_country:
            _calendar(self.holiday_country, 2026)  # fail at load, not on a caller's call

    def status(self, now: datetime) -> tuple[bool, str]:
        """(open?, why) at the instant `now` (timezone-aware)."""
        local = now.astimezone(ZoneInfo(self.timezone))
        day, clock = local.date(), local.time()
        if day in self.closed_dates:
            return False, "closed_date"
        weekday = day.weekday()
        reason = "regular"
        if day in self.open_dates:
            weekday, reason = 0, "open_date"
        elif self.holiday_country:
            holidays_, makeup = _calendar(self.holiday_country, day.year)
            if day in holidays_:
                return False, "holiday"
            if day in makeup:
                weekday, reason = 0, "makeup_workday"  # works like a Monday
        for start, end in self.week.get(weekday, ()):
            if start <= clock <= end:
                return True, reason
        return False, "outside_hours"
