"""`ask`: speech intents with confidence and margin, keypad fallback, no-input / no-match handling."""
import textwrap
from datetime import datetime, timezone

import pytest

from ivr.call import CallContext
from ivr.call_log import CallStart, MemoryCallLog
from ivr.fake_channel import ScriptedChannel
from ivr.flow import parse_flow
from ivr.intents import match_intent, normalise, phrase_score
from ivr.nodes import FlowError
from ivr.runner import FlowRunner

FLOW = """
flow: t
languages: [zh-CN, en-US]
start: ask
nodes:
  ask:
    type: ask
    prompt: main_menu
    intents:
      lost_card: {phrases: ["挂失", "lost card", "report a lost card"], key: "2", next: lost}
      bill: {phrases: ["账单", "查账单", "bill", "balance"], key: "3", next: bill}
      agent: {phrases: ["转人工", "人工服务", "agent"], key: "0", next: agent}
    confidence: 0.6
    margin: 0.1
    max_tries: 2
    no_match_prompt: invalid
    no_input_prompt: no_input
    on_failure: menu
  lost: {type: hangup, reason: lost}
  bill: {type: hangup, reason: bill}
  agent: {type: hangup, reason: agent}
  menu: {type: hangup, reason: menu}
"""


async def run(script, speech=True):
    flow = parse_flow(textwrap.dedent(FLOW), "flows/t.yaml")
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("c", "u", "", "", "t", flow.version, "zh-CN", datetime.now(timezone.utc)))
    channel = ScriptedChannel(keys=list(script), speech=speech)
    call = CallContext(channel, "zh-CN", lambda p, lang: p)
    await FlowRunner(flow, call, log, call_id).run()
    return log.steps[call_id], call, channel


@pytest.mark.parametrize("said, target", [("挂失", "lost"), ("我要挂失", "lost"), ("I lost my card", "lost"),
                                          ("查账单", "bill"), ("balance please", "bill"), ("转人工", "agent")])
async def test_speech_reaches_the_intent(said, target):
    steps, call, _ = await run([{"say": said, "confidence": 0.95}])
    assert steps[1].node == target, steps[0].detail
    assert call.variables["intent_source"] == "speech"
    assert steps[0].detail["tries"][0]["result"] == "matched"


async def test_keys_work_beside_speech_and_without_it():
    steps, call, _ = await run(["3"])
    assert steps[1].node == "bill" and call.variables["intent_source"] == "dtmf"
    steps, call, channel = await run(["2"], speech=False)  # a channel that cannot listen: keypad menu
    assert steps[1].node == "lost" and call.variables["intent"] == "lost_card"
    assert channel.heard == ["main_menu"]


async def test_low_confidence_is_no_match_then_reprompts():
    steps, _, channel = await run([{"say": "挂失", "confidence": 0.3}, {"say": "挂失", "confidence": 0.9}])
    tries = steps[0].detail["tries"]
    assert [t["result"] for t in tries] == ["below_threshold", "matched"]
    assert channel.heard == ["main_menu", "invalid"]  # the no-match prompt asked again


async def test_out_of_grammar_speech_fails_over_to_the_menu():
    steps, _, _ = await run([{"say": "what is the weather", "confidence": 0.9}, None])
    assert [t["result"] for t in steps[0].detail["tries"]] == ["below_threshold", "no_input"]
    assert steps[1].node == "menu" and steps[0].result == "failure"


async def test_recogniser_intent_and_masked_transcripts():
    steps, call, _ = await run([{"intent": "agent", "confidence": 0.8}])
    assert steps[1].node == "agent" and call.variables["intent_confidence"] == 0.8
    steps, _, _ = await run([{"say": "my card 6222021000012349 is lost", "confidence": 0.9}])
    transcript = steps[0].detail["tries"][0]["transcript"]
    assert "6222021000012349" not in transcript and transcript.endswith("2349 is lost")


def test_margin_rule_refuses_near_ties():
    intents = {"a": ["account"], "b": ["accounts"]}
    match = match_intent("accountz", 1.0, intents, threshold=0.5, margin=0.1)
    assert match.intent is None and match.reason == "ambiguous"
    assert match_intent("account", 1.0, intents, 0.5, 0.0).intent == "a"


def test_phrase_scores_and_normalisation():
    assert normalise("Lost Card！") == "lostcard"
    assert phrase_score("挂失", "挂失") == 1.0
    assert 0.5 < phrase_score("我要挂失", "挂失") < 1.0
    assert phrase_score("", "挂失") == 0.0


@pytest.mark.parametrize("change, message", [
    ('key: "2", next: lost}', None),
    ('key: "22", next: lost}', "not a single phone key"),
    ('key: "3", next: lost}', "used by both"),
    ('next: lost, extra: 1}', "must be a mapping with phrases"),
])
def test_ask_validation(change, message):
    text = textwrap.dedent(FLOW).replace('key: "2", next: lost}', change)
    if message is None:
        parse_flow(text, "flows/t.yaml")
        return
    with pytest.raises(FlowError) as err:
        parse_flow(text, "flows/t.yaml")
    assert message in str(err.value) and "node 'ask'" in str(err.value) and "flows/t.yaml:" in str(err.value)
