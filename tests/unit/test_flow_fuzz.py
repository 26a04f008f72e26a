"""Fuzzing the flow loader and the scenario loader: bad input is an error that names a place, never a crash.

Flow designers edit YAML by hand and the service hot-reloads whatever lands
in flows/, so `parse_flow` must answer any text with a `Flow` or a
`FlowError` naming file and line, and must not hang. Properties:

- arbitrary text (unicode, control characters, YAML punctuation);
- the shipped flows/hotline.yaml with random line-level mutations;
- flows built from random node mappings (known node types, plausible and
  implausible keys and values), where every error names the node;
- `ivr flow test` scenario files full of garbage: a ScenarioError naming the file.

Inputs that once crashed the loaders are kept below as regression tests
(`KNOWN_*`); the properties generate such inputs too.
"""
from __future__ import annotations

import asyncio
import re
import signal
import string
import threading
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ivr.flow import Flow, parse_flow
from ivr.flow_tests import ScenarioError, run_file
from ivr.nodes import NODE_TYPES, FlowError
from ivr.prompts import PromptCatalog
from ivr.schema import _COMMON

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = PromptCatalog.load(ROOT / "prompts" / "catalog.yaml")
HOTLINE = (ROOT / "flows" / "hotline.yaml").read_text(encoding="utf-8")
FILE = "flows/fuzz.yaml"

# Examples per property; together the file runs in well under 15 s.
TEXT_EXAMPLES = 400
MUTATION_EXAMPLES = 100
NODE_EXAMPLES = 200
SCENARIO_EXAMPLES = 150

