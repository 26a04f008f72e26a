"""Discrete-event simulation of one outbound campaign shift, driving dialer.pacing's pacers.

The model (every number comes from the Scenario, i.e. the YAML file):
- `agents` agents logged in for the whole shift, all free at t=0;
- a call dialled at t is answered with probability a(t) = a·(1 + drift·sin(2πt/period)) after
  a log-normal time to answer; an answer later than `ring_timeout_s` rings out instead;
  unanswered calls ring out at `ring_timeout_s` or, a `fail_share` of them, end busy/failed
  after U(fail_min_s, fail_max_s);
- a `machine_share` of answers are machines: answering-machine detection hears them for
  `amd_s` seconds, then the call ends without an agent;
- a person who answers gets the longest-free agent at once, or waits up to `patience_s` for
  one to free up; past that the call is abandoned (and hears the safe-harbor message);
- talk then wrap-up are log-normal; then the agent is free again.
Common random numbers: lead k's uniforms and durations are the k-th draws of streams seeded
by the seed alone, so every policy dials the same list with the same outcomes (only the drifting answer rate depends on when lead k is dialled).

The pacer is asked every `tick_s` simulated seconds (as the engine's tick does) and the
calls it asks for are placed at once. Dialling stops at the end of the shift; talk is
counted up to the end of the shift.

Metrics: occupancy = talk time / (agents × shift); abandonment = abandoned / (connected +
abandoned); contacts per agent-hour = connected / (agents × hours).
"""
from __future__ import annotations

import gc
import heapq
import math
import random
import time
from dataclasses import dataclass, field, fields
from typing import Any

from dialer.pacing import PacingInput, Pacer
from dialer.pacing_stats import DEFAULT_HORIZONS, PacingStats

ANSWER, NO_ANSWER, AMD_END, PATIENCE, TALK_END, WRAP_END, TICK = range(7)


@dataclass(frozen=True)
class Scenario:
    name: str
    agents: int
    answer_prob: float
    shift_hours: float = 8.0
    drift: float = 0.0               # relative amplitude of the answer rate's sine
    drift_period_s: float = 4 * 3600.0
    machine_share: float = 0.3
    amd_s: float = 3.0
    answer_mean_s: float = 12.0
    answer_cv: float = 0.5
    ring_timeout_s: float = 25.0
    fail_share: float = 0.2          # of unanswered calls: busy / failed early
    fail_min_s: float = 2.0
    fail_max_s: float = 6.0
    talk_mean_s: float = 120.0
    talk_cv: float = 1.0
    wrap_mean_s: float = 15.0
    wrap_cv: float = 0.5
    patience_s: float = 2.0
    abandon_limit: float = 0.03
    max_lines: int = 0               # 0: 10 per agent
    tick_s: float = 1.0
    start_epoch: float = 9 * 3600.0  # the clock the pacer and its stats see at t=0 (09:00)
    seeds: tuple[int, ...] = (1, 2, 3, 4, 5)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "scenario") -> "Scenario":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"{where}: unknown scenario keys {sorted(unknown)}")
        for key in ("name", "agents", "answer_prob"):
            if key not in d:
                raise ValueError(f"{where}: missing {key!r}")
        d = dict(d)
        if "seeds" in d:
            d["seeds"] = tuple(int(s) for s in d["seeds"])
        sc = cls(**d)
        if sc.agents < 1 or not 0 < sc.answer_prob <= 1 or not 0 <= sc.drift < 1:
            raise ValueError(f"{where}: agents must be ≥ 1, answer_prob in (0, 1], drift in [0, 1)")
        if sc.answer_prob * (1 + sc.drift) > 1:
            raise ValueError(f"{where}: answer_prob·(1 + drift) exceeds 1")
        return sc

    @property
    def shift_s(self) -> float:
        return self.shift_hours * 3600.0

    @property
    def lines(self) -> int:
        return self.max_lines or 10 * self.agents

    def answer_prob_at(self, t: float) -> float:
        if not self.drift:
            return self.answer_prob
        return self.answer_prob * (1.0 + self.drift * math.sin(2 * math.pi * t / self.drift_period_s))


def _lognormal(mean: float, cv: float) -> tuple[float, float]:
    s2 = math.log(1 + cv * cv)
    return math.log(mean) - s2 / 2, math.sqrt(s2)


