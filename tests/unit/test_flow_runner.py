"""FlowRunner over a fixed DTMF menu flow (tests/unit/flows/menu_demo.yaml) and tiny inline flows."""
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ivr.call import CallContext
from ivr.call_log import CallStart, MemoryCallLog, StepRecord
from ivr.channel import ALL_KEYS, ChannelFailure, PromptUnavailable
from ivr.fake_channel import ScriptedChannel
from ivr.flow import Flow, load_flow, parse_flow
from ivr.prompts import PromptCatalog
from ivr.runner import MAX_STEPS, FlowRunner

ROOT = Path(__file__).resolve().parents[2]
HOTLINE = ROOT / "tests" / "unit" / "flows" / "menu_demo.yaml"
CATALOG = ROOT / "prompts" / "catalog.yaml"

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


def resolve(pid: str, lang: str) -> str:
    return f"{lang}/{pid}"


@pytest.fixture(scope="module")
def hotline() -> Flow:
    return load_flow(HOTLINE, PromptCatalog.load(CATALOG))


@dataclass
class Run:
    outcome: object
    steps: list[StepRecord]
    channel: object
    call: CallContext

    @property
    def path(self) -> list[str]:
        return [s.node for s in self.steps]

    def step(self, node: str) -> StepRecord:
        matches = [s for s in self.steps if s.node == node]
        assert len(matches) == 1, (node, self.path)
        return matches[0]


async def run_flow(flow: Flow, channel, language: str = "zh-CN", clock=None, call_log=None) -> Run:
    call_log = call_log if call_log is not None else MemoryCallLog()
    call_id = await call_log.call_started(CallStart("SIP/1-0001", "1700000000.1", "13812345678", "4000",
                                                    flow.name, flow.version, language, T0))
    call = CallContext(channel=channel, language=language, resolve_prompt=resolve)
    kwargs = {"clock": clock} if clock is not None else {}
    outcome = await FlowRunner(flow, call, call_log, call_id, **kwargs).run()
    steps = call_log.steps[call_id] if isinstance(call_log, MemoryCallLog) else []
    return Run(outcome, steps, channel, call)


def inline_flow(text: str) -> Flow:
    return parse_flow(textwrap.dedent(text), "inline.yaml", catalogue=None)


# --- the happy paths ----------------------------------------------------------


async def test_key_2_goes_to_account_services(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=["2"]))
    assert run.path == ["greeting", "main_menu", "account_services", "goodbye", "end"]
    assert [s.result for s in run.steps] == ["next", "2", "next", "next", "end"]
    assert run.outcome.outcome == "completed"
    assert run.outcome.last_node == "end"
    assert run.outcome.steps == 5
    menu = run.step("main_menu")
    assert menu.input == "2"
    assert menu.result == "2"
    assert menu.node_type == "menu"
    assert menu.detail == {"tries": [{"key": "2", "result": "chosen"}]}
    assert run.step("end").detail == {"reason": "completed"}
    assert run.channel.heard == ["zh-CN/welcome", "zh-CN/main_menu", "zh-CN/account_services", "zh-CN/goodbye"]
    assert run.channel.hung_up is True


@pytest.mark.parametrize(("key", "node", "prompt"), [
    ("1", "card_services", "card_services"),
    ("2", "account_services", "account_services"),
    ("0", "agent", "agent_busy"),
])
async def test_each_choice_reaches_its_node(hotline, key, node, prompt):
    run = await run_flow(hotline, ScriptedChannel(keys=[key]))
    assert run.path == ["greeting", "main_menu", node, "goodbye", "end"]
    assert f"zh-CN/{prompt}" in run.channel.heard
    assert run.outcome.outcome == "completed"


async def test_greeting_is_not_interruptible(hotline):
    # The key is not consumed by the greeting: it answers the menu, which is heard in full.
    run = await run_flow(hotline, ScriptedChannel(keys=["1"]))
    assert run.step("greeting").input is None
    assert run.channel.heard[:2] == ["zh-CN/welcome", "zh-CN/main_menu"]
    assert run.step("main_menu").result == "1"


