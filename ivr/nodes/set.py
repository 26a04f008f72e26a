"""`set`: compute flow variables with expressions (see ivr.expr), then go on.

    count_try:
      type: set
      vars:
        tries: tries + 1
        card_last4: last(card_number, 4)
        salutation: "'Dear ' + customer.name"   # quote YAML text that starts with a quote
        verified: false
      next: check_tries

Every right-hand side is evaluated before any variable changes, so
`{a: b, b: a}` swaps, and a failing expression changes nothing. A variable
computed from a secret one (CallContext.secret_variables) becomes secret too.
The step record lists the names set, never the values. In YAML flow style
(`vars: {a: ..., b: ...}`) quote an expression that has a comma in it, such
as "last(card_number, 4)".
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.expr import Expression
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult

_EXPRESSION = {"type": ["string", "number", "boolean"], "description": "expression (see ivr.expr)"}


@register
class SetNode(Node):
    type_name = "set"
    schema = {
        "properties": {
            "vars": {"type": "object", "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                     "additionalProperties": _EXPRESSION, "minProperties": 1},
            "next": {"type": "string", "description": "node to go to afterwards"},
        },
        "required": ["vars", "next"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], assignments: tuple[tuple[str, Expression], ...]):
        super().__init__(node_id, exits)
        self.assignments = assignments

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "SetNode":
        assignments = spec.assignments("vars")
        if not assignments:
            raise spec.error("'vars' must set at least one variable", "vars")
        spec.target("next")
        return cls(spec.node_id, spec.exits, assignments)

    def reads(self) -> frozenset[str]:
        return frozenset().union(*(expression.names for _, expression in self.assignments))

    def writes(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.assignments)

    async def run(self, call: CallContext) -> StepResult:
        call.assign(self.assignments)
        return StepResult("next", detail={"set": [name for name, _ in self.assignments]})
