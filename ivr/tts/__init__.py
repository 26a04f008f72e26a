"""Text-to-speech engines for the prompt catalogue, and the build that uses them.

Every engine has one job, ``synthesize(text, voice, out_wav_path)``: write the
text spoken by ``voice`` to a WAV file at any sample rate. It raises
``EngineUnavailable`` when it cannot work at all in this run (package or binary
missing, no network) and ``EngineError`` when only this prompt failed.
Shaping, resampling, validation and placing files is the build's job
(``ivr.tts.build``), so an engine module stays small.

Engines are imported lazily: loading the catalogue must not pull in
onnxruntime or aiohttp.
"""

from __future__ import annotations

from importlib import import_module

from ivr.tts.base import Engine, EngineError, EngineUnavailable

# Catalogue names; the order here is only for messages.
ENGINE_NAMES = ("edge", "piper", "espeak")
_ALIASES = {"espeak-ng": "espeak", "edge-tts": "edge"}
_MODULES = {"edge": "ivr.tts.edge", "piper": "ivr.tts.piper", "espeak": "ivr.tts.espeak"}

__all__ = ["ENGINE_NAMES", "Engine", "EngineError", "EngineUnavailable", "canonical_engine", "create_engine"]


def canonical_engine(name: str) -> str:
    """Catalogue spelling -> engine name ('espeak-ng' is the old name of 'espeak')."""
    return _ALIASES.get(name, name)


def create_engine(name: str) -> Engine:
    name = canonical_engine(name)
    if name not in _MODULES:
        raise KeyError(f"unknown engine {name!r}")
    return import_module(_MODULES[name]).create()
