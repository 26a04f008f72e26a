"""Online estimators for predictive pacing, per campaign. Pure: observations and their times
come in, a `PacingModel` (dialer/predictive.py) snapshot comes out; no clock, no I/O.

    stats = PacingStats()
    stats.observe_dial(at=t_dial, ring_seconds=9.5, answered=True, machine=False)
    stats.observe_human(at=t_answer, abandoned=False, predictive=True)  # a live answer: agent or not
    stats.observe_talk(at=t_end, seconds=130.0)
    stats.observe_wrap(at=t_free, seconds=14.0)
    model = stats.model(now, patience_s=2)                  # None while the data is too thin

What is learned, and how it stays right when things drift:

- answer probability a (answered / dialled) and machine share m (machines / answered): a
  recent estimate with an exponential time decay (time constant `tau_s` = 5 min, or 3× or 6×
  that while fewer than `min_effective` = 1500 calls fall within it: smaller teams), de-lagged with the
  DEMA trick (2·EWMA(τ) − EWMA(2τ) removes the lag of a linear trend, so a drifting answer
  rate is followed without the τ·slope bias of a plain moving average), blended with a
  per-time-of-day prior (half-hour buckets kept with a multi-day memory) that counts as
  `prior_weight` observations: the recent estimate dominates as soon as there is data today,
  the time-of-day bucket covers the start of a shift and thin hours.
- time to answer (answered calls) and duration of unanswered calls (ring-out, busy, failed):
  empirical histograms at 1 s, with a slow decay (τ = 1 h); ring-out is a spike and
  busy a short plateau, which no parametric fit catches.
- talk and wrap-up times: log-normal fits from decayed moments of log(seconds).
- abandonment calibration: a stochastic-approximation (Robbins–Monro) update of log ε, the
  overflow allowance the pacer's model may plan for, on every live answer:
  θ ← θ + η·(r* − 1{abandoned}) / r*. Its fixed point is where the measured abandonment rate
  equals the set point r* (2.8 %, under a 3 % limit), whatever the model's bias (timing
  inside the window, the normal approximation): the model says where to dial, this loop says
  how close to the edge. Only calls placed on a predictive decision count.

The engine can rebuild all of it after a restart from the attempts table: stats_from_attempts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from dialer.predictive import PacingModel, SupplyTables, build_model, supply_tables

DAY_S = 86_400.0
SUPPLY_REBUILD_S = 900.0
DEFAULT_HORIZONS = (4.0, 8.0, 14.0, 25.0)  # seconds ahead the overflow is checked at
BUCKET_S = 1_800.0


def _decay(dt: float, tau: float) -> float:
    return math.exp(-dt / tau) if dt > 0 else 1.0


@dataclass
class DecayedRatio:
    """Σ decayed successes / Σ decayed trials with exponential time decay (time constant tau)."""
    tau: float
    hits: float = 0.0
    n: float = 0.0
    t: float | None = None

    def add(self, at: float, hit: bool, weight: float = 1.0) -> None:
        if self.t is not None and at > self.t:
            k = _decay(at - self.t, self.tau)
            self.hits *= k
            self.n *= k
        if self.t is None or at > self.t:
            self.t = at
        self.n += weight
        if hit:
            self.hits += weight

    def value(self, default: float) -> float:
        return self.hits / self.n if self.n > 0 else default


@dataclass
class DriftingRate:
    """A proportion that may drift during the day: de-lagged recent estimate + time-of-day prior.

    Recent estimates are kept at time constants tau_s × (1, 3, 6); the shortest one holding at
    least `min_effective` observations is used, so a big campaign follows drift within minutes
    and a small team still averages over enough calls (DEMA keeps the longer ones unbiased on
    a trend)."""
    tau_s: float = 300.0
    prior_weight: float = 40.0
    min_effective: float = 300.0
    ladder: tuple[float, ...] = (1.0, 3.0, 6.0)
    day_tau_s: float = 3 * DAY_S
    default: float = 0.3
    fast: list[DecayedRatio] = field(init=False)
    slow: list[DecayedRatio] = field(init=False)
    _all: list[DecayedRatio] = field(init=False, repr=False)
    buckets: dict[int, DecayedRatio] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fast = [DecayedRatio(self.tau_s * m) for m in self.ladder]
        self.slow = [DecayedRatio(2 * self.tau_s * m) for m in self.ladder]
        self._all = self.fast + self.slow

    def add(self, at: float, hit: bool) -> None:
        h = 1.0 if hit else 0.0
        for r in self._all:          # DecayedRatio.add, inlined: this runs for every call placed
            if r.t is None or at > r.t:
                if r.t is not None:
                    k = math.exp((r.t - at) / r.tau)
                    r.hits *= k
                    r.n *= k
                r.t = at
            r.n += 1.0
            r.hits += h
        key = int((at % DAY_S) // BUCKET_S)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = DecayedRatio(self.day_tau_s)
        bucket.add(at, hit)

    def _pick(self, now: float) -> tuple[DecayedRatio, DecayedRatio, float]:
        for fast, slow in zip(self.fast, self.slow):
            w = fast.n * _decay(now - fast.t, fast.tau) if fast.t is not None else 0.0
            if w >= self.min_effective:
                break
        return fast, slow, w

    def recent_weight(self, now: float) -> float:
        return self._pick(now)[2]

    def value(self, now: float) -> float:
        fast, slow, w = self._pick(now)
        bucket = self.buckets.get(int((now % DAY_S) // BUCKET_S))
        prior = bucket.value(self.default) if bucket is not None and bucket.n >= 1 else fast.value(self.default)
        if fast.n <= 0:
            return prior
        recent = 2 * fast.value(prior) - slow.value(prior)   # DEMA: no lag on a linear trend
        recent = min(max(recent, 0.2 * fast.value(prior)), 1.0)
        # the time-of-day bucket already holds today's observations too; it only steadies thin data
        return min(max((w * recent + self.prior_weight * prior) / (w + self.prior_weight), 1e-4), 1.0)


@dataclass
class Histogram:
    """Decayed counts of a duration in 1 s bins (the last bin takes everything longer)."""
    bins: int = 61
    tau_s: float = 3_600.0
    counts: list[float] = field(default_factory=list)
    total: float = 0.0
    t: float | None = None

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0.0] * self.bins

    def add(self, at: float, seconds: float) -> None:
        if self.t is not None and at > self.t + 60.0:  # decay in steps: cheap and close enough
            k = _decay(at - self.t, self.tau_s)
            self.counts = [c * k for c in self.counts]
            self.total *= k
            self.t = at
        elif self.t is None:
            self.t = at
        i = min(max(int(seconds), 0), self.bins - 1)
        self.counts[i] += 1.0
        self.total += 1.0

    def cdf(self) -> list[float]:
        """cdf[i] = P(duration < i seconds), i = 0..bins (cdf[bins] = 1); uniform inside a bin."""
        out = [0.0]
        acc = 0.0
        for c in self.counts:
            acc += c
            out.append(acc / self.total if self.total > 0 else 0.0)
        return out


@dataclass
class LogNormalFit:
    """Log-normal from decayed moments of log(seconds)."""
    tau_s: float = 4 * 3_600.0
    n: float = 0.0
    s1: float = 0.0
    s2: float = 0.0
    t: float | None = None

    def add(self, at: float, seconds: float) -> None:
        if self.t is not None and at > self.t:
            k = _decay(at - self.t, self.tau_s)
            self.n *= k
            self.s1 *= k
            self.s2 *= k
        if self.t is None or at > self.t:
            self.t = at
        x = math.log(max(seconds, 0.5))
        self.n += 1.0
        self.s1 += x
        self.s2 += x * x

    @property
    def mu(self) -> float:
        return self.s1 / self.n

    @property
    def sigma(self) -> float:
        var = self.s2 / self.n - self.mu ** 2
        return math.sqrt(max(var, 1e-4))

    def mean(self) -> float:
        return math.exp(self.mu + self.sigma ** 2 / 2) if self.n > 0 else float("nan")


@dataclass
class AbandonCalibration:
    """Robbins–Monro on log ε: settles where abandoned / live answers = set_point."""
    set_point: float = 0.025
    step: float = 0.01
    theta: float = -0.7     # start at half the set point: the first predictive minutes are the riskiest
    lo: float = -5.0
    hi: float = 1.5

    def add(self, abandoned: bool) -> None:
        r = self.set_point
        self.theta += self.step * ((r - (1.0 if abandoned else 0.0)) / r)
        self.theta = min(max(self.theta, self.lo), self.hi)

    @property
    def allowance(self) -> float:
        return self.set_point * math.exp(self.theta)


@dataclass
class PacingStats:
    """Everything the predictive pacer learns about one campaign (or one agent queue)."""
    abandon_set_point: float = 0.028   # the calibration aims here: 0.2 points under a 3 % limit
    tau_s: float = 300.0
    min_effective: float = 1500.0  # observations the answer-rate estimate should rest on (see DriftingRate)
    min_answers: int = 30          # answered-by-person calls seen before the model is trusted
    min_talks: int = 20            # completed talks (and wrap-ups) seen before the model is trusted
    answer: DriftingRate = field(init=False)
    machine: DriftingRate = field(init=False)
    answer_delay: Histogram = field(default_factory=lambda: Histogram(bins=121))
    unanswered: Histogram = field(default_factory=lambda: Histogram(bins=121))
    talk: LogNormalFit = field(default_factory=LogNormalFit)
    wrap: LogNormalFit = field(default_factory=LogNormalFit)
    calibration: AbandonCalibration = field(init=False)
    _supply: SupplyTables | None = None
    _supply_key: tuple = ()
    _supply_at: float = -math.inf
    humans_seen: int = 0
    talks_seen: int = 0
    wraps_seen: int = 0

    def __post_init__(self) -> None:
        self.answer = DriftingRate(tau_s=self.tau_s, default=0.3, min_effective=self.min_effective)
        self.machine = DriftingRate(tau_s=4 * self.tau_s, default=0.3, ladder=(1.0, 3.0))
        self.calibration = AbandonCalibration(set_point=self.abandon_set_point)

    # -- observations --------------------------------------------------------------------
    def observe_dial(self, *, at: float, ring_seconds: float, answered: bool, machine: bool | None = None) -> None:
        """One placed call whose ringing is over. `at` is when it was dialled (the answer rate
        belongs to the time of dialling), ring_seconds from originate to answer or to the end."""
        self.answer.add(at, answered)
        if answered:
            self.answer_delay.add(at, ring_seconds)
            if machine is not None:
                self.machine.add(at, machine)
        else:
            self.unanswered.add(at, ring_seconds)

    def observe_human(self, *, at: float, abandoned: bool, predictive: bool = True) -> None:
        """A live answer: taken by an agent or abandoned. `predictive`: the call was placed on a
        predictive decision (attempts.decision.pacing.paced_as); only those steer the
        calibration, since progressive calls say nothing about how close to the edge we dial."""
        self.humans_seen += 1
        if predictive:
            self.calibration.add(abandoned)

    def observe_talk(self, *, at: float, seconds: float) -> None:
        self.talks_seen += 1
        self.talk.add(at, seconds)

    def observe_wrap(self, *, at: float, seconds: float) -> None:
        self.wraps_seen += 1
        self.wrap.add(at, seconds)

    # -- snapshot ------------------------------------------------------------------------
    def thin(self) -> str | None:
        """Why the data is too thin for a model, or None."""
        answers = self.humans_seen
        if answers < self.min_answers:
            return f"cold start: {answers} live answers seen, {self.min_answers} needed"
        if self.talks_seen < self.min_talks or self.wraps_seen < self.min_talks:
            return f"cold start: {min(self.talks_seen, self.wraps_seen)} talks seen, {self.min_talks} needed"
        if self.unanswered.total <= 0 or self.answer_delay.total <= 0:
            return "cold start: no ring durations seen yet"
        return None

    def model(self, now: float, *, horizons: tuple[float, ...] = DEFAULT_HORIZONS,
              patience_s: float = 2.0) -> PacingModel | None:
        if self.thin() is not None:
            return None
        # the supply tables cost ~15 ms: rebuilt when talk/wrap moved by ~5 %, at most every 15 minutes
        key = (tuple(round(v / 0.05) for v in (self.talk.mu, self.talk.sigma, self.wrap.mu, self.wrap.sigma)),
               tuple(horizons), patience_s)
        stale = self._supply_key != key and now - self._supply_at >= SUPPLY_REBUILD_S
        if self._supply is None or stale or self._supply_key[1:] != key[1:]:
            self._supply_at = now
            self._supply = supply_tables((self.talk.mu, self.talk.sigma), (self.wrap.mu, self.wrap.sigma),
                                         tuple(horizons), patience_s)
            self._supply_key = key
        return build_model(
            p_answer=self.answer.value(now), machine_share=self.machine.value(now),
            answer_delay_cdf=self.answer_delay.cdf(), unanswered_cdf=self.unanswered.cdf(),
            supply=self._supply, allowance=self.calibration.allowance, horizons=tuple(horizons),
            patience_s=patience_s, samples=self.humans_seen)


def _seconds(row: Mapping[str, Any], key: str) -> float | None:
    v = row.get(key)
    if v is None:
        return None
    return float(v)


def _epoch(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return v.timestamp()  # datetime


def stats_from_attempts(rows: Iterable[Mapping[str, Any]], **kwargs: Any) -> PacingStats:
    """Build the estimators from ended attempt rows (oldest first), e.g.

        SELECT originate_at, answer_at, agent_at, end_at, ring_seconds, hold_seconds, talk_seconds,
               amd_status, disposition FROM attempts
        WHERE campaign_id = $1 AND state = 'ended' AND end_at > now() - interval '2 days' ORDER BY end_at

    Times may be datetimes or epoch seconds. Wrap-up is not in the attempts table; the engine
    feeds it with observe_wrap from the agent board (QueueMember pause/idle after the call)."""
    stats = PacingStats(**kwargs)
    for row in rows:
        disposition = row.get("disposition")
        start = _epoch(row.get("originate_at")) or _epoch(row.get("created_at"))
        end = _epoch(row.get("end_at"))
        ring = _seconds(row, "ring_seconds")
        if start is None or ring is None or disposition in (None, "unknown"):
            continue
        answered = row.get("answer_at") is not None
        if disposition in ("answered_human", "machine", "abandoned", "dropped"):
            answered = True
        machine = None
        if answered:
            machine = disposition == "machine" or row.get("amd_status") == "MACHINE"
        stats.observe_dial(at=start, ring_seconds=ring, answered=answered, machine=machine)
        if disposition in ("abandoned", "dropped"):  # both are the regulator's abandoned call
            stats.observe_human(at=start + ring, abandoned=True)
        elif disposition == "answered_human" and row.get("agent_at") is not None:
            stats.observe_human(at=start + ring, abandoned=False)
            talk = _seconds(row, "talk_seconds")
            if talk is not None and talk > 0:
                stats.observe_talk(at=end if end is not None else start + ring + talk, seconds=talk)
    return stats
