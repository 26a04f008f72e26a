"""`ask`: "say what you need, or press a key" — speech intent capture with keypad fallback.

    how_can_i_help:
      type: ask
      prompt: ask_intent                  # interruptible by speech or a key
      keypad_prompt: main_menu            # played instead on a line that cannot listen (default: prompt)
      intents:
        lost_card: {phrases: ["挂失", "lost card", "report a lost card"], key: "2", next: want_lost_card}
        bill: {phrases: ["账单", "查账单", "bill", "balance"], key: "3", next: want_bill}
        agent: {phrases: ["人工", "转人工", "agent"], key: "0", next: agent_hours}
      confidence: 0.6       # minimum score (recogniser confidence x phrase similarity)
      margin: 0.1           # the best intent must beat the runner-up by this much
      timeout: 5            # seconds of silence before no-input
      max_speech: 10        # longest utterance, seconds
      max_tries: 2
      no_match_prompt: ask_again   # after a wrong key or speech not understood (interruptible by a key)
      no_input_prompt: no_input    # after silence
      variable: intent      # where the intent goes (default: intent)
      on_failure: main_menu # e.g. the DTMF menu

Exits: each intent's `next`, and `failure`. Sets `intent`, `intent_source`
(speech | dtmf) and `intent_confidence`. A retry plays the no-match or
no-input prompt and then asks again, as a `menu` does.

On a channel that cannot listen (no speech server, or no model for the
call's language) the node is a keypad menu over the intents' keys: it plays
`keypad_prompt`, waits `timeout` for a key, and records its tries the way a
`menu` does (invalid / no_input, input "7,7"), so a menu can be turned into
an ask node without changing what keypad callers hear or what is logged.

Speech is decided by phrase matching (ivr/intents.py). Where the language's
model runs a free-form pass, its transcript must support the grammar
pass's intent (else: out_of_grammar), and where it has the embedding
matcher, a free-form transcript the phrases did not match is ranked by
meaning (result: paraphrase). Transcripts are recorded with numbers masked
(callers say card numbers too).
"""
from __future__ import annotations

import re

from common.masking import mask_numbers
from ivr.call import CallContext
from ivr.channel import ALL_KEYS, Heard, SpeechUnavailable
from ivr.intents import IntentMatch, confirm_by_free_form, match_intent
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
            "keypad_prompt": {"type": "string"},
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
                 no_match_prompt, no_input_prompt, variable, keypad_prompt=None):
        super().__init__(node_id, exits)
        self.prompt = prompt
        self.keypad_prompt = keypad_prompt or prompt
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
        keypad_prompt = spec.text("keypad_prompt", None)
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
                   max_tries, no_match_prompt, no_input_prompt, variable, keypad_prompt)

    def prompt_ids(self) -> tuple[str, ...]:
        extra = (self.keypad_prompt, self.no_match_prompt, self.no_input_prompt)
        return (self.prompt, *dict.fromkeys(p for p in extra if p and p != self.prompt))

    def writes(self) -> frozenset[str]:
        return frozenset({self.variable, "intent_source", "intent_confidence"})

    async def run(self, call: CallContext) -> StepResult:
        tries: list[dict] = []
        speech = True  # until the channel says it cannot listen
        # A key typed ahead, or pressed during a retry prompt, answers the next try.
        key = call.take_pending_key()
        for attempt in range(1, self.max_tries + 1):
            if key is not None:
                heard = Heard(key=key)
            else:
                heard, speech = await self._hear(call, speech)
            intent, record = await self._decide(heard)
            tries.append({**record, **heard.measurements})  # how the recognition went, for tuning
            if intent is not None:
                call.variables[self.variable] = intent
                call.variables["intent_source"] = "dtmf" if heard.key else "speech"
                call.variables["intent_confidence"] = record.get("score", 1.0)
                return StepResult(intent, input=_said(record), detail={"tries": tries})
            key = None
            retry_prompt = self.no_input_prompt if heard.silent else self.no_match_prompt
            if attempt < self.max_tries and retry_prompt:
                key = await call.channel.play(call.prompt(retry_prompt), ALL_KEYS)
        return StepResult("failure", input=",".join(_said(t) for t in tries), detail={"tries": tries})

    async def _hear(self, call: CallContext, speech: bool) -> tuple[Heard, bool]:
        """Ask once: by speech while the channel can listen, else as a keypad menu. -> (heard, can listen)."""
        if speech:
            try:
                return await call.channel.listen(call.prompt(self.prompt), list(_all_phrases(self.phrases)),
                                                 self.timeout, self.max_speech, ALL_KEYS), True
            except SpeechUnavailable:  # no recogniser for this call's language: the keypad menu
                pass
        key = await call.channel.play(call.prompt(self.keypad_prompt), ALL_KEYS)
        if key is None:
            key = await call.channel.wait_key(self.timeout)
        return Heard(key=key), False

    async def _decide(self, heard: Heard) -> tuple[str | None, dict]:
        if heard.key is not None:
            intent = self.keys.get(heard.key)
            return intent, {"heard": "key", "key": heard.key, "result": "matched" if intent else "invalid"}
        if heard.silent:
            return None, {"heard": "silence", "result": "no_input"}
        if heard.intent is not None:  # the recogniser classified it; still held to the threshold
            ok = heard.intent in self.phrases and heard.confidence >= self.confidence
            return (heard.intent if ok else None), {"heard": "intent", "intent": heard.intent,
                                                    "score": round(heard.confidence, 3),
                                                    "result": "matched" if ok else "below_threshold"}
        match = match_intent(heard.transcript, heard.confidence, self.phrases, self.confidence, self.margin)
        record = {"heard": "speech", "transcript": mask_numbers(heard.transcript),
                  "confidence": round(heard.confidence, 3)}
        free = getattr(heard, "free_transcript", None)  # ivr.speech.heard.SpeechHeard: a free-form pass ran
        if getattr(heard, "free_form_late", False):
            record["free_form"] = "late"  # decided on the grammar pass alone
        if free is not None:
            record.update(free_transcript=mask_numbers(free), free_confidence=heard.free_confidence,
                          free_cpu_s=heard.free_cpu_s)
            match = confirm_by_free_form(match, free, self.phrases)
            match_paraphrase = heard.match_paraphrase
            if match.intent is None and match_paraphrase is not None and free:
                paraphrase = await match_paraphrase(free, self.phrases)
                record["paraphrase"] = {"intent": paraphrase.intent, "score": round(paraphrase.score, 3),
                                        "runner_up": paraphrase.runner_up,
                                        "runner_up_score": round(paraphrase.runner_up_score, 3),
                                        "result": paraphrase.reason}
                # by meaning, but only of words the free pass was itself sure enough of
                if paraphrase.intent is not None and heard.free_confidence >= self.confidence:
                    match = IntentMatch(paraphrase.intent, heard.free_confidence, paraphrase.runner_up,
                                        paraphrase.runner_up_score, "paraphrase")
        record.update(score=round(match.score, 3), intent=match.intent, runner_up=match.runner_up,
                      result=match.reason)
        return match.intent, record


def _said(try_: dict) -> str:
    """One try for the step's input: the key, the (masked) transcript it was decided on, or '-' for nothing."""
    if try_.get("result") == "paraphrase":
        return try_["free_transcript"]
    return try_.get("key") or try_.get("transcript") or try_.get("intent") or "-"


def _all_phrases(phrases: dict[str, tuple[str, ...]]):
    for examples in phrases.values():
        yield from examples
