"""`branch`: go one of two ways on a condition (see ivr.expr).

    check_status:
      type: branch
      condition: customer.status == 'blocked' or tries >= 3
      then: to_agent
      else: main_menu

null, false, 0, '' and empty lists/maps count as false. Exits are `then` and
`else`. A condition that cannot be evaluated (e.g. an undefined variable) is
a node error: the call goes to `on_error`, or ends with outcome 'error'.
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.expr import Expression, truthy
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class BranchNode(Node):
    type_name = "branch"
    schema = {
        "properties": {
            "condition": {"type": ["string", "number", "boolean"], "description": "expression (see ivr.expr)"},
            "then": {"type": "string", "description": "node to go to when the condition is true"},
            "else": {"type": "string", "description": "node to go to when it is false"},
        },
        "required": ["condition", "then", "else"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], condition: Expression):
        super().__init__(node_id, exits)
        self.condition = condition

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "BranchNode":
        condition = spec.expression("condition")
        spec.target("then")
        spec.target("else")
        return cls(spec.node_id, spec.exits, condition)

    def reads(self) -> frozenset[str]:
        return self.condition.names

    async def run(self, call: CallContext) -> StepResult:
        return StepResult("then" if truthy(self.condition.evaluate(call.variables)) else "else")