FUZZ = settings(deadline=timedelta(seconds=2), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
HARD_LIMIT_S = 10  # a real hang fails the test instead of stopping the suite


class Hang(Exception):
    pass


@contextmanager
def hard_time_limit(seconds: float):
    """Hypothesis' deadline only judges an example once it ends; this ends one that never would."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# YAML's own line breaks (PyYAML counts lines by these, not by str.splitlines).
_YAML_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")


def yaml_line_count(text: str) -> int:
    return len(_YAML_BREAK.findall(text)) + 1


def load(text: str) -> Flow | FlowError:
    """parse_flow's answer: a Flow, or the FlowError it raised (anything else propagates)."""
    with hard_time_limit(HARD_LIMIT_S):
        try:
            return parse_flow(text, FILE, CATALOGUE)
        except FlowError as exc:
            return exc


def assert_flow_or_located_error(text: str) -> Flow | FlowError:
    result = load(text)
    if isinstance(result, FlowError):
        message = str(result)
        assert message.startswith(f"{FILE}:"), message
        assert result.location.file == FILE
        assert message.startswith(f"{result.location}: ")
        assert 1 <= result.location.line <= yaml_line_count(text), (result.location, yaml_line_count(text))
        assert result.location.column >= 1
    else:
        assert isinstance(result, Flow)
    return result


# --- inputs that once crashed the loaders ------------------------------------------------

# YAML that makes PyYAML raise plain Python errors, which ivr/located_yaml.py:74
# (load_located, via ivr/flow.py:67) does not turn into YamlSourceError.
# name -> (text, what parse_flow raises today, where).
KNOWN_YAML_CRASHES = {
    "impossible date": ("flow: 2026-02-30\n", ValueError),            # yaml/constructor.py:330
    "month 13": ("flow: 2026-13-01\n", ValueError),
    "year 0": ("flow: 0000-01-01\n", ValueError),
    "hour 25": ("flow: 2026-01-01 25:00:00\n", ValueError),          # yaml/constructor.py:350
    "utc offset +99:00": ("flow: 2026-01-01 23:59:59 +99:00\n", ValueError),  # yaml/constructor.py:347
    "!!int not a number": ("flow: !!int foo\n", ValueError),           # yaml/constructor.py:263
    "!!int empty": ("flow: !!int ''\n", IndexError),                  # yaml/constructor.py:241
    "!!float not a number": ("flow: !!float foo\n", ValueError),       # yaml/constructor.py:292
    "!!bool not a bool": ("flow: !!bool foo\n", KeyError),             # yaml/constructor.py:235
    "!!timestamp not a date": ("flow: !!timestamp foo\n", AttributeError),  # yaml/constructor.py:325
    "!!map on a sequence": ("flow: !!map [a]\n", TypeError),          # ivr/located_yaml.py:52
    "integer over 4300 digits": ("flow: " + "1" * 5000 + "\n", ValueError),  # yaml/constructor.py:263
    "600 nested lists": ("[" * 600, RecursionError),  # PyYAML composes nested nodes recursively
    "600 nested block sequences": ("- " * 600 + "a\n", RecursionError),
}

# `holidays:` values that name attributes of the holidays package, not countries:
# holidays/utils.py:127 raises TypeError, and ivr/business_hours.py:69 (_calendar,
# from BusinessHours.__post_init__ via ivr/nodes/hours.py:65) only catches
# NotImplementedError.
KNOWN_HOLIDAY_CRASHES = ("utils", "registry", "country_holidays", "financial_holidays", "__version__", "__class__")


def _with_holidays(country: str) -> str:
    return ("flow: f\nlanguages: [zh-CN]\nstart: h\nnodes:\n"
            f"  h: {{type: hours, timezone: Asia/Shanghai, schedule: {{mon-fri: '08:00-20:00'}}, holidays: {country},"
            " if_open: end, if_closed: end}\n"
            "  end: {type: hangup}\n")


@pytest.mark.parametrize("text", [
    pytest.param(text, id=name) for name, (text, _raised) in sorted(KNOWN_YAML_CRASHES.items())
])
def test_known_crash_yaml(text):
    assert_flow_or_located_error(text)


def test_holiday_calendars_load():
    assert isinstance(assert_flow_or_located_error(_with_holidays("CN")), Flow)
    assert "no holiday calendar for country 'XX'" in str(assert_flow_or_located_error(_with_holidays("XX")))


@pytest.mark.parametrize("country", [
    pytest.param(country) for country in KNOWN_HOLIDAY_CRASHES
])
def test_known_crash_holiday_country_names(country):
    assert_flow_or_located_error(_with_holidays(country))


def _alias_bomb(levels: int) -> str:
    """Each level is a list of 9 aliases of the previous one: 9**levels items from a few hundred bytes."""
    lines = ["flow: bomb", "description:", "  - &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    lines += ["languages: [zh-CN]", f"default_language: *a{levels - 1}", "start: end", "nodes: {end: {type: hangup}}"]
    return "\n".join(lines) + "\n"


def test_known_crash_alias_expansion_in_error_messages():
    # 6 levels: 404 bytes give a 2.8 MB message in 0.06 s; 10 levels would take minutes and gigabytes.
    text = _alias_bomb(6)
    result = assert_flow_or_located_error(text)
    assert isinstance(result, FlowError)
    assert len(str(result)) < 10_000, f"{len(str(result))}-character message from {len(text)} bytes"


# --- (a) arbitrary text ----------------------------------------------------------------

_TOKENS = [
    ":", ": ", "-", "- ", "? ", "[", "]", "{", "}", ",", "#", "&a ", "*a", "!", "!x ", "|", "|-\n", ">", "'",
    '"', "%", "@", "`", "\\", " ", "  ", "    ", "\t", "\n", "\r", "\r\n", "\x85", "\u2028", "\ufeff", "\x00",
    "\x1b", "\x7f", "\ud800", "---\n", "...\n", "~", "null", "true", "no", "1", "0x1F", "1e3", ".nan", "<<: ",
    "flow: ", "languages: ", "[zh-CN, en-US]", "start: ", "nodes:\n", "  a:\n", "    type: ", "play", "menu",
    "hangup", "    next: ", "    prompt: welcome", "挂失", "é", "\u0301",
]

_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Cs", "Zl", "Zp", "Zs", "Po"]), max_size=200),
    st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=4)), max_size=60).map("".join),
)


@settings(FUZZ, max_examples=TEXT_EXAMPLES)
@given(_text)
@example("")
@example("\n\n\n")
@example("flow: x\x00")
@example("- a\n- b")
@example("flow: hotline\nlanguages: []\n")
@example("{flow: 1, : }")
@example("&a [*a]")
def test_arbitrary_text_gives_a_flow_or_a_located_error(text):
    assert_flow_or_located_error(text)


