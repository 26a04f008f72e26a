"""`Channel` over a FastAGI session: the real Asterisk channel of a live call."""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Callable

from ivr.agi.protocol import AgiProtocolError, key_from_result, quote_arg
from ivr.agi.session import AgiSession
from ivr.channel import ALL_KEYS, CallerHangup, Heard, PromptUnavailable, SpeechUnavailable

if TYPE_CHECKING:
    from ivr.speech.service import SpeechService

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0  # Asterisk connects the AudioSocket within milliseconds; longer means it cannot


class AgiChannel:
    def __init__(self, session: AgiSession, speech: "SpeechService | None" = None,
                 language: Callable[[], str] | None = None):
        self.session = session
        self.speech = speech
        self.language = language  # the call's current language (a `language` node may change it)

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

    async def listen(self, prompt: str, phrases: list[str], no_input_s: float, max_speech_s: float,
                     escape_keys: str = ALL_KEYS) -> Heard:
        """Bridge the call to our AudioSocket server with Dial, for as long as we listen.

        The Dial returns when we hang the AudioSocket up (or the caller hangs up);
        until then the AGI session is busy with it, so playback goes down the socket.
        """
        from ivr.speech.listen import listen

        if self.speech is None or self.language is None:
            raise SpeechUnavailable("this call has no speech recogniser")
        plan = await self.speech.plan(self.language(), prompt, phrases)
        stream_id = uuid.uuid4()
        with self.speech.server.expecting(stream_id) as connected:
            limit = plan.prompt_s + no_input_s + max_speech_s + 30  # the Dial can never outlive the listen
            dial = asyncio.create_task(self.session.command(
                f"EXEC Dial {quote_arg(self.speech.dial_args(stream_id))}", timeout_s=limit))
            await asyncio.wait({connected, dial}, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
            if not connected.done() or connected.cancelled():
                await self._dial_failed(dial)
            stream = connected.result()
            try:
                heard = await listen(stream, plan.prompt_pcm, 16000, self.speech.utterance_factory(plan),
                                     no_input_s, max_speech_s, escape_keys)
            finally:
                await stream.hang_up()  # ends the Dial; the caller stays in our AGI
                response = await dial  # always read its response: the AGI session must stay in step
        if response.result_int == -1 or self.session.hung_up:
            raise CallerHangup()
        return heard

    async def _dial_failed(self, dial: asyncio.Task) -> None:
        """Asterisk did not connect the AudioSocket: fall back to keys (or report the hang-up)."""
        try:
            response = await asyncio.wait_for(dial, CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise AgiProtocolError("Dial to the speech server neither connected nor returned") from None
        if response.result_int == -1:
            await self._raise_if_gone()
        log.warning("Asterisk did not connect to the speech server (Dial returned %s); using keys",
                    response.result_int)
        raise SpeechUnavailable("Asterisk did not connect to the speech server")

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
