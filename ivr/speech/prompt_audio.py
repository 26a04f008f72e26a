"""Prompt audio for AudioSocket playback: prompts/<lang>/<id> as raw 16 kHz PCM.

While a call listens, Asterisk is busy running the AudioSocket Dial, so the
prompt goes down the socket as PCM at the socket's rate. The prompt build
renders a wideband `<id>.sln16` (16 kHz signed 16-bit little-endian) beside
each 8 kHz `<id>.wav`: that is played as it is. A prompt with only a WAV is
resampled once by sox into a cache directory (keyed by the file's
modification time, so re-rendered prompts are picked up); without sox, 8 kHz
is doubled by linear interpolation — audible but fine. Bytes stay in memory
after first use.

Flows name prompts by the path Asterisk plays (`<dir>/<lang>/<id>`, see
`IvrService.resolve_prompt`); the last two parts find our copy.
"""
from __future__ import annotations

import array
import asyncio
import logging
import shutil
import subprocess
import sys
import wave
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)


class PromptAudio:
    def __init__(self, prompts_dir: Path, cache_dir: Path, rate: int = 16000):
        self.prompts_dir = prompts_dir
        self.cache_dir = cache_dir
        self.rate = rate
        self._memory: dict[tuple[Path, int], bytes] = {}

    def source(self, asterisk_prompt: str) -> Path | None:
        path = PurePosixPath(asterisk_prompt)
        folder = self.prompts_dir / path.parent.name
        if self.rate == 16000 and (folder / f"{path.name}.sln16").is_file():
            return folder / f"{path.name}.sln16"
        wav = folder / f"{path.name}.wav"
        return wav if wav.is_file() else None

    async def pcm(self, asterisk_prompt: str) -> bytes | None:
        """The prompt as 16-bit PCM at `rate`; None if we have no copy of it."""
        wav = self.source(asterisk_prompt)
        if wav is None:
            return None
        key = (wav, wav.stat().st_mtime_ns)
        cached = self._memory.get(key)
        if cached is None:
            cached = await asyncio.to_thread(self._render, wav, key[1])
            self._memory[key] = cached
        return cached

    def _render(self, wav: Path, mtime_ns: int) -> bytes:
        if wav.suffix == ".sln16":
            return wav.read_bytes()
        target = self.cache_dir / wav.parent.name / f"{wav.stem}.{mtime_ns}.{self.rate}.s16"
        if target.is_file():
            return target.read_bytes()
        target.parent.mkdir(parents=True, exist_ok=True)
        if shutil.which("sox"):
            partial = target.with_suffix(".part")
            subprocess.run(["sox", str(wav), "-t", "raw", "-r", str(self.rate), "-e", "signed", "-b", "16",
                            "-c", "1", "-L", str(partial)], check=True, capture_output=True, timeout=60)
            partial.replace(target)  # atomic: a concurrent render never reads half a file
            return target.read_bytes()
        log.warning("sox not found: resampling %s in Python", wav)
        return _upsample_wav(wav, self.rate)


def _upsample_wav(wav: Path, rate: int) -> bytes:
    with wave.open(str(wav)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or rate % w.getframerate():
            raise ValueError(f"{wav}: need 16-bit mono at a divisor of {rate} Hz without sox")
        factor = rate // w.getframerate()
        samples = array.array("h")
        samples.frombytes(w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    out = array.array("h")
    for current, following in zip(samples, samples[1:].tolist() + [samples[-1] if samples else 0]):
        for step in range(factor):
            out.append(current + (following - current) * step // factor)
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()
