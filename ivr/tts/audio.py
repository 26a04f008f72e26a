"""sox: check an engine's output and shape it into what Asterisk plays without transcoding.

* ``<id>.wav``   8 kHz mono signed 16-bit WAV (format ``wav``): every channel, G.711 included.
* ``<id>.sln16`` 16 kHz mono signed 16-bit raw little-endian (format ``sln16``): wideband
  channels (G.722, Opus) get it without resampling.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

from ivr.tts.base import EngineError

# Part of the cache key: bump it when shaping changes so every prompt is rendered again.
SHAPING_VERSION = 1
NARROW_RATE = 8000
WIDE_RATE = 16000
PEAK_DBFS = -3
MIN_SECONDS = 0.1
# Light trim: engines pad with digital silence, so a tiny threshold removes only that.
SILENCE_TRIM = ["silence", "1", "0.01", "0.1%"]


class AudioError(EngineError):
    """The engine's output (or what sox made of it) is not usable audio."""


def require_sox() -> None:
    if shutil.which("sox") is None:
        raise RuntimeError("sox not found on PATH: install it with 'apt-get install sox'")


def shape_command(in_wav: Path, out_path: Path, rate: int, raw: bool) -> list[str]:
    # Trim the start, reverse, trim the (former) end, reverse back; then resample
    # and normalise last so the peak level is measured on the final signal.
    container = ["-t", "raw", "-L"] if raw else ["-t", "wav"]
    # -D: no dither, so the same engine output always gives the same bytes (clean git diffs).
    return [
        "sox", "-D", str(in_wav),
        *container, "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(out_path),
        *SILENCE_TRIM, "reverse", *SILENCE_TRIM, "reverse",
        "rate", str(rate), "norm", str(PEAK_DBFS),
    ]  # fmt: skip


def probe_seconds(path: Path) -> float:
    """Duration of an audio file as sox reads it; AudioError if it is empty or unreadable."""
    if not path.is_file() or path.stat().st_size == 0:
        raise AudioError("engine wrote an empty file")
    result = subprocess.run(["sox", "--i", "-D", str(path)], capture_output=True, text=True, check=False)
    try:
        seconds = float(result.stdout.strip())
    except ValueError:
        seconds = None
    if result.returncode != 0 or seconds is None:
        raise AudioError(f"sox cannot read the engine's output: {result.stderr.strip() or 'no duration'}")
    if seconds <= MIN_SECONDS:
        raise AudioError(f"engine output is only {seconds:.3f} s long")
    return seconds


def shape(in_wav: Path, narrow_wav: Path, wide_sln: Path) -> float:
    """Engine output -> 8 kHz WAV and 16 kHz sln16, both validated; returns the WAV's duration."""
    probe_seconds(in_wav)
    for out_path, rate, raw in ((narrow_wav, NARROW_RATE, False), (wide_sln, WIDE_RATE, True)):
        result = subprocess.run(shape_command(in_wav, out_path, rate, raw), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise AudioError(f"sox failed (exit {result.returncode}): {result.stderr.strip()}")
    seconds = wav_seconds(narrow_wav)
    wide_seconds = wide_sln.stat().st_size / (2 * WIDE_RATE) if wide_sln.is_file() else 0.0
    if min(seconds, wide_seconds) <= MIN_SECONDS:
        raise AudioError(f"nothing left after trimming silence ({seconds:.3f} s)")
    return seconds


def wav_seconds(path: Path) -> float:
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise AudioError(f"{path.name} is not a readable WAV: {exc}") from exc
