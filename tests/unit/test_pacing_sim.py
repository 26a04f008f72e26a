"""The pacing simulator (benchmarks/pacing): correctness on small cases, metrics, common random
numbers, determinism, scenario files and the fixed-ratio oracle."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.pacing.bench import SCENARIO_DIR, fixed_ratio_oracle, load_scenario, load_scenarios, pooled
from benchmarks.pacing.sim import Leads, Scenario, simulate
from dialer.pacing import PowerPacer, ProgressivePacer
from dialer.predictive import PredictivePacer


def exact(**kw) -> Scenario:
    """Every duration fixed (CV 0): one call answers after 10 s, talks 100 s, wraps 10 s."""
    base = dict(name="exact", agents=1, answer_prob=1.0, machine_share=0.0, answer_mean_s=10.0, answer_cv=0.0,
                talk_mean_s=100.0, talk_cv=0.0, wrap_mean_s=10.0, wrap_cv=0.0, shift_hours=1000 / 3600,
                seeds=(1,))
    base.update(kw)
    return Scenario(**base)


def test_progressive_with_fixed_durations_by_hand():
    # cycles of 120 s from t=0 (121 s when float rounding puts the agent's return just after a
    # 1 s tick): talk 10..110, 130..230, ..., the 9th from 970..978 to the end of the shift at 1000
    r = simulate(exact(), ProgressivePacer(), 1)
    assert r.connected == 9 and r.abandoned == 0 and r.dialled == 9
    assert 8 * 100 + 22 - 1e-6 <= r.talk_s <= 8 * 100 + 30 + 1e-6
    assert r.occupancy == pytest.approx(r.talk_s / 1000)
    assert r.contacts_per_agent_hour == pytest.approx(9 / (1000 / 3600))


def test_two_calls_for_one_agent_abandon_one_and_the_rate_counts_live_answers():
    # power 2.0 with one agent: two calls answer together, one waits 2 s for nobody
    r = simulate(exact(), PowerPacer(2.0), 1)
    assert r.connected == 9 and r.abandoned == 9
    assert r.abandon_rate == pytest.approx(0.5)


def test_a_caller_waiting_gets_an_agent_who_frees_within_the_patience():
    # two calls answer together; with 200 s of patience the second waits out the first's talk
    # and wrap-up and gets the agent the moment it frees
    sc = exact(agents=1, patience_s=2.0, wrap_mean_s=10.0)
    r = simulate(sc, PowerPacer(2.0), 1)
    assert r.abandoned > 0  # with 2 s of patience the simultaneous answer is lost
    r2 = simulate(dataclasses.replace(sc, patience_s=200.0), PowerPacer(2.0), 1)
    assert r2.abandoned == 0 and r2.talk_s > r.talk_s


@pytest.mark.parametrize("seed", [1, 2])
def test_everyone_answers_and_no_machines_progressive_never_abandons(seed):
    sc = Scenario(name="a1", agents=20, answer_prob=1.0, machine_share=0.0, shift_hours=0.5)
    r = simulate(sc, ProgressivePacer(), seed)
    assert r.abandoned == 0 and r.connected > 100
    assert 0.5 < r.occupancy < 120 / 135 + 0.02


def test_machines_and_no_answers_never_reach_an_agent():
    sc = Scenario(name="m", agents=5, answer_prob=0.5, machine_share=1.0, shift_hours=0.25)
    r = simulate(sc, PowerPacer(3.0), 1)
    assert r.connected == r.abandoned == 0 and r.talk_s == 0 and r.machines > 0


def test_common_random_numbers_per_lead():
    sc = Scenario(name="crn", agents=10, answer_prob=0.25)
    a, b = Leads(sc, 7), Leads(sc, 7)
    a.ensure(10)
    b.ensure(5000)                      # drawn in other chunk sizes: the first leads are the same
    for field in ("u", "answer_s", "machine", "unanswered_s", "talk_s", "wrap_s"):
        assert getattr(a, field)[:10] == getattr(b, field)[:10], field
    c = Leads(sc, 8)
    c.ensure(10)
    assert c.u[:10] != a.u[:10]
    # every lead outcome is a property of the lead, not of the policy
    assert set(b.unanswered_s[:5000]) - {sc.ring_timeout_s} <= {x for x in b.unanswered_s if 2.0 <= x <= 6.0}
    share_fail = sum(1 for x in b.unanswered_s if x != sc.ring_timeout_s) / 5000
    assert share_fail == pytest.approx(0.2, abs=0.03)


def test_shared_leads_give_every_policy_the_same_list():
    sc = Scenario(name="crn", agents=5, answer_prob=0.5, shift_hours=0.25)
    leads = Leads(sc, 3)
    r1 = simulate(sc, ProgressivePacer(), 3, leads=leads)
    r2 = simulate(sc, ProgressivePacer(), 3)            # its own Leads from the same seed
    assert dataclasses.replace(r1, cpu_s=0) == dataclasses.replace(r2, cpu_s=0)


def test_deterministic_by_seed_including_predictive():
    sc = Scenario(name="det", agents=20, answer_prob=0.25, drift=0.4, shift_hours=0.75)
    runs = [simulate(sc, PredictivePacer(), 5) for _ in range(2)]
    assert dataclasses.replace(runs[0], cpu_s=0) == dataclasses.replace(runs[1], cpu_s=0)
    other = simulate(sc, PredictivePacer(), 6)
    assert (other.connected, other.abandoned) != (runs[0].connected, runs[0].abandoned)


def test_predictive_beats_progressive_within_the_abandonment_limit():
    sc = Scenario(name="small", agents=30, answer_prob=0.25, shift_hours=1.5)
    prog = [simulate(sc, ProgressivePacer(), s) for s in (1, 2)]
    pred = [simulate(sc, PredictivePacer(), s) for s in (1, 2)]
    assert sum(r.talk_s for r in pred) > 1.3 * sum(r.talk_s for r in prog)
    assert pooled(pred) <= 0.03
    assert all(r.fallback_ticks < r.ticks for r in pred)   # it did leave the cold start


def test_fixed_ratio_oracle_stays_within_the_limit_and_beats_progressive():
    sc = Scenario(name="oracle", agents=10, answer_prob=0.5, shift_hours=0.5, seeds=(1, 2))
    leads = {s: Leads(sc, s) for s in sc.seeds}
    ratio, results = fixed_ratio_oracle(sc, leads, iterations=4)
    assert 1.0 < ratio and pooled(results) <= sc.abandon_limit
    prog = [simulate(sc, ProgressivePacer(), s, leads=leads[s]) for s in sc.seeds]
    assert sum(r.talk_s for r in results) > sum(r.talk_s for r in prog)


def test_dialbench_v1_scenario_files():
    scenarios = load_scenarios()
    assert len(scenarios) == 12 and len({s.name for s in scenarios}) == 12
    assert {(s.agents, s.answer_prob, s.drift) for s in scenarios} == {
        (n, a, d) for n in (10, 50, 200) for a in (0.25, 0.5) for d in (0.0, 0.4)}
    for s in scenarios:
        assert s.shift_hours == 8 and s.machine_share == 0.3 and s.amd_s == 3 and s.patience_s == 2
        assert (s.answer_mean_s, s.answer_cv, s.ring_timeout_s) == (12, 0.5, 25)
        assert (s.talk_mean_s, s.talk_cv, s.wrap_mean_s, s.wrap_cv) == (120, 1.0, 15, 0.5)
        assert len(s.seeds) >= 3
    assert SCENARIO_DIR.name == "dialbench-v1"


def test_a_bad_scenario_file_is_rejected_naming_the_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nagents: 10\nanswer_prob: 0.5\nanswer_probability: 0.4\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*answer_probability"):
        load_scenario(bad)
    bad.write_text("name: x\nagents: 10\nanswer_prob: 0.8\ndrift: 0.4\n")
    with pytest.raises(ValueError, match="exceeds 1"):
        load_scenario(bad)
    bad.write_text("name: x\nagents: 10\n")
    with pytest.raises(ValueError, match="answer_prob"):
        load_scenario(bad)


def test_drift_follows_the_sine():
    sc = Scenario(name="d", agents=1, answer_prob=0.25, drift=0.4)
    assert sc.answer_prob_at(0) == pytest.approx(0.25)
    assert sc.answer_prob_at(3600) == pytest.approx(0.35)
    assert sc.answer_prob_at(3 * 3600) == pytest.approx(0.15)
