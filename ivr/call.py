"""Per-call state shared by the nodes of one running flow."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ivr.channel import Channel

# (prompt id, language) -> what the channel plays (for Asterisk: a file path without extension)
PromptResolver = Callable[[str, str], str]


@dataclass
class CallContext:
    channel: Channel
    language: str
    resolve_prompt: PromptResolver
    variables: dict[str, str] = field(default_factory=dict)
    # Keys pressed during an interruptible prompt, kept for the next node to read
    # (type-ahead: a caller who knows the menu need not wait for it).
    pending_keys: str = ""

    def prompt(self, prompt_id: str) -> str:
        return self.resolve_prompt(prompt_id, self.language)

    def take_pending_key(self) -> str | None:
        if not self.pending_keys:
            return None
        key, self.pending_keys = self.pending_keys[0], self.pending_keys[1:]
        return key
