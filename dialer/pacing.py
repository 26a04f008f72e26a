"""How many calls to place now. Pure: the engine gathers the numbers, a pacer decides.

    pacer = pacer_for("progressive")
    decision = pacer.decide(PacingInput(agents_available=3, agents_logged_in=3, calls_in_flight=1,
                                        max_lines=20))
    decision.calls        # 2
    decision.explanation  # recorded with each attempt (attempts.decision)

"In flight" means placed and not yet with an agent: originating, ringing, or
answered and still in AMD or the queue. Calls already talking to an agent are
not in flight; their agents are not available.

Modes:
    progressive  one call per available agent: nobody is ever answered with no agent free
    power        `ratio` calls per available agent (e.g. 1.5): more talk time, some risk of
                 answered calls waiting in the queue
    preview      one call per available agent, each after the agent has had `preview_seconds`
                 to read the contact (the engine waits; there is no agent desktop yet to accept
                 or skip a contact)
    predictive   dials ahead of free agents from a forecast of agents freeing up and live
                 answers arriving, under the abandonment budget (dialer/predictive.py, model
                 learned by dialer/pacing_stats.py); progressive, and says why, while there is
                 no model, no budget headroom or too small a team

The predictive fields of PacingInput (ages, model, headroom) default to "unknown", so an engine
that does not feed them gets progressive pacing from `predictive`, with the reason recorded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class PacingInput:
    agents_available: int   # logged in, not paused, idle
    agents_logged_in: int
    calls_in_flight: int    # for this agent queue, across campaigns and dialer processes
    max_lines: int          # cap on simultaneous calls for the queue (trunk capacity)
    calls_connected: int = 0  # talking to agents (for the explanation only)
    # What predictive pacing needs (dialer/predictive.py); the other modes ignore them.
    ring_ages: tuple[float, ...] = ()   # seconds since originate of each call not yet answered
    amd_pending: int = 0                # answered, answering-machine detection still listening
    answered_waiting: int = 0           # live answers waiting for an agent (in the queue)
    talk_ages: tuple[float, ...] = ()   # seconds each agent on a call has been talking
    wrap_ages: tuple[float, ...] = ()   # seconds each agent in wrap-up has been in it
    abandon_headroom: float | None = None  # abandoned calls still allowed in the compliance window
    model: Any = None                   # dialer.predictive.PacingModel, None while the data is thin


@dataclass(frozen=True)
class PacingDecision:
    calls: int
    explanation: dict[str, Any]
    delay_s: float = 0.0    # wait this long before placing them (preview)


class Pacer(Protocol):
    mode: str

    def decide(self, state: PacingInput) -> PacingDecision: ...


def _capped(target: int, state: PacingInput) -> tuple[int, str]:
    lines_free = max(0, state.max_lines - state.calls_in_flight - state.calls_connected)
    wanted = max(0, target - state.calls_in_flight)
    if wanted > lines_free:
        return lines_free, f"capped by max_lines {state.max_lines}"
    return wanted, ""


def _explain(mode: str, state: PacingInput, target: int, calls: int, note: str, **extra: Any) -> dict[str, Any]:
    out = {"mode": mode, "agents_available": state.agents_available, "agents_logged_in": state.agents_logged_in,
           "calls_in_flight": state.calls_in_flight, "calls_connected": state.calls_connected,
           "target_in_flight": target, "calls": calls, **extra}
    if note:
        out["note"] = note
    return out


@dataclass(frozen=True)
class ProgressivePacer:
    mode: str = "progressive"

    def decide(self, state: PacingInput) -> PacingDecision:
        target = max(0, state.agents_available)
        calls, note = _capped(target, state)
        return PacingDecision(calls, _explain(self.mode, state, target, calls, note, ratio=1.0))


@dataclass(frozen=True)
class PowerPacer:
    ratio: float = 1.5
    mode: str = "power"
    max_ratio: float = 5.0  # the benchmark's fixed-ratio oracle searches beyond what campaigns may set

    def __post_init__(self) -> None:
        if not 1.0 <= self.ratio <= self.max_ratio:
            raise ValueError(f"power ratio must be between 1.0 and {self.max_ratio:g} calls per agent")

    def decide(self, state: PacingInput) -> PacingDecision:
        # floor: 1.5 x 1 agent is one call, not two; the ratio pays off with several agents
        target = math.floor(max(0, state.agents_available) * self.ratio + 1e-9)
        calls, note = _capped(target, state)
        return PacingDecision(calls, _explain(self.mode, state, target, calls, note, ratio=self.ratio))


@dataclass(frozen=True)
class PreviewPacer:
    preview_seconds: float = 5.0
    mode: str = "preview"

    def decide(self, state: PacingInput) -> PacingDecision:
        target = max(0, state.agents_available)
        calls, note = _capped(target, state)
        explanation = _explain(self.mode, state, target, calls, note, ratio=1.0,
                               preview_seconds=self.preview_seconds,
                               preview="no agent desktop yet: the contact is not shown to anyone; the call waits "
                                       "preview_seconds as if an agent had read it and accepted")
        return PacingDecision(calls, explanation, delay_s=self.preview_seconds if calls else 0.0)


def pacer_for(mode: str, *, power_ratio: float = 1.5, preview_seconds: float = 5.0) -> Pacer:
    if mode == "progressive":
        return ProgressivePacer()
    if mode == "power":
        return PowerPacer(power_ratio)
    if mode == "preview":
        return PreviewPacer(preview_seconds)
    if mode == "predictive":
        from dialer.predictive import PredictivePacer
        return PredictivePacer()
    raise ValueError(f"unknown dial mode {mode!r}")


def __getattr__(name: str) -> Any:
    # dialer.predictive imports this module; re-exported lazily to avoid the import cycle
    if name == "PredictivePacer":
        from dialer.predictive import PredictivePacer
        return PredictivePacer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
