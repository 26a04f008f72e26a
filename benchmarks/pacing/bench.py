"""DialBench: every scenario × policy, with the baselines measured in the same run.

Policies:
    progressive   dialer.pacing.ProgressivePacer (one call per free agent)
    fixed-oracle  dialer.pacing.PowerPacer at the largest ratio whose pooled abandonment over
                  the scenario's seeds is ≤ the limit, found by geometric bisection on
                  [1, RATIO_HI] — a hindsight oracle: no real campaign knows that ratio in advance
    predictive    dialer.predictive.PredictivePacer with dialer.pacing_stats learning online
"""
from __future__ import annotations

import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from benchmarks.pacing.sim import Leads, Result, Scenario, simulate
from dialer.pacing import PowerPacer, ProgressivePacer
from dialer.predictive import PredictivePacer

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios" / "dialbench-v1"
RATIO_HI = 40.0

# The targets, by team size.
OCCUPANCY_TARGET = {10: 0.72, 50: 0.82, 200: 0.86}
POOLED_ABANDON_MAX = 0.030
WORST_SEED_ABANDON_MAX = 0.035
DRIFT_MARGIN = 0.03
SIM_CPU_MAX_S = 10.0


def load_scenario(path: Path) -> Scenario:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario file is a mapping of parameters")
    return Scenario.from_dict(data, where=str(path))


