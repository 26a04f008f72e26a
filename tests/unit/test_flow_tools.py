"""Flow designers' tools: lint, schema, graph, scenario tests, simulator; and the common `set:` key."""
import io
import json
import textwrap
from pathlib import Path

import pytest

from common.config import Settings
from ivr.flow import load_flow, parse_flow
from ivr.flow_tests import coverage, run_file
from ivr.graph import mermaid
from ivr.lint import asterisk_queues, lint_files, lint_flow
from ivr.prompts import PromptCatalog
from ivr.schema import schema_json
from ivr.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
CATALOG = PromptCatalog.load(ROOT / "prompts" / "catalog.yaml")
QUEUES = ROOT / "asterisk" / "conf" / "queues.conf"


def flow(text: str, name: str = "t"):
    return parse_flow(textwrap.dedent(text), f"flows/{name}.yaml")


def test_shipped_flows_lint_clean():
    paths = sorted((ROOT / "flows").glob("*.yaml"))
    assert len(paths) >= 2
    assert lint_files(paths, CATALOG, ROOT / "flows", QUEUES) == []


@pytest.mark.parametrize("scenario_file", sorted((ROOT / "flows" / "tests").glob("*.yaml")), ids=lambda p: p.name)
async def test_shipped_flow_scenarios_pass(scenario_file):
    results = await run_file(scenario_file, ROOT / "flows", CATALOG)
    assert results
    failed = {r.name: r.failures for r in results if not r.passed}
    assert not failed


async def test_hotline_scenarios_cover_most_branches():
    results = await run_file(ROOT / "flows" / "tests" / "hotline.yaml", ROOT / "flows", CATALOG)
    flows = {p.stem: load_flow(p, CATALOG) for p in (ROOT / "flows").glob("*.yaml")}
    taken, total = coverage(results, flows)["hotline"]
    assert total > 50 and taken / total >= 0.95  # all but the switch default no caller can reach


BROKEN = """
flow: t
languages: [zh-CN, en-US]
start: menu
nodes:
  menu:
    type: menu
    prompt: main_menu
    choices: {1: spin}
    max_tries: 2
    on_failure: bye
  spin: {type: goto, target: spin2}
  spin2: {type: goto, target: spin}
  orphan: {type: play, prompt: goodbye, next: bye}
  bye: {type: transfer, queue: nosuchqueue, data: [who_knows]}
  sub: {type: subflow, flow: nowhere, next: bye}
"""


def test_lint_finds_graph_and_environment_problems():
    findings = lint_flow(flow(BROKEN), audio_missing={("goodbye", "en-US")}, known_flows={},
                         queues=asterisk_queues(QUEUES))
    text = "\n".join(map(str, findings))
    assert "node 'spin': loop without a way out" in text and "node 'spin2': loop without a way out" in text
    assert "node 'orphan': unreachable" in text and "node 'sub': unreachable" in text
    assert "node 'menu': no invalid-key handling" in text and "no no-input handling" in text
    assert "'goodbye' has no en-US audio" in text
    assert "variable 'who_knows' is read but no node sets it" in text
    assert "queue 'nosuchqueue' is not defined" in text
    assert "calls flow 'nowhere', which does not exist" in text
    # every finding names file:line:column of its node
    assert all(str(f).startswith("flows/t.yaml:") for f in findings)
    spin = next(f for f in findings if f.node == "spin")
    assert spin.location.line == 12


def test_lint_reports_parse_errors_with_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: bad\nlanguages: [zh-CN]\nstart: a\nnodes:\n  a: {type: play, prompt: nope, next: a}\n")
    findings = lint_files([bad], CATALOG, ROOT / "flows", QUEUES)
    assert len(findings) == 1 and ":5:" in str(findings[0]) and "'nope'" in str(findings[0])


def test_schema_file_is_up_to_date_and_covers_every_node_type():
    from ivr.nodes import NODE_TYPES

    assert (ROOT / "flows" / "schema.json").read_text() == schema_json(), "run: ivr flow schema > flows/schema.json"
    schema = json.loads(schema_json())
    types = schema["properties"]["nodes"]["additionalProperties"]["properties"]["type"]["enum"]
    assert set(types) == set(NODE_TYPES)


def test_schema_validates_the_shipped_flows():
    import jsonschema
    import yaml

    schema = json.loads(schema_json())
    for path in (ROOT / "flows").glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        # JSON has string keys only: menu keys such as 1 become "1", as editors see them
        jsonschema.validate(json.loads(json.dumps(doc, default=str)), schema)


def test_graph_has_every_node_and_exit():
    hotline = load_flow(ROOT / "flows" / "hotline.yaml", CATALOG)
    text = mermaid(hotline)
    assert text.startswith("flowchart TD")
    for node_id, node in hotline.nodes.items():
        assert f"  {node_id}" in text
        for exit_name, target in node.exits.items():
            label = "" if exit_name == "next" else f"|{exit_name}|"
            assert f"{node_id} -->{label} {target}" in text or f"{node_id} -.->{label} {target}" in text


async def test_every_node_can_set_variables_after_it_succeeds():
    from ivr.call import CallContext
    from ivr.call_log import CallStart, MemoryCallLog
    from ivr.fake_channel import ScriptedChannel
    from ivr.runner import FlowRunner
    from datetime import datetime, timezone

    f = flow("""
    flow: t
    languages: [zh-CN]
    start: hello
    nodes:
      hello: {type: play, prompt: welcome, next: bye, set: {greeted: "true", visits: "1 + 1"}}
      bye: {type: hangup}
    """)
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("c", "u", "", "", "t", f.version, "zh-CN", datetime.now(timezone.utc)))
    call = CallContext(ScriptedChannel(), "zh-CN", lambda p, lang: p)
    await FlowRunner(f, call, log, call_id).run()
    assert call.variables["greeted"] is True and call.variables["visits"] == 2


def test_bad_common_set_expression_names_the_place():
    from ivr.nodes import FlowError

    with pytest.raises(FlowError) as err:
        flow("""
        flow: t
        languages: [zh-CN]
        start: a
        nodes:
          a: {type: hangup, set: {x: "1 +"}}
        """)
    assert "flows/t.yaml:6:" in str(err.value) and "node 'a'" in str(err.value)


async def test_simulator_plays_prompt_text_and_reads_keys():
    hotline = load_flow(ROOT / "flows" / "hotline.yaml", CATALOG)
    flows = {p.stem: load_flow(p, CATALOG) for p in (ROOT / "flows").glob("*.yaml")}
    typed = iter(["2", "7", "8"])  # English, then two wrong keys
    out = io.StringIO()
    outcome = await simulate(hotline, CATALOG, "zh-CN", lambda prompt: next(typed), out, flows=flows)
    text = out.getvalue()
    assert "欢迎致电星河银行" in text  # greeting in Mandarin first
    assert "Sorry, we could not get your choice." in text  # then English after pressing 2
    assert outcome.outcome == "completed"
