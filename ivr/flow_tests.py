"""`ivr flow test`: scripted callers run through flows offline, with branch coverage.

A scenario file (`flows/tests/*.yaml`):

    flow: hotline                        # the flow under test (flows/hotline.yaml)
    scenarios:
      - name: balance for a verified customer
        language: zh-CN                  # default: the flow's default language
        now: 2026-11-23T10:00:00+08:00   # the clock, for `hours` nodes
        caller: "13800000001"
        input: ["1", "6222020000001234#", "-", h]   # keys; "-" silence; "h" hang up;
                                         # {say: "挂失", confidence: 0.9} or {intent: lost_card} for speech
                                         # (free: "..." adds a free-form transcript of the same words)
        speech: true                     # false: the line cannot listen (no model for the language),
                                         # so `ask` nodes are keypad menus
        backend:                         # canned back-end answers by "METHOD /path"
          POST /customers/verify: {status: 200, json: {verified: true, customer_id: C001}}
          GET /accounts/C001/summary: timeout      # or unreachable, garbage
        expect:
          path: [greeting, main_menu, ...]         # exact node path (subflow nodes as flow/node)
          outcome: completed
          variables: {customer_id: C001}
          transfer: queue:cards
          results: {activation: activated}         # what `result` nodes recorded
          opt_outs: ["global:refusal"]             # what `opt_out` nodes recorded (dnc: down makes them fail)

A multi-key string such as "6222…#" is typed key by key. Every scenario runs
in memory in milliseconds; the suite runs all of them (tests/unit).
"""
from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ivr.backend import BackendResult
from ivr.call import CallContext, Services
from ivr.call_log import CallStart, MemoryCallLog
from ivr.channel import CallerHangup
from ivr.fake_channel import ScriptedChannel
from ivr.flow import Flow, load_flow
from ivr.located_yaml import LocatedMap, YamlSourceError, load_located_file
from ivr.runner import FlowRunner
from ivr.speech.heard import SpeechHeard

_EXPECT_KEYS = {"path", "outcome", "variables", "transfer", "requests", "results", "opt_outs"}
_SCENARIO_KEYS = {"name", "language", "now", "caller", "input", "backend", "variables", "expect", "speech", "dnc"}


class ScenarioError(ValueError):
    pass


class ScriptedOptOut:
    """Stands in for the do-not-call recorder of `opt_out` nodes; `dnc: down` makes it fail."""

    def __init__(self, down: bool):
        self.down = down
        self.recorded: list[str] = []

    async def __call__(self, *, unique_id: str, caller: str, scope: str, source: str, by: str) -> dict:
        if self.down:
            raise OSError("do-not-call list unavailable (scenario dnc: down)")
        self.recorded.append(f"{scope}:{source}")
        return {"phone": caller, "scope": scope, "campaign_id": None, "attempt_id": None, "added": True}


class ScriptedBackend:
    """Answers http nodes from the scenario's `backend` table; records what was asked."""

    def __init__(self, answers: dict[str, Any], where: str):
        self.answers = answers
        self.where = where
        self.requests: list[str] = []

    async def request(self, backend: str, method: str, path: str, json_body=None, timeout_s=None, retries=0):
        key = f"{method} {path}"
        self.requests.append(key)
        if key not in self.answers:
            raise ScenarioError(f"{self.where}: no canned back-end answer for {key!r}")
        answer = self.answers[key]
        if answer in ("timeout", "unreachable"):
            return BackendResult(answer, None, None, retries + 1, 0, answer)
        if answer == "garbage":
            return BackendResult("bad_response", 200, None, 1, 0, "not JSON")
        status = int(answer.get("status", 200))
        data = dict(answer.get("json") or {})
        return BackendResult("ok" if 200 <= status < 300 else "http_error", status, data, 1, 0)


@dataclass
class ScenarioResult:
    file: str
    name: str
    flow: str
    failures: list[str]
    path: list[str]
    covered: set[tuple[str, str, str]] = field(default_factory=set)  # (flow, node, exit)

    @property
    def passed(self) -> bool:
        return not self.failures


def _keys(items: list[Any], where: str) -> list[Any]:
    keys: list[Any] = []
    for item in items:
        if isinstance(item, dict):  # speech: {say: "挂失", confidence: 0.9, free: "我要挂失"} or {intent: lost_card}
            if not set(item) <= {"say", "intent", "confidence", "free"} or not ({"say", "intent"} & set(item)) \
                    or ("free" in item and "say" not in item):
                raise ScenarioError(f"{where}: speech input {dict(item)!r} needs 'say' or 'intent' "
                                    "(and may have 'confidence'; 'free' goes with 'say')")
            keys.append(dict(item))
            continue
        text = str(item)
        if text == "-":
            keys.append(None)
        elif text == "h":
            keys.append("HANGUP")
        elif all(ch in "0123456789*#" for ch in text) and text:
            keys.extend(text)
        else:
            raise ScenarioError(f"{where}: input {item!r} is not keys, '-' (silence) or 'h' (hang up)")
    return keys


