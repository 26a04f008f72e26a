"""The `collect` node through small inline flows, a scripted caller and the in-memory call log.

A ScriptedChannel entry answers the next interruptible prompt or key wait; None
is a prompt that plays out or a wait that times out.
"""
import textwrap
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from ivr.call import CallContext
from ivr.call_log import CallStart, MemoryCallLog, StepRecord
from ivr.fake_channel import ScriptedChannel
from ivr.flow import Flow, parse_flow
from ivr.nodes import FlowError
from ivr.nodes.collect import CollectNode
from ivr.runner import FlowRunner

CARD = "4111111111111111"
OTHER_CARD = "5555555555554444"
BAD_CARD = "4111111111111112"  # Luhn check digit off by one

FLOW = """\
flow: collect
languages: [en-US]
start: card
nodes:
  card:
    type: collect
    prompt: enter_card
    variable: card_number
    min_length: 16
    max_length: 19
    terminator: "#"
    timeout: 6
    inter_digit_timeout: 3
    validator: luhn
    max_tries: 3
    invalid_prompt: card_invalid
    no_input_prompt: no_input
    next: done
    on_failure: failed
  done: {type: hangup, reason: done}
  failed: {type: hangup, reason: failed}
"""


def flow(text: str = FLOW, **changes: str) -> Flow:
    """The card flow with some keys of the `card` node replaced, e.g. validator="pin"."""
    for key, value in changes.items():
        lines = [line for line in text.splitlines(keepends=True) if not line.startswith(f"    {key}:")]
        text = "".join(lines).replace("    next: done\n", f"    {key}: {value}\n    next: done\n")
    return parse_flow(textwrap.dedent(text), "flows/t.yaml")


@dataclass
class TimedChannel(ScriptedChannel):
    """A scripted caller that also records how long each key wait would last."""

    waits: list[float] = field(default_factory=list)

    async def wait_key(self, timeout_s: float) -> str | None:
        self.waits.append(timeout_s)
        return await super().wait_key(timeout_s)


@dataclass
class Run:
    steps: list[StepRecord]
    channel: TimedChannel
    call: CallContext
    outcome: object

    @property
    def card(self) -> StepRecord:
        return self.steps[0]

    @property
    def heard(self) -> list[str]:
        return [p.split("/", 1)[1] for p in self.channel.heard]

    @property
    def tries(self) -> list[dict]:
        return self.card.detail["tries"]


async def run(f: Flow, *script, pending: str = "", hangup_when_done: bool = False) -> Run:
    """Run `f`; each script item is a key string (split into keys) or None."""
    keys: list[str | None] = []
    for item in script:
        keys.extend([None] if item is None else list(item))
    channel = TimedChannel(keys=keys, hangup_when_done=hangup_when_done)
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("SIP/1-0001", "1.1", "13800000000", "4000", f.name, f.version,
                                               "en-US", datetime(2024, 5, 1)))
    call = CallContext(channel=channel, language="en-US", resolve_prompt=lambda pid, lang: f"{lang}/{pid}",
                       pending_keys=pending)
    outcome = await FlowRunner(f, call, log, call_id).run()
    return Run(log.steps[call_id], channel, call, outcome)


# --- ending an entry ----------------------------------------------------------------------


async def test_terminator_ends_the_entry():
    r = await run(flow(), None, CARD + "#")
    assert r.card.result == "next"
    assert r.call.variables["card_number"] == CARD
    assert r.tries == [{"length": 16, "result": "ok"}]
    assert r.heard == ["enter_card"]
    assert [s.node for s in r.steps] == ["card", "done"]


async def test_first_key_may_interrupt_the_prompt():
    r = await run(flow(), CARD + "#")
    assert r.call.variables["card_number"] == CARD
    assert r.heard == ["enter_card"]
    # The prompt took the first key; the first wait is then already between digits.
    assert r.channel.waits == [3] * 16


async def test_timeouts_first_key_then_between_keys():
    r = await run(flow(), None, CARD + "#")
    assert r.channel.waits == [6] + [3] * 16


async def test_max_length_finishes_without_a_terminator():
    r = await run(flow(max_length="16"), None, CARD + "9")
    assert r.call.variables["card_number"] == CARD
    assert r.tries == [{"length": 16, "result": "ok"}]
    assert r.channel.keys == ["9"]  # never read: it belongs to whatever comes next
    assert len(r.channel.waits) == 1 + 15


async def test_silence_between_keys_ends_the_entry():
    r = await run(flow(), None, CARD, None)
    assert r.card.result == "next"
    assert r.call.variables["card_number"] == CARD


