"""The predictive pacer: how many calls to add now so that agents keep talking and live
answers rarely find nobody free. Pure and deterministic: the engine (or the simulator) passes
the clock as ages, the learned `PacingModel` (dialer/pacing_stats.py) and the abandonment
headroom in a `PacingInput`; the same code runs live and in benchmarks/pacing.

The maths, for one decision, at each horizon H of the model (by default 4, 8, 14 and 25 s: the
last one covers the ring timeout, so every answer a new call can bring is counted somewhere);
P = patience_s, how long a live answer may wait for an agent before it counts as abandoned:

Supply, the agents that can take a call arriving within H:
    S_H = A + Σ_talking q_T(age) + Σ_wrapping q_W(age)
  A agents free now; q_W(x) = P(W ≤ x+H+P | W > x), the residual life of a wrap-up of age x;
  q_T(x) = P(T + W ≤ x+H+P | T > x) for an agent talking for x seconds (talk T, then wrap W,
  W by 6-point quantile quadrature). Each agent is a Bernoulli: mean q, variance q(1−q).

Demand, the live answers (persons, not machines) arriving within H:
    D_H = waiting + (1−m)·in_amd + Σ_ringing r_H(age) + n·r_H(0)
  For a call still ringing at age x, with answer probability a, machine share m, time to
  answer D_a (empirical cdf F_a) and duration of unanswered calls U (empirical cdf F_u):
    alive(x) = a·(1 − F_a(x)) + (1 − a)·(1 − F_u(x))
    r_H(x)   = a·(1 − m)·(F_a(x + H) − F_a(x)) / alive(x)
  i.e. the age-dependent hazard: an old call that has not rung out is more and more likely to
  be one that never answers. n is the number of new calls placed now.

Overflow: with O_H = D_H − S_H approximated as normal (mean μ, variance σ², Bernoulli sums),
the expected number of live answers that find no agent is
    E[O⁺] = σ·φ(μ/σ) + μ·Φ(μ/σ)      (capped at E[D]: nobody is abandoned who did not answer)
The pacer places the largest n (0 ≤ n ≤ free lines, binary search) with E[O_H⁺](n) ≤ ε·E[D_H](n)
at every horizon: the planned abandoned share of the coming live answers stays under the
allowance ε. Several horizons because one is not enough: a short one alone lets the pacer
pile up young calls whose answers fall beyond it, a long one alone matches answers in the
next seconds with agents who free up only later.

ε comes from the model: the stats' Robbins–Monro loop moves it until the measured abandonment
rate of predictively placed calls sits at its set point below the campaign's limit, which
absorbs what the count model cannot see (answers and frees at different instants inside a
window, the normal tail, noise in the estimates).

When fewer than `headroom_reserve` abandoned calls of budget headroom are left, ε is scaled
down in proportion, so the pacer eases off before the budget runs out instead of dropping to
progressive at the edge. Never fewer calls than progressive would place. Falls back to
progressive, saying why in the explanation, when: there is no model (cold start: too few
answers/talks seen), the team is smaller than `min_agents`, or the compliance budget has no
headroom left (abandoned calls so far in the rolling window ≥ the allowed share of live
answers) or is unknown.

Cost: one decision is a few table lookups per agent and per ringing call (ringing calls are
counted by whole second of age first) and ~10 evaluations of the overflow per horizon.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from dialer.pacing import PacingDecision, PacingInput, ProgressivePacer, _capped

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
TALK_BIN_S = 5.0
TALK_BINS = 360          # talk ages up to 30 minutes; older ones use the last bin
WRAP_BINS = 300          # wrap-up ages in seconds
WRAP_POINTS = 6


def _lognorm_cdf(x: float, mu: float, sigma: float) -> float:
    if x <= 0:
        return 0.0
    return 0.5 * (1.0 + math.erf((math.log(x) - mu) / (sigma * _SQRT2)))


def _interp(cdf: list[float], x: float) -> float:
    """cdf[i] = P(X < i) at integer seconds; linear in between; 1 beyond the end."""
    if x <= 0:
        return 0.0
    i = int(x)
    if i >= len(cdf) - 1:
        return cdf[-1]
    f = x - i
    return cdf[i] * (1 - f) + cdf[i + 1] * f


@dataclass(frozen=True)
class SupplyTables:
    """q_T and q_W (mean and Bernoulli variance) for each horizon; costly, so cached by the stats."""
    key: tuple
    talk_mean: tuple[tuple[float, ...], ...]   # [horizon][talk age bin of TALK_BIN_S]
    talk_var: tuple[tuple[float, ...], ...]
    wrap_mean: tuple[tuple[float, ...], ...]   # [horizon][wrap-up age in whole seconds]
    wrap_var: tuple[tuple[float, ...], ...]
    mean_talk_s: float
    mean_wrap_s: float
    talk_rows: tuple[tuple[float, ...], ...] = ()  # [talk age bin] = (q_T for each horizon..., variances...)
    wrap_rows: tuple[tuple[float, ...], ...] = ()  # [wrap age] likewise: one lookup per agent per decision


@dataclass(frozen=True)
class PacingModel:
    """A snapshot of what is known about the campaign, as lookup tables per horizon."""
    p_answer: float
    machine_share: float
    allowance: float                          # ε: planned abandoned share of live answers
    horizons: tuple[float, ...]               # H values checked, seconds
    patience_s: float
    samples: int                              # live answers the estimates rest on
    ring_mean: tuple[tuple[float, ...], ...]  # [horizon][ringing age in whole seconds] r(age)
    ring_var: tuple[tuple[float, ...], ...]
    supply: SupplyTables
    ring_rows: tuple[tuple[float, ...], ...] = ()  # [age] = (r for each horizon..., variances...)


def supply_tables(talk: tuple[float, float], wrap: tuple[float, float], horizons: tuple[float, ...],
                  patience_s: float) -> SupplyTables:
    """q_T(x) = P(T + W ≤ x+H+P | T > x), q_W(x) = P(W ≤ x+H+P | W > x); talk/wrap are (mu, sigma) of log s."""
    mu_t, s_t = talk
    mu_w, s_w = wrap
    nd = NormalDist()
    wraps = [math.exp(mu_w + s_w * nd.inv_cdf((j + 0.5) / WRAP_POINTS)) for j in range(WRAP_POINTS)]
    tms, tvs, wms, wvs = [], [], [], []
    talk_x = [k * TALK_BIN_S + TALK_BIN_S / 2 for k in range(TALK_BINS)]
    talk_f = [_lognorm_cdf(x, mu_t, s_t) for x in talk_x]
    wrap_x = [x + 0.5 for x in range(WRAP_BINS)]
    wrap_f = [_lognorm_cdf(x, mu_w, s_w) for x in wrap_x]
    for horizon in horizons:
        supply_h = horizon + patience_s
        talk_mean, talk_var = [], []
        for x, fx in zip(talk_x, talk_f):
            surv = 1.0 - fx
            if surv < 1e-9:
                q = talk_mean[-1] if talk_mean else 0.0
            else:
                q = sum(max(0.0, _lognorm_cdf(x + supply_h - w, mu_t, s_t) - fx) for w in wraps) / (WRAP_POINTS * surv)
            q = min(max(q, 0.0), 1.0)
            talk_mean.append(q)
            talk_var.append(q * (1 - q))
        wrap_mean, wrap_var = [], []
        for x, fx in zip(wrap_x, wrap_f):
            surv = 1.0 - fx
            q = 1.0 if surv < 1e-9 else (_lognorm_cdf(x + supply_h, mu_w, s_w) - fx) / surv
            q = min(max(q, 0.0), 1.0)
            wrap_mean.append(q)
            wrap_var.append(q * (1 - q))
        tms.append(tuple(talk_mean))
        tvs.append(tuple(talk_var))
        wms.append(tuple(wrap_mean))
        wvs.append(tuple(wrap_var))
    return SupplyTables((talk, wrap, horizons, patience_s), tuple(tms), tuple(tvs), tuple(wms), tuple(wvs),
                        math.exp(mu_t + s_t ** 2 / 2), math.exp(mu_w + s_w ** 2 / 2),
                        talk_rows=_rows(tms, tvs), wrap_rows=_rows(wms, wvs))


def _rows(means: list, variances: list) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(m) + tuple(v) for m, v in zip(zip(*means), zip(*variances)))


def build_model(*, p_answer: float, machine_share: float, answer_delay_cdf: list[float],
                unanswered_cdf: list[float], supply: SupplyTables, allowance: float,
                horizons: tuple[float, ...], patience_s: float, samples: int) -> PacingModel:
    """The docstring's r(age) for each horizon, around the (cached) supply tables."""
    a, h = p_answer, 1.0 - machine_share
    ring_n = max(len(answer_delay_cdf), len(unanswered_cdf))
    alive = [a * (1 - _interp(answer_delay_cdf, x)) + (1 - a) * (1 - _interp(unanswered_cdf, x))
             for x in range(ring_n)]
    while ring_n > 1 and alive[ring_n - 1] <= 1e-9 and alive[ring_n - 2] <= 1e-9:
        ring_n -= 1   # past the longest ring seen nothing is alive: the table's last entry (0) covers it
    rms, rvs = [], []
    for horizon in horizons:
        ring_mean, ring_var = [], []
        for x in range(ring_n):
            if alive[x] <= 1e-9:
                r = 0.0
            else:
                r = a * h * (_interp(answer_delay_cdf, x + horizon) - _interp(answer_delay_cdf, x)) / alive[x]
                r = min(max(r, 0.0), 1.0)
            ring_mean.append(r)
            ring_var.append(r * (1 - r))
        ring_mean.append(0.0)  # older than anything seen: will not answer
        ring_var.append(0.0)
        rms.append(tuple(ring_mean))
        rvs.append(tuple(ring_var))
    return PacingModel(p_answer=p_answer, machine_share=machine_share, allowance=allowance,
                       horizons=tuple(horizons), patience_s=patience_s, samples=samples,
                       ring_mean=tuple(rms), ring_var=tuple(rvs), supply=supply, ring_rows=_rows(rms, rvs))


