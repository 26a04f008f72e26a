"""The `set`, `branch` and `switch` nodes: parsing (errors name file, line and node) and running in small flows."""
import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from ivr.call import CallContext
from ivr.call_log import CallStart, MemoryCallLog, StepRecord
from ivr.fake_channel import ScriptedChannel
from ivr.flow import Flow, parse_flow
from ivr.nodes import NODE_TYPES, FlowError
from ivr.nodes.branch import BranchNode
from ivr.nodes.set import SetNode
from ivr.nodes.switch import SwitchNode
from ivr.runner import CallOutcome, FlowRunner

FILE = "flows/t.yaml"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


ENDS = """\
good: {type: hangup, reason: good}
bad: {type: hangup, reason: bad}
oops: {type: hangup, reason: oops}
"""


def flow(nodes: str, start: str = "start") -> Flow:
    """A flow with these nodes and the ENDS; node lines start at line 5, indented by two under `nodes:`."""
    header = f"flow: t\nlanguages: [en-US]\nstart: {start}\nnodes:\n"
    return parse_flow(header + textwrap.indent(textwrap.dedent(nodes) + ENDS, "  "), FILE)


def flow_error(nodes: str, start: str = "start") -> FlowError:
    with pytest.raises(FlowError) as info:
        flow(nodes, start)
    return info.value


@dataclass
class Run:
    outcome: CallOutcome
    steps: list[StepRecord]
    call: CallContext

    @property
    def path(self) -> list[str]:
        return [s.node for s in self.steps]

    def step(self, node: str) -> StepRecord:
        (step,) = [s for s in self.steps if s.node == node]
        return step


async def run(flow_: Flow, variables: dict | None = None, secret: set[str] | None = None) -> Run:
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("SIP/1-0001", "1700000000.1", "13812345678", "4000",
                                               flow_.name, flow_.version, "en-US", T0))
    call = CallContext(channel=ScriptedChannel(), language="en-US", resolve_prompt=lambda p, lang: f"{lang}/{p}",
                       variables=dict(variables or {}), secret_variables=set(secret or ()))
    outcome = await FlowRunner(flow_, call, log, call_id).run()
    return Run(outcome, log.steps[call_id], call)


def test_node_types_are_registered_with_a_schema():
    for name, cls in [("set", SetNode), ("branch", BranchNode), ("switch", SwitchNode)]:
        assert NODE_TYPES[name] is cls
        assert set(cls.schema["required"]) <= set(cls.schema["properties"])
    assert set(BranchNode.schema["required"]) == {"condition", "then", "else"}
    assert set(SwitchNode.schema["required"]) == {"value", "cases", "default"}
    assert set(SetNode.schema["required"]) == {"vars", "next"}


# --- set ------------------------------------------------------------------------------------


async def test_set_assigns_and_records_only_the_names():
    run_ = await run(flow("""\
        start:
          type: set
          vars:
            tries: tries + 1
            last4: last(card_number, 4)
            fee: 0.1 + 0.2
            verified: false
            label: "'card ' + last(card_number, 4)"
          next: good
        """), {"tries": 0, "card_number": "6222020012345678"})
    assert run_.path == ["start", "good"]
    assert run_.call.variables == {"tries": 1, "card_number": "6222020012345678", "last4": "5678",
                                   "fee": Decimal("0.3"), "verified": False, "label": "card 5678"}
    step = run_.step("start")
    assert (step.node_type, step.result, step.input) == ("set", "next", None)
    assert step.detail == {"set": ["tries", "last4", "fee", "verified", "label"]}
    assert "5678" not in repr(step.detail)


async def test_set_evaluates_everything_before_assigning():
    run_ = await run(flow("""\
        start: {type: set, vars: {a: b, b: a}, next: good}
        """), {"a": 1, "b": 2})
    assert run_.call.variables == {"a": 2, "b": 1}


