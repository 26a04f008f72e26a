"""`subflow`: run another flow (e.g. customer identification), then continue here.

    identify:
      type: subflow
      flow: identify_customer    # flows/identify_customer.yaml; it ends with a `return` node
      next: main_menu

Variables are shared: what the subflow sets (customer_id, ...) is visible
afterwards. The subflow runs on the version that was live when the call began.
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class SubflowNode(Node):
    type_name = "subflow"
    schema = {"properties": {"flow": {"type": "string", "description": "name of the flow to run"},
                             "next": {"type": "string"}},
              "required": ["flow", "next"]}

    def __init__(self, node_id: str, exits: dict[str, str], flow: str):
        super().__init__(node_id, exits)
        self.flow = flow

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "SubflowNode":
        flow = spec.text("flow")
        spec.target("next")
        return cls(spec.node_id, spec.exits, flow)

    def calls_flows(self) -> tuple[str, ...]:
        return (self.flow,)

    async def run(self, call: CallContext) -> StepResult:
        return StepResult("next", call_flow=self.flow, detail={"flow": self.flow})