def expected_overflow(mu: float, var: float) -> float:
    """E[max(0, X)] for X ~ Normal(mu, var)."""
    if var <= 1e-12:
        return max(mu, 0.0)
    s = math.sqrt(var)
    z = mu / s
    return s * _INV_SQRT_2PI * math.exp(-0.5 * z * z) + mu * 0.5 * (1.0 + math.erf(z / _SQRT2))


@dataclass(frozen=True)
class Forecast:
    """Per horizon: expected agents able to take a call, live answers, and their variances."""
    supply: tuple[float, ...]
    supply_var: tuple[float, ...]
    demand: tuple[float, ...]
    demand_var: tuple[float, ...]


def forecast(state: PacingInput, model: PacingModel) -> Forecast:
    k = len(model.horizons)
    ring_rows = model.ring_rows
    nr = len(ring_rows) - 1
    h = 1.0 - model.machine_share
    demand = [0.0] * (2 * k)
    # calls by whole second of ringing: few distinct ages, many calls
    for i, c in Counter(map(int, state.ring_ages)).items():
        row = ring_rows[i if i < nr else nr]
        demand = [x + c * y for x, y in zip(demand, row)]
    sup = model.supply
    talk_rows, wrap_rows = sup.talk_rows, sup.wrap_rows
    lt, lw = len(talk_rows) - 1, len(wrap_rows) - 1
    inv = 1.0 / TALK_BIN_S
    rows = [talk_rows[i if i < lt else lt] for i in [int(a * inv) for a in state.talk_ages]]
    rows += [wrap_rows[i if i < lw else lw] for i in map(int, state.wrap_ages)]
    supply = [sum(col) for col in zip(*rows)] if rows else [0.0] * (2 * k)
    base_d = state.answered_waiting + state.amd_pending * h
    base_dv = state.amd_pending * h * (1 - h)
    base_s = float(max(state.agents_available, 0))
    return Forecast(tuple(base_s + x for x in supply[:k]), tuple(supply[k:]),
                    tuple(base_d + x for x in demand[:k]), tuple(base_dv + x for x in demand[k:]))


