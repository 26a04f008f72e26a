"""Render the prompt catalogue: ``ivr prompts build`` (also ``python -m ivr.render_prompts``).

For each prompt and language the catalogue lists engines in order of preference
(``voices:`` in prompts/catalog.yaml). The first engine that works renders the
prompt; each is asked in turn, with a one-line notice when one fails.

Output, per prompt: ``prompts/<lang>/<id>.wav`` (8 kHz signed-linear WAV, what
the IVR plays) and ``prompts/<lang>/<id>.sln16`` (16 kHz raw signed-linear for
wideband channels). Engines write into a temporary folder outside prompts/;
the result is validated (non-empty, readable by sox, longer than 0.1 s), shaped
by sox and only then renamed into place, so Asterisk never sees a half-written
or empty file.

prompts/rendered.json is the cache. Its key for a prompt is a hash of (text,
language, the language's voice list), the same whichever engine rendered it;
the entry also records the engine, and ``fallback: true`` when that engine was
not the first in the list. Such a prompt is kept while the preferred engines
are unavailable (offline) and rendered again by the first build that can reach
one of them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.prompts import PromptCatalog, PromptCatalogError, Voice
from ivr.tts import Engine, EngineError, EngineUnavailable, canonical_engine, create_engine
from ivr.tts import audio
from ivr.tts.progress import Progress

MANIFEST_NAME = "rendered.json"
MANIFEST_VERSION = 2
PARTIAL_SUFFIX = ".partial"


class BuildError(RuntimeError):
    """The build cannot start (unknown prompt id, sox missing)."""


def cache_key(lang: str, voices: Iterable[Voice], text: str) -> str:
    """Engine-independent: which engine rendered a prompt is recorded beside the key, not in it."""
    payload = json.dumps(
        {
            "lang": lang, "text": text, "voices": [[canonical_engine(v.engine), v.voice] for v in voices],
            "shaping": audio.SHAPING_VERSION,
        },
        ensure_ascii=False, sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def manifest_key(prompt_id: str, lang: str) -> str:
    return f"{lang}/{prompt_id}"


def load_manifest(path: Path) -> dict[str, dict]:
    """prompt key -> entry. A manifest of the old espeak-only renderer (key -> hash) counts as empty."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # unreadable cache: everything is rendered again
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        return {}
    prompts = data.get("prompts", {})
    return {k: v for k, v in prompts.items() if isinstance(v, dict) and isinstance(v.get("hash"), str)}


