"""One `listen` over an AudioSocket stream: play the prompt, hear the caller, decide.

Three things run at once on the event loop:
- the player sends the prompt's audio down the socket in real time (Asterisk
  does not pace frames we write: sent faster, they would burst out as RTP);
- the reader takes the caller's frames: an energy detector finds speech,
  which stops the prompt (barge-in) and starts feeding the recogniser with a
  short pre-roll, so the word onset is not lost; a key in `escape_keys`
  stops everything;
- the controller keeps the timers: no-input (counted from the end of the
  prompt), end of speech (vosk's endpointer, or `end_silence_s` of wall-clock
  silence — a caller's phone may send no RTP at all between words, so audio
  time alone would never end), and the longest utterance.

Timers use the wall clock, not the audio clock, for the same reason.
"""
from __future__ import annotations

import array
import asyncio
import logging
import math
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from common.masking import mask_numbers
from ivr.channel import CallerHangup, Heard
from ivr.speech import audiosocket
from ivr.speech.audiosocket import Kind
from ivr.speech.heard import SpeechHeard
from ivr.speech.recognizer import Utterance
from ivr.speech.server import AudioStream

log = logging.getLogger(__name__)

FRAME_S = 0.02  # Asterisk's frame size; we send prompt audio in the same steps


@dataclass(frozen=True)
class ListenTuning:
    speech_dbfs: float = -40.0  # a frame louder than this is voiced (phone line noise sits near -60)
    speech_start_s: float = 0.1  # voiced time in a row that counts as speech (not a click)
    end_silence_s: float = 0.6  # silence after speech that ends the utterance
    preroll_s: float = 0.3  # audio before the detected start that the recogniser also gets


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of 16-bit little-endian PCM in dB below full scale (-inf for digital silence)."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return -math.inf
    power = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(power / 32768.0 ** 2) if power else -math.inf


