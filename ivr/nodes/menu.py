"""`menu`: a DTMF menu with barge-in, invalid / no-input handling and a try limit.

    main_menu:
      type: menu
      prompt: main_menu           # interruptible: callers may press during it
      choices: {1: card_services, 2: account_services, 0: agent}
      timeout: 5                  # seconds to wait for a key after the prompt
      inter_digit_timeout: 2      # for multi-key choices such as 11: seconds between keys
      max_tries: 3                # invalid and no-input both use up a try
      invalid_prompt: invalid     # played after a wrong key (interruptible)
      no_input_prompt: no_input   # played after silence (interruptible)
      on_failure: too_many_tries  # where to go when the tries are used up

Exits are the choices plus `failure`. A choice is one to four keys; after a
key that starts a longer choice the menu waits `inter_digit_timeout` for
the next. A key pressed during a retry prompt counts as the answer to the
next try, so a caller never has to wait for the whole menu again.
"""
from __future__ import annotations

from ivr.call import CallContext
from ivr.channel import ALL_KEYS
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult


@register
class MenuNode(Node):
    type_name = "menu"
    schema = {
        "properties": {
            "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
            "choices": {"type": "object", "propertyNames": {"pattern": "^[0-9*#]{1,4}$"},
                        "additionalProperties": {"type": "string"}, "minProperties": 1},
            "timeout": {"type": "number", "minimum": 0.5, "maximum": 60, "default": 5},
            "inter_digit_timeout": {"type": "number", "minimum": 0.5, "maximum": 10, "default": 2},
            "max_tries": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
            "invalid_prompt": {"type": "string"},
            "no_input_prompt": {"type": "string"},
            "on_failure": {"type": "string"},
        },
        "required": ["prompt", "choices", "on_failure"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], prompts: tuple[str, ...], timeout: float,
                 max_tries: int, invalid_prompt: str | None, no_input_prompt: str | None,
                 choices: tuple[str, ...] = (), inter_digit_timeout: float = 2.0):
        super().__init__(node_id, exits)
        self.prompts = prompts
        self.choices = choices or tuple(k for k in exits if k != "failure" and k != "error")
        self.inter_digit_timeout = inter_digit_timeout
        self.timeout = timeout
        self.max_tries = max_tries
        self.invalid_prompt = invalid_prompt
        self.no_input_prompt = no_input_prompt

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "MenuNode":
        prompts = spec.text_list("prompt")
        choices = spec.mapping("choices")
        if not choices:
            raise spec.error("a menu needs at least one choice", "choices")
        for key, target in choices.items():
            if not 1 <= len(key) <= 4 or any(k not in ALL_KEYS for k in key):
                raise spec.error(f"choice {key!r} is not 1-4 phone keys (0-9, * or #)", "choices")
            spec.exit(key, target, choices.where(key))
        timeout = spec.number("timeout", 5, minimum=0.5, maximum=60)
        inter_digit = spec.number("inter_digit_timeout", 2, minimum=0.5, maximum=10)
        max_tries = spec.number("max_tries", 3, minimum=1, maximum=10)
        if not isinstance(max_tries, int):
            raise spec.error("'max_tries' must be a whole number", "max_tries")
        invalid_prompt = spec.text("invalid_prompt", None)
        no_input_prompt = spec.text("no_input_prompt", None)
        spec.target("on_failure", exit_name="failure")
        return cls(spec.node_id, spec.exits, prompts, float(timeout), max_tries, invalid_prompt, no_input_prompt,
                   tuple(choices), float(inter_digit))

    def prompt_ids(self) -> tuple[str, ...]:
        extra = tuple(p for p in (self.invalid_prompt, self.no_input_prompt) if p)
        return self.prompts + extra

    async def run(self, call: CallContext) -> StepResult:
        tries: list[dict[str, str | None]] = []
        # A key typed ahead, or pressed during a retry prompt, answers the next try.
        key = call.take_pending_key()
        for attempt in range(1, self.max_tries + 1):
            if key is None:
                key = await self._play_menu(call)
            if key is None:
                key = await call.channel.wait_key(self.timeout)
            if key is not None:
                key = await self._complete(call, key)
            if key is not None and key in self.choices:
                tries.append({"key": key, "result": "chosen"})
                return StepResult(key, input=_keys(tries), detail={"tries": tries})
            result = "no_input" if key is None else "invalid"
            tries.append({"key": key, "result": result})
            key = None
            retry_prompt = self.no_input_prompt if result == "no_input" else self.invalid_prompt
            if attempt < self.max_tries and retry_prompt:
                key = await call.channel.play(call.prompt(retry_prompt), ALL_KEYS)
        return StepResult("failure", input=_keys(tries), detail={"tries": tries})

    async def _complete(self, call: CallContext, typed: str) -> str:
        """Read more keys while what was typed starts a longer choice (e.g. 1 of 11)."""
        while any(len(c) > len(typed) and c.startswith(typed) for c in self.choices):
            key = call.take_pending_key() or await call.channel.wait_key(self.inter_digit_timeout)
            if key is None:
                break
            typed += key
        return typed

    async def _play_menu(self, call: CallContext) -> str | None:
        for prompt_id in self.prompts:
            key = await call.channel.play(call.prompt(prompt_id), ALL_KEYS)
            if key is not None:
                return key
        return None


def _keys(tries: list[dict[str, str | None]]) -> str:
    """The caller's keys in order, '-' for a try with no input (e.g. '7,7' or '-,2')."""
    return ",".join(t["key"] or "-" for t in tries)