async def test_en_us_resolves_en_us_prompts(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=["1"]), language="en-US")
    assert run.channel.heard == ["en-US/welcome", "en-US/main_menu", "en-US/card_services", "en-US/goodbye"]
    assert run.outcome.outcome == "completed"


async def test_catalogue_audio_paths_as_resolver(hotline):
    catalog = PromptCatalog.load(CATALOG)
    channel = ScriptedChannel(keys=["2"])
    call = CallContext(channel, "en-US", lambda pid, lang: str(catalog.audio_base(pid, lang)))
    log = MemoryCallLog(steps={1: []})
    outcome = await FlowRunner(hotline, call, log, 1).run()
    assert outcome.outcome == "completed"
    assert len(log.steps[1]) == 5
    assert channel.heard[0] == str(ROOT / "prompts" / "en-US" / "welcome")
    assert all(Path(p).with_suffix(".wav").is_file() for p in channel.heard)


# --- invalid / no input -----------------------------------------------------------


async def test_invalid_twice_fails_the_menu(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=["7", "7"]))
    assert run.path == ["greeting", "main_menu", "too_many_tries", "goodbye", "end"]
    menu = run.step("main_menu")
    assert menu.result == "failure"
    assert menu.input == "7,7"
    assert menu.detail == {"tries": [{"key": "7", "result": "invalid"}, {"key": "7", "result": "invalid"}]}
    assert run.outcome.outcome == "completed"
    # The invalid prompt after the first try only: no retry prompt after the last try.
    assert run.channel.heard == ["zh-CN/welcome", "zh-CN/main_menu", "zh-CN/invalid",
                                 "zh-CN/too_many_tries", "zh-CN/goodbye"]
    assert run.channel.heard.count("zh-CN/invalid") == 1


async def test_no_input_at_all_fails_the_menu(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=[]))
    menu = run.step("main_menu")
    assert menu.result == "failure"
    assert menu.input == "-,-"
    assert menu.detail == {"tries": [{"key": None, "result": "no_input"}, {"key": None, "result": "no_input"}]}
    assert run.channel.heard.count("zh-CN/no_input") == 1
    assert "zh-CN/invalid" not in run.channel.heard
    # Menu, no-input prompt, menu again, then the failure path.
    assert run.channel.heard == ["zh-CN/welcome", "zh-CN/main_menu", "zh-CN/no_input", "zh-CN/main_menu",
                                 "zh-CN/too_many_tries", "zh-CN/goodbye"]
    assert run.path[-3:] == ["too_many_tries", "goodbye", "end"]
    assert run.outcome.outcome == "completed"


async def test_silence_then_invalid(hotline):
    # menu prompt plays out, key wait times out, no-input prompt plays out, menu again -> '9'.
    run = await run_flow(hotline, ScriptedChannel(keys=[None, None, None, "9"]))
    menu = run.step("main_menu")
    assert menu.input == "-,9"
    assert menu.result == "failure"
    assert [t["result"] for t in menu.detail["tries"]] == ["no_input", "invalid"]


async def test_invalid_then_valid(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=["7", "1"]))
    menu = run.step("main_menu")
    assert menu.result == "1"
    assert menu.input == "7,1"
    assert menu.detail == {"tries": [{"key": "7", "result": "invalid"}, {"key": "1", "result": "chosen"}]}
    assert run.path == ["greeting", "main_menu", "card_services", "goodbye", "end"]


async def test_key_during_retry_prompt_answers_the_next_try(hotline):
    # '2' is pressed during the invalid prompt: the menu is not played again.
    run = await run_flow(hotline, ScriptedChannel(keys=["7", "2"]))
    assert run.channel.heard[:3] == ["zh-CN/welcome", "zh-CN/main_menu", "zh-CN/invalid"]
    assert run.channel.heard.count("zh-CN/main_menu") == 1
    assert run.step("main_menu").result == "2"
    assert "account_services" in run.path


