"""The caller's side of an IVR call, as the flow nodes see it.

Nodes speak to a `Channel`; `ivr.agi.channel.AgiChannel` drives a real
Asterisk channel over FastAGI and `ivr.fake_channel.ScriptedChannel` stands
in for a caller in fast unit tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ALL_KEYS = "0123456789*#"


class CallerHangup(Exception):
    """The caller is gone; the flow must stop."""


class ChannelFailure(Exception):
    """The connection to the call broke in a way that leaves it unusable (protocol error, no answer)."""


class PromptUnavailable(Exception):
    """Asterisk could not play a prompt file (missing or unreadable audio)."""


class SpeechUnavailable(Exception):
    """This channel cannot listen for speech; callers fall back to keys."""


MEASUREMENTS = ("audio_s", "decode_cpu_s", "eos_to_decision_ms", "barge_in", "ended_by")


@dataclass(frozen=True)
class Heard:
    """What the caller did while a channel listened: spoke, pressed a key, or nothing."""

    transcript: str | None = None
    confidence: float = 0.0  # the recogniser's confidence in the transcript (or intent), 0..1
    key: str | None = None
    intent: str | None = None  # set by recognisers that classify intents themselves
    # How the listen went, for the step record (None where the channel does not measure it):
    audio_s: float | None = None  # caller audio the recogniser decoded
    decode_cpu_s: float | None = None  # CPU time the decoding took
    eos_to_decision_ms: float | None = None  # from the end of the caller's speech to the result
    barge_in: bool | None = None  # the caller spoke over the prompt
    ended_by: str | None = None  # endpoint | silence | max_speech | no_input | key

    @property
    def measurements(self) -> dict:
        return {name: getattr(self, name) for name in MEASUREMENTS if getattr(self, name) is not None}

    @property
    def silent(self) -> bool:
        return self.transcript is None and self.key is None and self.intent is None


class Channel(Protocol):
    async def answer(self) -> None: ...

    async def play(self, prompt: str, escape_keys: str = "") -> str | None:
        """Play one prompt; return the key that interrupted it, or None if it played out."""
        ...

    async def wait_key(self, timeout_s: float) -> str | None:
        """Wait for one key; None on timeout."""
        ...

    async def listen(self, prompt: str, phrases: list[str], no_input_s: float, max_speech_s: float,
                     escape_keys: str = ALL_KEYS) -> Heard:
        """Play `prompt` and listen for speech (biased to `phrases`) or a key; SpeechUnavailable if it cannot."""
        ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def hangup(self) -> None: ...

    async def continue_in_dialplan(self, context: str, extension: str, priority: int = 1) -> None:
        """Hand the call back to the PBX at context/extension/priority once the flow ends."""
        ...
