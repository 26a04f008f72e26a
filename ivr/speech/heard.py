"""What a speech channel heard, beyond the plain `Heard`: the free-form pass and the paraphrase ranker."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping, Sequence

from ivr.channel import Heard
from ivr.intents import IntentMatch

ParaphraseMatcher = Callable[[str, Mapping[str, Sequence[str]]], Awaitable[IntentMatch]]


@dataclass(frozen=True)
class SpeechHeard(Heard):
    """A `Heard` from our recogniser.

    `free_transcript` is the grammar-free pass over the same utterance (None
    when the language's model runs no such pass, or it was too late). `match_paraphrase` is set
    when the language has the embedding matcher: the ask node calls it with
    its intents to rank the free-form transcript by meaning.
    """

    free_transcript: str | None = None
    free_form_late: bool = False  # the free-form pass ran but was abandoned: decided on the grammar pass alone
    free_confidence: float = 0.0  # mean word confidence of the free-form pass
    free_cpu_s: float | None = None
    match_paraphrase: ParaphraseMatcher | None = field(default=None, compare=False, repr=False)