async def test_retry_prompt_played_out_replays_the_menu(hotline):
    # '7', then the invalid prompt plays out (None): the menu is heard again and answered by '1'.
    run = await run_flow(hotline, ScriptedChannel(keys=["7", None, "1"]))
    assert run.channel.heard[:4] == ["zh-CN/welcome", "zh-CN/main_menu", "zh-CN/invalid", "zh-CN/main_menu"]
    assert run.step("main_menu").input == "7,1"
    assert "card_services" in run.path


async def test_key_after_the_menu_prompt_is_taken_from_the_wait(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=[None, "0"]))
    assert run.step("main_menu").input == "0"
    assert run.channel.heard.count("zh-CN/main_menu") == 1
    assert "agent" in run.path


# --- the caller hangs up ------------------------------------------------------------


async def test_caller_hangs_up_mid_menu(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=[], hangup_when_done=True))
    assert run.outcome.outcome == "caller_hangup"
    assert run.outcome.last_node == "main_menu"
    assert run.path == ["greeting", "main_menu"]
    last = run.steps[-1]
    assert last.result == "caller_hangup"
    assert last.input is None
    assert run.channel.hung_up is False  # the hangup node was never reached


async def test_caller_hangs_up_after_one_invalid_key(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=["7"], hangup_when_done=True))
    assert run.outcome.outcome == "caller_hangup"
    assert run.steps[-1].node == "main_menu"
    assert run.steps[-1].result == "caller_hangup"


# --- node errors -----------------------------------------------------------------------


@dataclass
class FailingChannel(ScriptedChannel):
    """A scripted caller whose play fails for some prompts."""

    fail_on: set[str] = field(default_factory=set)
    error: type[Exception] = RuntimeError

    async def play(self, prompt: str, escape_keys: str = "") -> str | None:
        if prompt in self.fail_on:
            raise self.error(f"cannot play {prompt}")
        return await super().play(prompt, escape_keys)


ERROR_FLOW = """\
flow: errors
languages: [en-US]
start: intro
nodes:
  intro:
    type: play
    prompt: broken
    next: main
    on_error: sorry
  main:
    type: play
    prompt: main
    next: end
  sorry:
    type: play
    prompt: sorry
    next: end
  end:
    type: hangup
"""


async def test_node_error_with_on_error_continues_at_the_error_node():
    flow = inline_flow(ERROR_FLOW)
    run = await run_flow(flow, FailingChannel(fail_on={"en-US/broken"}), language="en-US")
    assert run.path == ["intro", "sorry", "end"]
    intro = run.step("intro")
    assert intro.result == "error"
    assert intro.input is None
    assert intro.detail == {"error": "RuntimeError: cannot play en-US/broken"}
    assert run.channel.heard == ["en-US/sorry"]
    assert run.outcome.outcome == "completed"
    assert run.outcome.last_node == "end"


async def test_node_error_without_on_error_ends_the_call_with_error():
    flow = inline_flow(ERROR_FLOW.replace("    on_error: sorry\n", ""))
    run = await run_flow(flow, FailingChannel(fail_on={"en-US/broken"}), language="en-US")
    assert run.outcome.outcome == "error"
    assert run.outcome.last_node == "intro"
    assert run.outcome.steps == 1
    assert run.path == ["intro"]
    assert run.steps[0].result == "error"
    assert run.channel.heard == []


async def test_prompt_unavailable_in_the_hotline_menu_is_an_error(hotline):
    channel = FailingChannel(keys=["1"], fail_on={"zh-CN/main_menu"}, error=PromptUnavailable)
    run = await run_flow(hotline, channel)
    assert run.outcome.outcome == "error"
    assert run.outcome.last_node == "main_menu"
    assert run.steps[-1].detail["error"].startswith("PromptUnavailable: ")