@dataclass(frozen=True)
class PredictivePacer:
    mode: str = "predictive"
    min_agents: int = 3              # smaller teams: progressive (too few agents to average over)
    max_calls_per_agent: float = 8.0  # sanity cap on calls in flight per logged-in agent
    headroom_reserve: float = 10.0   # below this many abandoned calls of headroom, ε shrinks in proportion

    def _fallback(self, state: PacingInput, reason: str, **extra: Any) -> PacingDecision:
        inner = ProgressivePacer().decide(state)
        return PacingDecision(inner.calls, {**inner.explanation, "mode": self.mode, "paced_as": "progressive",
                                            "fallback": reason, **extra})

    def decide(self, state: PacingInput) -> PacingDecision:
        model: PacingModel | None = state.model
        if model is None:
            return self._fallback(state, "cold start: no answer/talk model yet")
        if state.agents_logged_in < self.min_agents:
            return self._fallback(state, f"small team: {state.agents_logged_in} agents, predictive needs "
                                         f"{self.min_agents}")
        if state.abandon_headroom is None:
            return self._fallback(state, "no abandonment budget given")
        if state.abandon_headroom <= 0:
            return self._fallback(state, "no abandonment headroom left in the compliance window",
                                  headroom=round(state.abandon_headroom, 2))
        f = forecast(state, model)
        per_call = [rm[0] for rm in model.ring_mean]    # a new call: r(0) for each horizon
        # close to the edge of the budget, plan for fewer abandons rather than run out and drop to progressive
        eps = model.allowance * min(1.0, state.abandon_headroom / self.headroom_reserve)
        lines_free = max(0, state.max_lines - state.calls_in_flight - state.calls_connected)
        cap = int(self.max_calls_per_agent * state.agents_logged_in) - state.calls_in_flight
        hi = max(0, min(lines_free, cap))
        c_last, d_last, s_last = per_call[-1], f.demand[-1], f.supply[-1]
        if c_last > 0 and eps < 1:
            # past this n the mean overflow alone, D + n·c − S, exceeds ε·(D + n·c): a bound for the search
            hi = min(hi, max(0, math.ceil((s_last - d_last * (1 - eps)) / (c_last * (1 - eps))) + 1))
        checks = list(zip(f.demand, f.demand_var, f.supply, f.supply_var, per_call))

        seen: dict[int, tuple[float, float]] = {}

        def worst(n: int) -> tuple[float, float]:
            """(max over horizons of E[O+] − ε·E[D], the E[O+] there)."""
            if n in seen:
                return seen[n]
            out = (-math.inf, 0.0)
            for d, dv, s, sv, c in checks:
                # no more can find no agent than arrive (the normal tail of S below 0 is not real)
                o = min(expected_overflow(d + n * c - s, dv + sv + n * c * (1 - c)), d + n * c)
                m = o - eps * (d + n * c) - 1e-6   # slack: a 1e-30 tail is not an abandon
                if m > out[0]:
                    out = (m, o)
            seen[n] = out
            return out

        if worst(0)[0] > 0:
            n = 0
        elif worst(hi)[0] <= 0:
            n = hi
        else:
            lo, up = 0, hi            # fine at lo, not at up
            while up - lo > 1:
                mid = (lo + up) // 2
                if worst(mid)[0] <= 0:
                    lo = mid
                else:
                    up = mid
            n = lo
        progressive = max(0, state.agents_available - state.calls_in_flight)
        target = state.calls_in_flight + max(n, progressive)
        calls, note = _capped(target, state)
        last = len(checks) - 1
        explanation = {
            "mode": self.mode, "paced_as": "predictive", "agents_available": state.agents_available,
            "agents_logged_in": state.agents_logged_in, "calls_in_flight": state.calls_in_flight,
            "calls_connected": state.calls_connected, "target_in_flight": target, "calls": calls,
            "horizon_s": model.horizons[last], "expected_free": round(f.supply[last], 2),
            "expected_live_answers": round(f.demand[last] + calls * per_call[last], 2),
            "expected_abandoned": round(worst(calls)[1], 3), "allowance": round(eps, 4),
            "p_answer": round(model.p_answer, 3), "machine_share": round(model.machine_share, 3),
            "headroom": round(state.abandon_headroom, 2)}
        if note:
            explanation["note"] = note
        return PacingDecision(calls, explanation)
