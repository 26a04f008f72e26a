"""`ivr flow simulate FILE`: play a flow in the terminal.

Prompts are printed as their catalogue text; the caller's keys are typed
(Enter alone = silence, `h` = hang up). Runs the same engine as live calls.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Callable, TextIO

from ivr.call import CallContext, Services
from ivr.call_log import CallStart, MemoryCallLog
from ivr.channel import CallerHangup, Heard
from ivr.runner import FlowRunner


class TerminalChannel:
    def __init__(self, texts: Callable[[str], str], read_line: Callable[[str], str], out: TextIO):
        self.texts = texts
        self.read_line = read_line
        self.out = out
        self.typed = ""  # keys typed on one line beyond the first, for the next waits

    async def answer(self) -> None:
        self.out.write("[call answered]\n")

    async def play(self, prompt: str, escape_keys: str = "") -> str | None:
        self.out.write(f"  >> {self.texts(prompt)}\n")
        return None

    async def wait_key(self, timeout_s: float) -> str | None:
        if not self.typed:
            try:
                line = self.read_line(f"keys (Enter = no input after {timeout_s:g} s, h = hang up)> ").strip()
            except EOFError:  # input ended: the caller is gone
                raise CallerHangup() from None
            if line.lower() == "h":
                raise CallerHangup()
            if not line:
                return None
            self.typed = line
        key, self.typed = self.typed[0], self.typed[1:]
        return key

    async def listen(self, prompt, phrases, no_input_s, max_speech_s, escape_keys=""):
        self.out.write(f"  >> {self.texts(prompt)}\n")
        try:
            line = self.read_line("say something (or keys; Enter = silence, h = hang up)> ").strip()
        except EOFError:
            raise CallerHangup() from None
        if line.lower() == "h":
            raise CallerHangup()
        if line and all(ch in "0123456789*#" for ch in line):
            self.typed = line[1:]
            return Heard(key=line[0])
        return Heard(transcript=line, confidence=1.0) if line else Heard()

    async def set_variable(self, name: str, value: str) -> None:
        self.out.write(f"[channel variable {name}={value}]\n")

    async def continue_in_dialplan(self, context: str, extension: str, priority: int = 1) -> None:
        self.out.write(f"[call continues in dialplan {context},{extension},{priority}]\n")

    async def hangup(self) -> None:
        self.out.write("[hang up]\n")


async def simulate(flow, catalogue, language: str, read_line, out: TextIO, services: Services | None = None,
                   flows=None):
    def text(resolved: str) -> str:
        lang, _, prompt_id = resolved.partition("/")
        return catalogue.text(prompt_id, lang) if catalogue.has_text(prompt_id, lang) else f"<{resolved}>"

    channel = TerminalChannel(text, read_line, out)
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("terminal", "sim", "", "", flow.name, flow.version, language,
                                               (services or Services()).clock()))
    call = CallContext(channel, language, lambda p, lang: f"{lang}/{p}", {"caller": "", "language": language},
                       services or Services())
    await channel.answer()
    outcome = await FlowRunner(flow, call, log, call_id, flows=flows).run()
    out.write(f"[call ended: {outcome.outcome} at {outcome.last_node}; path: {' > '.join(call.path)}]\n")
    return outcome


def _services(settings) -> Services:
    """The back-end from flows/backends (BANK_API_URL etc.), if its settings are complete."""
    from ivr.backend import BackendClient, BackendConfig, BackendConfigError

    try:
        return Services(http=BackendClient(BackendConfig.load(settings.backends_file)))
    except (BackendConfigError, OSError) as exc:
        print(f"note: http nodes will fail: {exc}", file=sys.stderr)
        return Services()


def main(path: Path, settings, language: str | None) -> int:
    from ivr.flow import load_flow
    from ivr.nodes import FlowError
    from ivr.prompts import PromptCatalog

    catalogue = PromptCatalog.load(settings.prompts_dir / "catalog.yaml")
    try:
        flow = load_flow(path, catalogue)
    except FlowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    language = language or flow.default_language
    flows = {}
    for path_ in settings.flows_dir.glob("*.yaml"):  # subflows the flow may call
        try:
            flows[path_.stem] = load_flow(path_, catalogue)
        except FlowError:
            pass
    flows[flow.name] = flow
    try:
        asyncio.run(simulate(flow, catalogue, language, input, sys.stdout, services=_services(settings),
                             flows=flows))
    except (EOFError, KeyboardInterrupt):
        print("\n[simulation stopped]")
    return 0
