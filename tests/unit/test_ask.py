"""`ask`: speech intents with confidence and margin, keypad fallback, no-input / no-match handling."""
import textwrap
from datetime import datetime, timezone

import pytest

from ivr.call import CallContext
from ivr.call_log import CallStart, MemoryCallLog
from ivr.flow_tests import ScenarioChannel
from ivr.flow import parse_flow
from ivr.intents import IntentMatch, confirm_by_free_form, match_intent, match_ranked, normalise, phrase_score
from ivr.speech.heard import SpeechHeard
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


async def run(script, speech=True, channel=None, flow_text=FLOW):
    flow = parse_flow(textwrap.dedent(flow_text), "flows/t.yaml")
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("c", "u", "", "", "t", flow.version, "zh-CN", datetime.now(timezone.utc)))
    channel = channel or ScenarioChannel(keys=list(script), speech=speech)
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
    assert channel.heard == ["main_menu", "invalid", "main_menu"]  # sorry, then the question again


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


# --- keypad fallback: a line that cannot listen gets the menu a `menu` node would give ----------------

KEYPAD_FLOW = FLOW.replace("    prompt: main_menu\n", "    prompt: ask_main_menu\n    keypad_prompt: main_menu\n")


async def test_without_speech_the_keypad_prompt_plays_and_tries_are_recorded_as_a_menu_does():
    steps, call, channel = await run(["7", "7"], speech=False, flow_text=KEYPAD_FLOW)
    assert steps[0].result == "failure" and steps[0].input == "7,7"
    assert [t["result"] for t in steps[0].detail["tries"]] == ["invalid", "invalid"]
    assert channel.heard == ["main_menu", "invalid"]  # never the spoken question; the 2nd 7 cut the retry
    steps, call, channel = await run([None, None, None, "0"], speech=False, flow_text=KEYPAD_FLOW)
    # the no-input prompt is skipped by silence, then the menu again; its key answers the second try
    assert channel.heard == ["main_menu", "no_input", "main_menu"]
    assert steps[0].result == "agent" and call.variables["intent_source"] == "dtmf"
    assert [t["result"] for t in steps[0].detail["tries"]] == ["no_input", "matched"]


async def test_with_speech_the_spoken_question_plays_and_a_key_still_works():
    steps, call, channel = await run(["2"], flow_text=KEYPAD_FLOW)
    assert channel.heard == ["ask_main_menu"] and steps[1].node == "lost"


async def test_a_key_pressed_during_the_retry_prompt_answers_the_next_try():
    steps, _, channel = await run([{"say": "天气", "confidence": 0.9}, "3"])
    assert channel.heard == ["main_menu", "invalid"] and steps[1].node == "bill"


def test_keypad_prompt_is_a_prompt_the_flow_uses():
    flow = parse_flow(textwrap.dedent(KEYPAD_FLOW), "flows/t.yaml")
    assert flow.node("ask").prompt_ids() == ("ask_main_menu", "main_menu", "invalid", "no_input")


# --- the free-form pass and the paraphrase ranker -----------------------------------------------------

class HeardChannel(ScenarioChannel):
    """Answers listens with prepared SpeechHeard results."""

    def __init__(self, results):
        super().__init__(keys=[])
        self.results = list(results)

    async def listen(self, prompt, phrases, no_input_s, max_speech_s, escape_keys=""):
        self.heard.append(prompt)
        return self.results.pop(0)


async def test_free_form_transcript_confirms_a_grammar_match_and_is_recorded():
    heard = SpeechHeard(transcript="挂失", confidence=0.9, free_transcript="我要挂失", free_confidence=0.8,
                        free_cpu_s=0.5)
    steps, call, _ = await run([], channel=HeardChannel([heard]))
    (attempt,) = steps[0].detail["tries"]
    assert steps[1].node == "lost" and attempt["result"] == "matched"
    assert attempt["free_transcript"] == "我要挂失" and attempt["free_cpu_s"] == 0.5


async def test_a_late_free_form_pass_leaves_the_decision_to_the_grammar_pass():
    heard = SpeechHeard(transcript="账单", confidence=0.9, free_transcript=None, free_form_late=True)
    steps, _, _ = await run([], channel=HeardChannel([heard]))
    (attempt,) = steps[0].detail["tries"]
    assert steps[1].node == "bill" and attempt["result"] == "matched" and attempt["free_form"] == "late"
    assert "free_transcript" not in attempt


async def test_free_form_transcript_that_disagrees_makes_it_out_of_grammar():
    """The grammar pass can only answer grammar words; the free pass heard something else."""
    said_weather = SpeechHeard(transcript="挂失", confidence=0.9, free_transcript="今天天气怎么样")
    said_nothing = SpeechHeard(transcript="账单", confidence=0.9, free_transcript="")
    steps, _, _ = await run([], channel=HeardChannel([said_weather, said_nothing]))
    tries = steps[0].detail["tries"]
    assert [t["result"] for t in tries] == ["out_of_grammar", "out_of_grammar"]
    assert steps[0].result == "failure" and tries[0]["runner_up"] == "lost_card"