class Leads:
    """The call list of one seed: lead k's random draws, the same for every policy.

    Each field has its own stream (seeded by the seed and the field), and lead k takes the k-th
    draw of each: the list is the same however it is extended, and drawing it is a few list
    comprehensions per chunk."""

    FIELDS = ("u", "answer_s", "machine", "unanswered_s", "talk_s", "wrap_s")

    def __init__(self, sc: Scenario, seed: int) -> None:
        self.sc = sc
        self.rngs = {f: random.Random(f"dialbench:{seed}:{f}") for f in self.FIELDS + ("fail",)}
        self.u: list[float] = []        # answered iff u < a(t)
        self.answer_s: list[float] = []
        self.machine: list[bool] = []
        self.unanswered_s: list[float] = []
        self.talk_s: list[float] = []
        self.wrap_s: list[float] = []

    def ensure(self, n: int) -> None:
        k = n - len(self.u)
        if k <= 0:
            return
        sc, r = self.sc, self.rngs
        exp = math.exp
        am, asg = _lognormal(sc.answer_mean_s, sc.answer_cv)
        tm, tsg = _lognormal(sc.talk_mean_s, sc.talk_cv)
        wm, wsg = _lognormal(sc.wrap_mean_s, sc.wrap_cv)
        rand = r["u"].random
        self.u.extend([rand() for _ in range(k)])
        g = r["answer_s"].gauss
        self.answer_s.extend([exp(am + asg * g()) for _ in range(k)])
        rand, share = r["machine"].random, sc.machine_share
        self.machine.extend([rand() < share for _ in range(k)])
        rand, fail = r["unanswered_s"].random, r["fail"].random
        lo, span, share, timeout = sc.fail_min_s, sc.fail_max_s - sc.fail_min_s, sc.fail_share, sc.ring_timeout_s
        self.unanswered_s.extend([lo + span * x if rand() < share else timeout for x in [fail() for _ in range(k)]])
        g = r["talk_s"].gauss
        self.talk_s.extend([exp(tm + tsg * g()) for _ in range(k)])
        g = r["wrap_s"].gauss
        self.wrap_s.extend([exp(wm + wsg * g()) for _ in range(k)])


@dataclass
class Result:
    scenario: str
    policy: str
    seed: int
    agents: int
    shift_s: float
    talk_s: float = 0.0
    connected: int = 0
    abandoned: int = 0
    dialled: int = 0
    machines: int = 0
    max_in_flight: int = 0
    fallback_ticks: int = 0
    ticks: int = 0
    cpu_s: float = 0.0

    @property
    def occupancy(self) -> float:
        return self.talk_s / (self.agents * self.shift_s)

    @property
    def abandon_rate(self) -> float:
        live = self.connected + self.abandoned
        return self.abandoned / live if live else 0.0

    @property
    def contacts_per_agent_hour(self) -> float:
        return self.connected / (self.agents * self.shift_s / 3600.0)


@dataclass
class SimOptions:
    horizons: tuple[float, ...] = DEFAULT_HORIZONS
    model_every_s: float = 30.0
    stats_kwargs: dict[str, Any] = field(default_factory=dict)


def simulate(sc: Scenario, pacer: Pacer, seed: int, *, leads: Leads | None = None, policy: str | None = None,
             options: SimOptions | None = None) -> Result:
    """One shift of one scenario under one pacer. Deterministic given (scenario, pacer, seed)."""
    # the loop makes no reference cycles; the cyclic collector would only rescan the growing
    # lead lists and heap over and over
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _simulate(sc, pacer, seed, leads=leads, policy=policy, options=options)
    finally:
        if was_enabled:
            gc.enable()