class ScenarioChannel(ScriptedChannel):
    """ScriptedChannel for scenarios: 'HANGUP' hangs up there; speech waits for the next listen.

    On a line that can listen, a prompt or key wait leaves a speech entry
    where it is (words said over a plain prompt reach no recogniser; the
    caller says them again when asked), so a script reads as the caller's
    turns: [{say: "..."}, {say: "..."}] for two tries, whatever retry prompt
    is played in between. On a line that cannot listen, speech is used up
    as one silent turn.
    """

    def _next_key(self):
        if self.speech and self.keys and isinstance(self.keys[0], dict):
            return None
        return super()._next_key()

    def _next(self):
        entry = super()._next()
        if entry == "HANGUP":
            raise CallerHangup()
        return entry

    async def listen(self, prompt, phrases, no_input_s, max_speech_s, escape_keys=""):
        entry = self.keys[0] if self.keys and self.speech else None
        heard = await super().listen(prompt, phrases, no_input_s, max_speech_s, escape_keys)
        if isinstance(entry, dict) and "free" in entry:  # what a free-form pass made of the same words
            return SpeechHeard(transcript=heard.transcript, confidence=heard.confidence,
                               free_transcript=str(entry["free"]), free_confidence=heard.confidence)
        return heard


def _flag(value: Any, what: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: {what!r} must be true or false")
    return value


def _check_shape(value: Any, kind: type, what: str, where: str) -> None:
    """A scenario value that is present must have the expected shape; the error names the place."""
    if value is not None and not isinstance(value, kind):
        raise ScenarioError(f"{where}: {what} must be a {'mapping' if kind is dict else 'list'}")


async def run_scenario(flow: Flow, flows: dict[str, Flow], scenario: LocatedMap, file: str) -> ScenarioResult:
    where = f"{file}:{scenario.location.line}"
    for key, kind in (("input", list), ("backend", dict), ("variables", dict), ("expect", dict)):
        _check_shape(scenario.get(key), kind, f"'{key}'", where)
    expect_raw = scenario.get("expect") or {}
    for key, kind in (("path", list), ("variables", dict), ("requests", list), ("results", dict)):
        _check_shape(expect_raw.get(key), kind, f"'expect.{key}'", where)
    unknown = set(scenario) - _SCENARIO_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown scenario key {sorted(unknown)[0]!r}")
    name = str(scenario.get("name") or f"scenario at line {scenario.location.line}")
    language = scenario.get("language", flow.default_language)
    now = scenario.get("now")
    clock_value = _instant(now, where) if now is not None else datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
    backend = ScriptedBackend(dict(scenario.get("backend") or {}), where)
    channel = ScenarioChannel(keys=_keys(list(scenario.get("input") or []), where),
                              speech=_flag(scenario.get("speech", True), "speech", where))
    caller = str(scenario.get("caller", "13800000000"))
    variables = {"caller": caller, "dialed": "4000", "channel": "test", "unique_id": "0.0", "language": language,
                 "call_id": 1, **dict(scenario.get("variables") or {})}
    dnc = scenario.get("dnc", "ok")
    if dnc not in ("ok", "down"):
        raise ScenarioError(f"{where}: 'dnc' must be ok or down")
    opt_out = ScriptedOptOut(dnc == "down")
    services = Services(clock=lambda: clock_value, http=backend, opt_out=opt_out)
    call = CallContext(channel, language, lambda p, lang: f"{lang}/{p}", variables, services)
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("test", "0.0", caller, "4000", flow.name, flow.version, language,
                                               clock_value))
    failures: list[str] = []
    try:
        outcome = await FlowRunner(flow, call, log, call_id, clock=lambda: clock_value, flows=flows).run()
    except ScenarioError as exc:
        return ScenarioResult(file, name, flow.name, [str(exc)], call.path)
    steps = log.steps[call_id]
    path = [s.node for s in steps]
    expect = scenario.get("expect") or {}
    unknown = set(expect) - _EXPECT_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown expectation {sorted(unknown)[0]!r}")
    if "path" in expect and list(expect["path"]) != path:
        failures.append(f"path: expected {list(expect['path'])}, got {path}")
    if "outcome" in expect and expect["outcome"] != outcome.outcome:
        failures.append(f"outcome: expected {expect['outcome']!r}, got {outcome.outcome!r}")
    for var, value in dict(expect.get("variables") or {}).items():
        if str(call.variables.get(var)) != str(value):
            failures.append(f"variable {var}: expected {value!r}, got {call.variables.get(var)!r}")
    if "opt_outs" in expect and list(expect["opt_outs"]) != opt_out.recorded:
        failures.append(f"opt_outs: expected {list(expect['opt_outs'])}, got {opt_out.recorded}")
    for result, value in dict(expect.get("results") or {}).items():  # what `result` nodes recorded
        if result not in call.results or str(call.results[result]) != str(value):
            failures.append(f"result {result}: expected {value!r}, got {call.results.get(result, '(none)')!r}")
    if "transfer" in expect:
        got = next((s.detail.get("target") for s in steps if s.node_type == "transfer"), None)
        if got != expect["transfer"]:
            failures.append(f"transfer: expected {expect['transfer']!r}, got {got!r}")
    if "requests" in expect and list(expect["requests"]) != backend.requests:
        failures.append(f"back-end requests: expected {list(expect['requests'])}, got {backend.requests}")
    return ScenarioResult(file, name, flow.name, failures, path, _covered(flow, steps))


