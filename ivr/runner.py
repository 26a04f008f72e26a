"""FlowRunner: walks one call through a flow, node by node, recording each step.

The runner knows nothing about node types: it asks the current node to run,
follows the exit it names, and writes a step row. How the call ended becomes
the call's outcome:

- `completed`      a hangup node was reached
- `caller_hangup`  the caller hung up (or the AGI connection dropped) mid-flow
- `channel_error`  the channel broke (garbled or missing AGI responses)
- `error`          a node failed and had no `on_error` exit
- `loop_limit`     more steps than any sane call takes (a flow bug)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ivr.call import CallContext, utc_now
from ivr.call_log import CallLog, StepRecord
from ivr.channel import CallerHangup, ChannelFailure
from ivr.flow import Flow

log = logging.getLogger(__name__)

MAX_STEPS = 500


@dataclass(frozen=True)
class CallOutcome:
    outcome: str
    last_node: str | None
    steps: int




class FlowRunner:
    def __init__(self, flow: Flow, call: CallContext, call_log: CallLog, call_id: int,
                 clock: Callable[[], datetime] = utc_now):
        self.flow = flow
        self.call = call
        self.call_log = call_log
        self.call_id = call_id
        self.clock = clock

    async def run(self) -> CallOutcome:
        node_id: str | None = self.flow.start
        last: str | None = None
        seq = 0
        outcome = "error"
        while node_id is not None and seq < MAX_STEPS:
            node = self.flow.node(node_id)
            self.call.path.append(node_id)
            seq += 1
            last = node_id
            started = self.clock()
            try:
                result = await node.run(self.call)
            except CallerHangup:
                await self._record(seq, node, started, None, "caller_hangup", {})
                outcome = "caller_hangup"
                break
            except ChannelFailure as exc:
                await self._record(seq, node, started, None, "channel_error", {"error": str(exc)})
                outcome = "channel_error"
                break
            except Exception as exc:  # a node failed: take its error exit if it has one
                log.warning("call %s: node %r failed: %s", self.call_id, node_id, exc)
                await self._record(seq, node, started, None, "error", {"error": f"{type(exc).__name__}: {exc}"})
                node_id = node.exits.get("error")
                outcome = "error"
                continue
            await self._record(seq, node, started, result.input, result.exit or "end", result.detail)
            if result.exit is None:
                outcome = "completed"
                break
            node_id = node.exits[result.exit]
        else:
            if node_id is not None:
                outcome = "loop_limit"
                log.error("call %s: flow %s exceeded %d steps", self.call_id, self.flow.name, MAX_STEPS)
        return CallOutcome(outcome, last, seq)

    async def _record(self, seq, node, started, input_, result, detail) -> None:
        step = StepRecord(seq, node.id, node.type_name, input_, result, started, self.clock(), detail)
        try:
            await self.call_log.step(self.call_id, step)
        except Exception:  # the caller must not lose the call because a log write failed
            log.exception("call %s: could not record step %d (%s)", self.call_id, seq, node.id)
