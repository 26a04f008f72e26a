"""`result`: record what the caller decided, as the call's outcome for the business.

    promise_recorded:
      type: result
      values:
        promise_to_pay: true
        promise_date: promise_date       # expressions (see ivr.expr)
        promise_amount: contact.due_amount
      next: thanks

Results are what a campaign manager reads back per attempt ("activated",
"promised to pay 1,280.00 by 3 March", "survey score 4"): they are written to
the call's record (calls.results, linked to the dialer attempt on outbound
calls) the moment the node runs, so a call that drops right after still has
them. A later `result` with the same name replaces the earlier value.

Values must be plain data: null, true/false, numbers (kept exactly, as text
for decimals), text, dates, lists and maps of those. A value computed from a
secret variable (a card number, a PIN) is refused: results are business
records read by many people, not a place for secrets. Either problem is a
ValueError, so the runner takes the node's `on_error` exit.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ivr.call import CallContext
from ivr.expr import Expression
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult

_EXPRESSION = {"type": ["string", "number", "boolean"], "description": "expression (see ivr.expr)"}
_MAX_RESULTS = 50  # a flow that records more is recording something other than decisions


def to_json_value(value: Any) -> Any:
    """The JSON form of a flow value; ValueError for anything that is not plain data."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return str(value)  # exact: 1280.50 stays "1280.50", never a float
    if isinstance(value, float):
        return str(Decimal(str(value)))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    raise ValueError(f"a result must be plain data, not {type(value).__name__}")


@register
class ResultNode(Node):
    type_name = "result"
    schema = {
        "properties": {
            "values": {"type": "object", "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                       "additionalProperties": _EXPRESSION, "minProperties": 1,
                       "description": "result name -> expression"},
            "next": {"type": "string", "description": "node to go to afterwards"},
        },
        "required": ["values", "next"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], values: tuple[tuple[str, Expression], ...]):
        super().__init__(node_id, exits)
        self.values = values

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "ResultNode":
        values = spec.assignments("values")
        if not values:
            raise spec.error("'values' must name at least one result", "values")
        if len(values) > _MAX_RESULTS:
            raise spec.error(f"at most {_MAX_RESULTS} results per node", "values")
        spec.target("next")
        return cls(spec.node_id, spec.exits, values)

    def reads(self) -> frozenset[str]:
        return frozenset().union(*(expression.names for _, expression in self.values))

    async def run(self, call: CallContext) -> StepResult:
        recorded: dict[str, Any] = {}
        for name, expression in self.values:
            if expression.names & call.secret_variables:
                raise ValueError(f"result {name!r} is computed from a secret variable; results are not for secrets")
            recorded[name] = to_json_value(expression.evaluate(call.variables))
        call.results.update(recorded)
        if call.results_sink is not None:
            await call.results_sink(recorded)
        return StepResult("next", detail={"results": sorted(recorded)})
