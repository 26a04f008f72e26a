"""`ask`: "say what you need, or press a key" — speech intent capture with keypad fallback.

    how_can_i_help:
      type: ask
      prompt: ask_intent                  # interruptible by speech or a key
      intents:
        lost_card: {phrases: ["挂失", "lost card", "report a lost card"], key: "2", next: want_lost_card}
        bill: {phrases: ["账单", "查账单", "bill", "balance"], key: "3", next: want_bill}
        agent: {phrases: ["人工", "转人工", "agent"], key: "0", next: agent_hours}
      confidence: 0.6       # minimum score (recogniser confidence x phrase similarity)
      margin: 0.1           # the best intent must beat the runner-up by this much
      timeout: 5            # seconds of silence before no-input
      max_speech: 10        # longest utterance, seconds
      max_tries: 2
      no_match_prompt: ask_again
      no_input_prompt: no_input
      variable: intent      # where the intent goes (default: intent)
      on_failure: main_menu # e.g. the DTMF menu

Exits: each intent's `next`, and `failure`. Sets `intent`, `intent_source`
(speech | dtmf) and `intent_confidence`. On a channel that cannot listen
the node works as a keypad menu over the intents' keys. Transcripts are
recorded with numbers masked (callers say card numbers too).
"""
from __future__ import annotations

import re

from common.masking import mask_numbers
from ivr.call import CallContext
from ivr.channel import ALL_KEYS, Heard, SpeechUnavailable
from ivr.intents import match_intent
from ivr.nodes import register
from ivr.nodes.base import Node, NodeSpec, StepResult

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RESERVED = {"failure", "error", "next"}