async def test_star_terminator():
    r = await run(flow(validator="digits", min_length="1", terminator='"*"'), "1234*")
    assert r.call.variables["card_number"] == "1234"
    assert r.card.input == "1234"


# --- failed tries ---------------------------------------------------------------------------


async def test_too_short_then_valid():
    r = await run(flow(), None, "4111#", None, None, CARD + "#")
    assert r.tries == [{"length": 4, "result": "too_short"}, {"length": 16, "result": "ok"}]
    # After the retry prompt played out, the request is heard again.
    assert r.heard == ["enter_card", "card_invalid", "enter_card"]
    assert r.call.variables["card_number"] == CARD


async def test_pause_mid_entry_is_too_short():
    r = await run(flow(), None, "41111111", None, "5555555555554444#")
    assert r.tries[0] == {"length": 8, "result": "too_short"}
    assert r.call.variables["card_number"] == OTHER_CARD


async def test_lone_terminator_is_too_short_not_silence():
    r = await run(flow(max_tries="1"), None, "#")
    assert r.tries == [{"length": 0, "result": "too_short"}]
    assert r.card.result == "failure"


async def test_invalid_luhn_then_valid_typed_during_the_retry_prompt():
    r = await run(flow(), None, BAD_CARD + "#", OTHER_CARD + "#")
    assert r.tries == [{"length": 16, "result": "invalid:checksum"}, {"length": 16, "result": "ok"}]
    assert r.heard == ["enter_card", "card_invalid"]  # typing cut the retry prompt short
    assert r.call.variables["card_number"] == OTHER_CARD
    assert r.card.input == "************4444"


async def test_no_input_then_valid():
    r = await run(flow(), None, None, None, CARD + "#")
    assert r.tries == [{"length": 0, "result": "no_input"}, {"length": 16, "result": "ok"}]
    assert r.heard == ["enter_card", "no_input", "enter_card"]


async def test_failure_exit_after_max_tries():
    r = await run(flow(), None, BAD_CARD + "#", None, None, "4111#", None, None, None)
    assert r.card.result == "failure"
    assert r.card.input is None
    assert r.tries == [{"length": 16, "result": "invalid:checksum"}, {"length": 4, "result": "too_short"},
                       {"length": 0, "result": "no_input"}]
    # A retry prompt after each try but the last.
    assert r.heard == ["enter_card", "card_invalid", "enter_card", "card_invalid", "enter_card"]
    assert [s.node for s in r.steps] == ["card", "failed"]
    assert "card_number" not in r.call.variables
    assert "card_number" not in r.call.secret_variables


async def test_without_retry_prompts_the_request_is_repeated():
    text = FLOW.replace("    invalid_prompt: card_invalid\n    no_input_prompt: no_input\n", "")
    r = await run(flow(text), None, None, None, CARD + "#")
    assert r.heard == ["enter_card", "enter_card"]
    assert r.call.variables["card_number"] == CARD


async def test_caller_hangs_up_mid_entry():
    r = await run(flow(), None, "4111", hangup_when_done=True)
    assert r.outcome.outcome == "caller_hangup"
    assert r.card.result == "caller_hangup"
    assert r.card.input is None


# --- type-ahead ---------------------------------------------------------------------------------


async def test_typed_ahead_keys_are_read_first_and_the_prompt_skipped():
    r = await run(flow(), pending=CARD + "#")
    assert r.call.variables["card_number"] == CARD
    assert r.heard == []
    assert r.channel.waits == []
    assert r.call.pending_keys == ""


async def test_typed_ahead_keys_continue_from_the_keypad():
    r = await run(flow(), CARD[4:] + "#", pending=CARD[:4])
    assert r.call.variables["card_number"] == CARD
    assert r.heard == []


async def test_keys_after_the_terminator_stay_for_the_next_node():
    r = await run(flow(), pending=CARD + "#12")
    assert r.call.variables["card_number"] == CARD
    assert r.call.pending_keys == "12"


async def test_key_pressed_during_an_interruptible_play_starts_the_entry():
    text = FLOW.replace("start: card\nnodes:\n", "start: intro\nnodes:\n  intro:\n    type: play\n"
                        "    prompt: intro\n    interruptible: true\n    next: card\n")
    r = await run(flow(text), CARD + "#")
    assert [s.node for s in r.steps] == ["intro", "card", "done"]
    assert r.heard == ["intro"]
    assert r.call.variables["card_number"] == CARD


# --- secrets and other validators ---------------------------------------------------------------------


