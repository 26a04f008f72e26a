"""Per-call state shared by the nodes of one running flow."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from ivr.channel import Channel

# (prompt id, language) -> what the channel plays (for Asterisk: a file path without extension)
PromptResolver = Callable[[str, str], str]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Services:
    """Per-process dependencies nodes may use; one instance shared by all calls."""

    clock: Callable[[], datetime] = utc_now
    http: Any = None  # back-end client for `http` nodes (ivr.backend)
    # Records a do-not-call opt-out for `opt_out` nodes (dialer.compliance.store.OptOutRecorder)
    opt_out: Any = None


@dataclass
class CallContext:
    channel: Channel
    language: str
    resolve_prompt: PromptResolver
    # Flow variables. Built-ins set by the IVR service: caller, dialed, channel, unique_id.
    variables: dict[str, Any] = field(default_factory=dict)
    services: Services = field(default_factory=Services)
    # Keys pressed during an interruptible prompt, kept for the next node to read
    # (type-ahead: a caller who knows the menu need not wait for it).
    pending_keys: str = ""
    # Node ids walked so far (for the agent's screen pop on transfer).
    path: list[str] = field(default_factory=list)
    # Variables whose values must never appear in logs or step records (card numbers, PINs).
    secret_variables: set[str] = field(default_factory=set)
    # What the caller decided (`result` nodes): name -> JSON value, kept with the call record.
    results: dict[str, Any] = field(default_factory=dict)
    # Where results are written as soon as they are known (the IVR service: calls.results).
    results_sink: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    def prompt(self, prompt_id: str) -> str:
        return self.resolve_prompt(prompt_id, self.language)

    def assign(self, assignments) -> None:
        """Apply `(name, Expression)` pairs; a value computed from a secret is secret too."""
        from ivr.expr import apply_assignments

        apply_assignments(assignments, self.variables)
        for name, expression in assignments:
            if expression.names & self.secret_variables:
                self.secret_variables.add(name)

    def take_pending_key(self) -> str | None:
        if not self.pending_keys:
            return None
        key, self.pending_keys = self.pending_keys[0], self.pending_keys[1:]
        return key