def _covered(flow: Flow, steps) -> set[tuple[str, str, str]]:
    covered = set()
    for step in steps:
        flow_name, _, node_id = step.node.rpartition("/")
        flow_name = flow_name or flow.name
        result = step.result
        exit_name = "next" if result.startswith("call:") else result
        covered.add((flow_name, node_id, exit_name))
    return covered


def branches(flow: Flow) -> set[tuple[str, str, str]]:
    """Every (flow, node, exit) a test could take; nodes without exits count once as 'end'."""
    out = set()
    for node_id, node in flow.nodes.items():
        exits = [e for e in node.exits if e != "error"]
        if not exits:
            exits = ["return" if node.type_name == "return" else "end"]
        out.update((flow.name, node_id, e) for e in exits)
    return out


def _instant(value: Any, where: str) -> datetime:
    try:
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise ScenarioError(f"{where}: now {value!r} is not an ISO date-time") from None
    if instant.tzinfo is None:
        raise ScenarioError(f"{where}: now {value!r} needs a UTC offset, e.g. +08:00")
    return instant


async def run_file(path: Path, flows_dir: Path, catalogue) -> list[ScenarioResult]:
    display = f"{path.parent.parent.name}/{path.parent.name}/{path.name}"
    try:
        doc = load_located_file(path, display)
    except YamlSourceError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(doc, LocatedMap) or not isinstance(doc.get("flow"), str) \
            or not isinstance(doc.get("scenarios"), list):
        raise ScenarioError(f"{display}:1: a scenario file needs 'flow' (a flow name) and a list of 'scenarios'")
    for index, scenario in enumerate(doc["scenarios"], 1):
        if not isinstance(scenario, LocatedMap):
            raise ScenarioError(f"{display}:{doc.where('scenarios').line}: scenario {index} must be a mapping")
    flows = {p.stem: load_flow(p, catalogue, display_name=f"flows/{p.name}") for p in flows_dir.glob("*.yaml")}
    if doc["flow"] not in flows:
        raise ScenarioError(f"{display}:{doc.where('flow').line}: no flow {doc['flow']!r} in {flows_dir}")
    return [await run_scenario(flows[doc["flow"]], flows, s, display) for s in doc["scenarios"]]


def coverage(results: list[ScenarioResult], flows: dict[str, Flow]) -> dict[str, tuple[int, int]]:
    """flow name -> (branches taken, branches in total), for flows that any scenario entered."""
    taken: set[tuple[str, str, str]] = set().union(*(r.covered for r in results)) if results else set()
    entered = {f for f, _, _ in taken}
    report = {}
    for name in sorted(entered):
        total = branches(flows[name])
        report[name] = (len(total & taken), len(total))
    return report


def main(files: list[Path], settings) -> int:
    from ivr.prompts import PromptCatalog

    catalogue = PromptCatalog.load(settings.prompts_dir / "catalog.yaml")
    paths = files or sorted((settings.flows_dir / "tests").glob("*.yaml"))
    results: list[ScenarioResult] = []
    for path in paths:
        try:
            results.extend(asyncio.run(run_file(path, settings.flows_dir, catalogue)))
        except ScenarioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.file}: {r.name}")
        for failure in r.failures:
            print(f"      {failure}")
    flows = {p.stem: load_flow(p, catalogue, display_name=f"flows/{p.name}")
             for p in settings.flows_dir.glob("*.yaml")}
    for name, (taken, total) in coverage(results, flows).items():
        print(f"coverage {name}: {taken}/{total} branches ({100 * taken / total:.0f}%)")
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or not results else 0
