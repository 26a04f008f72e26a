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

from common.weekly_hours import HoursError, parse_days, parse_ranges  # noqa: F401 (used by the hours node)

_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


@lru_cache(maxsize=64)
def _calendar(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, make-up working days) for one country and year."""
    import holidays as holidays_lib

    if not re.fullmatch(r"[A-Z]{2,3}", country):
        raise HoursError(f"no holiday calendar for country {country!r} (use a code such as CN)")
    try:
        entries = holidays_lib.country_holidays(country, years=year)
    except Exception:  # the library raises NotImplementedError, but also others for odd names
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
