"""Weekly opening hours as people write them: "mon-fri" and "08:00-12:00, 13:00-20:00".

Pure parsing shared by the IVR's business hours and the dialer's calling windows.
"""
from __future__ import annotations

import re
from datetime import time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


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