# --- (b) mutations of the shipped hotline --------------------------------------------------

_KEY_VALUE_LINE = re.compile(r"^(?P<head>[ \t]*(?:- )?[^\s:#\-][^:#]*:[ \t]+)(?P<value>[^#\r\n]*?)[ \t]*(?:#.*)?$")
_NODE_KEYS = sorted({key for cls in NODE_TYPES.values() for key in cls.schema["properties"]} | set(_COMMON))

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.dates(min_value=date(1, 1, 1)), st.text(max_size=20),
    st.sampled_from(["", " ", "main_menu", "welcome", "zh-CN", "#", "*", "{", "08:00-20:00", "GET", "luhn",
                     "x == 1", "'q'", "not", "a.b", "/p/{x}", "Asia/Shanghai", "CN"]),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(_NODE_KEYS), st.integers(0, 9)), inner,
                    max_size=4).filter(lambda d: len({str(k) for k in d}) == len(d)),  # 6 and '6' collide
), max_leaves=8)


def render(value) -> str:
    """A value as one line of YAML (flow style), as a designer might type it."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    return text.removesuffix("\n").removesuffix("\n...")


_MUTATIONS = ("delete", "duplicate", "swap", "indent", "replace_scalar", "insert_key", "truncate")


@st.composite
def mutated_hotline(draw) -> str:
    lines = HOTLINE.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        op = draw(st.sampled_from(_MUTATIONS))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            indent = draw(st.sampled_from(["", " ", "  ", "   ", "    ", "      ", "        ", "\t", " \t"]))
            lines[i] = indent + lines[i].lstrip(" \t")
        elif op == "replace_scalar":
            candidates = [k for k, line in enumerate(lines) if _KEY_VALUE_LINE.match(line.rstrip("\n"))]
            k = draw(st.sampled_from(candidates)) if candidates else i
            match = _KEY_VALUE_LINE.match(lines[k].rstrip("\n"))
            if match:
                lines[k] = match["head"] + render(draw(_values)) + "\n"
        elif op == "insert_key":
            key = draw(st.one_of(st.sampled_from(_NODE_KEYS + ["flow", "nodes", "start", "choices", "1", "x"]),
                                 st.text(alphabet=string.ascii_letters + "_-. 0123456789", min_size=1,
                                         max_size=12)))
            neighbour = lines[i]
            indent = draw(st.one_of(st.just(neighbour[:len(neighbour) - len(neighbour.lstrip(" "))]),
                                    st.sampled_from(["", "  ", "    ", "      "])))
            lines.insert(i, f"{indent}{render(key)}: {render(draw(_values))}\n")
        else:  # truncate
            text = "".join(lines)
            cut = draw(st.integers(0, len(text)))
            lines = text[:cut].splitlines(keepends=True)
    return "".join(lines)


@settings(FUZZ, max_examples=MUTATION_EXAMPLES)
@given(mutated_hotline())
@example(HOTLINE)
@example(HOTLINE.replace("    queue: cards\n", ""))
@example(HOTLINE.replace("  goodbye:\n", "  goodbye:\n  goodbye:\n"))
def test_mutated_hotline_gives_a_flow_or_a_located_error(text):
    result = assert_flow_or_located_error(text)
    if text == HOTLINE:
        assert isinstance(result, Flow)


# --- (c) random node mappings ----------------------------------------------------------

_TARGETS = ["start", "a", "b", "end"]
_node_names = st.one_of(st.sampled_from(_TARGETS),
                        st.text(alphabet=string.ascii_letters + string.digits + "_-. ü", min_size=1, max_size=8),
                        st.text(min_size=1, max_size=6))  # '' is KNOWN_EMPTY_NODE_NAME

_PLAUSIBLE: dict[str, st.SearchStrategy] = {
    "type": st.sampled_from(sorted(NODE_TYPES)),
    "next": st.sampled_from(_TARGETS), "target": st.sampled_from(_TARGETS),
    "on_error": st.sampled_from(_TARGETS), "on_failure": st.sampled_from(_TARGETS),
    "on_http_error": st.sampled_from(_TARGETS), "on_timeout": st.sampled_from(_TARGETS),
    "then": st.sampled_from(_TARGETS), "else": st.sampled_from(_TARGETS), "default": st.sampled_from(_TARGETS),
    "if_open": st.sampled_from(_TARGETS), "if_closed": st.sampled_from(_TARGETS),
    "prompt": st.sampled_from(["welcome", "main_menu", "goodbye", "no_such_prompt"]),
    "prompts": st.lists(st.sampled_from(["welcome", "goodbye"]), max_size=3),
    "invalid_prompt": st.sampled_from(["invalid", "nope"]), "no_input_prompt": st.sampled_from(["no_input"]),
    "before": st.sampled_from(["statement_is", "nope"]), "after": st.none(),
    "choices": st.dictionaries(st.sampled_from(list("0123456789*#") + ["10", "a"]), st.sampled_from(_TARGETS),
                               max_size=3),
    "cases": st.dictionaries(st.sampled_from(["x", "1", "default", "error", "true"]), st.sampled_from(_TARGETS),
                             max_size=3),
    "timeout": st.one_of(st.integers(-1, 100), st.floats(0, 100)),
    "inter_digit_timeout": st.floats(0, 40), "max_tries": st.one_of(st.integers(0, 12), st.just(2.5)),
    "min_length": st.integers(0, 70), "max_length": st.integers(0, 70), "retries": st.integers(-1, 5),
    "terminator": st.sampled_from(["#", "*", "", None, "##"]),
    "validator": st.sampled_from(["luhn", "pin", "amount", "digits", "cn_id_last4", "nope"]),
    "secret": st.booleans(), "interruptible": st.booleans(),
    "variable": st.sampled_from(["x", "card_number", "1x", "a-b", ""]),
    "as": st.sampled_from(["amount", "number", "digits", "date", "card_last4", "money"]),
    "condition": st.sampled_from(["x == 1", "caller", "not", "a ==", "defined('x')", "len(x) > 2", "1 +", "(("]),
    "value": st.sampled_from(["x", "customer.card_type", "'q' +", "x[0]"]),
    "vars": st.dictionaries(st.sampled_from(["x", "y", "and", "1a"]),
                            st.sampled_from(["1", "x + 1", "'s'", "last(x, 4)", "== 1", "true"]), max_size=3),
    "set": st.dictionaries(st.sampled_from(["x", "not"]), st.sampled_from(["1", "x +", "caller"]), max_size=2),
    "backend": st.sampled_from(["bank", "no such", "1bank"]),
    "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "get"]),
    "path": st.sampled_from(["/a", "/a/{x}", "a", "/{x", "/{1x}", "/{}"]),
    "body": st.dictionaries(st.sampled_from(["f", "1"]), st.sampled_from(["x", "1x", ""]), max_size=2),
    "save": st.dictionaries(st.sampled_from(["x", "1x"]), st.sampled_from(["a.b", "a..b", "x"]), max_size=2),
    "flow": st.sampled_from(["identify_customer", "nope", ""]),
    "language": st.sampled_from(["zh-CN", "en-US", "fr-FR"]),
    "timezone": st.sampled_from(["Asia/Shanghai", "UTC", "Nowhere/City", "../etc", ""]),
    "schedule": st.dictionaries(st.sampled_from(["mon-fri", "sat", "sun-mon", "xyz", "mon,tue"]),
                                st.sampled_from(["08:00-20:00", "09:00-12:00, 13:00-17:00", "25:00-26:00",
                                                 "20:00-08:00", "nope", "00:00-24:00"]), max_size=3),
    "holidays": st.one_of(st.sampled_from(["CN", "US", "XX"]),
                          st.text(alphabet=string.ascii_uppercase, max_size=3)),  # see KNOWN_HOLIDAY_CRASHES
    "closed_dates": st.lists(st.one_of(st.dates(), st.sampled_from(["2026-12-31", "2026-02-30", "soon"]))),
    "open_dates": st.one_of(st.lists(st.dates(), max_size=2), st.sampled_from(["2026-01-01"])),
    "queue": st.sampled_from(["cards", "Cards", "x" * 41, ""]),
    "extension": st.sampled_from(["8001", "1", "80a1"]),
    "reason": st.sampled_from(["agent", ""]),
    "data": st.one_of(st.lists(st.sampled_from(["customer_id", "1x", "a b"]), max_size=2), st.just("intent")),
}
_KEYS = sorted(set(_PLAUSIBLE) | set(_NODE_KEYS) | {"promt", "nxt", "Type", "on_eror", "", "1"})


@st.composite
def node_mapping(draw) -> dict:
    node = {}
    if draw(st.integers(0, 9)):  # usually a known type, sometimes none at all
        node["type"] = draw(st.one_of(_PLAUSIBLE["type"], _values))
    for key in draw(st.lists(st.sampled_from(_KEYS), max_size=8, unique=True)):
        plausible = _PLAUSIBLE.get(key)
        if plausible is not None and draw(st.integers(0, 3)):
            node[key] = draw(plausible)
        else:
            node[key] = draw(_values)
    return node


@st.composite
def random_flow(draw) -> tuple[str, list[str]]:
    start = draw(st.sampled_from(_TARGETS))  # a start node that exists, so every error is about a node
    nodes = {start: draw(node_mapping())}
    nodes.update(draw(st.dictionaries(_node_names.filter(lambda name: name != start),
                                      st.one_of(node_mapping(), _values), max_size=4)))
    doc = {"flow": "fuzz", "languages": ["zh-CN", "en-US"], "start": start, "nodes": nodes}
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), list(nodes)


@settings(FUZZ, max_examples=NODE_EXAMPLES)
@given(random_flow())
@example(("flow: f\nlanguages: [zh-CN]\nstart: a\nnodes:\n  a: {type: hangup}\n", ["a"]))
@example(("flow: f\nlanguages: [zh-CN]\nstart: a\nnodes:\n  a: {type: goto, target: b}\n", ["a"]))
@example(("flow: f\nlanguages: [zh-CN]\nstart: a\nnodes:\n  a: {type: menu, promt: welcome}\n", ["a"]))
@example(("flow: f\nlanguages: [zh-CN]\nstart: a\nnodes:\n  a: {type: play, prompt: welcome, next: a, "
          "set: {x: '1 +'}}\n", ["a"]))
def test_random_nodes_give_a_flow_or_an_error_naming_the_node(flow):
    text, node_names = flow  # safe_dump output: quoted where YAML would misread, so no known crash
    result = assert_flow_or_located_error(text)
    if isinstance(result, FlowError):
        assert result.node in node_names, str(result)
        assert f": node {result.node!r}: " in str(result)


KNOWN_EMPTY_NODE_NAME = "flow: f\nlanguages: [zh-CN]\nstart: a\nnodes:\n  a: {type: hangup}\n  '': {type: hangup}\n"


def test_an_empty_node_name_is_named():
    result = assert_flow_or_located_error(KNOWN_EMPTY_NODE_NAME)
    assert isinstance(result, FlowError) and result.node == ""
    assert ": node '': " in str(result), str(result)


# --- `ivr flow test` scenario files ----------------------------------------------------

TINY_FLOW = """\
flow: tiny
languages: [zh-CN, en-US]
start: hello
nodes:
  hello: {type: play, prompt: welcome, next: bye}
  bye: {type: hangup}
