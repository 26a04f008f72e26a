"""The predictive pacer (dialer/predictive.py): its maths, its fallbacks and its bounds."""
from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing import PacingInput, ProgressivePacer, pacer_for
from dialer.predictive import (TALK_BIN_S, PredictivePacer, build_model, expected_overflow, forecast,
                               supply_tables)

HORIZONS = (4.0, 8.0, 12.0, 18.0, 25.0)


def lognormal(mean: float, cv: float) -> tuple[float, float]:
    s2 = math.log(1 + cv * cv)
    return math.log(mean) - s2 / 2, math.sqrt(s2)


def cdf_from(samples: list[float], bins: int = 61) -> list[float]:
    counts = [0] * bins
    for x in samples:
        counts[min(int(x), bins - 1)] += 1
    out, acc = [0.0], 0
    for c in counts:
        acc += c
        out.append(acc / len(samples))
    return out


_rng = random.Random(5)
ANSWER_DELAYS = [min(_rng.lognormvariate(*lognormal(12, 0.5)), 24.9) for _ in range(20_000)]
UNANSWERED = [25.0 if _rng.random() < 0.8 else _rng.uniform(2, 6) for _ in range(20_000)]
SUPPLY = supply_tables(lognormal(120, 1.0), lognormal(15, 0.5), HORIZONS, 2.0)


def model(p_answer=0.25, machine_share=0.3, allowance=0.025):
    return build_model(p_answer=p_answer, machine_share=machine_share, answer_delay_cdf=cdf_from(ANSWER_DELAYS),
                       unanswered_cdf=cdf_from(UNANSWERED), supply=SUPPLY, allowance=allowance,
                       horizons=HORIZONS, patience_s=2.0, samples=1000)


def state(available=10, logged_in=50, ring_ages=(), talk_ages=(), wrap_ages=(), waiting=0, amd=0, lines=500,
          headroom=20.0, m="default"):
    return PacingInput(agents_available=available, agents_logged_in=logged_in,
                       calls_in_flight=len(ring_ages) + waiting + amd, max_lines=lines,
                       calls_connected=len(talk_ages), ring_ages=tuple(ring_ages), amd_pending=amd,
                       answered_waiting=waiting, talk_ages=tuple(talk_ages), wrap_ages=tuple(wrap_ages),
                       abandon_headroom=headroom, model=model() if m == "default" else m)


def test_expected_overflow_is_the_normal_partial_expectation():
    assert expected_overflow(0.0, 1.0) == pytest.approx(1 / math.sqrt(2 * math.pi))
    assert expected_overflow(-10.0, 1.0) == pytest.approx(0.0, abs=1e-12)
    assert expected_overflow(10.0, 1.0) == pytest.approx(10.0, rel=1e-9)
    assert expected_overflow(3.0, 0.0) == 3.0 and expected_overflow(-3.0, 0.0) == 0.0
    rng = random.Random(1)
    mc = sum(max(0.0, rng.gauss(0.7, 2.0)) for _ in range(200_000)) / 200_000
    assert expected_overflow(0.7, 4.0) == pytest.approx(mc, rel=0.02)


def test_a_new_call_answers_live_within_h_with_probability_a_times_persons_times_F():
    m = model(p_answer=0.4, machine_share=0.25)
    for k, h in enumerate(HORIZONS):
        f = sum(1 for d in ANSWER_DELAYS if d < h) / len(ANSWER_DELAYS)
        assert m.ring_mean[k][0] == pytest.approx(0.4 * 0.75 * f, abs=0.01)
    # the longest horizon covers the ring timeout: every live answer of a new call
    assert m.ring_mean[-1][0] == pytest.approx(0.4 * 0.75, abs=0.005)


def test_a_call_ringing_longer_becomes_less_likely_to_answer_and_never_past_ring_out():
    m = model()
    r = m.ring_mean[-1]
    assert r[20] < r[10] < r[0] + 0.05
    assert r[26] == 0.0 and r[-1] == 0.0
    # Bayes by hand at 15 s: alive = a(1 − F_a(15)) + (1 − a)(1 − F_u(15)), live answers a(1 − m)(1 − F_a(15))
    fa = sum(1 for d in ANSWER_DELAYS if d < 15) / len(ANSWER_DELAYS)
    fu = sum(1 for d in UNANSWERED if d < 15) / len(UNANSWERED)
    expected = 0.25 * 0.7 * (1 - fa) / (0.25 * (1 - fa) + 0.75 * (1 - fu))
    assert r[15] == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("age", [0.0, 60.0, 300.0])
def test_agent_residual_life_matches_monte_carlo(age):
    rng = random.Random(age)
    mt, st_ = lognormal(120, 1.0)
    mw, sw = lognormal(15, 0.5)
    k = HORIZONS.index(12.0)
    i = int(age / TALK_BIN_S)
    mid = i * TALK_BIN_S + TALK_BIN_S / 2    # tables hold the middle of each age bin
    hits = n = 0
    while n < 40_000:
        t = rng.lognormvariate(mt, st_)
        if t <= mid:
            continue
        n += 1
        hits += t + rng.lognormvariate(mw, sw) <= mid + 12.0 + 2.0
    assert SUPPLY.talk_mean[k][i] == pytest.approx(hits / n, abs=0.015)
    wraps = [w for w in (rng.lognormvariate(mw, sw) for _ in range(40_000)) if w > 5.5]
    assert SUPPLY.wrap_mean[k][5] == pytest.approx(sum(w <= 5.5 + 14.0 for w in wraps) / len(wraps), abs=0.015)


