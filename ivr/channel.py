"""The caller's side of an IVR call, as the flow nodes see it.

Nodes speak to a `Channel`; `ivr.agi.channel.AgiChannel` drives a real
Asterisk channel over FastAGI and `ivr.fake_channel.ScriptedChannel` stands
in for a caller in fast unit tests.
"""
from __future__ import annotations

from typing import Protocol

ALL_KEYS = "0123456789*#"


class CallerHangup(Exception):
    """The caller is gone; the flow must stop."""


class ChannelFailure(Exception):
    """The connection to the call broke in a way that leaves it unusable (protocol error, no answer)."""


class PromptUnavailable(Exception):
    """Asterisk could not play a prompt file (missing or unreadable audio)."""


class Channel(Protocol):
    async def answer(self) -> None: ...

    async def play(self, prompt: str, escape_keys: str = "") -> str | None:
        """Play one prompt; return the key that interrupted it, or None if it played out."""
        ...

    async def wait_key(self, timeout_s: float) -> str | None:
        """Wait for one key; None on timeout."""
        ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def hangup(self) -> None: ...

    async def continue_in_dialplan(self, context: str, extension: str, priority: int = 1) -> None:
        """Hand the call back to the PBX at context/extension/priority once the flow ends."""
        ...
