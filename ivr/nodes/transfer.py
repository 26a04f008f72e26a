"""`transfer`: hand the call to an agent queue (or an extension) with the data for a screen pop.

    to_agent:
      type: transfer
      queue: cards                     # Asterisk queue (or `extension: "8001"` for a PJSIP endpoint)
      reason: lost_card                # why the caller needs an agent, for reporting
      data: [customer_id, intent]      # extra variables for the agent's screen

The channel gets BANKCC_CALLER, BANKCC_CUSTOMER_ID, BANKCC_INTENT, BANKCC_REASON,
BANKCC_PATH (nodes walked) and BANKCC_<NAME> for each `data` variable; secret
variables (card numbers, PINs) are sent masked. The flow ends with outcome
`transferred` and Asterisk continues in the [bankcc-queue] or
[bankcc-extension] context of extensions.conf.
"""
from __future__ import annotations

import re

from common.masking import mask_digits
from ivr.call import CallContext
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult

_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_EXTENSION = re.compile(r"^[0-9]{2,15}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SCREEN_POP = ("caller", "customer_id", "intent")


@register
class TransferNode(Node):
    type_name = "transfer"
    schema = {
        "properties": {
            "queue": {"type": "string", "pattern": _QUEUE_NAME.pattern},
            "extension": {"type": "string", "pattern": _EXTENSION.pattern},
            "reason": {"type": "string"},
            "data": {"type": "array", "items": {"type": "string"}},
        },
        "required": [],
    }

    def __init__(self, node_id: str, exits: dict[str, str], queue: str | None, extension: str | None,
                 reason: str, data: tuple[str, ...]):
        super().__init__(node_id, exits)
        self.queue = queue
        self.extension = extension
        self.reason = reason
        self.data = data

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "TransferNode":
        queue = spec.text("queue", None)
        extension = spec.text("extension", None)
        if (queue is None) == (extension is None):
            raise spec.error("a transfer needs exactly one of 'queue' or 'extension'")
        if queue is not None and not _QUEUE_NAME.match(queue):
            raise spec.error(f"queue name {queue!r} must be lowercase letters, digits, - or _", "queue")
        if extension is not None and not _EXTENSION.match(str(extension)):
            raise spec.error(f"extension {extension!r} must be 2-15 digits", "extension")
        reason = spec.text("reason", "agent")
        data = spec.text_list("data", ())
        for name in data:
            if not _VARIABLE.match(name):
                raise spec.error(f"{name!r} is not a variable name", "data")
        return cls(spec.node_id, spec.exits, queue, extension, reason, tuple(data))

    def reads(self) -> frozenset[str]:
        return frozenset(self.data)

    @property
    def ends_call(self) -> bool:
        return True

    def screen_pop(self, call: CallContext) -> dict[str, str]:
        """Channel variables for the agent's screen; secret values masked."""
        values = {name: call.variables.get(name) for name in (*SCREEN_POP, *self.data)}
        pop = {f"BANKCC_{name.upper()}": self._safe(call, name, value) for name, value in values.items()
               if value is not None}
        pop["BANKCC_REASON"] = self.reason
        pop["BANKCC_PATH"] = ">".join(call.path)[-900:]  # keep within Asterisk's variable size
        return pop

    @staticmethod
    def _safe(call: CallContext, name: str, value: object) -> str:
        text = str(value)
        return mask_digits(text) if name in call.secret_variables else text

    async def run(self, call: CallContext) -> StepResult:
        pop = self.screen_pop(call)
        for name, value in pop.items():
            await call.channel.set_variable(name, value)
        if self.queue is not None:
            await call.channel.continue_in_dialplan("bankcc-queue", self.queue)
            target = f"queue:{self.queue}"
        else:
            await call.channel.continue_in_dialplan("bankcc-extension", self.extension)
            target = f"extension:{self.extension}"
        return StepResult(None, outcome="transferred",
                          detail={"target": target, "reason": self.reason, "screen_pop": sorted(pop)})
