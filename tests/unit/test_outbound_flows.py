"""Outbound flows: the `result` node, the contact variables, direction, and the shipped campaign flows."""
import textwrap
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from ivr.call import CallContext, Services
from ivr.call_log import CallStart, MemoryCallLog
from ivr.fake_channel import ScriptedChannel
from ivr.flow import parse_flow
from ivr.flow_tests import run_scenario
from ivr.lint import lint_flow
from ivr.located_yaml import load_located
from ivr.nodes import FlowError
from ivr.nodes.result import to_json_value
from ivr.outbound import outbound_variables, parse_attempt_id
from ivr.runner import FlowRunner


def flow(text: str, name: str = "t"):
    return parse_flow(textwrap.dedent(text), f"flows/{name}.yaml")


async def run(main, keys=(), variables=None, secret=(), sink=None):
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("PJSIP/x-1", "1.1", "13812345678", "", main.name, main.version,
                                               "zh-CN", datetime.now(timezone.utc)))
    call = CallContext(ScriptedChannel(keys=list(keys)), "zh-CN", lambda p, lang: f"{lang}/{p}",
                       dict(variables or {}), Services(), secret_variables=set(secret), results_sink=sink)
    outcome = await FlowRunner(main, call, log, call_id).run()
    return outcome, log.steps[call_id], call


RESULT_FLOW = """
flow: r
languages: [zh-CN]
direction: outbound
start: record
nodes:
  record:
    type: result
    values: {promise_amount: contact.due_amount, promise: true, when: contact.due_date, term: 6}
    next: end
    on_error: broken
  broken: {type: hangup, reason: result_failed}
  end: {type: hangup}
"""


async def test_result_node_records_plain_values_and_writes_them_at_once():
    written = []

    async def sink(values):
        written.append(values)

    contact = {"due_amount": Decimal("1280.50"), "due_date": "2026-03-03"}
    outcome, steps, call = await run(flow(RESULT_FLOW), variables={"contact": contact}, sink=sink)
    expected = {"promise_amount": "1280.50", "promise": True, "when": "2026-03-03", "term": 6}
    assert call.results == expected
    assert written == [expected]  # written when the node ran, not at the end of the call
    assert steps[0].detail == {"results": sorted(expected)}  # names only in the step record


async def test_result_from_a_secret_variable_is_refused():
    main = flow("""
    flow: r
    languages: [zh-CN]
    start: record
    nodes:
      record: {type: result, values: {card: card_number}, next: end, on_error: broken}
      broken: {type: hangup, reason: result_failed}
      end: {type: hangup}
    """)
    outcome, steps, call = await run(main, variables={"card_number": "6222021000012349"}, secret={"card_number"})
    assert call.results == {}
    assert steps[0].result == "error" and steps[1].node == "broken"
    assert "6222021000012349" not in repr(steps)


async def test_a_failing_sink_does_not_break_the_call():
    # The IVR service's sink logs and swallows database errors; a sink that raises is a node error.
    async def sink(values):
        raise RuntimeError("db down")

    outcome, steps, call = await run(flow(RESULT_FLOW), variables={"contact": {"due_amount": 1, "due_date": None}},
                                     sink=sink)
    assert steps[-1].node == "broken"


def test_json_values_are_exact_and_plain():
    assert to_json_value(Decimal("0.10")) == "0.10"
    assert to_json_value(0.1) == "0.1"
    assert to_json_value(date(2026, 3, 3)) == "2026-03-03"
    assert to_json_value({"a": [1, Decimal("2.5"), None]}) == {"a": [1, "2.5", None]}
    with pytest.raises(ValueError):
        to_json_value(object())


def test_result_node_needs_values():
    with pytest.raises(FlowError, match="values"):
        flow("""
        flow: r
        languages: [zh-CN]
        start: record
        nodes:
          record: {type: result, values: {}, next: end}
          end: {type: hangup}
        """)


def test_direction_is_checked_and_outbound_flows_may_read_the_contact():
    with pytest.raises(FlowError, match="direction"):
        flow("""
        flow: r
        languages: [zh-CN]
        direction: sideways
        start: end
        nodes:
          end: {type: hangup}
        """)
    inbound = flow(RESULT_FLOW.replace("direction: outbound\n", ""))
    assert inbound.direction == "inbound"
    assert any("'contact' is read but no node sets it" in f.message for f in lint_flow(inbound))
    assert not [f for f in lint_flow(flow(RESULT_FLOW)) if "is read" in f.message]


def test_attempt_argument_parsing():
    assert parse_attempt_id("42") == 42
    assert parse_attempt_id(" 7 ") == 7
    for bad in (None, "", "0", "-1", "abc", "1e3", "9" * 30):
        assert parse_attempt_id(bad) is None


def test_contact_variables_from_the_dialer_row():
    row = {"attempt_id": 9, "campaign_id": 3, "attempt_no": 2, "kind": "collection", "name": "张伟",
           "account_ref": "C1004", "due_amount": Decimal("560.75"), "due_date": date(2026, 12, 5),
           "custom": '{"branch": "Pudong"}'}
    variables = outbound_variables(row)
    assert variables["contact"] == {"name": "张伟", "account_ref": "C1004", "due_amount": Decimal("560.75"),
                                    "due_date": "2026-12-05", "custom": {"branch": "Pudong"}, "attempt_no": 2}
    assert (variables["campaign_id"], variables["campaign_kind"], variables["attempt_id"]) == (3, "collection", 9)
    empty = outbound_variables({**row, "due_amount": None, "due_date": None, "custom": {}, "name": None})
    assert empty["contact"]["due_amount"] is None and empty["contact"]["name"] == ""


async def test_scenario_results_expectation_can_fail():
    from pathlib import Path

    from ivr.flow import load_flow

    main = load_flow(Path("flows/outbound_care.yaml"))
    scenario = load_located(textwrap.dedent("""
    name: wrong expectation
    variables: {contact: {name: x, account_ref: C1, due_amount: null, due_date: null, custom: {}, attempt_no: 1}}
    input: ["5"]
    expect:
      results: {survey_score: 4, wants_agent: false, never_recorded: 1}
    """), "t.yaml")
    result = await run_scenario(main, {main.name: main}, scenario, "t.yaml")
    assert any("survey_score" in f for f in result.failures)
    assert any("never_recorded" in f for f in result.failures)
    assert not any("wants_agent" in f for f in result.failures)


@pytest.mark.parametrize("name", ["outbound_activation", "outbound_installments", "outbound_collection",
                                  "outbound_care"])
def test_every_campaign_kind_has_an_outbound_flow_in_both_languages(name):
    from pathlib import Path

    from ivr.flow import load_flow

    shipped = load_flow(Path(f"flows/{name}.yaml"))
    assert shipped.direction == "outbound"
    assert set(shipped.languages) == {"zh-CN", "en-US"}
    assert any(node.type_name == "result" for node in shipped.nodes.values())
