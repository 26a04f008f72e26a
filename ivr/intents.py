"""Transcript -> intent: phrase matching with the recogniser's confidence and a margin rule.

Pure. A caller's words score against every example phrase of every intent:
an exact match scores the recogniser's confidence; a phrase said with
filler words around it 0.9 of that; part of a phrase less, by how much was
said; otherwise the character similarity of the two. The best intent wins only if its score
reaches the threshold AND beats the runner-up by the margin: recognisers
return grammar words even for out-of-grammar speech, so a near tie means
"not sure" and the flow asks again instead of guessing.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Mapping, Sequence

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower case, full-width folded, punctuation and spaces removed (Chinese has no spaces anyway)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _NOT_WORD.sub("", text)


def phrase_score(transcript: str, phrase: str) -> float:
    """0..1 similarity of what was said to one example phrase."""
    said, example = normalise(transcript), normalise(phrase)
    if not said or not example:
        return 0.0
    if said == example:
        return 1.0
    if example in said:  # the phrase plus filler words: "我要挂失", "balance please"
        return 0.9
    if said in example:  # part of a phrase: weaker the less of it was said
        return 0.6 + 0.3 * len(said) / len(example)
    return SequenceMatcher(None, said, example).ratio()


@dataclass(frozen=True)
class IntentMatch:
    intent: str | None  # None: no match
    score: float
    runner_up: str | None
    runner_up_score: float
    reason: str  # matched | below_threshold | ambiguous | empty | out_of_grammar | paraphrase


def match_intent(transcript: str, confidence: float, intents: Mapping[str, Sequence[str]],
                 threshold: float = 0.6, margin: float = 0.1) -> IntentMatch:
    scores = sorted(((max((phrase_score(transcript, p) for p in phrases), default=0.0) * confidence, name)
                     for name, phrases in intents.items()), reverse=True)
    if not scores or not normalise(transcript):
        return IntentMatch(None, 0.0, None, 0.0, "empty")
    best_score, best = scores[0]
    second_score, second = scores[1] if len(scores) > 1 else (0.0, None)
    if best_score < threshold:
        return IntentMatch(None, best_score, best, second_score, "below_threshold")
    if best_score - second_score < margin:
        return IntentMatch(None, best_score, second, second_score, "ambiguous")
    return IntentMatch(best, best_score, second, second_score, "matched")


FREE_FORM_AGREEMENT = 0.5  # phrase_score of the free-form transcript against the chosen intent's phrases


def confirm_by_free_form(match: IntentMatch, free_transcript: str, intents: Mapping[str, Sequence[str]],
                         agreement: float = FREE_FORM_AGREEMENT) -> IntentMatch:
    """Keep a grammar match only if the free-form transcript resembles one of that intent's phrases."""
    if match.intent is None:
        return match
    support = max((phrase_score(free_transcript, p) for p in intents[match.intent]), default=0.0)
    if support >= agreement:
        return match
    return IntentMatch(None, match.score, match.intent, match.runner_up_score, "out_of_grammar")


def match_ranked(ranked: Sequence[tuple[float, str]], min_score: float, margin: float) -> IntentMatch:
    """[(score, intent)] best first -> a match if the best clears `min_score` and beats the next by `margin`."""
    if not ranked:
        return IntentMatch(None, 0.0, None, 0.0, "empty")
    best_score, best = ranked[0]
    second_score, second = ranked[1] if len(ranked) > 1 else (0.0, None)
    if best_score < min_score:
        return IntentMatch(None, best_score, best, second_score, "below_threshold")
    if best_score - second_score < margin:  # recorded as in match_intent: the runner-up it could not beat
        return IntentMatch(None, best_score, second, second_score, "ambiguous")
    return IntentMatch(best, best_score, second, second_score, "paraphrase")
