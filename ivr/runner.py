"""FlowRunner: walks one call through a flow, node by node, recording each step.

The runner knows nothing about node types: it asks the current node to run,
follows the exit it names, and writes a step row. A node may also ask to run
another flow first (`subflow`) or end the current subflow (`return`). How the
call ended becomes the call's outcome:

- `completed`      a hangup node was reached
- `transferred`    the call was handed to an agent queue or extension
- `caller_hangup`  the caller hung up (or the AGI connection dropped) mid-flow
- `channel_error`  the channel broke (garbled or missing AGI responses)
- `error`          a node failed and had no `on_error` exit
- `loop_limit`     more steps than any sane call takes (a flow bug)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Mapping

from ivr.call import CallContext, utc_now
from ivr.call_log import CallLog, StepRecord
from ivr.channel import CallerHangup, ChannelFailure
from ivr.flow import Flow
from ivr.nodes import Node, StepResult

log = logging.getLogger(__name__)

MAX_STEPS = 500
MAX_SUBFLOW_DEPTH = 8


@dataclass(frozen=True)
class CallOutcome:
    outcome: str
    last_node: str | None
    steps: int


class FlowRunner:
    def __init__(self, flow: Flow, call: CallContext, call_log: CallLog, call_id: int,
                 clock: Callable[[], datetime] = utc_now, flows: Mapping[str, Flow] | None = None):
        self.flow = flow
        self.call = call
        self.call_log = call_log
        self.call_id = call_id
        self.clock = clock
        # The flows subflow nodes may call, fixed for the whole call (a snapshot),
        # so a call finishes on the versions it started with.
        self.flows = dict(flows or {flow.name: flow})
        self._frames: list[tuple[Flow, str]] = []  # (calling flow, node to continue at)

    async def run(self) -> CallOutcome:
        flow, node_id = self.flow, self.flow.start
        last: str | None = None
        seq = 0
        outcome = "error"
        while node_id is not None and seq < MAX_STEPS:
            node = flow.node(node_id)
            name = node_id if flow is self.flow else f"{flow.name}/{node_id}"
            self.call.path.append(name)
            seq += 1
            last = name
            started = self.clock()
            try:
                result = await node.run(self.call)
                if node.after_set:
                    self.call.assign(node.after_set)
                if result.call_flow is not None:
                    flow, node_id = self._enter(flow, node, result)
                    await self._record(seq, name, node, started, result.input, f"call:{result.call_flow}",
                                       result.detail)
                    continue
            except CallerHangup:
                await self._record(seq, name, node, started, None, "caller_hangup", {})
                outcome = "caller_hangup"
                break
            except ChannelFailure as exc:
                await self._record(seq, name, node, started, None, "channel_error", {"error": str(exc)})
                outcome = "channel_error"
                break
            except Exception as exc:  # a node failed: take its error exit if it has one
                log.warning("call %s: node %r failed: %s", self.call_id, name, exc)
                await self._record(seq, name, node, started, None, "error", {"error": f"{type(exc).__name__}: {exc}"})
                node_id = node.exits.get("error")
                outcome = "error"
                continue
            await self._record(seq, name, node, started, result.input,
                               "return" if result.returns else (result.exit or "end"), result.detail)
            if result.returns:
                if not self._frames:  # a flow design error: nowhere to return to
                    log.error("call %s: node %r returns, but %s was not called as a subflow", self.call_id, name,
                              flow.name)
                    outcome = "error"
                    break
                flow, node_id = self._frames.pop()
                continue
            if result.exit is None:
                outcome = result.outcome
                break
            node_id = node.exits[result.exit]
        else:
            if node_id is not None:
                outcome = "loop_limit"
                log.error("call %s: flow %s exceeded %d steps", self.call_id, self.flow.name, MAX_STEPS)
        return CallOutcome(outcome, last, seq)

    def _enter(self, flow: Flow, node: Node, result: StepResult) -> tuple[Flow, str]:
        target = self.flows.get(result.call_flow)
        if target is None:
            raise LookupError(f"subflow {result.call_flow!r} is not a live flow")
        if len(self._frames) >= MAX_SUBFLOW_DEPTH:
            raise RecursionError(f"subflows nested deeper than {MAX_SUBFLOW_DEPTH}")
        self._frames.append((flow, node.exits[result.exit]))
        return target, target.start

    async def _record(self, seq: int, name: str, node: Node, started: datetime, input_: str | None, result: str,
                      detail: dict) -> None:
        step = StepRecord(seq, name, node.type_name, input_, result, started, self.clock(), detail)
        try:
            await self.call_log.step(self.call_id, step)
        except Exception:  # the caller must not lose the call because a log write failed
            log.exception("call %s: could not record step %d (%s)", self.call_id, seq, name)
