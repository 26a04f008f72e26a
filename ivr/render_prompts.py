"""Render the prompt catalogue to audio: the same build as ``ivr prompts build``.

    python -m ivr.render_prompts [--catalog prompts/catalog.yaml] [--force] [--only ID ...] [--no-progress]

Kept so existing scripts and hints (``ivr flow lint``) keep working; the
engines and the build live in ``ivr.tts``.
"""

from __future__ import annotations

import sys

from ivr.prompts import Voice
from ivr.tts.build import main as _build_main
from ivr.tts.espeak import to_pinyin
from ivr.tts.espeak import speakable_text as _speakable_text

__all__ = ["main", "speakable_text", "to_pinyin"]


def speakable_text(voice: Voice, text: str) -> str:
    """What espeak-ng is given for ``text``: tone-numbered pinyin for the pinyin voice."""
    return _speakable_text(voice.voice, text)


def main(argv: list[str] | None = None) -> int:
    return _build_main(argv, prog="python -m ivr.render_prompts")


if __name__ == "__main__":
    sys.exit(main())
