"""Pacing: how many calls each dial mode places for a given agent and call situation."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaigns import DIAL_MODES
from dialer.pacing import (PacingInput, PowerPacer, PredictivePacer, PreviewPacer, ProgressivePacer, pacer_for)


def state(available=3, logged_in=3, flying=0, lines=30, connected=0) -> PacingInput:
    return PacingInput(agents_available=available, agents_logged_in=logged_in, calls_in_flight=flying,
                       max_lines=lines, calls_connected=connected)


@pytest.mark.parametrize("available, flying, expected", [
    (3, 0, 3), (3, 1, 2), (3, 3, 0), (3, 5, 0), (0, 0, 0), (0, 2, 0), (1, 0, 1), (10, 4, 6),
])
def test_progressive_places_one_call_per_free_agent(available, flying, expected):
    decision = ProgressivePacer().decide(state(available=available, flying=flying))
    assert decision.calls == expected and decision.delay_s == 0
    assert decision.explanation["mode"] == "progressive" and decision.explanation["calls"] == expected
    assert decision.explanation["agents_available"] == available


@pytest.mark.parametrize("ratio, available, flying, expected", [
    (1.5, 2, 0, 3), (1.5, 1, 0, 1), (1.5, 3, 0, 4), (2.0, 3, 2, 4), (2.0, 3, 6, 0), (1.0, 3, 0, 3), (3.0, 0, 0, 0),
])
def test_power_places_ratio_calls_per_free_agent(ratio, available, flying, expected):
    decision = PowerPacer(ratio).decide(state(available=available, flying=flying))
    assert decision.calls == expected
    assert decision.explanation["ratio"] == ratio and decision.explanation["target_in_flight"] >= available


@pytest.mark.parametrize("ratio", [0.5, 0.99, 5.01, 10])
def test_power_ratio_is_bounded(ratio):
    with pytest.raises(ValueError):
        PowerPacer(ratio)


def test_preview_waits_for_the_agent_and_never_overdials():
    decision = PreviewPacer(preview_seconds=7).decide(state(available=2, flying=0))
    assert decision.calls == 2 and decision.delay_s == 7
    assert decision.explanation["preview_seconds"] == 7 and "no agent desktop" in decision.explanation["preview"]
    assert PreviewPacer(7).decide(state(available=2, flying=2)).calls == 0
    assert PreviewPacer(7).decide(state(available=2, flying=2)).delay_s == 0  # nothing to wait for


def test_predictive_without_a_model_paces_as_progressive_and_says_why():
    # what the engine gets until it feeds ages, a model and the abandonment headroom
    s = state(available=4, flying=1)
    decision = PredictivePacer().decide(s)
    assert decision.calls == ProgressivePacer().decide(s).calls == 3
    assert decision.explanation["mode"] == "predictive" and decision.explanation["paced_as"] == "progressive"
    assert "cold start" in decision.explanation["fallback"]


def test_power_ratio_bound_can_be_widened_for_the_benchmark_oracle():
    assert PowerPacer(12.0, max_ratio=40).decide(state(available=2)).calls == 24
    with pytest.raises(ValueError, match="between 1.0 and 5"):
        PowerPacer(12.0)


def test_max_lines_caps_every_mode():
    for mode in DIAL_MODES:
        decision = pacer_for(mode, power_ratio=3).decide(state(available=10, flying=2, lines=5, connected=1))
        assert decision.calls == 2, mode  # 5 lines - 2 ringing - 1 talking
        assert "max_lines" in decision.explanation["note"]


def test_pacer_for_every_dial_mode():
    assert {pacer_for(m).mode for m in DIAL_MODES} == set(DIAL_MODES)
    with pytest.raises(ValueError):
        pacer_for("spray")


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(DIAL_MODES), st.integers(-2, 50), st.integers(0, 50), st.integers(0, 80),
       st.integers(1, 60), st.integers(0, 50), st.floats(1.0, 5.0))
def test_never_negative_never_over_the_lines_and_progressive_never_outnumbers_agents(
        mode, available, logged_in, flying, lines, connected, ratio):
    s = state(available=available, logged_in=logged_in, flying=flying, lines=lines, connected=connected)
    decision = pacer_for(mode, power_ratio=ratio).decide(s)
    assert decision.calls >= 0
    assert flying + connected + decision.calls <= max(lines, flying + connected)
    if mode != "power":
        # with these modes nobody answers without an agent free for them
        assert flying + decision.calls <= max(available, flying)
    else:
        assert flying + decision.calls <= max(int(max(available, 0) * ratio + 1e-9), flying)
    assert decision.explanation["calls"] == decision.calls