async def test_a_variable_computed_from_a_secret_is_secret():
    run_ = await run(flow("""\
        start:
          type: set
          vars: {last4: "last(card_number, 4)", has_card: "defined('card_number')", greeting: "'hello'"}
          next: good
        """), {"card_number": "6222020012345678"}, secret={"card_number"})
    assert run_.call.secret_variables == {"card_number", "last4"}


async def test_a_failing_set_changes_nothing_and_takes_on_error():
    run_ = await run(flow("""\
        start:
          type: set
          vars: {a: 1, b: missing + 1}
          next: good
          on_error: oops
        """))
    assert run_.path == ["start", "oops"]
    assert run_.step("start").result == "error"
    assert run_.step("start").detail == {"error": "EvaluationError: undefined variable 'missing'"}
    assert run_.call.variables == {}
    assert run_.outcome.outcome == "completed"


async def test_a_failing_set_without_on_error_ends_the_call_with_error():
    run_ = await run(flow("""\
        start: {type: set, vars: {a: 1 / 0}, next: good}
        """))
    assert run_.path == ["start"]
    assert run_.outcome.outcome == "error"
    assert run_.step("start").detail == {"error": "EvaluationError: division by zero"}


@pytest.mark.parametrize(("nodes", "line", "column", "message"), [
    ("start:\n  type: set\n  vars:\n    ok: 1\n    total: (1 + 2\n  next: good\n", 9, 7,
     "in 'vars': total: expected ')' to close '(' from column 1, found end of expression at column 7"),
    ("start:\n  type: set\n  vars:\n    2fast: 1\n  next: good\n", 8, 7,
     "in 'vars': '2fast' is not a variable name (letters, digits and _, not starting with a digit, not a keyword)"),
    ("start:\n  type: set\n  vars:\n    x: [1, 2]\n  next: good\n", 8, 7,
     "in 'vars': x: an expression must be text, a number or true/false, not list"),
    ("start:\n  type: set\n  vars:\n    x:\n  next: good\n", 8, 7,
     "in 'vars': x: an expression must be text, a number or true/false, not null"),
    ("start:\n  type: set\n  vars: {}\n  next: good\n", 7, 5, "'vars' must set at least one variable"),
    ("start:\n  type: set\n  vars: a + 1\n  next: good\n", 7, 5, "'vars' must be a mapping"),
    ("start:\n  type: set\n  vars: {a: 1}\n", 6, 5, "missing required key 'next'"),
    ("start:\n  type: set\n  var: {a: 1}\n  next: good\n", 7, 5, "unknown key 'var' (did you mean 'vars'?)"),
    ("start:\n  type: set\n  vars: {a: 1}\n  next: good\n  then: bad\n", 9, 5, "unknown key 'then' for a set node"),
])
def test_set_parse_errors_name_file_line_and_node(nodes, line, column, message):
    error = flow_error(nodes)
    assert str(error) == f"{FILE}:{line}:{column}: node 'start': {message}"
    assert (error.location.line, error.node) == (line, "start")


# --- branch ----------------------------------------------------------------------------------

BRANCH = """\
start:
  type: branch
  condition: customer.status == 'blocked' or tries >= 3
  then: good
  else: bad
"""


@pytest.mark.parametrize(("variables", "taken"), [
    ({"customer": {"status": "blocked"}, "tries": 0}, "good"),
    ({"customer": {"status": "active"}, "tries": 3}, "good"),
    ({"customer": {"status": "active"}, "tries": 1}, "bad"),
])
async def test_branch_takes_then_or_else(variables, taken):
    run_ = await run(flow(BRANCH), variables)
    assert run_.path == ["start", taken]
    assert run_.step("start").result == {"good": "then", "bad": "else"}[taken]
    assert run_.step("start").detail == {}
    assert run_.step(taken).detail == {"reason": taken}


