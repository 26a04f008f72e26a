"""`opt_out`: put the number this call is with on a do-not-call list, then go on.

    stop_calls:
      type: opt_out
      scope: global        # global (default): no campaign calls this number again;
                           # campaign: only the campaign that placed this call stops
      source: opt_out_call # opt_out_call (default) | refusal (a marketing refusal: permanent)
      next: confirm_stopped

The number is the one the dialer dialled for this call (its attempt, found by the
channel's unique id), or the caller id for an inbound call; it is written at once, so
the next dial decision anywhere (dialer/compliance) already refuses it. Failing to
record it is a node error (`on_error`): a flow must not tell a customer "you will not be
called again" when that is not on record. The step record never holds the number.
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult

SCOPES = ("global", "campaign")
SOURCES = ("opt_out_call", "refusal")


@register
class OptOutNode(Node):
    type_name = "opt_out"
    schema = {
        "properties": {
            "scope": {"enum": list(SCOPES), "default": "global",
                      "description": "global: no campaign calls the number again; campaign: the calling campaign"},
            "source": {"enum": list(SOURCES), "default": "opt_out_call",
                       "description": "why: a pressed opt-out, or a refusal of marketing calls"},
            "next": {"type": "string", "description": "node to go to once the opt-out is recorded"},
        },
        "required": ["next"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], scope: str, source: str):
        super().__init__(node_id, exits)
        self.scope, self.source = scope, source

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "OptOutNode":
        scope = spec.value("scope", "global")
        if scope not in SCOPES:
            raise spec.error(f"'scope' must be one of {', '.join(SCOPES)}, not {scope!r}", "scope")
        source = spec.value("source", "opt_out_call")
        if source not in SOURCES:
            raise spec.error(f"'source' must be one of {', '.join(SOURCES)}, not {source!r}", "source")
        spec.target("next")
        return cls(spec.node_id, spec.exits, scope, source)

    def reads(self) -> frozenset[str]:
        return frozenset({"unique_id", "caller"})

    async def run(self, call: CallContext) -> StepResult:
        record = call.services.opt_out
        if record is None:
            raise RuntimeError("opt_out node needs the do-not-call recorder: start the IVR with "
                               "Services(opt_out=dialer.compliance.store.OptOutRecorder(pool))")
        result = await record(unique_id=str(call.variables.get("unique_id") or ""),
                              caller=str(call.variables.get("caller") or ""), scope=self.scope, source=self.source,
                              by=f"ivr:{call.variables.get('call_id', '?')}")
        return StepResult("next", detail={"scope": result["scope"], "campaign_id": result.get("campaign_id"),
                                          "attempt_id": result.get("attempt_id"), "added": result["added"],
                                          "source": self.source})
