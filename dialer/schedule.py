"""A campaign's schedule, as pure functions of the clock: when it may dial, and what to do now.

    schedule = CampaignSchedule.from_json(campaign["schedule"])
    schedule.is_open(now, "Asia/Shanghai")          # may a callee in that zone be dialled now?
    schedule.open_zones(zones, now)                  # which of the campaign's callee zones are open
    schedule.next_change(zones, now)                 # the next instant any of them opens or closes
    desired_action("running", paused_by_scheduler=False, schedule=schedule, zones=zones, now=now)
        # -> ("pause", "outside the calling windows") just after 20:00 local time

A schedule is: start and end dates (in the campaign's `time_zone`), weekly windows
in the *callee's* local time (a contact's time_zone; the campaign's zone when the
number gave none), and optionally a country's public holidays - no calls on them;
China's make-up working days (调休) use Monday's windows, as the IVR's `hours`
node does (ivr/business_hours.py, whose calendar this reuses).

The campaign is open while at least one of its callee zones is open. The shell
(dialer/scheduler.py, APScheduler) wakes at `next_change` and applies
`desired_action`: start an `auto_start` draft, pause a running campaign outside
its windows or before its start date, resume one it paused itself (never one a
person paused), finish it after its end date. The hopper only leases contacts
whose zone is open, so a campaign spanning zones dials each zone in its own hours.

Everything here is pure: the clock comes in as `now` (timezone-aware).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from common.weekly_hours import parse_days, parse_ranges
from ivr.business_hours import BusinessHours

HORIZON_DAYS = 16  # look this far ahead for the next change (the longest Chinese holiday is 8-9 days)
_DEFAULTS = {"start_date": None, "end_date": None, "windows": {"mon-sun": "09:00-20:00"}, "holidays": None,
             "time_zone": "Asia/Shanghai", "auto_start": False}


@dataclass(frozen=True)
class CampaignSchedule:
    start_date: date | None
    end_date: date | None
    week: tuple[tuple[int, tuple[tuple[time, time], ...]], ...]  # weekday -> windows, sorted
    holidays: str | None
    time_zone: str
    auto_start: bool

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> "CampaignSchedule":
        """From a schedule validated by dialer.campaigns.validate_schedule (older rows lack newer keys)."""
        merged = {**_DEFAULTS, **(raw or {})}
        week: dict[int, tuple[tuple[time, time], ...]] = {}
        for days, ranges in merged["windows"].items():
            for day in parse_days(days):
                week[day] = parse_ranges(ranges)
        as_date = lambda v: date.fromisoformat(v) if v else None  # noqa: E731
        return cls(as_date(merged["start_date"]), as_date(merged["end_date"]), tuple(sorted(week.items())),
                   merged["holidays"], merged["time_zone"], bool(merged["auto_start"]))

    # --- the campaign's own dates --------------------------------------------------------

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(self.time_zone))

    def phase(self, now: datetime) -> str:
        """before | active | ended, by the campaign's dates in its own zone."""
        if self.start_date and now < self._midnight(self.start_date):
            return "before"
        if self.end_date and now >= self._midnight(self.end_date + timedelta(days=1)):
            return "ended"
        return "active"

    # --- callee zones ------------------------------------------------------------------------

    def _hours(self, zone: str | None) -> BusinessHours:
        return _business_hours(zone or self.time_zone, self.week, self.holidays)

    def is_open(self, now: datetime, zone: str | None) -> bool:
        """May a callee whose local zone is `zone` (None: unknown) be dialled at `now`?"""
        return self.phase(now) == "active" and self._hours(zone).status(now)[0]

    def open_zones(self, zones: Iterable[str | None], now: datetime) -> set[str | None]:
        return {zone for zone in zones if self.is_open(now, zone)}

    def next_change(self, zones: Iterable[str | None], now: datetime) -> datetime | None:
        """The first instant after `now` at which any zone opens or closes (None: nothing within the horizon)."""
        zones = set(zones) or {None}
        before = {zone: self.is_open(now, zone) for zone in zones}
        for candidate in self._candidates(zones, now):
            if any(self.is_open(candidate, zone) != was for zone, was in before.items()):
                return candidate
        return None

    def _candidates(self, zones: set[str | None], now: datetime) -> list[datetime]:
        """Every instant a zone's status could flip: window starts, just after window ends, midnights."""
        times = {t for _, ranges in self.week for pair in ranges for t in pair} | {time(0)}
        out: set[datetime] = set()
        if self.start_date:
            out.add(self._midnight(self.start_date))
        if self.end_date:
            out.add(self._midnight(self.end_date + timedelta(days=1)))
        for zone in zones:
            tz = ZoneInfo(zone or self.time_zone)
            first = now.astimezone(tz).date()
            for offset in range(HORIZON_DAYS):
                day = first + timedelta(days=offset)
                for t in times:
                    moment = datetime.combine(day, t, tzinfo=tz)
                    # a window's end is inclusive (20:00:00 is still open): it closes just after
                    out.update((moment, moment + timedelta(microseconds=1)))
        return sorted(c for c in out if c > now)


@lru_cache(maxsize=256)
def _business_hours(zone: str, week, holidays: str | None) -> BusinessHours:
    return BusinessHours(timezone=zone, week=dict(week), holiday_country=holidays)


def desired_action(state: str, *, paused_by_scheduler: bool, schedule: CampaignSchedule,
                   zones: Iterable[str | None], now: datetime) -> tuple[str, str] | None:
    """(action, why) the schedule asks for now, or None. Pure; the shell applies it."""
    phase = schedule.phase(now)
    open_now = bool(schedule.open_zones(zones, now)) if phase == "active" else False
    if state == "draft":
        if schedule.auto_start and open_now:
            return "start", "start date reached and a calling window is open"
        return None
    if state == "running":
        if phase == "ended":
            return "finish", "end date passed"
        if phase == "before":
            return "pause", "before the start date"
        if not open_now:
            return "pause", "outside the calling windows"
        return None
    if state == "paused":
        if phase == "ended":
            return "finish", "end date passed"
        if paused_by_scheduler and open_now:
            return "resume", "a calling window opened"
        return None
    return None  # finished, archived: the schedule has nothing more to say
