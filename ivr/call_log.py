"""Where a call and its steps are written: PostgreSQL in service, memory in unit tests."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import asyncpg


@dataclass(frozen=True)
class CallStart:
    channel: str
    unique_id: str
    caller_id: str
    dialed: str
    flow_name: str
    flow_version: str
    language: str
    started_at: datetime
    attempt_id: int | None = None  # outbound: the dialer attempt this call answered


@dataclass(frozen=True)
class StepRecord:
    seq: int
    node: str
    node_type: str
    input: str | None
    result: str  # the exit taken, or what ended the step (e.g. caller_hangup)
    started_at: datetime
    ended_at: datetime
    detail: dict[str, Any]


class CallLog(Protocol):
    async def call_started(self, start: CallStart) -> int: ...

    async def step(self, call_id: int, step: StepRecord) -> None: ...

    async def call_ended(self, call_id: int, outcome: str, last_node: str | None, ended_at: datetime) -> None: ...

    async def results(self, call_id: int, values: dict[str, Any]) -> None: ...


@dataclass
class MemoryCallLog:
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    steps: dict[int, list[StepRecord]] = field(default_factory=dict)

    async def call_started(self, start: CallStart) -> int:
        call_id = len(self.calls) + 1
        self.calls[call_id] = {"start": start, "outcome": None}
        self.steps[call_id] = []
        return call_id

    async def step(self, call_id: int, step: StepRecord) -> None:
        self.steps[call_id].append(step)

    async def call_ended(self, call_id: int, outcome: str, last_node: str | None, ended_at: datetime) -> None:
        self.calls[call_id].update(outcome=outcome, last_node=last_node, ended_at=ended_at)

    async def results(self, call_id: int, values: dict[str, Any]) -> None:
        self.calls[call_id].setdefault("results", {}).update(values)


class PgCallLog:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def call_started(self, start: CallStart) -> int:
        return await self.pool.fetchval(
            """INSERT INTO calls (channel, unique_id, caller_id, dialed, flow_name, flow_version, language, started_at,
                                 attempt_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
            start.channel, start.unique_id, start.caller_id, start.dialed, start.flow_name,
            start.flow_version, start.language, start.started_at, start.attempt_id)

    async def step(self, call_id: int, step: StepRecord) -> None:
        await self.pool.execute(
            """INSERT INTO call_steps (call_id, seq, node, node_type, input, result, started_at, ended_at, detail)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
            call_id, step.seq, step.node, step.node_type, step.input, step.result,
            step.started_at, step.ended_at, json.dumps(step.detail, ensure_ascii=False))

    async def call_ended(self, call_id: int, outcome: str, last_node: str | None, ended_at: datetime) -> None:
        await self.pool.execute(
            "UPDATE calls SET outcome = $2, last_node = $3, ended_at = $4 WHERE id = $1",
            call_id, outcome, last_node, ended_at)

    async def results(self, call_id: int, values: dict[str, Any]) -> None:
        await self.pool.execute("UPDATE calls SET results = results || $2::jsonb WHERE id = $1",
                                call_id, json.dumps(values, ensure_ascii=False))
