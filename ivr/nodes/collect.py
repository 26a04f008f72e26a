"""`collect`: read a number from the keypad (card number, PIN, ID digits, amount), check it, keep it.

    card_number:
      type: collect
      prompt: enter_card_number    # interruptible: the first key stops it
      variable: card_number        # the value goes to call.variables[card_number]
      min_length: 16               # default 1
      max_length: 19               # default 20; input ends by itself at this length
      terminator: "#"              # key that ends input early: "#" (default) or "*"
      timeout: 6                   # seconds for the first key after the prompt
      inter_digit_timeout: 3       # seconds between keys; silence ends input
      validator: luhn              # luhn | cn_id_last4 | pin | amount | digits (default)
      secret: true                 # default true for luhn, pin and cn_id_last4
      max_tries: 3                 # every failed try uses one
      invalid_prompt: card_invalid # after a too short or invalid entry (interruptible)
      no_input_prompt: no_input    # after silence (interruptible)
      next: id_last4
      on_failure: too_many_tries

Exits: `next` and `failure`. Keys typed ahead (`call.pending_keys`) are read
first, and a key pressed during the prompt or a retry prompt is the first
key of the entry, so a caller who knows what to type never waits.

The step's input is the value as typed, or masked when secret ('************1234',
a PIN '****'); its detail lists each try as {length, result} with result
ok, too_short, invalid:<reason> or no_input. Raw secret digits appear nowhere in
the step. There is no too_long: input stops at max_length, and further keys
belong to the next node.
"""
from __future__ import annotations

import re

from ivr import validators
from ivr.call import CallContext
from ivr.channel import ALL_KEYS
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult

_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TERMINATORS = ("#", "*")
MAX_DIGITS = 64


