"""Who the simulated customers are and how they behave. Pure.

Parameters come from one YAML file (dialer/simulator/simulator.yaml):

    seed: 2024
    customers:
      answer: 0.65        # a call is answered (by a person or a machine)
      machine: 0.25       # of answered calls: answering machines
      busy: 0.12          # busy (SIP 486)
      invalid: 0.04       # number not in service (SIP 404)
                          # the rest ring until the dialer gives up: no answer
      ring_seconds: [0.5, 3.0]
      talk_seconds: [4.0, 10.0]
      hangs_up_first: 0.5 # conversations the customer ends; the agent ends the others
    agents:
      count: 3
      queue: outbound
      answer_seconds: [0.3, 1.0]
      wrapup_seconds: [2.0, 5.0]

Each number's behaviour is drawn from a random generator seeded with (seed,
number), so a number always behaves the same, whatever else is in the list,
and a test can tell from the plan what the dialer should have recorded.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

BEHAVIOURS = ("human", "machine", "busy", "invalid", "no_answer")
MAX_AGENTS = 10  # agent1..agent10 exist in asterisk/conf/pjsip.conf
# A person is answered, then AMD listens (~1.5 s for "Hello?" and a pause), then the
# queue rings an agent. A customer who ends the call waits this long beyond their
# conversation so the conversation really happens with an agent.
REACH_AGENT_S = 3.0


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class CustomerParams:
    answer: float = 0.65
    machine: float = 0.25
    busy: float = 0.12
    invalid: float = 0.04
    ring_seconds: tuple[float, float] = (0.5, 3.0)
    talk_seconds: tuple[float, float] = (4.0, 10.0)
    hangs_up_first: float = 0.5


@dataclass(frozen=True)
class AgentParams:
    count: int = 3
    queue: str = "outbound"
    answer_seconds: tuple[float, float] = (0.3, 1.0)
    wrapup_seconds: tuple[float, float] = (2.0, 5.0)


@dataclass(frozen=True)
class SimConfig:
    seed: int = 2024
    customers: CustomerParams = CustomerParams()
    agents: AgentParams = AgentParams()


@dataclass(frozen=True)
class Behaviour:
    number: str
    kind: str          # human | keys | machine | busy | invalid | no_answer
    ring_ms: int
    talk_ms: int       # the pause of whichever side hangs up (see scenarios.py)
    hangup_by: str     # customer | agent | system | network
    key: str = ""      # kind keys: a person who answers, then keeps pressing this key (outbound IVR flows)

    @property
    def expected_disposition(self) -> str:
        return {"human": "answered_human", "keys": "answered_human", "machine": "machine", "busy": "busy",
                "invalid": "failed", "no_answer": "no_answer"}[self.kind]

    def row(self) -> str:
        return f"{self.number};{self.kind};{self.ring_ms};{self.talk_ms};{self.hangup_by};{self.key or '-'}"


def _probability(raw: Mapping[str, Any], key: str, default: float, where: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise PlanError(f"{where}.{key} must be a probability between 0 and 1")
    return float(value)


def _span(raw: Mapping[str, Any], key: str, default: tuple[float, float], where: str, high: float = 3600):
    value = raw.get(key, list(default))
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] <= value[1] <= high):
        raise PlanError(f"{where}.{key} must be [low, high] seconds with 0 <= low <= high <= {high:g}")
    return float(value[0]), float(value[1])


def _section(raw: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
    part = raw.get(key) or {}
    if not isinstance(part, Mapping):
        raise PlanError(f"{key} must be a mapping")
    unknown = sorted(set(part) - allowed)
    if unknown:
        raise PlanError(f"{key}.{unknown[0]}: unknown setting (use {', '.join(sorted(allowed))})")
    return part


def parse_config(raw: Any) -> SimConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise PlanError("the simulator file must be a mapping")
    unknown = sorted(set(raw) - {"seed", "customers", "agents"})
    if unknown:
        raise PlanError(f"{unknown[0]}: unknown setting (use seed, customers, agents)")
    seed = raw.get("seed", 2024)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise PlanError("seed must be a whole number")
    c = _section(raw, "customers", {f for f in CustomerParams.__dataclass_fields__})
    d = CustomerParams()
    customers = CustomerParams(
        answer=_probability(c, "answer", d.answer, "customers"),
        machine=_probability(c, "machine", d.machine, "customers"),
        busy=_probability(c, "busy", d.busy, "customers"),
        invalid=_probability(c, "invalid", d.invalid, "customers"),
        ring_seconds=_span(c, "ring_seconds", d.ring_seconds, "customers", 120),
        talk_seconds=_span(c, "talk_seconds", d.talk_seconds, "customers"),
        hangs_up_first=_probability(c, "hangs_up_first", d.hangs_up_first, "customers"))
    if customers.answer + customers.busy + customers.invalid > 1 + 1e-9:
        raise PlanError("customers.answer + busy + invalid must not exceed 1 (the rest is no answer)")
    a = _section(raw, "agents", {f for f in AgentParams.__dataclass_fields__})
    e = AgentParams()
    count = a.get("count", e.count)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_AGENTS:
        raise PlanError(f"agents.count must be between 1 and {MAX_AGENTS} (the agent endpoints in pjsip.conf)")
    queue = a.get("queue", e.queue)
    if not isinstance(queue, str) or not queue:
        raise PlanError("agents.queue must be a queue name")
    agents = AgentParams(count=count, queue=queue,
                         answer_seconds=_span(a, "answer_seconds", e.answer_seconds, "agents", 30),
                         wrapup_seconds=_span(a, "wrapup_seconds", e.wrapup_seconds, "agents"))
    return SimConfig(seed=seed, customers=customers, agents=agents)


def load_config(path: Path) -> SimConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PlanError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_config(raw)
    except PlanError as exc:
        raise PlanError(f"{path}: {exc}") from None


def behaviour(number: str, config: SimConfig) -> Behaviour:
    c = config.customers
    rng = random.Random(f"{config.seed}:{number}")
    roll = rng.random()
    ring_ms = int(rng.uniform(*c.ring_seconds) * 1000)
    talk_ms = int(rng.uniform(*c.talk_seconds) * 1000)
    customer_ends = rng.random() < c.hangs_up_first
    if roll < c.busy:
        return Behaviour(number, "busy", 0, 0, "customer")
    if roll < c.busy + c.invalid:
        return Behaviour(number, "invalid", 0, 0, "network")
    if roll < c.busy + c.invalid + c.answer:
        if rng.random() < c.machine:
            return Behaviour(number, "machine", ring_ms, 0, "system")  # the dialplan hangs up on machines
        if customer_ends:
            reach = REACH_AGENT_S + config.agents.answer_seconds[1]
            return Behaviour(number, "human", ring_ms, talk_ms + int(reach * 1000), "customer")
        return Behaviour(number, "human", ring_ms, talk_ms, "agent")
    return Behaviour(number, "no_answer", 0, 0, "system")


def make_plan(numbers: list[str], config: SimConfig,
              overrides: Mapping[str, Behaviour] | None = None) -> dict[str, Behaviour]:
    """Each number's behaviour, drawn from the config unless `overrides` fixes it (tests)."""
    overrides = overrides or {}
    return {n: overrides.get(n) or behaviour(n, config) for n in numbers}


def presses_key(number: str, key: str, ring_ms: int = 500) -> Behaviour:
    """A person who answers and presses `key` every few seconds until the call ends (scenarios.py)."""
    if key not in KEYS:
        raise PlanError(f"the simulator presses one digit key 0-9, not {key!r}")
    return Behaviour(number, "keys", ring_ms, 0, "system", key)


KEYS = "0123456789"


def table_text(plan: Mapping[str, Behaviour]) -> str:
    """The sipp injection file: a header line, then one row per number (see scenarios.py)."""
    return "USER\n" + "".join(b.row() + "\n" for b in plan.values())


def demo_numbers(count: int, seed: int) -> list[str]:
    """Made-up Chinese mobile numbers in a block no real subscriber uses in the demo."""
    rng = random.Random(seed)
    numbers: set[str] = set()
    while len(numbers) < count:
        numbers.add(f"+86138{rng.randrange(10**8):08d}")
    return sorted(numbers)