@register
class AskNode(Node):
    type_name = "ask"
    schema = {
        "properties": {
            "prompt": {"type": "string"},
            "intents": {"type": "object", "minProperties": 1, "additionalProperties": {
                "type": "object", "required": ["phrases", "next"], "additionalProperties": False,
                "properties": {"phrases": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                               "key": {"type": "string", "pattern": "^[0-9*#]$"}, "next": {"type": "string"}}}},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.6},
            "margin": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.1},
            "timeout": {"type": "number", "minimum": 0.5, "maximum": 60, "default": 5},
            "max_speech": {"type": "number", "minimum": 1, "maximum": 60, "default": 10},
            "max_tries": {"type": "integer", "minimum": 1, "maximum": 10, "default": 2},
            "no_match_prompt": {"type": "string"},
            "no_input_prompt": {"type": "string"},
            "variable": {"type": "string", "default": "intent"},
            "on_failure": {"type": "string"},
        },
        "required": ["prompt", "intents", "on_failure"],
    }

    def __init__(self, node_id, exits, prompt, phrases, keys, confidence, margin, timeout, max_speech, max_tries,
                 no_match_prompt, no_input_prompt, variable):
        super().__init__(node_id, exits)
        self.prompt = prompt
        self.phrases: dict[str, tuple[str, ...]] = phrases
        self.keys: dict[str, str] = keys  # key -> intent
        self.confidence = confidence
        self.margin = margin
        self.timeout = timeout
        self.max_speech = max_speech
        self.max_tries = max_tries
        self.no_match_prompt = no_match_prompt
        self.no_input_prompt = no_input_prompt
        self.variable = variable

    @classmethod
    def _parse(cls, spec: NodeSpec) -> "AskNode":
        prompt = spec.text("prompt")
        intents = spec.mapping("intents")
        if not intents:
            raise spec.error("an ask node needs at least one intent", "intents")
        phrases, keys = {}, {}
        for name, body in intents.items():
            where = intents.where(name)
            if not _NAME.match(name) or name in _RESERVED:
                raise spec.error(f"intent name {name!r} must be lowercase letters, digits and _ (not {sorted(_RESERVED)})",
                                 "intents")
            if not hasattr(body, "where") or set(body) - {"phrases", "key", "next"}:
                raise spec.error(f"intent {name!r} must be a mapping with phrases, next and an optional key", "intents")
            examples = body.get("phrases")
            if not isinstance(examples, list) or not examples or not all(isinstance(p, str) and p for p in examples):
                raise spec.error(f"intent {name!r} needs a non-empty list of example phrases", "intents")
            key = body.get("key")
            if key is not None:
                key = str(key)
                if len(key) != 1 or key not in ALL_KEYS:
                    raise spec.error(f"intent {name!r}: key {key!r} is not a single phone key", "intents")
                if key in keys:
                    raise spec.error(f"key {key!r} is used by both {keys[key]!r} and {name!r}", "intents")
                keys[key] = name
            phrases[name] = tuple(examples)
            spec.exit(name, body.get("next"), body.where("next") if "next" in body else where)
        confidence = float(spec.number("confidence", 0.6, minimum=0, maximum=1))
        margin = float(spec.number("margin", 0.1, minimum=0, maximum=1))
        timeout = float(spec.number("timeout", 5, minimum=0.5, maximum=60))
        max_speech = float(spec.number("max_speech", 10, minimum=1, maximum=60))
        max_tries = spec.number("max_tries", 2, minimum=1, maximum=10)
        if not isinstance(max_tries, int):
            raise spec.error("'max_tries' must be a whole number", "max_tries")
        no_match_prompt = spec.text("no_match_prompt", None)
        no_input_prompt = spec.text("no_input_prompt", None)
        variable = spec.text("variable", "intent")
        spec.target("on_failure", exit_name="failure")
        return cls(spec.node_id, spec.exits, prompt, phrases, keys, confidence, margin, timeout, max_speech,
                   max_tries, no_match_prompt, no_input_prompt, variable)

    def prompt_ids(self) -> tuple[str, ...]:
        return (self.prompt, *(p for p in (self.no_match_prompt, self.no_input_prompt) if p))

    def writes(self) -> frozenset[str]:
        return frozenset({self.variable, "intent_source", "intent_confidence"})

    async def run(self, call: CallContext) -> StepResult:
        tries: list[dict] = []
        prompt = self.prompt
        for attempt in range(1, self.max_tries + 1):
            heard = await self._hear(call, prompt, tries)
            intent, record = self._decide(heard)
            tries.append({**record, **heard.measurements})  # how the recognition went, for tuning
            if intent is not None:
                call.variables[self.variable] = intent
                call.variables["intent_source"] = "dtmf" if heard.key else "speech"
                call.variables["intent_confidence"] = record.get("score", 1.0)
                return StepResult(intent, input=record.get("transcript") or heard.key, detail={"tries": tries})
            prompt = (self.no_input_prompt if heard.silent else self.no_match_prompt) or self.prompt
        return StepResult("failure", detail={"tries": tries})

    async def _hear(self, call: CallContext, prompt_id: str, tries: list[dict]) -> Heard:
        key = call.take_pending_key()
        if key is not None:
            return Heard(key=key)
        try:
            return await call.channel.listen(call.prompt(prompt_id), list(_all_phrases(self.phrases)),
                                             self.timeout, self.max_speech, ALL_KEYS)
        except SpeechUnavailable:  # keypad fallback: the prompt says which key is which
            key = await call.channel.play(call.prompt(prompt_id), ALL_KEYS)
            if key is None:
                key = await call.channel.wait_key(self.timeout)
            return Heard(key=key)

    def _decide(self, heard: Heard) -> tuple[str | None, dict]:
        if heard.key is not None:
            intent = self.keys.get(heard.key)
            return intent, {"heard": "key", "key": heard.key, "result": "matched" if intent else "invalid_key"}
        if heard.silent:
            return None, {"heard": "silence", "result": "no_input"}
        if heard.intent is not None:  # the recogniser classified it; still held to the threshold
            ok = heard.intent in self.phrases and heard.confidence >= self.confidence
            return (heard.intent if ok else None), {"heard": "intent", "intent": heard.intent,
                                                    "score": round(heard.confidence, 3),
                                                    "result": "matched" if ok else "below_threshold"}
        match = match_intent(heard.transcript, heard.confidence, self.phrases, self.confidence, self.margin)
        return match.intent, {"heard": "speech", "transcript": mask_numbers(heard.transcript),
                              "confidence": round(heard.confidence, 3), "score": round(match.score, 3),
                              "intent": match.intent, "runner_up": match.runner_up, "result": match.reason}


def _all_phrases(phrases: dict[str, tuple[str, ...]]):
    for examples in phrases.values():
        yield from examples
