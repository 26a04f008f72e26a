"""`return`: end this subflow; the calling flow continues after its `subflow` node.

    done:
      type: return
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class ReturnNode(Node):
    type_name = "return"
    schema = {"properties": {}, "required": []}

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "ReturnNode":
        return cls(spec.node_id, spec.exits)

    async def run(self, call: CallContext) -> StepResult:
        return StepResult(None, returns=True)
