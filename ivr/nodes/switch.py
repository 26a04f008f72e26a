"""`switch`: go to the node listed for a value (see ivr.expr), or to `default`.

    by_card_type:
      type: switch
      value: customer.card_type
      cases:
        debit: debit_menu
        credit: credit_menu
        1: platinum_desk          # keys are text: the value 1 matches '1'
      default: main_menu

The value is compared as text, as `str(value)` gives it (1 is '1', 1.0 is
'1.0', true is 'true'); a list or map value is a node error. Exits are the
case keys and `default`. `default` and `error` cannot be case keys: they are
the names of this node's own exits (the default and `on_error`).
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.expr import Expression, to_text
from ivr.nodes import register
from ivr.nodes.base import FlowError, Node, NodeSpec, StepResult

_RESERVED = ("default", "error")


@register
class SwitchNode(Node):
    type_name = "switch"
    schema = {
        "properties": {
            "value": {"type": ["string", "number", "boolean"], "description": "expression (see ivr.expr)"},
            "cases": {"type": "object", "propertyNames": {"not": {"enum": list(_RESERVED)}},
                      "additionalProperties": {"type": "string"}, "minProperties": 1},
            "default": {"type": "string", "description": "node to go to when no case matches"},
        },
        "required": ["value", "cases", "default"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], value: Expression, cases: tuple[str, ...]):
        super().__init__(node_id, exits)
        self.value = value
        self.cases = cases

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "SwitchNode":
        value = spec.expression("value")
        cases = spec.mapping("cases")
        if not cases:
            raise spec.error("a switch needs at least one case", "cases")
        for key, target in cases.items():
            if key in _RESERVED:
                raise FlowError(cases.where(key), f"case {key!r} is reserved for the node's own {key!r} exit",
                                spec.node_id)
            spec.exit(key, target, cases.where(key))
        spec.target("default")
        return cls(spec.node_id, spec.exits, value, tuple(cases))

    def reads(self) -> frozenset[str]:
        return self.value.names

    async def run(self, call: CallContext) -> StepResult:
        key = to_text(self.value.evaluate(call.variables))
        return StepResult(key if key in self.cases else "default")
