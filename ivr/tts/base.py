"""The interface every engine module implements."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class EngineError(RuntimeError):
    """This prompt could not be synthesised by this engine; the next engine may do it."""


class EngineUnavailable(EngineError):
    """The engine cannot work in this run (not installed, no network): skip it from now on."""


class Engine(Protocol):
    name: str

    def synthesize(self, text: str, voice: str, out_wav_path: Path) -> None:
        """Write ``text`` spoken by ``voice`` to ``out_wav_path`` (a WAV file, any rate)."""
