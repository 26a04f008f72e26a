"""espeak-ng: offline, robotic, speaks both languages; Mandarin through tone-numbered pinyin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ivr.tts.base import EngineError, EngineUnavailable

# espeak-ng's character-reading Mandarin voice ("cmn") mispronounces a lot; this
# voice reads tone-numbered pinyin instead, so Chinese text is converted first.
PINYIN_VOICES = frozenset({"cmn-latn-pinyin"})


def to_pinyin(text: str) -> str:
    """Chinese characters -> space-separated tone-numbered pinyin; other characters pass through.

    The neutral tone is written as 5 and tone sandhi (3-3, 不, 一) is applied here
    because espeak-ng speaks each syllable with exactly the tone it is given.
    """
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True)
    return " ".join(syllables)


def speakable_text(voice: str, text: str) -> str:
    return to_pinyin(text) if voice in PINYIN_VOICES else text


def espeak_command(voice: str, out_wav: Path) -> list[str]:
    # Text goes through stdin so a prompt starting with "-" is never taken as an option.
    return ["espeak-ng", "-v", voice, "--stdin", "-w", str(out_wav)]


class EspeakEngine:
    name = "espeak"

    def synthesize(self, text: str, voice: str, out_wav_path: Path) -> None:
        if shutil.which("espeak-ng") is None:
            raise EngineUnavailable("espeak-ng is not on PATH (apt-get install espeak-ng)")
        result = subprocess.run(
            espeak_command(voice, out_wav_path), input=speakable_text(voice, text),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0 and "voice does not exist" in result.stderr:
            raise EngineUnavailable(f"espeak-ng has no voice {voice!r} (see: espeak-ng --voices)")
        if result.returncode != 0:
            raise EngineError(f"espeak-ng failed (exit {result.returncode}): {result.stderr.strip()}")


def create() -> EspeakEngine:
    return EspeakEngine()