async def test_channel_failure_ends_the_call_without_taking_on_error():
    flow = inline_flow(ERROR_FLOW)
    channel = FailingChannel(fail_on={"en-US/broken"}, error=ChannelFailure)
    run = await run_flow(flow, channel, language="en-US")
    assert run.outcome.outcome == "channel_error"
    assert run.outcome.last_node == "intro"
    assert run.path == ["intro"]
    assert run.steps[0].result == "channel_error"
    assert run.steps[0].detail == {"error": "cannot play en-US/broken"}
    assert run.channel.heard == []


async def test_error_node_that_fails_too_ends_with_error():
    flow = inline_flow(ERROR_FLOW)
    run = await run_flow(flow, FailingChannel(fail_on={"en-US/broken", "en-US/sorry"}), language="en-US")
    assert run.path == ["intro", "sorry"]
    assert run.outcome.outcome == "error"
    assert run.outcome.last_node == "sorry"


async def test_a_failing_call_log_does_not_lose_the_call(hotline):
    class BrokenLog(MemoryCallLog):
        async def step(self, call_id, step):
            raise ConnectionError("database is down")

    run = await run_flow(hotline, ScriptedChannel(keys=["2"]), call_log=BrokenLog())
    assert run.outcome.outcome == "completed"
    assert run.outcome.steps == 5
    assert run.channel.hung_up is True


# --- type-ahead ----------------------------------------------------------------------


TYPE_AHEAD_FLOW = """\
flow: typeahead
languages: [en-US]
start: intro
nodes:
  intro:
    type: play
    prompts: [first, second]
    interruptible: true
    next: menu
  menu:
    type: menu
    prompt: menu
    choices: {1: one, 2: two}
    max_tries: 1
    on_failure: failed
  one: {type: hangup, reason: one}
  two: {type: hangup, reason: two}
  failed: {type: hangup, reason: failed}
"""


async def test_key_typed_during_an_interruptible_play_answers_the_next_menu():
    run = await run_flow(inline_flow(TYPE_AHEAD_FLOW), ScriptedChannel(keys=["2"]), language="en-US")
    assert run.path == ["intro", "menu", "two"]
    intro = run.step("intro")
    assert intro.input == "2"
    assert intro.detail == {"interrupted_by_key": True, "prompt": "first"}
    assert run.step("menu").input == "2"
    assert run.step("two").detail == {"reason": "two"}
    # Neither the rest of the intro nor the menu prompt was played.
    assert run.channel.heard == ["en-US/first"]
    assert run.call.pending_keys == ""


async def test_interruptible_play_that_plays_out_keeps_nothing():
    run = await run_flow(inline_flow(TYPE_AHEAD_FLOW), ScriptedChannel(keys=[None, None, "1"]), language="en-US")
    assert run.step("intro").input is None
    assert run.step("intro").detail == {}
    assert run.channel.heard == ["en-US/first", "en-US/second", "en-US/menu"]
    assert run.path == ["intro", "menu", "one"]


async def test_invalid_typed_ahead_key_uses_a_try():
    run = await run_flow(inline_flow(TYPE_AHEAD_FLOW), ScriptedChannel(keys=["9"]), language="en-US")
    assert run.step("menu").input == "9"
    assert run.step("menu").result == "failure"
    assert run.path == ["intro", "menu", "failed"]


# --- loops, timing, sequence -------------------------------------------------------------


async def test_flow_that_loops_forever_hits_the_loop_limit():
    flow = inline_flow("""\
        flow: loop
        languages: [en-US]
        start: ping
        nodes:
          ping: {type: goto, target: pong}
          pong: {type: goto, target: ping}
        """)
    run = await run_flow(flow, ScriptedChannel(), language="en-US")
    assert run.outcome.outcome == "loop_limit"
    assert run.outcome.steps == MAX_STEPS
    assert len(run.steps) == MAX_STEPS
    assert run.path[:4] == ["ping", "pong", "ping", "pong"]
    assert all(s.result == "next" for s in run.steps)


