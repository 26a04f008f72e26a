"""An in-memory caller for fast flow tests: a script of keys and what was heard."""
from __future__ import annotations

from dataclasses import dataclass, field

from ivr.channel import CallerHangup


@dataclass
class ScriptedChannel:
    """Plays nothing; answers prompts and waits from a script.

    `keys` is consumed in order: each entry answers the next interruptible
    prompt or key wait. An entry of None means "no key here" (the prompt plays
    out / the wait times out). When the script runs out the caller stays
    silent, unless `hangup_when_done` is set, then the caller hangs up.
    """

    keys: list[str | None] = field(default_factory=list)
    hangup_when_done: bool = False
    heard: list[str] = field(default_factory=list)
    answered: bool = False
    hung_up: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    continued_at: tuple[str, str, int] | None = None

    def _next_key(self) -> str | None:
        if self.keys:
            return self.keys.pop(0)
        if self.hangup_when_done:
            raise CallerHangup()
        return None

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

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def continue_in_dialplan(self, context: str, extension: str, priority: int = 1) -> None:
        self.continued_at = (context, extension, priority)

    async def hangup(self) -> None:
        self.hung_up = True