async def test_secret_card_number_never_appears_in_the_steps():
    r = await run(flow(), None, BAD_CARD + "#", CARD + "#")
    assert r.call.variables["card_number"] == CARD
    assert r.call.secret_variables == {"card_number"}
    assert r.card.input == "************1111"
    for raw in (CARD, BAD_CARD, CARD[:12], BAD_CARD[:12]):
        assert raw not in repr(r.steps)


async def test_secret_can_be_turned_off():
    r = await run(flow(secret="false"), CARD + "#")
    assert r.card.input == CARD
    assert r.call.secret_variables == set()


async def test_id_last4_star_is_stored_as_x_and_fully_masked():
    r = await run(flow(validator="cn_id_last4", min_length="4", max_length="4"), "123*")
    assert r.call.variables["card_number"] == "123X"
    assert r.card.input == "****"
    assert r.call.secret_variables == {"card_number"}
    assert r.tries == [{"length": 4, "result": "ok"}]


async def test_pin_rules_and_masking():
    r = await run(flow(validator="pin", min_length="4", max_length="6"), "1234#", "2580#")
    assert r.tries == [{"length": 4, "result": "invalid:sequence"}, {"length": 4, "result": "ok"}]
    assert r.card.input == "****"
    assert r.call.variables["card_number"] == "2580"
    assert "2580" not in repr(r.steps) and "1234" not in repr(r.steps)


async def test_amount_is_not_secret_and_stored_with_a_point():
    r = await run(flow(validator="amount", min_length="1", max_length="10"), "12*50#")
    assert r.call.variables["card_number"] == "12.50"
    assert r.card.input == "12*50"  # as typed
    assert r.call.secret_variables == set()


async def test_a_secret_digits_entry_is_masked():
    r = await run(flow(validator="digits", min_length="6", max_length="6", secret="true"), "123456")
    assert r.card.input == "******"
    assert r.call.secret_variables == {"card_number"}


async def test_digits_validator_rejects_star():
    r = await run(flow(validator="digits", min_length="1", max_tries="1"), "12*4#")
    assert r.tries == [{"length": 4, "result": "invalid:not_digits"}]


# --- parsing -------------------------------------------------------------------------------------------


def test_defaults_and_prompt_ids():
    node = flow(FLOW.replace("    min_length: 16\n    max_length: 19\n    terminator: \"#\"\n"
                             "    timeout: 6\n    inter_digit_timeout: 3\n    validator: luhn\n    max_tries: 3\n",
                             "")).node("card")
    assert isinstance(node, CollectNode)
    assert (node.min_length, node.max_length, node.terminator, node.timeout, node.inter_digit_timeout) == \
        (1, 20, "#", 6.0, 3.0)
    assert (node.validator, node.secret, node.max_tries) == ("digits", False, 3)
    assert node.exits == {"next": "done", "failure": "failed"}
    assert node.prompt_ids() == ("enter_card", "card_invalid", "no_input")


@pytest.mark.parametrize(("changes", "message"), [
    ({"min_length": "20"}, "'min_length' (20) is more than 'max_length' (19)"),
    ({"validator": "iban"}, "unknown validator 'iban' (known: amount, cn_id_last4, digits, luhn, pin)"),
    ({"validator": "amount", "terminator": '"*"'}, "'*' cannot end input for validator 'amount'"),
    ({"validator": "cn_id_last4", "terminator": '"*"'}, "'*' cannot end input for validator 'cn_id_last4'"),
    ({"terminator": "#"}, "'terminator' is empty: write it quoted"),
    ({"terminator": '"5"'}, "'terminator' must be '#' or '*', got '5'"),
    ({"variable": "card-number"}, "variable 'card-number' must be letters, digits and _"),
    ({"max_tries": "2.5"}, "'max_tries' must be a whole number"),
    ({"max_length": "65"}, "'max_length' must be between 1 and 64"),
    ({"inter_digit_timeout": "0"}, "'inter_digit_timeout' must be between 0.5 and 30"),
    ({"secret": "yes please"}, "'secret' must be true or false"),
    ({"prompts": "x"}, "unknown key 'prompts'"),
])
def test_bad_collect_nodes_are_flow_errors_with_a_line(changes, message):
    with pytest.raises(FlowError) as excinfo:
        flow(**changes)
    assert message in str(excinfo.value)
    assert str(excinfo.value).startswith("flows/t.yaml:")
    assert excinfo.value.node == "card"


def test_missing_exits_are_flow_errors():
    with pytest.raises(FlowError, match="missing required key 'on_failure'"):
        flow(FLOW.replace("    on_failure: failed\n", ""))
