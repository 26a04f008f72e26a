"""Online estimators for predictive pacing (dialer/pacing_stats.py)."""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from dialer.pacing_stats import (AbandonCalibration, DecayedRatio, DriftingRate, Histogram, LogNormalFit,
                                 PacingStats, stats_from_attempts)


def test_decayed_ratio_forgets_the_old_rate():
    r = DecayedRatio(tau=100.0)
    for t in range(1000):
        r.add(float(t), t % 2 == 0)          # 50 %
    for t in range(1000, 2000):
        r.add(float(t), t % 10 == 0)         # then 10 %
    assert r.value(0.5) == pytest.approx(0.1, abs=0.02)


def test_drifting_rate_follows_a_linear_drift_without_the_moving_average_lag():
    rng = random.Random(3)
    est = DriftingRate(tau_s=300.0, prior_weight=0.0)
    plain = DecayedRatio(tau=300.0)
    for i in range(60_000):                  # 10 calls a second for 100 minutes, p from 0.15 to 0.35
        t = i / 10.0
        p = 0.15 + 0.2 * t / 6000.0
        hit = rng.random() < p
        est.add(t, hit)
        plain.add(t, hit)
    assert est.value(6000.0) == pytest.approx(0.35, abs=0.02)
    assert plain.value(0.0) < 0.35 - 0.007   # the plain EWMA lags by about τ·slope = 0.01


def test_time_of_day_prior_covers_the_start_of_a_shift():
    est = DriftingRate(tau_s=300.0, prior_weight=40.0)
    day = 86_400.0
    rng = random.Random(1)
    for i in range(2000):                     # yesterday 10:00-10:30: 40 %
        est.add(10 * 3600 + i * 0.9, rng.random() < 0.4)
    for i in range(2000):                     # yesterday 14:00-14:30: 10 %
        est.add(14 * 3600 + i * 0.9, rng.random() < 0.1)
    # today 10:05, nothing recent: yesterday's 10:00 bucket, not the last value seen (10 %)
    assert est.value(day + 10 * 3600 + 300) == pytest.approx(0.4, abs=0.04)
    assert est.value(day + 14 * 3600 + 300) == pytest.approx(0.1, abs=0.03)


def test_histogram_cdf_and_lognormal_fit():
    h = Histogram(bins=10)
    for s in (0.5, 1.5, 1.7, 3.0, 42.0):
        h.add(0.0, s)
    cdf = h.cdf()
    assert cdf[0] == 0 and cdf[1] == pytest.approx(0.2) and cdf[2] == pytest.approx(0.6) and cdf[-1] == 1.0
    rng = random.Random(2)
    fit = LogNormalFit()
    s2 = math.log(2.0)
    for i in range(20_000):
        fit.add(float(i), rng.lognormvariate(math.log(120) - s2 / 2, math.sqrt(s2)))
    assert fit.mean() == pytest.approx(120, rel=0.04) and fit.sigma == pytest.approx(math.sqrt(s2), rel=0.03)


@pytest.mark.parametrize("true_rate", [0.01, 0.06])
def test_calibration_settles_where_abandonment_meets_the_set_point(true_rate):
    cal = AbandonCalibration(set_point=0.025)
    start = cal.allowance
    rng = random.Random(9)
    for _ in range(3000):
        cal.add(rng.random() < true_rate)
    assert (cal.allowance > start) if true_rate < 0.025 else (cal.allowance < start)
    # at the set point the drift is zero on average
    cal2 = AbandonCalibration(set_point=0.025, theta=0.0)
    for i in range(4000):
        cal2.add(i % 40 == 0)
    assert abs(cal2.theta) < 0.05


def feed(stats: PacingStats, n: int, rng: random.Random, *, p_answer=0.3, machine=0.3, t0=36_000.0):
    for i in range(n):
        t = t0 + i * 2.0
        if rng.random() < p_answer:
            is_machine = rng.random() < machine
            stats.observe_dial(at=t, ring_seconds=rng.uniform(5, 20), answered=True, machine=is_machine)
            if not is_machine:
                stats.observe_human(at=t + 10, abandoned=rng.random() < 0.02)
                stats.observe_talk(at=t + 100, seconds=rng.lognormvariate(4.6, 0.8))
                stats.observe_wrap(at=t + 115, seconds=rng.lognormvariate(2.6, 0.4))
        else:
            stats.observe_dial(at=t, ring_seconds=25.0 if rng.random() < 0.8 else 4.0, answered=False)


