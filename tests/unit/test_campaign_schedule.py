"""Campaign schedules (dialer/schedule.py): windows in callee time, dates, holidays, DST, and the actions."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaigns import validate_schedule
from dialer.schedule import CampaignSchedule, desired_action

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def schedule(**raw) -> CampaignSchedule:
    return CampaignSchedule.from_json(validate_schedule(raw))


def at(zone, *args) -> datetime:
    return datetime(*args, tzinfo=zone)


def test_window_edges_in_the_callees_zone():
    s = schedule(windows={"mon-fri": "09:00-12:00, 14:00-20:00"})
    assert not s.is_open(at(SH, 2026, 11, 23, 8, 59, 59), None)           # Monday, campaign zone
    assert s.is_open(at(SH, 2026, 11, 23, 9, 0), None)
    assert s.is_open(at(SH, 2026, 11, 23, 20, 0), None)                   # the end minute is inside
    assert not s.is_open(at(SH, 2026, 11, 23, 20, 0, 1), None)
    assert not s.is_open(at(SH, 2026, 11, 23, 13, 0), None)              # lunch break
    assert not s.is_open(at(SH, 2026, 11, 28, 10, 0), None)              # Saturday
    # 10:00 in Shanghai is 21:00 the evening before in New York: closed there
    assert not s.is_open(at(SH, 2026, 11, 24, 10, 0), "America/New_York")
    assert s.open_zones([None, "Asia/Shanghai", "America/New_York"], at(SH, 2026, 11, 24, 10, 0)) == \
        {None, "Asia/Shanghai"}


def test_next_change_finds_the_next_open_and_close():
    s = schedule(windows={"mon-fri": "09:00-12:00, 14:00-20:00"})
    assert s.next_change([None], at(SH, 2026, 11, 23, 10, 0)) == at(SH, 2026, 11, 23, 12, 0, 0, 1)
    assert s.next_change([None], at(SH, 2026, 11, 23, 12, 30)) == at(SH, 2026, 11, 23, 14, 0)
    assert s.next_change([None], at(SH, 2026, 11, 27, 21, 0)) == at(SH, 2026, 11, 30, 9, 0)  # Fri -> Mon
    both = s.next_change([None, "America/New_York"], at(SH, 2026, 11, 23, 20, 30))
    assert both == at(NY, 2026, 11, 23, 9, 0)  # New York opens before Shanghai's next morning


def test_dst_change_moves_the_window_in_utc():
    s = schedule(windows={"mon-sun": "08:00-21:00"}, time_zone="America/New_York")
    # US DST ended on 2026-11-01: 08:00 local is 12:00 UTC before, 13:00 UTC after
    before = s.next_change([None], datetime(2026, 10, 31, 2, 0, tzinfo=timezone.utc))  # 22:00 EDT
    after = s.next_change([None], datetime(2026, 11, 2, 5, 0, tzinfo=timezone.utc))   # midnight EST
    assert before == datetime(2026, 10, 31, 12, 0, tzinfo=timezone.utc)
    assert after == datetime(2026, 11, 2, 13, 0, tzinfo=timezone.utc)
    assert not s.is_open(datetime(2026, 11, 2, 12, 30, tzinfo=timezone.utc), None)


def test_half_hour_zone():
    s = schedule(windows={"mon-sun": "09:00-18:00"})
    assert s.is_open(at(ZoneInfo("Asia/Kolkata"), 2026, 11, 23, 9, 0), "Asia/Kolkata")
    assert s.next_change(["Asia/Kolkata"], datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)) == \
        datetime(2026, 11, 23, 3, 30, tzinfo=timezone.utc)


def test_chinese_holidays_and_make_up_working_days():
    s = schedule(windows={"mon-fri": "09:00-20:00"}, holidays="CN")
    assert not s.is_open(at(SH, 2026, 10, 1, 10, 0), None)   # National Day, a Thursday
    assert s.is_open(at(SH, 2026, 10, 10, 10, 0), None)      # a Saturday worked in exchange (调休)
    assert s.next_change([None], at(SH, 2026, 9, 30, 21, 0)) == at(SH, 2026, 10, 8, 9, 0)
    assert schedule(windows={"mon-fri": "09:00-20:00"}).is_open(at(SH, 2026, 10, 1, 10, 0), None)


def test_start_and_end_dates_in_the_campaigns_zone():
    s = schedule(start_date="2026-12-01", end_date="2026-12-31")
    assert s.phase(at(SH, 2026, 11, 30, 23, 59)) == "before"
    assert s.phase(at(SH, 2026, 12, 1, 0, 0)) == "active"
    assert s.phase(at(SH, 2026, 12, 31, 23, 59)) == "active"
    assert s.phase(at(SH, 2027, 1, 1, 0, 0)) == "ended"
    assert not s.is_open(at(SH, 2026, 11, 30, 10, 0), None)
    assert s.next_change([None], at(SH, 2026, 11, 30, 10, 0)) == at(SH, 2026, 12, 1, 9, 0)


def run_action(state, when, paused_by_scheduler=False, **raw):
    return desired_action(state, paused_by_scheduler=paused_by_scheduler, schedule=schedule(**raw),
                          zones=[None], now=when)


OPEN = at(SH, 2026, 11, 23, 10, 0)
CLOSED = at(SH, 2026, 11, 23, 22, 0)
AFTER = at(SH, 2027, 1, 2, 10, 0)


@pytest.mark.parametrize("state, when, by_scheduler, raw, expected", [
    ("draft", OPEN, False, {"auto_start": True}, "start"),
    ("draft", CLOSED, False, {"auto_start": True}, None),
    ("draft", OPEN, False, {}, None),                                   # no auto start: a person starts it
    ("running", OPEN, False, {}, None),
    ("running", CLOSED, False, {}, "pause"),
    ("running", OPEN, False, {"start_date": "2026-12-01"}, "pause"),    # started early by hand
    ("running", AFTER, False, {"end_date": "2026-12-31"}, "finish"),
    ("paused", OPEN, True, {}, "resume"),
    ("paused", OPEN, False, {}, None),                                  # a person paused it: stays paused
    ("paused", CLOSED, True, {}, None),
    ("paused", AFTER, False, {"end_date": "2026-12-31"}, "finish"),
    ("finished", OPEN, False, {}, None),
    ("archived", OPEN, True, {}, None),
])
def test_desired_action(state, when, by_scheduler, raw, expected):
    action = run_action(state, when, by_scheduler, **raw)
    assert (action[0] if action else None) == expected


ZONES = ["Asia/Shanghai", "America/New_York", "Asia/Kolkata", "Europe/London", "Australia/Adelaide", None]


@settings(max_examples=150, deadline=None)
@given(minutes=st.integers(0, 60 * 24 * 60), zones=st.sets(st.sampled_from(ZONES), min_size=1, max_size=3),
       windows=st.sampled_from([{"mon-fri": "09:00-12:00, 14:00-20:00"}, {"mon-sun": "08:00-21:00"},
                                {"sat-sun": "10:00-16:00"}]),
       holidays=st.sampled_from([None, "CN"]))
def test_nothing_changes_before_next_change_and_something_changes_at_it(minutes, zones, windows, holidays):
    s = schedule(windows=windows, holidays=holidays, start_date="2026-09-01", end_date="2026-12-31")
    now = datetime(2026, 9, 20, tzinfo=timezone.utc) + timedelta(minutes=minutes)
    change = s.next_change(zones, now)
    before = s.open_zones(zones, now)
    if change is None:
        return
    assert change > now
    # sampled every 7 minutes up to the change: the open set never differs before it
    probe = now
    while probe < change:
        assert s.open_zones(zones, probe) == before
        probe += timedelta(minutes=7)
    assert s.open_zones(zones, change - timedelta(microseconds=1)) == before
    assert s.open_zones(zones, change) != before
