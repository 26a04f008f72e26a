"""Public holidays and make-up working days (调休) per country and year, from `holidays`.

China moves working days around its Golden Weeks: the State Council's yearly notice
makes some Saturdays and Sundays working days (调休上班) in exchange for days off
next to a holiday. The `holidays` package's China calendar lists the days off as
holidays (including "Day off (substituted from …)") and the make-up working days in
`weekend_workdays`; other countries have none of the latter.
"""
from __future__ import annotations

from datetime import date
from functools import lru_cache


@lru_cache(maxsize=256)
def _year(country: str, subdivision: str | None, year: int) -> tuple[frozenset[date], frozenset[date]]:
    import holidays as holidays_lib

    calendar = holidays_lib.country_holidays(country, subdiv=subdivision, years=year)
    days_off = frozenset(d for d in calendar if d.year == year)
    workdays = frozenset(d for d in getattr(calendar, "weekend_workdays", ()) if d.year == year)
    return days_off, workdays


def is_holiday(country: str | None, day: date, subdivision: str | None = None) -> bool:
    return country is not None and day in _year(country, subdivision, day.year)[0]


def is_makeup_workday(country: str | None, day: date, subdivision: str | None = None) -> bool:
    """A weekend day made a working day (调休上班)."""
    return country is not None and day in _year(country, subdivision, day.year)[1]


def holiday_name(country: str | None, day: date, subdivision: str | None = None) -> str | None:
    if not is_holiday(country, day, subdivision):
        return None
    import holidays as holidays_lib

    return holidays_lib.country_holidays(country, subdiv=subdivision, years=day.year).get(day)