@register
class CollectNode(Node):
    type_name = "collect"
    schema = {
        "properties": {
            "prompt": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
            "variable": {"type": "string", "pattern": _VARIABLE.pattern},
            "min_length": {"type": "integer", "minimum": 1, "maximum": MAX_DIGITS, "default": 1},
            "max_length": {"type": "integer", "minimum": 1, "maximum": MAX_DIGITS, "default": 20},
            "terminator": {"enum": list(TERMINATORS), "default": "#"},
            "timeout": {"type": "number", "minimum": 0.5, "maximum": 60, "default": 6},
            "inter_digit_timeout": {"type": "number", "minimum": 0.5, "maximum": 30, "default": 3},
            "validator": {"enum": sorted(validators.VALIDATORS), "default": "digits"},
            "secret": {"type": "boolean", "description": "default: true for luhn, pin and cn_id_last4"},
            "max_tries": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
            "invalid_prompt": {"type": "string"},
            "no_input_prompt": {"type": "string"},
            "next": {"type": "string"},
            "on_failure": {"type": "string"},
        },
        "required": ["prompt", "variable", "next", "on_failure"],
    }

    def __init__(self, node_id: str, exits: dict[str, str], *, prompts: tuple[str, ...], variable: str,
                 min_length: int, max_length: int, terminator: str, timeout: float, inter_digit_timeout: float,
                 validator: str, secret: bool, max_tries: int, invalid_prompt: str | None,
                 no_input_prompt: str | None):
        super().__init__(node_id, exits)
        self.prompts = prompts
        self.variable = variable
        self.min_length = min_length
        self.max_length = max_length
        self.terminator = terminator
        self.timeout = timeout
        self.inter_digit_timeout = inter_digit_timeout
        self.validator = validator
        self.secret = secret
        self.max_tries = max_tries
        self.invalid_prompt = invalid_prompt
        self.no_input_prompt = no_input_prompt

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "CollectNode":
        prompts = spec.text_list("prompt")
        variable = spec.text("variable")
        if not _VARIABLE.fullmatch(variable):
            raise spec.error(f"variable {variable!r} must be letters, digits and _", "variable")
        min_length = _whole_number(spec, "min_length", 1, maximum=MAX_DIGITS)
        max_length = _whole_number(spec, "max_length", 20, maximum=MAX_DIGITS)
        if min_length > max_length:
            raise spec.error(f"'min_length' ({min_length}) is more than 'max_length' ({max_length})", "min_length")
        validator = spec.text("validator", "digits")
        if validator not in validators.VALIDATORS:
            raise spec.error(f"unknown validator {validator!r} (known: {', '.join(sorted(validators.VALIDATORS))})",
                             "validator")
        terminator = _terminator(spec)
        if terminator == "*" and validators.uses_star(validator):
            raise spec.error(f"'*' cannot end input for validator {validator!r}: it is part of the value",
                             "terminator")
        spec.target("next")
        spec.target("on_failure", exit_name="failure")
        return cls(
            spec.node_id, spec.exits,
            prompts=prompts,
            variable=variable,
            min_length=min_length,
            max_length=max_length,
            terminator=terminator,
            timeout=float(spec.number("timeout", 6, minimum=0.5, maximum=60)),
            inter_digit_timeout=float(spec.number("inter_digit_timeout", 3, minimum=0.5, maximum=30)),
            validator=validator,
            secret=spec.flag("secret", validator in validators.SECRET_BY_DEFAULT),
            max_tries=_whole_number(spec, "max_tries", 3, maximum=10),
            invalid_prompt=spec.text("invalid_prompt", None),
            no_input_prompt=spec.text("no_input_prompt", None),
        )

    def writes(self) -> frozenset[str]:
        return frozenset({self.variable})

    def prompt_ids(self) -> tuple[str, ...]:
        return self.prompts + tuple(p for p in (self.invalid_prompt, self.no_input_prompt) if p)

    async def run(self, call: CallContext) -> StepResult:
        tries: list[dict[str, int | str]] = []
        # A key typed ahead, or pressed during a retry prompt, starts the next entry.
        first_key = call.take_pending_key()
        for attempt in range(1, self.max_tries + 1):
            keys, heard_any = await self._read_entry(call, first_key)
            result = self._judge(keys, heard_any)
            tries.append({"length": len(keys), "result": result})
            if result == "ok":
                return self._success(call, keys, tries)
            first_key = None
            retry_prompt = self.no_input_prompt if result == "no_input" else self.invalid_prompt
            if attempt < self.max_tries and retry_prompt:
                first_key = await call.channel.play(call.prompt(retry_prompt), ALL_KEYS)
        return StepResult("failure", detail={"tries": tries})

    async def _read_entry(self, call: CallContext, first_key: str | None) -> tuple[str, bool]:
        """The keys of one entry (without the terminator), and whether the caller pressed anything."""
        key = first_key
        if key is None:
            key = await self._play_prompts(call)
        if key is None:
            key = await call.channel.wait_key(self.timeout)
        heard_any = key is not None
        keys = ""
        while key is not None and key != self.terminator:
            keys += key
            if len(keys) >= self.max_length:
                break
            key = call.take_pending_key() or await call.channel.wait_key(self.inter_digit_timeout)
        return keys, heard_any

    async def _play_prompts(self, call: CallContext) -> str | None:
        for prompt_id in self.prompts:
            key = await call.channel.play(call.prompt(prompt_id), ALL_KEYS)
            if key is not None:
                return key
        return None

    def _judge(self, keys: str, heard_any: bool) -> str:
        if not heard_any:
            return "no_input"
        # A lone terminator is an empty entry: too short, not silence.
        if len(keys) < self.min_length:
            return "too_short"
        reason = validators.VALIDATORS[self.validator](keys)
        return f"invalid:{reason}" if reason else "ok"

    def _success(self, call: CallContext, keys: str, tries: list[dict[str, int | str]]) -> StepResult:
        call.variables[self.variable] = validators.normalise(self.validator, keys)
        if self.secret:
            call.secret_variables.add(self.variable)
        shown = validators.mask_secret(keys) if self.secret else keys
        return StepResult("next", input=shown, detail={"tries": tries})


def _terminator(spec: NodeSpec) -> str:
    # An unquoted `terminator: #` is a YAML comment, so the value arrives empty.
    if "terminator" in spec.data and spec.data["terminator"] is None:
        raise spec.error("'terminator' is empty: write it quoted, terminator: \"#\"", "terminator")
    terminator = spec.text("terminator", "#")
    if terminator not in TERMINATORS:
        raise spec.error(f"'terminator' must be '#' or '*', got {terminator!r}", "terminator")
    return terminator


def _whole_number(spec: NodeSpec, key: str, default: int, *, maximum: int) -> int:
    value = spec.number(key, default, minimum=1, maximum=maximum)
    if not isinstance(value, int):
        raise spec.error(f"{key!r} must be a whole number", key)
    return value
