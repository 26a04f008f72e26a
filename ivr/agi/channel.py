"""`Channel` over a FastAGI session: the real Asterisk channel of a live call."""
from __future__ import annotations

from ivr.agi.protocol import AgiProtocolError, key_from_result, quote_arg
from ivr.agi.session import AgiSession
from ivr.channel import CallerHangup, PromptUnavailable, SpeechUnavailable


class AgiChannel:
    def __init__(self, session: AgiSession):
        self.session = session

    async def answer(self) -> None:
        response = await self.session.command("ANSWER")
        if response.result_int == -1:
            raise CallerHangup()

    async def play(self, prompt: str, escape_keys: str = "") -> str | None:
        # STREAM FILE (not EXEC Playback) because it returns the key that interrupted it.
        response = await self.session.command(f"STREAM FILE {quote_arg(prompt)} {quote_arg(escape_keys)}")
        result = response.result_int
        if result == -1:
            await self._raise_if_gone()
            raise PromptUnavailable(f"Asterisk could not play {prompt!r}")
        return key_from_result(result)

    async def wait_key(self, timeout_s: float) -> str | None:
        response = await self.session.command(f"WAIT FOR DIGIT {int(timeout_s * 1000)}")
        result = response.result_int
        if result == -1:
            await self._raise_if_gone()
            raise AgiProtocolError("WAIT FOR DIGIT failed on a live channel")
        return key_from_result(result)

    async def listen(self, prompt, phrases, no_input_s, max_speech_s, escape_keys=""):
        # Streaming recognition over AGI is not wired yet: `ask` nodes fall back to keys.
        raise SpeechUnavailable("speech recognition is not available on FastAGI calls")

    async def set_variable(self, name: str, value: str) -> None:
        await self.session.command(f"SET VARIABLE {name} {quote_arg(value)}")

    async def continue_in_dialplan(self, context: str, extension: str, priority: int = 1) -> None:
        # Takes effect when our AGI script ends: Asterisk continues the dialplan there.
        await self.session.command(f"SET CONTEXT {context}")
        await self.session.command(f"SET EXTENSION {extension}")
        await self.session.command(f"SET PRIORITY {priority}")

    async def hangup(self) -> None:
        if self.session.hung_up:
            return
        try:
            await self.session.command("HANGUP")
        except CallerHangup:
            pass

    async def _raise_if_gone(self) -> None:
        """-1 means 'failed or hung up'; CHANNEL STATUS tells which (511/EOF if gone)."""
        if self.session.hung_up:
            raise CallerHangup()
        await self.session.command("CHANNEL STATUS")
        if self.session.hung_up:
            raise CallerHangup()
