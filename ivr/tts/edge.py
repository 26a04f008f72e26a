"""Microsoft Edge online neural voices (edge-tts), e.g. zh-CN-XiaoxiaoNeural, en-US-JennyNeural.

Needs Microsoft's service: offline, edge-tts raises aiohttp.ClientError / OSError
within milliseconds and leaves a 0-byte file behind, so any network failure is
reported as EngineUnavailable and the build moves on to the next engine. The
service sends MP3 (24 kHz mono); miniaudio decodes it to WAV here, because
Debian's sox has no MP3 support without libsox-fmt-mp3.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

from ivr.tts.base import EngineError, EngineUnavailable

CONNECT_TIMEOUT = 5  # seconds; a black-holed network must not stall the build
TOTAL_TIMEOUT = 60


class EdgeEngine:
    name = "edge"

    def __init__(self, proxy: str | None = None, connect_timeout: int = CONNECT_TIMEOUT) -> None:
        self.proxy = proxy
        self.connect_timeout = connect_timeout

    def synthesize(self, text: str, voice: str, out_wav_path: Path) -> None:
        try:
            import aiohttp
            import edge_tts
            from edge_tts.exceptions import EdgeTTSException, NoAudioReceived
        except ImportError as exc:
            raise EngineUnavailable("edge-tts is not installed (pip install edge-tts==7.3.1)") from exc
        try:
            import miniaudio
        except ImportError as exc:
            raise EngineUnavailable("miniaudio (MP3 decoder) is not installed (pip install miniaudio==1.71)") from exc

        async def fetch(mp3: Path) -> None:
            communicate = edge_tts.Communicate(
                text, voice, proxy=self.proxy, connect_timeout=self.connect_timeout
            )
            await asyncio.wait_for(communicate.save(str(mp3)), TOTAL_TIMEOUT)

        with tempfile.TemporaryDirectory(prefix="ivr-edge-") as tmp:
            mp3 = Path(tmp) / "edge.mp3"
            try:
                asyncio.run(fetch(mp3))
            except NoAudioReceived as exc:  # the service answered but said nothing: bad text or voice
                raise EngineError(f"edge sent no audio for voice {voice!r}") from exc
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, EdgeTTSException) as exc:
                raise EngineUnavailable(f"edge service unreachable: {_one_line(exc)}") from exc
            if not mp3.is_file() or mp3.stat().st_size == 0:
                raise EngineError("edge wrote an empty file")
            try:
                decoded = miniaudio.decode_file(str(mp3), nchannels=1, sample_rate=24000)
                miniaudio.wav_write_file(str(out_wav_path), decoded)
            except miniaudio.MiniaudioError as exc:
                raise EngineError(f"edge audio could not be decoded: {exc}") from exc


def _one_line(exc: BaseException) -> str:
    text = re.sub(r" ssl:<[^>]*>", "", str(exc)).strip().splitlines()  # aiohttp's SSLContext repr is noise
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def create() -> EdgeEngine:
    return EdgeEngine()