async def test_paraphrase_ranker_decides_what_the_phrases_could_not():
    asked = []

    async def ranker(text, intents):
        asked.append((text, sorted(intents)))
        return IntentMatch("lost_card", 0.9, "bill", 0.85, "paraphrase")

    heard = SpeechHeard(transcript="挂失", confidence=0.9, free_transcript="我的卡不见了", free_confidence=0.7,
                        match_paraphrase=ranker)
    steps, call, _ = await run([], channel=HeardChannel([heard]))
    (attempt,) = steps[0].detail["tries"]
    assert asked == [("我的卡不见了", ["agent", "bill", "lost_card"])]
    assert attempt["result"] == "paraphrase" and attempt["paraphrase"]["score"] == 0.9
    assert steps[1].node == "lost" and call.variables["intent_confidence"] == 0.7  # the free pass's confidence
    assert steps[0].input == "我的卡不见了"  # what was decided on, not the grammar words


async def test_a_paraphrase_of_words_the_free_pass_was_unsure_of_is_not_taken():
    async def ranker(text, intents):
        return IntentMatch("lost_card", 0.9, "bill", 0.85, "paraphrase")

    unsure = SpeechHeard(transcript="挂失", confidence=0.9, free_transcript="我的卡不见了", free_confidence=0.4,
                         match_paraphrase=ranker)
    steps, _, _ = await run([], channel=HeardChannel([unsure, unsure]))
    tries = steps[0].detail["tries"]
    assert steps[0].result == "failure" and [t["result"] for t in tries] == ["out_of_grammar"] * 2
    assert tries[0]["paraphrase"]["intent"] == "lost_card"  # what the ranker said is still on the record


async def test_paraphrase_ranker_is_not_asked_when_the_phrases_agree_or_the_free_pass_heard_nothing():
    async def ranker(text, intents):
        raise AssertionError("not needed")

    agreed = SpeechHeard(transcript="转人工", confidence=0.9, free_transcript="转人工", match_paraphrase=ranker)
    empty = SpeechHeard(transcript="转人工", confidence=0.9, free_transcript="", match_paraphrase=ranker)
    steps, _, _ = await run([], channel=HeardChannel([agreed]))
    assert steps[1].node == "agent"
    steps, _, _ = await run([], channel=HeardChannel([empty, empty]))
    assert steps[0].result == "failure"


def test_confirm_by_free_form_and_match_ranked_rules():
    intents = {"lost_card": ["挂失", "lost card"], "bill": ["账单"]}
    matched = IntentMatch("lost_card", 0.9, "bill", 0.1, "matched")
    assert confirm_by_free_form(matched, "I lost my card", intents).intent == "lost_card"
    assert confirm_by_free_form(matched, "what is the weather", intents).reason == "out_of_grammar"
    no_match = IntentMatch(None, 0.2, "bill", 0.1, "below_threshold")
    assert confirm_by_free_form(no_match, "挂失", intents) is no_match  # the free pass never adds a match
    assert match_ranked([(0.90, "a"), (0.85, "b")], 0.84, 0.015).intent == "a"
    assert match_ranked([(0.90, "a"), (0.89, "b")], 0.84, 0.015).reason == "ambiguous"
    assert match_ranked([(0.80, "a"), (0.70, "b")], 0.84, 0.015).reason == "below_threshold"
    assert match_ranked([], 0.84, 0.015).reason == "empty"


# --- scenario files: speech entries and lines without speech ------------------------------------------

SCENARIO = """\
flow: t
scenarios:
  - name: one
    {extra}
    input: {input}
"""


async def scenario_result(input_text, extra=""):
    from ivr.flow_tests import run_scenario
    from ivr.located_yaml import load_located

    flow = parse_flow(textwrap.dedent(KEYPAD_FLOW), "flows/t.yaml")
    doc = load_located(SCENARIO.format(input=input_text, extra=extra or "caller: '1'"), "flows/tests/t.yaml")
    return await run_scenario(flow, {"t": flow}, doc["scenarios"][0], "flows/tests/t.yaml")


async def test_scenarios_say_free_form_text_and_turn_speech_off():
    result = await scenario_result('[{say: "挂失", confidence: 0.9, free: "今天天气"}, {say: "账单", free: "查一下账单"}]')
    assert result.passed and result.path == ["ask", "bill"]  # out of grammar first, then agreed
    result = await scenario_result('[{say: "账单"}, "-", "2"]', extra="speech: false")
    assert result.path == ["ask", "lost"]  # speech passed as silence; 2 answered during the retry prompt


@pytest.mark.parametrize("input_text, extra, message", [
    ('[{free: "挂失"}]', "", "needs 'say' or 'intent'"),
    ('[{say: "挂失", loud: true}]', "", "needs 'say' or 'intent'"),
    ('[{intent: lost_card, free: "挂失"}]', "", "'free' goes with 'say'"),
    ('["1"]', "speech: sometimes", "'speech' must be true or false"),
])
async def test_bad_speech_entries_are_errors_naming_the_place(input_text, extra, message):
    from ivr.flow_tests import ScenarioError

    with pytest.raises(ScenarioError) as err:
        await scenario_result(input_text, extra)
    assert message in str(err.value) and "flows/tests/t.yaml:3" in str(err.value)