def test_no_model_while_the_data_is_thin_then_a_model_that_knows_the_rates():
    stats = PacingStats()
    rng = random.Random(4)
    assert stats.model(36_000.0) is None and "cold start" in stats.thin()
    feed(stats, 40, rng)
    assert stats.model(36_100.0) is None
    feed(stats, 3000, rng, t0=36_100.0)
    now = 36_100.0 + 6000
    model = stats.model(now)
    assert model is not None and stats.thin() is None
    assert model.p_answer == pytest.approx(0.3, abs=0.05)
    assert model.machine_share == pytest.approx(0.3, abs=0.06)
    # 2 % abandoned, under the 2.8 % set point: the allowance grew from its cautious start
    assert AbandonCalibration(set_point=0.028).allowance < model.allowance <= 0.028 * math.exp(1.5)


def test_progressive_calls_do_not_steer_the_calibration():
    stats = PacingStats()
    theta = stats.calibration.theta
    for _ in range(100):
        stats.observe_human(at=0.0, abandoned=False, predictive=False)
    assert stats.calibration.theta == theta and stats.humans_seen == 100
    stats.observe_human(at=0.0, abandoned=True)
    assert stats.calibration.theta < theta


def test_stats_from_attempt_rows():
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    rows = []
    for i in range(60):
        start = t0 + timedelta(seconds=20 * i)
        kind = ("answered_human", "machine", "no_answer", "busy", "dropped", "abandoned")[i % 6]
        row = {"originate_at": start, "disposition": kind, "ring_seconds": 25.0 if kind == "no_answer" else 9.0,
               "amd_status": "MACHINE" if kind == "machine" else "HUMAN", "end_at": start + timedelta(seconds=100)}
        if kind in ("answered_human", "machine", "dropped", "abandoned"):
            row["answer_at"] = start + timedelta(seconds=9)
        if kind == "answered_human":
            row["agent_at"] = start + timedelta(seconds=10)
            row["talk_seconds"] = 80.0
        rows.append(row)
    rows.append({"originate_at": t0, "disposition": "unknown", "ring_seconds": None})  # reconciled: skipped
    stats = stats_from_attempts(rows)
    assert stats.humans_seen == 30                      # 10 connected + 20 abandoned/dropped
    assert stats.talks_seen == 10 and stats.talk.mean() == pytest.approx(80.0, rel=0.01)
    now = (t0 + timedelta(seconds=1200)).timestamp()
    assert stats.answer.value(now) == pytest.approx(4 / 6, abs=0.08)
    assert stats.machine.value(now) == pytest.approx(1 / 4, abs=0.08)
    assert stats.calibration.theta < AbandonCalibration().theta   # many abandons: ε came down
    assert 15 < stats.unanswered.total <= 20         # 20 unanswered, decayed over 20 minutes (τ = 1 h)


def test_live_input_from_open_attempts_and_the_board():
    from dialer.pacing_live import live_input
    now = 1_000_000.0
    rows = [{"state": "originating", "created_at": now - 1}, {"state": "ringing", "originate_at": now - 12.5},
            {"state": "answered", "amd_status": None}, {"state": "answered", "amd_status": "HUMAN"},
            {"state": "answered", "amd_status": "MACHINE"},
            {"state": "connected", "agent_at": datetime.fromtimestamp(now - 90, timezone.utc)}]
    s = live_input(now=now, open_attempts=rows, agents_available=2, agents_logged_in=5, max_lines=30,
                   wrap_started=[now - 4], abandoned=3, live_answers=200, abandon_limit=0.03)
    assert s.ring_ages == (1.0, 12.5) and s.amd_pending == 1 and s.answered_waiting == 1
    assert s.talk_ages == (90.0,) and s.wrap_ages == (4.0,) and s.calls_in_flight == 5 and s.calls_connected == 1
    assert s.abandon_headroom == pytest.approx(3.0)
    assert live_input(now=now, open_attempts=[], agents_available=0, agents_logged_in=0,
                      max_lines=1).abandon_headroom is None
    with pytest.raises(ValueError, match="ended"):
        live_input(now=now, open_attempts=[{"state": "ended"}], agents_available=0, agents_logged_in=0, max_lines=1)
