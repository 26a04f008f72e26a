"""An in-memory caller for fast flow tests: a script of keys, utterances and silences."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr.channel import CallerHangup, Heard


@dataclass
class ScriptedChannel:
    """Plays nothing; answers prompts, key waits and listens from a script.

    Each `keys` entry answers the next interruptible prompt, key wait or
    listen: a key string, None for "nothing here" (the prompt plays out / the
    wait times out), {"say": text, "confidence": 0.9} for speech, or
    {"intent": name} for a recogniser that names the intent itself (a prompt
    or key wait ignores both). When the script runs out the caller stays
    silent, unless `hangup_when_done` is set, then the caller hangs up.
    """

    keys: list[Any] = field(default_factory=list)
    hangup_when_done: bool = False
    speech: bool = True  # False: listen() is unavailable, as on a channel without recognition
    heard: list[str] = field(default_factory=list)
    answered: bool = False
    hung_up: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    continued_at: tuple[str, str, int] | None = None

    def _next(self) -> Any:
        if self.keys:
            return self.keys.pop(0)
        if self.hangup_when_done:
            raise CallerHangup()
        return None

    def _next_key(self) -> str | None:
        entry = self._next()
        return None if isinstance(entry, dict) else entry

    async def answer(self) -> None:
        self.answered = True

    async def play(self, prompt: str, escape_keys: str = "") -> str | None:
        self.heard.append(prompt)
        if not escape_keys:
            return None
        key = self._next_key()
        return key if key is None or key in escape_keys else None

    async def wait_key(self, timeout_s: float) -> str | None:
        return self._next_key()

    async def listen(self, prompt: str, phrases: list[str], no_input_s: float, max_speech_s: float,
                     escape_keys: str = "") -> Heard:
        from ivr.channel import SpeechUnavailable

        if not self.speech:
            raise SpeechUnavailable("scripted channel without speech")
        self.heard.append(prompt)
        entry = self._next()
        if isinstance(entry, dict):
            confidence = float(entry.get("confidence", 0.9))
            if "intent" in entry:
                return Heard(intent=str(entry["intent"]), confidence=confidence)
            return Heard(transcript=str(entry.get("say", "")), confidence=confidence)
        return Heard(key=entry) if entry is not None else Heard()

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def continue_in_dialplan(self, context: str, extension: str, priority: int = 1) -> None:
        self.continued_at = (context, extension, priority)

    async def hangup(self) -> None:
        self.hung_up = True
