"""`say`: speak a call variable (an amount, a number, digits, a date, a card's last 4).

    say_balance:
      type: say
      variable: statement_amount  # read from call.variables
      as: amount                  # amount | number | digits | date | card_last4
      before: your_balance_is     # optional prompt played first
      after: null                 # optional prompt played last
      interruptible: false        # true: a key stops it and is kept for the next node
      next: main_menu

What each `as` accepts (anything else, or a missing variable, is a
ValueError, so the runner takes the node's `on_error` exit):

- amount, number: int, Decimal, a float (as it prints) or a decimal string
  such as "1234.56" (what a `collect` node with `validator: amount` stores);
- digits: a string of digits or a non-negative int;
- date: a date, or an ISO string "yyyy-mm-dd";
- card_last4: a string of at least 4 digits (the whole card number will do).

The value is spoken with fragment prompts from `ivr.spoken`. Error messages
and step details never contain the value, as it may be a secret variable.
"""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any, Callable

from ivr import spoken
from ivr.call import CallContext
from ivr.channel import ALL_KEYS
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult

_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _as_decimal(value: Any) -> Decimal | int:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(str(value))  # the shortest text that round-trips, e.g. 12.3 -> 12.3
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        return Decimal(value)
    raise ValueError(f"expected a number, got {_kind(value)}")


def _as_digits(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a digit string, got {_kind(value)}")


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("expected a real date in yyyy-mm-dd") from None
    raise ValueError(f"expected a date or a yyyy-mm-dd string, got {_kind(value)}")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a digit string, got {_kind(value)}")


def _kind(value: Any) -> str:
    """What a bad value is, without showing it (it may be secret)."""
    return "text in another form" if isinstance(value, str) else type(value).__name__


# `as` -> how a call variable becomes the value `ivr.spoken` takes.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "amount": _as_decimal,
    "number": _as_decimal,
    "digits": _as_digits,
    "date": _as_date,
    "card_last4": _as_text,
}


@register
class SayNode(Node):
    type_name = "say"
    schema = {
        "properties": {
            "variable": {"type": "string", "description": "call variable holding the value"},
            "as": {"enum": sorted(spoken.SAYERS)},
            "before": {"type": ["string", "null"], "description": "prompt id played first"},
            "after": {"type": ["string", "null"], "description": "prompt id played last"},
            "interruptible": {"type": "boolean", "default": False},
            "next": {"type": "string"},
        },
        "required": ["variable", "as", "next"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], variable: str, kind: str,
                 before: str | None, after: str | None, interruptible: bool):
        super().__init__(node_id, exits)
        self.variable = variable
        self.kind = kind
        # Zero or one prompt each, as tuples so they join the fragments directly.
        self.before = (before,) if before else ()
        self.after = (after,) if after else ()
        self.interruptible = interruptible

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "SayNode":
        variable = spec.text("variable")
        kind = spec.text("as")
        if kind not in spoken.SAYERS:
            raise spec.error(f"'as' must be one of {', '.join(sorted(spoken.SAYERS))}, got {kind!r}", "as")
        before = spec.text("before", None)
        after = spec.text("after", None)
        interruptible = spec.flag("interruptible", False)
        spec.target("next")
        return cls(spec.node_id, spec.exits, variable, kind, before, after, interruptible)

    def reads(self) -> frozenset[str]:
        return frozenset({self.variable})

    def prompt_ids(self) -> tuple[str, ...]:
        return self.before + spoken.FRAGMENTS[self.kind] + self.after

    async def run(self, call: CallContext) -> StepResult:
        escape = ALL_KEYS if self.interruptible else ""
        for prompt_id in self._prompts(call):
            key = await call.channel.play(call.prompt(prompt_id), escape)
            if key is not None:
                call.pending_keys += key
                # Which fragment was cut short is left out: it would tell part of the value.
                return StepResult("next", input=key, detail={"interrupted_by_key": True})
        return StepResult("next")

    def _prompts(self, call: CallContext) -> list[str]:
        """Everything to play, worked out before the first prompt so a bad value plays nothing."""
        if self.variable not in call.variables:
            raise ValueError(f"variable {self.variable!r} is not set")
        try:
            value = _CONVERTERS[self.kind](call.variables[self.variable])
            fragments = spoken.SAYERS[self.kind](value, call.language)
        except ValueError as exc:
            raise ValueError(f"variable {self.variable!r} cannot be said as {self.kind}: {exc}") from None
        return [*self.before, *fragments, *self.after]
