"""`hangup`: end the call. `reason` labels how the call ended, for reporting.

    end:
      type: hangup
      reason: self_service
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class HangupNode(Node):
    type_name = "hangup"
    schema = {"properties": {"reason": {"type": "string", "default": "completed"}}, "required": []}

    def __init__(self, node_id: str, exits: dict[str, str], reason: str):
        super().__init__(node_id, exits)
        self.reason = reason

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "HangupNode":
        return cls(spec.node_id, spec.exits, spec.text("reason", "completed"))

    async def run(self, call: CallContext) -> StepResult:
        await call.channel.hangup()
        return StepResult(None, detail={"reason": self.reason})
