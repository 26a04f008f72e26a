"""`ivr flow lint`: everything wrong with a flow, before a caller hears it.

Parsing already rejects unknown node types, missing targets, bad keys and
prompts without text. The linter adds checks over the whole graph and the
environment: unreachable nodes, loops with no way out, menus without
invalid / no-input handling, prompts without audio, variables read but never
set, subflows and queues that do not exist. Pure given its inputs.
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from ivr.flow import Flow, load_flow
from ivr.located_yaml import Location
from ivr.nodes import FlowError

# Set by the IVR service for every call (see IvrService.handle_call).
BUILTIN_VARIABLES = frozenset({"caller", "dialed", "channel", "unique_id", "language", "call_id"})
# Set on answered campaign calls for flows with `direction: outbound` (ivr/outbound.py).
OUTBOUND_VARIABLES = frozenset({"contact", "campaign_id", "campaign_kind", "attempt_id"})


@dataclass(frozen=True)
class Finding:
    location: Location
    message: str
    node: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        node = f"node {self.node!r}: " if self.node else ""
        return f"{self.location}: {self.severity}: {node}{self.message}"


def reachable(flow: Flow) -> set[str]:
    seen, todo = set(), [flow.start]
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        todo.extend(flow.nodes[node_id].exits.values())
    return seen


def can_finish(flow: Flow) -> set[str]:
    """Nodes from which some path reaches a node that ends the call or the subflow."""
    done = {n for n, node in flow.nodes.items() if node.ends_call}
    changed = True
    while changed:
        changed = False
        for node_id, node in flow.nodes.items():
            if node_id not in done and any(t in done for t in node.exits.values()):
                done.add(node_id)
                changed = True
    return done


def node_reads(node) -> frozenset[str]:
    return node.reads().union(*(expression.names for _, expression in node.after_set))


def node_writes(node) -> frozenset[str]:
    return node.writes() | {name for name, _ in node.after_set}


def writes_of(flow: Flow, flows: dict[str, Flow], _seen: frozenset[str] = frozenset()) -> set[str]:
    """Variables a flow may set, including through the subflows it calls."""
    written: set[str] = set()
    for node in flow.nodes.values():
        written |= node_writes(node)
        for name in node.calls_flows():
            if name in flows and name not in _seen:
                written |= writes_of(flows[name], flows, _seen | {flow.name})
    return written


def lint_flow(flow: Flow, *, audio_missing: set[tuple[str, str]] = frozenset(),
              known_flows: dict[str, Flow] | None = None, queues: set[str] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    where = flow.locations
    live = reachable(flow)
    finishing = can_finish(flow)
    written = BUILTIN_VARIABLES | writes_of(flow, known_flows or {})
    if flow.direction == "outbound":
        written |= OUTBOUND_VARIABLES
    for node_id, node in flow.nodes.items():
        at = where[node_id]
        if node_id not in live:
            findings.append(Finding(at, f"unreachable from the start node {flow.start!r}", node_id))
        elif node_id not in finishing:
            findings.append(Finding(at, "loop without a way out: no path from here ends the call", node_id))
        retries = getattr(node, "max_tries", 1) > 1  # retry prompts play between tries only
        for attr, what in (("invalid_prompt", "invalid-key"), ("no_match_prompt", "no-match"),
                           ("no_input_prompt", "no-input")):
            if retries and hasattr(node, attr) and getattr(node, attr) is None:
                findings.append(Finding(at, f"no {what} handling: set '{attr}'", node_id))
        for prompt_id in node.prompt_ids():
            for language in flow.languages:
                if (prompt_id, language) in audio_missing:
                    findings.append(Finding(at, f"prompt {prompt_id!r} has no {language} audio "
                                                f"(run: ivr prompts build)", node_id))
        for name in sorted(node_reads(node) - written):
            findings.append(Finding(at, f"variable {name!r} is read but no node sets it", node_id))
        if known_flows is not None:
            for name in node.calls_flows():
                if name not in known_flows:
                    findings.append(Finding(at, f"calls flow {name!r}, which does not exist", node_id))
        queue = getattr(node, "queue", None)
        if queues is not None and node.type_name == "transfer" and queue and queue not in queues:
            findings.append(Finding(at, f"queue {queue!r} is not defined in asterisk/conf/queues.conf", node_id))
    return findings


def asterisk_queues(queues_conf: Path) -> set[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=(";", "#"))
    parser.read(queues_conf, encoding="utf-8")
    return {name for name in parser.sections() if name != "general"}


def lint_files(paths: list[Path], catalogue, flows_dir: Path, queues_conf: Path) -> list[Finding]:
    """Lint each file; a file that does not parse yields its parse error as the finding."""
    known: dict[str, Flow] = {}
    for path in {*flows_dir.glob("*.yaml"), *paths}:
        try:
            known[path.stem] = load_flow(path, catalogue)
        except (FlowError, OSError):
            pass  # reported below if it is one of the files being linted
    missing = set(catalogue.missing_audio()) if catalogue is not None else set()
    queues = asterisk_queues(queues_conf) if queues_conf.exists() else None
    findings: list[Finding] = []
    for path in paths:
        try:
            flow = load_flow(path, catalogue)
        except FlowError as exc:
            findings.append(Finding(exc.location, exc.message, exc.node))
            continue
        except OSError as exc:
            findings.append(Finding(Location(str(path), 1, 1), f"cannot read: {exc.strerror}"))
            continue
        findings.extend(lint_flow(flow, audio_missing=missing, known_flows=known, queues=queues))
    return findings