class _Listener:
    def __init__(self, stream: AudioStream, prompt_pcm: bytes, rate: int,
                 new_utterance: Callable[[int], Utterance], no_input_s: float, max_speech_s: float,
                 escape_keys: str, tuning: ListenTuning, clock: Callable[[], float]):
        self.stream = stream
        self.prompt_pcm = prompt_pcm
        self.rate = rate
        self.new_utterance = new_utterance
        self.no_input_s = no_input_s
        self.max_speech_s = max_speech_s
        self.escape_keys = escape_keys
        self.tuning = tuning
        self.clock = clock
        self.wake = asyncio.Event()  # something the controller must look at happened
        self.stop_prompt = asyncio.Event()
        self.prompt_done_at: float | None = None
        self.barge_in = False
        self.key: str | None = None
        self.hung_up = False
        self.utterance: Utterance | None = None
        self.preroll: deque[bytes] = deque()
        self.preroll_s = 0.0
        self.voiced_run_s = 0.0
        self.voiced_s = 0.0
        self.speech_at: float | None = None
        self.last_voiced_at: float | None = None

    async def run(self) -> Heard:
        player = asyncio.create_task(self._play())
        reader = asyncio.create_task(self._read())
        try:
            ended_by = await self._control()
        finally:
            self.stop_prompt.set()
            reader.cancel()
            await asyncio.gather(player, reader, return_exceptions=True)
        if self.hung_up:
            raise CallerHangup()
        if self.key is not None:
            return Heard(key=self.key, barge_in=self.barge_in, ended_by="key")
        if self.utterance is None:
            return Heard(audio_s=0.0, decode_cpu_s=0.0, barge_in=False, ended_by=ended_by)
        result = await self.utterance.finish(self.voiced_s)
        latency_ms = (self.clock() - self.last_voiced_at) * 1000
        free = result.free
        log.info("heard %r (confidence %.2f, words %.2f)%s after %.2f s of audio, %.3f s CPU, decided %.0f ms "
                 "after speech ended (%s)", mask_numbers(result.transcript), result.confidence,
                 result.word_confidence, _describe_free(free),
                 result.audio_s, result.cpu_s, latency_ms, ended_by)
        return SpeechHeard(transcript=result.transcript, confidence=result.confidence,
                           audio_s=round(result.audio_s, 3), decode_cpu_s=round(result.cpu_s, 4),
                           eos_to_decision_ms=round(latency_ms, 1), barge_in=self.barge_in, ended_by=ended_by,
                           free_transcript=None if free is None or free.late else free.transcript,
                           free_form_late=free is not None and free.late,
                           free_confidence=0.0 if free is None else round(free.word_confidence, 3),
                           free_cpu_s=None if free is None else round(free.cpu_s, 4),
                           match_paraphrase=self.utterance.match_paraphrase)

    async def _control(self) -> str:
        while True:
            now = self.clock()
            if self.hung_up or self.key is not None:
                return "hangup" if self.hung_up else "key"
            if self.speech_at is None:
                deadline = None if self.prompt_done_at is None else self.prompt_done_at + self.no_input_s
                if deadline is not None and now >= deadline:
                    return "no_input"
            else:
                if self.utterance.endpoint.is_set():
                    return "endpoint"
                silence_end = self.last_voiced_at + self.tuning.end_silence_s
                longest = self.speech_at + self.max_speech_s
                if now >= longest:
                    return "max_speech"
                if now >= silence_end:
                    return "silence"
                deadline = min(silence_end, longest)
            self.wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - now)
            waiters = [asyncio.create_task(self.wake.wait())]
            if self.utterance is not None:
                waiters.append(asyncio.create_task(self.utterance.endpoint.wait()))
            # Wake for events, and at least every 100 ms for the prompt's end and frames that stopped coming.
            await asyncio.wait(waiters, timeout=min(timeout if timeout is not None else 0.1, 0.1),
                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def _play(self) -> None:
        step = int(self.rate * FRAME_S) * 2
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            for index, offset in enumerate(range(0, len(self.prompt_pcm), step)):
                # One frame ahead of real time: smooths our scheduling jitter without bursting.
                delay = started + (index - 1) * FRAME_S - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # a barge-in is seen within one frame: no need to wake early
                if self.stop_prompt.is_set():
                    return
                chunk = self.prompt_pcm[offset:offset + step]
                if not await self.stream.send(audiosocket.audio(chunk + b"\0" * (len(chunk) % 2), self.rate)):
                    return
            # Frames go out one early: wait out the last two, so no-input counts from what the caller heard.
            try:
                await asyncio.wait_for(self.stop_prompt.wait(), 2 * FRAME_S)
            except TimeoutError:
                pass
        finally:
            self.prompt_done_at = self.clock()
            self.wake.set()

    async def _read(self) -> None:
        while True:
            frame = await self.stream.read()
            if frame is None:
                self.hung_up = True
                self.wake.set()
                return
            if frame.is_audio:
                self._on_audio(frame.payload, frame.rate)
            elif frame.kind == Kind.DTMF:
                if frame.key in self.escape_keys:
                    self.key = frame.key
                    self.barge_in = self.prompt_done_at is None
                    self.stop_prompt.set()
                    self.wake.set()
                    return
            elif frame.kind == Kind.ERROR:
                log.warning("AudioSocket %s: Asterisk reported %s", self.stream.id, frame.describe_error())
                self.hung_up = True
                self.wake.set()
                return

    def _on_audio(self, pcm: bytes, rate: int) -> None:
        now = self.clock()
        duration = len(pcm) / (2 * rate)
        voiced = rms_dbfs(pcm) > self.tuning.speech_dbfs
        if voiced:
            self.last_voiced_at = now
            self.voiced_s += duration
        if self.utterance is not None:
            self.utterance.feed(pcm)
            return
        self.preroll.append(pcm)
        self.preroll_s += duration
        while self.preroll_s - len(self.preroll[0]) / (2 * rate) >= self.tuning.preroll_s:
            self.preroll_s -= len(self.preroll.popleft()) / (2 * rate)
        self.voiced_run_s = self.voiced_run_s + duration if voiced else 0.0
        if not voiced:
            self.voiced_s = 0.0  # only the run that starts speech counts before it has started
            return
        if self.voiced_run_s >= self.tuning.speech_start_s:
            self.speech_at = now - self.voiced_run_s
            self.barge_in = self.prompt_done_at is None
            self.stop_prompt.set()
            self.utterance = self.new_utterance(rate)
            for chunk in self.preroll:
                self.utterance.feed(chunk)
            self.preroll.clear()
            self.wake.set()


def _describe_free(free) -> str:
    if free is None:
        return ""
    return ", free-form pass late" if free.late else f", free-form {mask_numbers(free.transcript)!r}"


async def listen(stream: AudioStream, prompt_pcm: bytes, rate: int, new_utterance: Callable[[int], Utterance],
                 no_input_s: float, max_speech_s: float, escape_keys: str,
                 tuning: ListenTuning = ListenTuning(), clock: Callable[[], float] = time.monotonic) -> Heard:
    """Play `prompt_pcm` (16-bit PCM at `rate`) on `stream` and return what the caller did.

    CallerHangup if the stream ends (Asterisk hung the AudioSocket channel up).
    """
    listener = _Listener(stream, prompt_pcm, rate, new_utterance, no_input_s, max_speech_s, escape_keys,
                         tuning, clock)
    return await listener.run()