def save_manifest(path: Path, entries: Mapping[str, dict]) -> None:
    data = {"version": MANIFEST_VERSION, "prompts": dict(sorted(entries.items()))}
    partial = path.with_name(f".{path.name}{PARTIAL_SUFFIX}")
    try:
        partial.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def place(src: Path, dest: Path) -> None:
    """Copy next to ``dest`` under a hidden name, then rename: readers see the old file or the new one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}{PARTIAL_SUFFIX}")
    try:
        shutil.copyfile(src, partial)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


def sweep_leftovers(catalog: PromptCatalog) -> None:
    """Remove what an interrupted build left in prompts/ (this one's or the old renderer's)."""
    for lang in catalog.languages:
        folder = catalog.root / lang
        if not folder.is_dir():
            continue
        for path in folder.glob(f".*{PARTIAL_SUFFIX}"):
            path.unlink(missing_ok=True)
        for path in folder.glob(".render-*"):
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class BuildReport:
    total: int = 0
    rendered: Counter = field(default_factory=Counter)  # engine -> prompts rendered now
    up_to_date: Counter = field(default_factory=Counter)  # engine -> prompts left as they were
    fallback: Counter = field(default_factory=Counter)  # engine -> prompts whose audio is a fallback render
    replaced: int = 0  # fallback renders replaced by a preferred engine
    failed: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # engine -> why
    seconds: float = 0.0

    def summary(self) -> str:
        def part(label: str, counts: Counter) -> str:
            by_engine = ", ".join(f"{engine} {n}" for engine, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            return f"{sum(counts.values())} {label}" + (f" ({by_engine})" if by_engine else "")

        parts = [part("rendered", self.rendered), part("up to date", self.up_to_date), part("fallback", self.fallback)]
        if self.replaced:
            parts.append(f"{self.replaced} fallback replaced")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return f"{self.total} prompts: " + ", ".join(parts) + f" in {self.seconds:.1f} s"


class PromptBuilder:
    """Renders a catalogue's prompts with its engines, in order, caching in rendered.json.

    ``engines`` maps engine name -> engine (tests pass fakes); by default each is
    created the first time a voice list needs it. ``work_dir`` is where engines
    write before validation (default: the system's temporary folder).
    """

    def __init__(
        self,
        catalog: PromptCatalog,
        engines: Mapping[str, Engine] | None = None,
        *,
        work_dir: Path | None = None,
        factory: Callable[[str], Engine] = create_engine,
    ) -> None:
        self.catalog = catalog
        self.engines: dict[str, Engine] = {canonical_engine(k): v for k, v in (engines or {}).items()}
        self.factory = None if engines is not None else factory
        self.work_dir = work_dir
        self.unavailable: dict[str, str] = {}  # engine -> reason, for the rest of this build
        self.manifest_path = catalog.root / MANIFEST_NAME

    def build(self, ids: Iterable[str] | None = None, force: bool = False, progress: Progress | None = None) -> BuildReport:
        started = time.monotonic()
        catalog = self.catalog
        ids = tuple(catalog.ids if ids is None else ids)
        unknown = [prompt_id for prompt_id in ids if prompt_id not in catalog.texts]
        if unknown:
            raise BuildError(f"unknown prompt id(s): {', '.join(unknown)}")
        jobs = [(prompt_id, lang) for prompt_id in ids for lang in catalog.languages]
        progress = progress or Progress(len(jobs), bar=False)
        report = BuildReport(total=len(jobs))

        current_keys = {manifest_key(p, lang) for p in catalog.ids for lang in catalog.languages}
        on_disk = load_manifest(self.manifest_path)
        # Entries of prompts removed from the catalogue are dropped (their audio files stay).
        manifest = {k: v for k, v in on_disk.items() if k in current_keys}
        sweep_leftovers(catalog)
        sox_checked = False
        try:
            for prompt_id, lang in jobs:
                label = manifest_key(prompt_id, lang)
                voices = catalog.voices[lang]
                text = catalog.text(prompt_id, lang)
                key = cache_key(lang, voices, text)
                entry = manifest.get(label)
                fresh = (
                    not force
                    and entry is not None
                    and entry["hash"] == key
                    and catalog.audio_file(prompt_id, lang).is_file()
                    and catalog.wideband_file(prompt_id, lang).is_file()
                )
                if fresh and not entry.get("fallback"):
                    report.up_to_date[entry["engine"]] += 1
                    progress.advance(label)
                    continue
                # A fallback render is retried with the engines preferred to the one that made it.
                candidates = voices[: _rank(voices, entry["engine"])] if fresh else voices
                if not sox_checked and any(canonical_engine(v.engine) not in self.unavailable for v in candidates):
                    try:
                        audio.require_sox()
                    except RuntimeError as exc:
                        raise BuildError(str(exc)) from exc
                    sox_checked = True
                result = self._render(prompt_id, lang, text, candidates, voices, progress)
                if result is not None:
                    entry = manifest[label] = result
                    save_manifest(self.manifest_path, manifest)  # after every prompt: an interruption keeps progress
                    report.rendered[result["engine"]] += 1
                    report.replaced += bool(fresh)
                    detail = f"{result['engine']}{' (fallback)' if result['fallback'] else ''} {result['seconds']:.2f} s"
                    progress.advance(label, detail)
                elif fresh:  # offline: the fallback render stays until a preferred engine is back
                    report.up_to_date[entry["engine"]] += 1
                    progress.advance(label)
                else:
                    report.failed.append(label)
                    progress.note(f"error: {label}: no engine could render it ({', '.join(v.engine for v in voices)})")
                    progress.advance(label)
                    continue
                if entry.get("fallback"):
                    report.fallback[entry["engine"]] += 1
            if manifest != on_disk:
                save_manifest(self.manifest_path, manifest)
        finally:
            progress.close()
        report.unavailable = dict(self.unavailable)
        report.seconds = time.monotonic() - started
        return report

    def _engine(self, name: str) -> Engine:
        if name not in self.engines:
            if self.factory is None:
                raise EngineUnavailable(f"no engine {name!r} configured")
            self.engines[name] = self.factory(name)
        return self.engines[name]

    def _render(
        self, prompt_id: str, lang: str, text: str, candidates: tuple[Voice, ...], voices: tuple[Voice, ...],
        progress: Progress,
    ) -> dict | None:
        label = manifest_key(prompt_id, lang)
        for voice in candidates:
            name = canonical_engine(voice.engine)
            if name in self.unavailable:
                continue
            try:
                seconds = self._render_with(self._engine(name), voice, text, prompt_id, lang)
            except EngineUnavailable as exc:
                self.unavailable[name] = str(exc)
                progress.note(f"notice: {name} unavailable ({exc}); using the next engine for the rest of this build")
                continue
            except EngineError as exc:
                progress.note(f"notice: {name} failed on {label} ({exc}); trying the next engine")
                continue
            return {
                "hash": cache_key(lang, voices, text),
                "engine": name,
                "voice": voice.voice,
                "fallback": _rank(voices, name) > 0,
                "seconds": round(seconds, 3),
            }
        return None

    def _render_with(self, engine: Engine, voice: Voice, text: str, prompt_id: str, lang: str) -> float:
        with tempfile.TemporaryDirectory(prefix="ivr-tts-", dir=self.work_dir) as tmp:
            raw, narrow, wide = Path(tmp) / "engine.wav", Path(tmp) / "narrow.wav", Path(tmp) / "wide.sln16"
            engine.synthesize(text, voice.voice, raw)
            seconds = audio.shape(raw, narrow, wide)
            # The .wav goes last: it is what the IVR and missing_audio() look for.
            place(wide, self.catalog.wideband_file(prompt_id, lang))
            place(narrow, self.catalog.audio_file(prompt_id, lang))
        return seconds


def _rank(voices: tuple[Voice, ...], engine: str) -> int:
    """Position of ``engine`` in the voice list (len(voices) if it is no longer listed)."""
    names = [canonical_engine(v.engine) for v in voices]
    return names.index(engine) if engine in names else len(voices)


def add_arguments(parser: argparse.ArgumentParser, default_catalog: Path | None) -> None:
    """The build's options; ``ivr prompts build`` passes None and fills in the configured prompts folder."""
    shown = default_catalog or "catalog.yaml in the prompts folder"
    parser.add_argument("--catalog", type=Path, default=default_catalog, help=f"default: {shown}")
    parser.add_argument("--force", action="store_true", help="render even prompts that are up to date")
    parser.add_argument("--only", nargs="+", metavar="ID", help="render only these prompt ids")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (one line per rendered prompt)")


def run(args: argparse.Namespace) -> int:
    try:
        catalog = PromptCatalog.load(args.catalog)
        ids = tuple(dict.fromkeys(args.only)) if args.only else None
        builder = PromptBuilder(catalog)
        total = len(ids or catalog.ids) * len(catalog.languages)
        progress = Progress(total, bar=False if args.no_progress else None)
        report = builder.build(ids, force=args.force, progress=progress)
    except (PromptCatalogError, BuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 1 if report.failed else 0


def main(argv: list[str] | None = None, prog: str = "ivr prompts build") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Render the prompt catalogue to audio files.")
    add_arguments(parser, Path("prompts/catalog.yaml"))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
