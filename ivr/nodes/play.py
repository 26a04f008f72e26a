"""`play`: play one or more prompts, then go on.

    greeting:
      type: play
      prompts: [welcome]        # or `prompt: welcome`
      interruptible: false      # true: a key stops the prompt and is kept for the next node
      next: main_menu
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.channel import ALL_KEYS
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class PlayNode(Node):
    type_name = "play"
    schema = {
        "properties": {
            "prompt": {"type": "string", "description": "prompt id from prompts/catalog.yaml"},
            "prompts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "interruptible": {"type": "boolean", "default": False},
            "next": {"type": "string", "description": "node to go to afterwards"},
        },
        "required": ["next"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], prompts: tuple[str, ...], interruptible: bool):
        super().__init__(node_id, exits)
        self.prompts = prompts
        self.interruptible = interruptible

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "PlayNode":
        if "prompt" in spec.data and "prompts" in spec.data:
            raise spec.error("use either 'prompt' or 'prompts', not both", "prompts")
        key = "prompt" if "prompt" in spec.data else "prompts"
        prompts = spec.text_list(key)
        interruptible = spec.flag("interruptible", False)
        spec.target("next")
        return cls(spec.node_id, spec.exits, prompts, interruptible)

    def prompt_ids(self) -> tuple[str, ...]:
        return self.prompts

    async def run(self, call: CallContext) -> StepResult:
        escape = ALL_KEYS if self.interruptible else ""
        for prompt_id in self.prompts:
            key = await call.channel.play(call.prompt(prompt_id), escape)
            if key is not None:
                call.pending_keys += key
                return StepResult("next", input=key, detail={"interrupted_by_key": True, "prompt": prompt_id})
        return StepResult("next")