@pytest.mark.parametrize(("condition", "taken"), [
    ("true", "good"), ("false", "bad"), ("1", "good"), ("0", "bad"), ("\"''\"", "bad"), ("'[]'", "bad"), ("'[0]'", "good"),
    ("\"defined('x')\"", "bad"),
])
async def test_branch_conditions_written_as_yaml_scalars(condition, taken):
    # `condition: true` and `condition: 0` are YAML booleans / numbers, read as their own text.
    run_ = await run(flow(f"start: {{type: branch, condition: {condition}, then: good, else: bad}}\n"))
    assert run_.path == ["start", taken]


async def test_branch_evaluation_error_takes_on_error():
    run_ = await run(flow(BRANCH.replace("  else: bad\n", "  else: bad\n  on_error: oops\n")), {"tries": 5})
    assert run_.path == ["start", "oops"]
    assert run_.step("start").detail == {"error": "EvaluationError: undefined variable 'customer'"}


async def test_branch_comparing_dtmf_text_with_a_number_is_an_error_not_a_silent_else():
    run_ = await run(flow("start: {type: branch, condition: digits == 1, then: good, else: bad}\n"),
                     {"digits": "1"})
    assert run_.outcome.outcome == "error"
    assert run_.step("start").detail == {"error": "EvaluationError: cannot compare string with number"}


async def test_set_and_branch_make_a_counted_loop():
    run_ = await run(flow("""\
        start: {type: set, vars: {tries: 0}, next: count}
        count: {type: set, vars: {tries: tries + 1}, next: check}
        check:
          type: branch
          condition: tries < 3
          then: count
          else: good
        """))
    assert run_.path == ["start", "count", "check", "count", "check", "count", "check", "good"]
    assert run_.call.variables == {"tries": 3}
    assert [s.result for s in run_.steps if s.node == "check"] == ["then", "then", "else"]


@pytest.mark.parametrize(("nodes", "line", "column", "message"), [
    ("check:\n  type: branch\n  condition: (tries > 1))\n  then: good\n  else: bad\n", 7, 5,
     "in 'condition': unexpected ')' at column 12"),
    ("check:\n  type: branch\n  condition: tries >\n  then: good\n  else: bad\n", 7, 5,
     "in 'condition': unexpected end of expression at column 8"),
    ("check:\n  type: branch\n  condition: whatever(1)\n  then: good\n  else: bad\n", 7, 5,
     "in 'condition': unknown function 'whatever' at column 1 (functions: contains, defined, empty, endswith, "
     "int, last, len, lower, number, startswith, str, upper)"),
    ("check:\n  type: branch\n  condition: [a]\n  then: good\n  else: bad\n", 7, 5,
     "in 'condition': an expression must be text, a number or true/false, not list"),
    ("check:\n  type: branch\n  condition: ''\n  then: good\n  else: bad\n", 7, 5,
     "in 'condition': the expression is empty"),
    ("check:\n  type: branch\n  then: good\n  else: bad\n", 6, 5, "missing required key 'condition'"),
    ("check:\n  type: branch\n  condition: a\n  then: good\n", 6, 5, "missing required key 'else'"),
    ("check:\n  type: branch\n  condition: a\n  then: good\n  else: nowhere\n", 9, 5,
     "exit 'else' leads to missing node 'nowhere'"),
    ("check:\n  type: branch\n  condition: a\n  then: good\n  else: bad\n  next: good\n", 10, 5,
     "unknown key 'next' for a branch node"),
])
def test_branch_parse_errors_name_file_line_and_node(nodes, line, column, message):
    error = flow_error(nodes, start="check")
    assert str(error) == f"{FILE}:{line}:{column}: node 'check': {message}"
    assert (error.location.line, error.node) == (line, "check")


# --- switch -----------------------------------------------------------------------------------

SWITCH = """\
start:
  type: switch
  value: kind
  cases:
    debit: good
    1: bad
    'true': oops
  default: end
end: {type: hangup, reason: default}
"""


