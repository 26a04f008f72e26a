"""`goto`: jump to another node (e.g. back to the main menu).

    back_to_menu:
      type: goto
      target: main_menu
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class GotoNode(Node):
    type_name = "goto"
    schema = {"properties": {"target": {"type": "string"}}, "required": ["target"]}

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "GotoNode":
        spec.target("target", exit_name="next")
        return cls(spec.node_id, spec.exits)

    async def run(self, call: CallContext) -> StepResult:
        return StepResult("next")