"""


@pytest.fixture(scope="module")
def scenario_dirs(tmp_path_factory):
    """base/flows/tiny.yaml, and base/flows/tests/ for scenario files (shown as flows/tests/NAME)."""
    flows = tmp_path_factory.mktemp("fuzz") / "flows"
    (flows / "tests").mkdir(parents=True)
    (flows / "tiny.yaml").write_text(TINY_FLOW, encoding="utf-8")
    return flows


def run_scenario_file(flows_dir: Path, text: str | bytes, name: str = "fuzz.yaml"):
    path = flows_dir / "tests" / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with hard_time_limit(HARD_LIMIT_S):
        return asyncio.run(run_file(path, flows_dir, CATALOGUE))


def test_a_good_scenario_file_runs(scenario_dirs):
    results = run_scenario_file(scenario_dirs, "flow: tiny\nscenarios:\n  - name: hi\n"
                                               "    expect: {path: [hello, bye], outcome: completed}\n")
    assert [(r.name, r.failures) for r in results] == [("hi", [])]


_garbage_scenario = st.one_of(
    _text,
    _values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),  # any YAML document
    st.fixed_dictionaries({"flow": st.one_of(st.text(max_size=10), st.sampled_from(["hotline", "nope"]))},
                          optional={"scenarios": st.lists(st.dictionaries(st.text(max_size=8), _values,
                                                                          max_size=3))}
                          ).map(lambda d: yaml.safe_dump(d, allow_unicode=True)),  # no such flow, or no scenarios
    st.lists(st.one_of(  # scenarios for the real flow, each with a wrong key or wrong keys to press
        st.dictionaries(st.sampled_from(["nme", "inputs", "expected", "", "Flow"]), _values, min_size=1),
        st.fixed_dictionaries({"input": st.lists(st.one_of(st.sampled_from(["x", "1a", "", "hh", " "]),
                                                           st.text(alphabet="abcxyz+ ", min_size=1)),
                                                 min_size=1)}),
    ), min_size=1, max_size=3).map(lambda s: yaml.safe_dump({"flow": "tiny", "scenarios": s}, allow_unicode=True)),
)


@settings(FUZZ, max_examples=SCENARIO_EXAMPLES, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=_garbage_scenario)
@example(text="")
@example(text="flow: tiny\n")
@example(text="flow: tiny\nscenarios: {}\n")
@example(text="flow: [\n")
@example(text="flow: nope\nscenarios: []\n")
@example(text="flow: tiny\nscenarios: [{input: [x]}]\n")
def test_garbage_scenario_files_are_rejected_naming_the_file(scenario_dirs, text):
    with pytest.raises(ScenarioError) as excinfo:
        run_scenario_file(scenario_dirs, text)
    assert str(excinfo.value).startswith("flows/tests/fuzz.yaml:"), str(excinfo.value)


def test_a_scenario_file_that_is_not_utf8_is_rejected_naming_the_file(scenario_dirs):
    with pytest.raises(ScenarioError, match=r"^flows/tests/fuzz\.yaml:1:1: file is not UTF-8"):
        run_scenario_file(scenario_dirs, b"flow: tiny\nscenarios: [\xff]\n")


# Scenario files that crash `run_file` with something other than ScenarioError.
# name -> (text, what run_file raises today); the raising line of ivr/flow_tests.py.
KNOWN_SCENARIO_CRASHES = {
    "flow is a list": ("flow: [tiny]\nscenarios: []\n", TypeError),                # :205 unhashable
    "flow is a map": ("flow: {a: 1}\nscenarios: []\n", TypeError),                 # :205 unhashable
    "scenario is a number": ("flow: tiny\nscenarios: [1]\n", AttributeError),      # :119 .location
    "scenario is null": ("flow: tiny\nscenarios: [null]\n", AttributeError),       # :119 .location
    "input is a number": ("flow: tiny\nscenarios: [{input: 5}]\n", TypeError),     # :128 list(5)
    "backend is a list": ("flow: tiny\nscenarios: [{backend: [1]}]\n", TypeError),  # :127 dict([1])
    "backend is text": ("flow: tiny\nscenarios: [{backend: abc}]\n", ValueError),   # :127 dict('abc')
    "variables is a list": ("flow: tiny\nscenarios: [{variables: [1]}]\n", TypeError),  # :131 dict([1])
    "expect.path is a number": ("flow: tiny\nscenarios: [{expect: {path: 5}}]\n", TypeError),  # :148 list(5)
    "expect.variables is a list": ("flow: tiny\nscenarios: [{expect: {variables: [1]}}]\n", TypeError),  # :152
    "impossible date": ("flow: tiny\nscenarios: [{now: 2026-02-30}]\n", ValueError),  # PyYAML, as for flows
}


@pytest.mark.parametrize("text", [
    pytest.param(text, id=name) for name, (text, _raised) in sorted(KNOWN_SCENARIO_CRASHES.items())
])
def test_known_crash_scenario_files(scenario_dirs, text):
    with pytest.raises(ScenarioError, match=r"^flows/tests/fuzz\.yaml:"):
        run_scenario_file(scenario_dirs, text)