def _simulate(sc: Scenario, pacer: Pacer, seed: int, *, leads: Leads | None, policy: str | None,
              options: SimOptions | None) -> Result:
    cpu0 = time.process_time()
    opt = options or SimOptions()
    leads = leads or Leads(sc, seed)
    predictive = getattr(pacer, "mode", "") == "predictive"
    res = Result(sc.name, policy or pacer.mode, seed, sc.agents, sc.shift_s)
    stats = PacingStats(**opt.stats_kwargs) if predictive else None
    model = None
    next_model_at = 0.0

    T, N, lines = sc.shift_s, sc.agents, sc.lines
    patience, amd_s, timeout = sc.patience_s, sc.amd_s, sc.ring_timeout_s
    limit, epoch, tick_s = sc.abandon_limit, sc.start_epoch, sc.tick_s
    a_at = sc.answer_prob_at
    u_l, ans_l, mach_l, unans_l, talk_l, wrap_l = (leads.u, leads.answer_s, leads.machine, leads.unanswered_s,
                                                   leads.talk_s, leads.wrap_s)
    heap: list[tuple[float, int, int, int]] = [(0.0, 0, TICK, 0)]
    push, pop = heapq.heappush, heapq.heappop
    seq = 1
    free = N
    ringing: dict[int, float] = {}    # call -> dial time
    amd: dict[int, float] = {}        # machine being detected -> answer time
    waiting: dict[int, float] = {}    # person waiting for an agent -> answer time (insertion ordered)
    talking: dict[int, float] = {}    # call -> talk start
    wrapping: dict[int, float] = {}   # call -> wrap start
    paced_calls: set[int] = set()     # calls placed on a predictive (not fallback) decision
    connected = abandoned = 0
    talk_total = 0.0
    next_lead = 0
    max_flight = 0
    fallback_ticks = ticks = 0

    while heap:
        t, _, kind, cid = pop(heap)
        if t >= T:
            break
        if kind == TICK:
            ticks += 1
            if predictive and t >= next_model_at:
                model = stats.model(epoch + t, horizons=opt.horizons, patience_s=patience)
                next_model_at = t + opt.model_every_s
            in_flight = len(ringing) + len(amd) + len(waiting)
            if predictive:
                state = PacingInput(
                    agents_available=free, agents_logged_in=N, calls_in_flight=in_flight, max_lines=lines,
                    calls_connected=len(talking),
                    ring_ages=tuple([t - d for d in ringing.values()]), amd_pending=len(amd),
                    answered_waiting=len(waiting), talk_ages=tuple([t - s for s in talking.values()]),
                    wrap_ages=tuple([t - s for s in wrapping.values()]),
                    abandon_headroom=limit * (connected + abandoned) - abandoned, model=model)
            else:
                state = PacingInput(agents_available=free, agents_logged_in=N, calls_in_flight=in_flight,
                                    max_lines=lines, calls_connected=len(talking))
            decision = pacer.decide(state)
            paced = predictive and decision.explanation.get("paced_as") == "predictive"
            if predictive and not paced:
                fallback_ticks += 1
            n = decision.calls
            if n > 0:
                k0 = next_lead
                next_lead += n
                if next_lead > len(u_l):
                    leads.ensure(next_lead + 1000)
                a = a_at(t)
                for k in range(k0, next_lead):
                    ringing[k] = t
                    d = ans_l[k]
                    if u_l[k] < a and d <= timeout:
                        push(heap, (t + d, seq, ANSWER, k))
                    else:
                        push(heap, (t + unans_l[k], seq, NO_ANSWER, k))
                    seq += 1
                if paced:
                    paced_calls.update(range(k0, next_lead))
                if in_flight + n > max_flight:
                    max_flight = in_flight + n
            push(heap, (t + tick_s, seq, TICK, 0))
            seq += 1
        elif kind == ANSWER:
            dialled_at = ringing.pop(cid)
            is_machine = mach_l[cid]
            if stats is not None:
                stats.observe_dial(at=epoch + dialled_at, ring_seconds=t - dialled_at, answered=True,
                                   machine=is_machine)
            if is_machine:
                amd[cid] = t
                push(heap, (t + amd_s, seq, AMD_END, cid))
                seq += 1
            elif free > 0:
                free -= 1
                talking[cid] = t
                connected += 1
                if stats is not None:
                    stats.observe_human(at=epoch + t, abandoned=False, predictive=cid in paced_calls)
                push(heap, (t + talk_l[cid], seq, TALK_END, cid))
                seq += 1
            else:
                waiting[cid] = t
                push(heap, (t + patience, seq, PATIENCE, cid))
                seq += 1
        elif kind == NO_ANSWER:
            dialled_at = ringing.pop(cid)
            if stats is not None:
                stats.observe_dial(at=epoch + dialled_at, ring_seconds=t - dialled_at, answered=False)
        elif kind == AMD_END:
            del amd[cid]
            res.machines += 1
        elif kind == PATIENCE:
            if waiting.pop(cid, None) is not None:
                abandoned += 1
                if stats is not None:
                    stats.observe_human(at=epoch + t, abandoned=True, predictive=cid in paced_calls)
        elif kind == TALK_END:
            start = talking.pop(cid)
            talk_total += t - start
            if stats is not None:
                stats.observe_talk(at=epoch + t, seconds=t - start)
            wrapping[cid] = t
            push(heap, (t + wrap_l[cid], seq, WRAP_END, cid))
            seq += 1
        elif kind == WRAP_END:
            start = wrapping.pop(cid)
            if stats is not None:
                stats.observe_wrap(at=epoch + t, seconds=t - start)
            if waiting:
                nxt = next(iter(waiting))
                del waiting[nxt]
                talking[nxt] = t
                connected += 1
                if stats is not None:
                    stats.observe_human(at=epoch + t, abandoned=False, predictive=nxt in paced_calls)
                push(heap, (t + talk_l[nxt], seq, TALK_END, nxt))
                seq += 1
            else:
                free += 1

    for start in talking.values():
        talk_total += T - start
    res.talk_s = talk_total
    res.connected, res.abandoned, res.dialled = connected, abandoned, next_lead
    res.max_in_flight, res.fallback_ticks, res.ticks = max_flight, fallback_ticks, ticks
    res.cpu_s = time.process_time() - cpu0
    return res