def load_scenarios(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    return [load_scenario(p) for p in sorted(directory.glob("*.yaml"))]


@dataclass
class PolicyRow:
    scenario: str
    agents: int
    drift: float
    policy: str
    results: list[Result]
    ratio: float | None = None
    note: str = ""

    @property
    def occupancy(self) -> float:
        return sum(r.talk_s for r in self.results) / sum(r.agents * r.shift_s for r in self.results)

    @property
    def contacts_per_agent_hour(self) -> float:
        return sum(r.connected for r in self.results) / sum(r.agents * r.shift_s / 3600 for r in self.results)

    @property
    def pooled_abandon(self) -> float:
        return pooled([r for r in self.results])

    @property
    def worst_seed_abandon(self) -> float:
        return max(r.abandon_rate for r in self.results)

    @property
    def max_cpu_s(self) -> float:
        return max(r.cpu_s for r in self.results)


def pooled(results: Iterable[Result]) -> float:
    results = list(results)
    ab = sum(r.abandoned for r in results)
    live = ab + sum(r.connected for r in results)
    return ab / live if live else 0.0


def fixed_ratio_oracle(sc: Scenario, leads: dict[int, Leads], iterations: int) -> tuple[float, list[Result]]:
    """Largest power ratio with pooled abandonment ≤ the limit (geometric bisection)."""
    def run(ratio: float) -> list[Result]:
        pacer = PowerPacer(ratio, max_ratio=RATIO_HI)
        return [simulate(sc, pacer, s, leads=leads[s], policy="fixed-oracle") for s in sc.seeds]

    lo, lo_results = 1.0, run(1.0)
    hi_results = run(RATIO_HI)
    if pooled(hi_results) <= sc.abandon_limit:
        return RATIO_HI, hi_results
    hi = RATIO_HI
    for _ in range(iterations):
        mid = math.sqrt(lo * hi)
        res = run(mid)
        if pooled(res) <= sc.abandon_limit:
            lo, lo_results = mid, res
        else:
            hi = mid
    return lo, lo_results


def run_scenario(sc: Scenario, iterations: int = 8) -> list[PolicyRow]:
    leads = {s: Leads(sc, s) for s in sc.seeds}
    rows = []
    prog = [simulate(sc, ProgressivePacer(), s, leads=leads[s]) for s in sc.seeds]
    rows.append(PolicyRow(sc.name, sc.agents, sc.drift, "progressive", prog,
                          note=f"cpu {max(r.cpu_s for r in prog):.1f} s/shift"))
    ratio, fixed = fixed_ratio_oracle(sc, leads, iterations)
    rows.append(PolicyRow(sc.name, sc.agents, sc.drift, "fixed-oracle", fixed, ratio=ratio,
                          note=f"ratio {ratio:.2f}"))
    pred = [simulate(sc, PredictivePacer(), s, leads=leads[s]) for s in sc.seeds]
    fb = sum(r.fallback_ticks for r in pred) / max(1, sum(r.ticks for r in pred))
    rows.append(PolicyRow(sc.name, sc.agents, sc.drift, "predictive", pred,
                          note=f"progressive {fb:.1%} of ticks; cpu {max(r.cpu_s for r in pred):.1f} s/shift"))
    return rows


def run_all(scenarios: list[Scenario], *, jobs: int, iterations: int) -> list[PolicyRow]:
    if jobs <= 1:
        return [row for sc in scenarios for row in run_scenario(sc, iterations)]
    # the big teams first, so the two workers finish together
    order = sorted(scenarios, key=lambda s: -s.agents)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {sc.name: pool.submit(run_scenario, sc, iterations) for sc in order}
        return [row for sc in scenarios for row in futures[sc.name].result()]


@dataclass
class Check:
    what: str
    ok: bool
    detail: str


@dataclass
class Report:
    rows: list[PolicyRow]
    checks: list[Check] = field(default_factory=list)


def check_targets(rows: list[PolicyRow]) -> list[Check]:
    out: list[Check] = []
    by = {(r.scenario, r.policy): r for r in rows}
    for r in rows:
        if r.policy != "predictive":
            continue
        out.append(Check(f"{r.scenario}: pooled abandonment ≤ {POOLED_ABANDON_MAX:.1%}",
                         r.pooled_abandon <= POOLED_ABANDON_MAX, f"{r.pooled_abandon:.2%}"))
        out.append(Check(f"{r.scenario}: worst-seed abandonment ≤ {WORST_SEED_ABANDON_MAX:.1%}",
                         r.worst_seed_abandon <= WORST_SEED_ABANDON_MAX, f"{r.worst_seed_abandon:.2%}"))
        if r.agents in OCCUPANCY_TARGET:
            t = OCCUPANCY_TARGET[r.agents]
            out.append(Check(f"{r.scenario}: occupancy ≥ {t:.0%}", r.occupancy >= t, f"{r.occupancy:.1%}"))
        if r.drift:
            fixed = by[(r.scenario, "fixed-oracle")]
            gain = r.occupancy - fixed.occupancy
            out.append(Check(f"{r.scenario}: ≥ {DRIFT_MARGIN * 100:.0f} points above the best fixed ratio",
                             gain >= DRIFT_MARGIN, f"{gain * 100:+.1f} points"))
        if r.agents == 200:
            prog = by[(r.scenario, "progressive")]
            out.append(Check(f"{r.scenario}: simulator < {SIM_CPU_MAX_S:.0f} s CPU per 200-agent shift",
                             r.max_cpu_s < SIM_CPU_MAX_S,
                             f"{r.max_cpu_s:.1f} s predictive (progressive, same run: {prog.max_cpu_s:.1f} s; "
                             f"×{r.max_cpu_s / prog.max_cpu_s:.1f})"))
    return out


def format_table(rows: list[PolicyRow]) -> str:
    head = (f"{'scenario':<16} {'policy':<13} {'occupancy':>9} {'contacts/agent-h':>16} "
            f"{'abandon pooled':>14} {'worst seed':>10}  note")
    lines = [head, "-" * len(head)]
    last = None
    for r in rows:
        if last is not None and r.scenario != last:
            lines.append("")
        last = r.scenario
        lines.append(f"{r.scenario:<16} {r.policy:<13} {r.occupancy:>9.1%} {r.contacts_per_agent_hour:>16.1f} "
                     f"{r.pooled_abandon:>14.2%} {r.worst_seed_abandon:>10.2%}  {r.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pacing", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="2 seeds, 5 bisection steps, and the N=10 and N=50 scenarios only")
    ap.add_argument("--seeds", help="comma-separated seeds (overrides the scenario files)")
    ap.add_argument("--only", help="comma-separated scenario names (default: all of DialBench-v1)")
    ap.add_argument("--dir", type=Path, default=SCENARIO_DIR, help="scenario directory")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--bisection-steps", type=int, default=None)
    args = ap.parse_args(argv)
    scenarios = load_scenarios(args.dir)
    if not scenarios:
        ap.error(f"no scenario files in {args.dir}")
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {s.name for s in scenarios}
        if unknown:
            ap.error(f"unknown scenarios {sorted(unknown)}")
        scenarios = [s for s in scenarios if s.name in names]
    elif args.quick:
        scenarios = [s for s in scenarios if s.agents <= 50]
    seeds = None
    if args.seeds:
        seeds = tuple(int(x) for x in args.seeds.split(","))
    elif args.quick:
        seeds = (1, 2)
    if seeds:
        from dataclasses import replace
        scenarios = [replace(s, seeds=seeds) for s in scenarios]
    steps = args.bisection_steps if args.bisection_steps is not None else (5 if args.quick else 8)
    wall0, cpu0 = time.time(), time.process_time()
    rows = run_all(scenarios, jobs=args.jobs, iterations=steps)
    print(f"DialBench-v1: {len(scenarios)} scenarios, seeds {sorted({s for sc in scenarios for s in sc.seeds})}, "
          f"fixed ratio by {steps}-step bisection to ≤ {scenarios[0].abandon_limit:.0%} pooled abandonment")
    print(format_table(rows))
    checks = check_targets(rows)
    print()
    missed = [c for c in checks if not c.ok]
    print(f"targets: {len(checks) - len(missed)} of {len(checks)} met")
    for c in checks:
        print(f"  {'ok  ' if c.ok else 'MISS'} {c.what}: {c.detail}")
    print(f"\nwall {time.time() - wall0:.0f} s (parent CPU {time.process_time() - cpu0:.1f} s), {args.jobs} job(s)")
    return 0