async def test_menu_looping_back_via_goto_ends_normally():
    flow = inline_flow("""\
        flow: back
        languages: [en-US]
        start: menu
        nodes:
          menu:
            type: menu
            prompt: menu
            choices: {1: again, 2: bye}
            on_failure: bye
          again: {type: goto, target: menu}
          bye: {type: hangup}
        """)
    run = await run_flow(flow, ScriptedChannel(keys=["1", "1", "2"]), language="en-US")
    assert run.path == ["menu", "again", "menu", "again", "menu", "bye"]
    assert run.outcome.outcome == "completed"


class TickClock:
    """Each call returns one second later than the previous one."""

    def __init__(self):
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return T0 + timedelta(seconds=self.calls)


async def test_steps_have_timing_and_sequence_numbers(hotline):
    clock = TickClock()
    run = await run_flow(hotline, ScriptedChannel(keys=["7", "1"]), clock=clock)
    n = len(run.steps)
    assert n == 5
    assert [s.seq for s in run.steps] == list(range(1, n + 1))
    for i, step in enumerate(run.steps):
        # started = clock before the node ran, ended = clock when the step was recorded
        assert step.started_at == T0 + timedelta(seconds=2 * i + 1)
        assert step.ended_at == T0 + timedelta(seconds=2 * i + 2)
        assert step.started_at.tzinfo is not None
    assert clock.calls == 2 * n


async def test_default_clock_gives_ordered_utc_times(hotline):
    run = await run_flow(hotline, ScriptedChannel(keys=["2"]))
    assert [s.seq for s in run.steps] == [1, 2, 3, 4, 5]
    for step in run.steps:
        assert step.started_at.tzinfo == timezone.utc
        assert step.started_at <= step.ended_at
    for earlier, later in zip(run.steps, run.steps[1:]):
        assert earlier.ended_at <= later.started_at
    assert [s.node_type for s in run.steps] == ["play", "menu", "play", "play", "hangup"]


async def test_escape_keys_offered_by_menu_and_play(hotline):
    offered: list[tuple[str, str]] = []

    class Recording(ScriptedChannel):
        async def play(self, prompt, escape_keys=""):
            offered.append((prompt, escape_keys))
            return await super().play(prompt, escape_keys)

    await run_flow(hotline, Recording(keys=["2"]))
    assert offered == [("zh-CN/welcome", ""), ("zh-CN/main_menu", ALL_KEYS),
                       ("zh-CN/account_services", ""), ("zh-CN/goodbye", "")]


MULTI_KEY = """
flow: t
languages: [zh-CN]
start: m
nodes:
  m:
    type: menu
    prompt: main_menu
    choices: {1: one, 11: eleven, 2: two}
    inter_digit_timeout: 1
    max_tries: 2
    on_failure: fail
  one: {type: hangup, reason: one}
  eleven: {type: hangup, reason: eleven}
  two: {type: hangup, reason: two}
  fail: {type: hangup, reason: fail}
"""


@pytest.mark.parametrize("keys, node, menu_input", [
    (["1", "1"], "eleven", "11"),      # second key within the inter-digit timeout
    (["1", None], "one", "1"),         # inter-digit timeout: the shorter choice stands
    (["2"], "two", "2"),               # no longer choice starts with 2: no wait
    (["1", "3", None, "2"], "two", "13,2"),  # 13 is no choice: invalid, then 2
])
async def test_multi_key_menu_choices(keys, node, menu_input):
    flow = parse_flow(textwrap.dedent(MULTI_KEY), "flows/t.yaml")
    run = await run_flow(flow, ScriptedChannel(keys=list(keys)))
    assert run.path[-1] == node
    assert run.steps[0].input == menu_input