@pytest.mark.parametrize(("value", "taken", "result"), [
    ("debit", "good", "debit"),
    (1, "bad", "1"),
    ("1", "bad", "1"),
    (True, "oops", "true"),
    ("credit", "end", "default"),
    ("DEBIT", "end", "default"),
    (Decimal("1.0"), "end", "default"),  # compared as text: '1.0' is not '1'
    (None, "end", "default"),
])
async def test_switch_compares_the_value_as_text(value, taken, result):
    run_ = await run(flow(SWITCH), {"kind": value})
    assert run_.path == ["start", taken]
    assert run_.step("start").result == result
    assert run_.step("start").detail == {}


def test_nodes_tell_the_linter_what_they_read_and_write():
    flow_ = flow("""\
        start: {type: set, vars: {total: "amount + fee", seen: "defined('pin')", flag: true}, next: check}
        check: {type: branch, condition: "customer.status == 'ok' and tries < 3", then: pick, else: bad}
        pick: {type: switch, value: "last(card_number, 1)", cases: {1: good}, default: bad}
        """)
    start, check, pick = (flow_.node(n) for n in ("start", "check", "pick"))
    assert (start.reads(), start.writes()) == ({"amount", "fee"}, {"total", "seen", "flag"})
    assert (check.reads(), check.writes()) == ({"customer", "tries"}, frozenset())
    assert (pick.reads(), pick.writes()) == ({"card_number"}, frozenset())


def test_switch_exits_are_the_cases_and_default():
    node = flow(SWITCH).node("start")
    assert node.exits == {"debit": "good", "1": "bad", "true": "oops", "default": "end"}
    assert node.cases == ("debit", "1", "true")


async def test_switch_on_an_expression():
    run_ = await run(flow("""\
        start:
          type: switch
          value: last(card_number, 1)
          cases: {8: good, 9: bad}
          default: oops
        """), {"card_number": "6222020012345678"})
    assert run_.path == ["start", "good"]


async def test_switch_on_a_list_is_a_node_error():
    run_ = await run(flow(SWITCH.replace("  default: end\n", "  default: end\n  on_error: oops\n")),
                     {"kind": ["debit"]})
    assert run_.path == ["start", "oops"]
    assert run_.step("start").detail == {"error": "EvaluationError: cannot turn a list into text"}


@pytest.mark.parametrize(("nodes", "line", "column", "message"), [
    ("pick:\n  type: switch\n  value: kind +\n  cases: {a: good}\n  default: bad\n", 7, 5,
     "in 'value': unexpected end of expression at column 7"),
    ("pick:\n  type: switch\n  value: kind\n  cases:\n    a: good\n    default: bad\n  default: bad\n", 10, 7,
     "case 'default' is reserved for the node's own 'default' exit"),
    ("pick:\n  type: switch\n  value: kind\n  cases:\n    error: good\n  default: bad\n", 9, 7,
     "case 'error' is reserved for the node's own 'error' exit"),
    ("pick:\n  type: switch\n  value: kind\n  cases: {}\n  default: bad\n", 8, 5, "a switch needs at least one case"),
    ("pick:\n  type: switch\n  value: kind\n  cases: [a, b]\n  default: bad\n", 8, 5, "'cases' must be a mapping"),
    ("pick:\n  type: switch\n  value: kind\n  cases:\n    a: 7\n  default: bad\n", 9, 7, "exit 'a' must name a node"),
    ("pick:\n  type: switch\n  value: kind\n  cases:\n    a: nowhere\n  default: bad\n", 9, 7,
     "exit 'a' leads to missing node 'nowhere'"),
    ("pick:\n  type: switch\n  value: kind\n  cases: {a: good}\n", 6, 5, "missing required key 'default'"),
])
def test_switch_parse_errors_name_file_line_and_node(nodes, line, column, message):
    error = flow_error(nodes, start="pick")
    assert str(error) == f"{FILE}:{line}:{column}: node 'pick': {message}"
    assert (error.location.line, error.node) == (line, "pick")
