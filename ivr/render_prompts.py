"""Render the prompt catalogue to telephone-quality WAV files with espeak-ng and sox.

    python -m ivr.render_prompts [--catalog prompts/catalog.yaml] [--force] [--only ID ...]

Output is prompts/<lang>/<id>.wav: 8 kHz, mono, signed 16-bit PCM, which Asterisk
plays as format ``wav`` without transcoding. prompts/rendered.json records a hash of
(engine, voice, text) per prompt so a rerun only renders what changed or is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from pypinyin import Style, lazy_pinyin

from ivr.prompts import PromptCatalog, PromptCatalogError, Voice

SUPPORTED_ENGINE = "espeak-ng"
# espeak-ng's character-reading Mandarin voice ("cmn") mispronounces a lot; this
# voice reads tone-numbered pinyin instead, so Chinese text is converted first.
PINYIN_VOICES = frozenset({"cmn-latn-pinyin"})
TOOLS = {"espeak-ng": "espeak-ng", "sox": "sox"}  # command -> Debian package
SAMPLE_RATE = 8000
PEAK_DBFS = -3
# Light trim: espeak pads with digital silence, so a tiny threshold removes only that.
SILENCE_TRIM = ["silence", "1", "0.01", "0.1%"]
MANIFEST_NAME = "rendered.json"


class RenderError(RuntimeError):
    pass


def to_pinyin(text: str) -> str:
    """Chinese characters -> space-separated tone-numbered pinyin; other characters pass through.

    The neutral tone is written as 5 and tone sandhi (3-3, 不, 一) is applied here
    because espeak-ng speaks each syllable with exactly the tone it is given.
    """
    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True)
    return " ".join(syllables)


def speakable_text(voice: Voice, text: str) -> str:
    return to_pinyin(text) if voice.voice in PINYIN_VOICES else text


def fingerprint(voice: Voice, text: str) -> str:
    payload = json.dumps([voice.engine, voice.voice, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def espeak_command(voice: Voice, out_wav: Path) -> list[str]:
    # Text goes through stdin so a prompt starting with "-" is never taken as an option.
    return ["espeak-ng", "-v", voice.voice, "--stdin", "-w", str(out_wav)]


def sox_command(in_wav: Path, out_wav: Path) -> list[str]:
    # Trim the start, reverse, trim the (former) end, reverse back; then resample
    # and normalise last so the peak level is measured on the final signal.
    return [
        "sox", str(in_wav),
        "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(out_wav),
        *SILENCE_TRIM, "reverse", *SILENCE_TRIM, "reverse",
        "rate", str(SAMPLE_RATE), "norm", str(PEAK_DBFS),
    ]  # fmt: skip


def require_tools() -> None:
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            raise RenderError(f"{tool} not found on PATH: install it with 'apt-get install {package}'")


def require_supported(voices: dict[str, Voice]) -> None:
    for lang, voice in voices.items():
        if voice.engine != SUPPORTED_ENGINE:
            raise RenderError(f"{lang}: engine {voice.engine!r} is not supported, only {SUPPORTED_ENGINE!r}")


def render_prompt(voice: Voice, text: str, out_path: Path) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Work next to the target and rename at the end, so a running Asterisk never
    # streams a half-written file.
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".render-") as tmp:
        raw, shaped = Path(tmp) / "espeak.wav", Path(tmp) / "shaped.wav"
        _run(espeak_command(voice, raw), stdin=speakable_text(voice, text))
        _run(sox_command(raw, shaped))
        os.replace(shaped, out_path)


def _run(command: list[str], stdin: str | None = None) -> None:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(f"{command[0]} failed (exit {result.returncode}): {result.stderr.strip()}")


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def manifest_key(prompt_id: str, lang: str) -> str:
    return f"{lang}/{prompt_id}"


def load_manifest(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def save_manifest(path: Path, manifest: dict[str, str]) -> None:
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def select_ids(catalog: PromptCatalog, only: list[str] | None) -> tuple[str, ...]:
    if not only:
        return catalog.ids
    unknown = [prompt_id for prompt_id in only if prompt_id not in catalog.texts]
    if unknown:
        raise RenderError(f"unknown prompt id(s): {', '.join(unknown)}")
    return tuple(dict.fromkeys(only))


def prompts_to_render(
    catalog: PromptCatalog, manifest: dict[str, str], ids: tuple[str, ...], force: bool
) -> list[tuple[str, str]]:
    return [
        (prompt_id, lang)
        for prompt_id in ids
        for lang in catalog.languages
        if force
        or not catalog.audio_file(prompt_id, lang).is_file()
        or manifest.get(manifest_key(prompt_id, lang))
        != fingerprint(catalog.voices[lang], catalog.text(prompt_id, lang))
    ]


def render_catalog(catalog: PromptCatalog, ids: tuple[str, ...], force: bool) -> int:
    """Render what is stale; returns how many prompts were rendered."""
    manifest_path = catalog.root / MANIFEST_NAME
    current = {manifest_key(p, lang) for p in catalog.ids for lang in catalog.languages}
    # Entries of prompts removed from the catalogue are dropped.
    manifest = {k: v for k, v in load_manifest(manifest_path).items() if k in current}
    todo = prompts_to_render(catalog, manifest, ids, force)
    if todo:
        require_tools()
        require_supported({lang: catalog.voices[lang] for _, lang in todo})
    for prompt_id, lang in todo:
        voice, text = catalog.voices[lang], catalog.text(prompt_id, lang)
        out_path = catalog.audio_file(prompt_id, lang)
        render_prompt(voice, text, out_path)
        manifest[manifest_key(prompt_id, lang)] = fingerprint(voice, text)
        # Saved after every prompt so an interrupted run keeps its progress.
        save_manifest(manifest_path, manifest)
        print(f"rendered {manifest_key(prompt_id, lang):<28} {wav_duration(out_path):5.2f} s")
    return len(todo)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ivr.render_prompts", description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=Path("prompts/catalog.yaml"))
    parser.add_argument("--force", action="store_true", help="render even prompts that are up to date")
    parser.add_argument("--only", nargs="+", metavar="ID", help="render only these prompt ids")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        catalog = PromptCatalog.load(args.catalog)
        ids = select_ids(catalog, args.only)
        rendered = render_catalog(catalog, ids, args.force)
    except (PromptCatalogError, RenderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = len(ids) * len(catalog.languages)
    print(f"{rendered} rendered, {total - rendered} up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