def test_forecast_counts_free_agents_ringing_calls_and_waiting_answers():
    m = model()
    f = forecast(state(available=3, ring_ages=[0.0] * 10, talk_ages=[30.0, 30.0], wrap_ages=[5.0], waiting=2), m)
    k = len(HORIZONS) - 1
    assert f.demand[k] == pytest.approx(2 + 10 * m.ring_mean[k][0])
    assert f.demand_var[k] == pytest.approx(10 * m.ring_var[k][0])
    assert f.supply[k] == pytest.approx(3 + 2 * SUPPLY.talk_mean[k][6] + SUPPLY.wrap_mean[k][5])
    assert all(a <= b for a, b in zip(f.supply, f.supply[1:]))  # longer horizon: more agents free


@pytest.mark.parametrize("kwargs, reason", [
    (dict(m=None), "cold start"),
    (dict(logged_in=2, available=2), "small team"),
    (dict(headroom=None), "no abandonment budget"),
    (dict(headroom=0.0), "no abandonment headroom"),
    (dict(headroom=-3.0), "no abandonment headroom"),
])
def test_falls_back_to_progressive_and_says_why(kwargs, reason):
    s = state(**kwargs)
    decision = PredictivePacer().decide(s)
    assert decision.calls == ProgressivePacer().decide(s).calls
    assert decision.explanation["paced_as"] == "progressive" and reason in decision.explanation["fallback"]


def test_dials_ahead_of_free_agents_when_few_calls_answer():
    s = state(available=10, talk_ages=[100.0] * 40)
    decision = PredictivePacer().decide(s)
    assert decision.explanation["paced_as"] == "predictive"
    # ~17.5 % of calls reach a person: far more than one call per free agent, far fewer than 10 per agent
    assert 20 < decision.calls < 100
    assert decision.explanation["expected_abandoned"] <= 0.025 * decision.explanation["expected_live_answers"] + 1e-9


def test_a_higher_answer_rate_means_fewer_calls():
    low = PredictivePacer().decide(state(available=10, talk_ages=[100.0] * 40, m=model(p_answer=0.25)))
    high = PredictivePacer().decide(state(available=10, talk_ages=[100.0] * 40, m=model(p_answer=0.5)))
    assert high.calls < low.calls


def test_enough_calls_in_flight_means_no_more():
    s = state(available=2, ring_ages=[3.0] * 60, talk_ages=[20.0] * 48)
    assert PredictivePacer().decide(s).calls == 0


def test_agents_about_to_free_up_get_calls_before_they_are_free():
    busy_long = state(available=0, talk_ages=[400.0] * 50, wrap_ages=())
    wrapping = state(available=0, talk_ages=[400.0] * 40, wrap_ages=[14.0] * 10)
    assert PredictivePacer().decide(wrapping).calls > PredictivePacer().decide(busy_long).calls >= 0
    assert PredictivePacer().decide(wrapping).calls > 0  # progressive would place none


def test_more_allowance_more_headroom_no_fewer_calls():
    base = dict(available=5, talk_ages=[60.0] * 45, ring_ages=[5.0] * 10)
    calls = [PredictivePacer().decide(state(**base, m=model(allowance=e))).calls for e in (0.005, 0.02, 0.05)]
    assert calls == sorted(calls) and calls[0] < calls[-1]
    near_edge = PredictivePacer().decide(state(**base, headroom=0.5)).calls
    assert near_edge <= PredictivePacer().decide(state(**base, headroom=50)).calls


def test_explanation_is_small_json_and_deterministic():
    s = state(available=7, ring_ages=[1.0, 9.5, 20.0], talk_ages=[10.0, 200.0], wrap_ages=[3.0])
    a, b = PredictivePacer().decide(s), PredictivePacer().decide(s)
    assert a == b
    text = json.dumps(a.explanation)
    assert len(text) < 700 and a.explanation["calls"] == a.calls


def test_pacer_for_predictive_is_the_real_pacer():
    assert isinstance(pacer_for("predictive"), PredictivePacer)


@settings(max_examples=300, deadline=None)
@given(st.integers(-2, 60), st.integers(0, 80), st.lists(st.floats(0, 40), max_size=120),
       st.lists(st.floats(0, 5000), max_size=80), st.lists(st.floats(0, 400), max_size=20),
       st.integers(0, 5), st.integers(0, 5), st.integers(1, 400), st.floats(-5, 100),
       st.sampled_from([0.1, 0.25, 0.5, 0.9]))
def test_never_negative_never_over_the_lines_never_below_progressive(
        available, logged_in, rings, talks, wraps, waiting, amd, lines, headroom, p):
    s = PacingInput(agents_available=available, agents_logged_in=logged_in,
                    calls_in_flight=len(rings) + waiting + amd, max_lines=lines, calls_connected=len(talks),
                    ring_ages=tuple(rings), amd_pending=amd, answered_waiting=waiting, talk_ages=tuple(talks),
                    wrap_ages=tuple(wraps), abandon_headroom=headroom, model=model(p_answer=p))
    decision = PredictivePacer().decide(s)
    busy = s.calls_in_flight + s.calls_connected
    assert 0 <= decision.calls <= max(0, lines - busy)
    assert decision.calls >= ProgressivePacer().decide(s).calls
    assert decision.calls <= max(0, 8 * logged_in - s.calls_in_flight) or decision.explanation["paced_as"] != "predictive" \
        or decision.calls == ProgressivePacer().decide(s).calls
    json.dumps(decision.explanation)
