"""A voice-navigation flow: parsed from YAML, validated as a whole, immutable.

    flow: hotline
    languages: [zh-CN, en-US]      # every prompt must exist in each of these
    default_language: zh-CN
    start: greeting
    direction: inbound             # or outbound: answered campaign calls (see ivr/outbound.py)
    nodes:
      greeting: {type: play, prompt: welcome, next: main_menu}
      ...

Any node may add `on_error: <node>` to continue there if the node fails
(e.g. a prompt that cannot be played) instead of ending the call, and
`set: {variable: expression}` to set variables once it has succeeded.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ivr.located_yaml import LocatedMap, Location, YamlSourceError, load_located
from ivr.nodes import NODE_TYPES, FlowError, Node, NodeSpec

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TOP_KEYS = {"flow", "description", "languages", "default_language", "start", "direction", "nodes"}
DIRECTIONS = ("inbound", "outbound")


class PromptCatalogue(Protocol):
    """What flow validation needs to know about prompts."""

    def has_text(self, prompt_id: str, language: str) -> bool: ...


@dataclass(frozen=True)
class Flow:
    name: str
    source: str
    version: str  # content hash: the same text is the same version everywhere
    languages: tuple[str, ...]
    default_language: str
    start: str
    nodes: dict[str, Node]
    locations: dict[str, Location]  # where each node is defined, for tools that report on nodes
    text: str  # the source, kept so every deployed version can be stored and rolled back to
    # outbound flows run on answered campaign calls and may read the contact (ivr/outbound.py)
    direction: str = "inbound"

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]


def flow_version(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def load_flow(path: Path, catalogue: PromptCatalogue | None = None, display_name: str | None = None) -> Flow:
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError(Location(name, 1, 1), f"file is not UTF-8 ({exc.reason})") from None
    return parse_flow(text, name, catalogue)


def parse_flow(text: str, file: str, catalogue: PromptCatalogue | None = None) -> Flow:
    try:
        doc = load_located(text, file)
    except YamlSourceError as exc:
        raise FlowError(exc.location, exc.message) from None
    if not isinstance(doc, LocatedMap):
        raise FlowError(Location(file, 1, 1), "a flow file must be a mapping with 'flow', 'start' and 'nodes'")
    for key in doc:
        if key not in _TOP_KEYS:
            raise FlowError(doc.where(key), f"unknown top-level key {key!r} (expected one of {sorted(_TOP_KEYS)})")

    name = _required_text(doc, "flow")
    if not _NAME.match(name):
        raise FlowError(doc.where("flow"), f"flow name {name!r} must be letters, digits and _")
    languages = _languages(doc)
    default_language = doc.get("default_language", languages[0])
    if default_language not in languages:
        raise FlowError(doc.where("default_language"), f"default_language {default_language!r} is not in languages")
    start = _required_text(doc, "start")
    direction = doc.get("direction", "inbound")
    if direction not in DIRECTIONS:
        raise FlowError(doc.where("direction"), f"direction must be one of {list(DIRECTIONS)}, not {direction!r}")
    raw_nodes = doc.get("nodes")
    if not isinstance(raw_nodes, LocatedMap) or not raw_nodes:
        raise FlowError(doc.where("nodes"), "'nodes' must be a non-empty mapping of node name to node")

    nodes: dict[str, Node] = {}
    exit_locations: dict[str, dict[str, Location]] = {}
    for node_id, raw in raw_nodes.items():
        nodes[node_id], exit_locations[node_id] = _parse_node(node_id, raw, raw_nodes.where(node_id))

    if start not in nodes:
        raise FlowError(doc.where("start"), f"start node {start!r} does not exist")
    for node_id, node in nodes.items():
        for exit_name, target in node.exits.items():
            if target not in nodes:
                raise FlowError(exit_locations[node_id][exit_name],
                                f"exit {exit_name!r} leads to missing node {target!r}", node_id)
    for node_id, node in nodes.items():
        problem = node.check(languages)
        if problem:
            raise FlowError(raw_nodes[node_id].location, problem, node_id)
    if catalogue is not None:
        _check_prompts(nodes, raw_nodes, languages, catalogue)
    locations = {node_id: raw_nodes.where(node_id) for node_id in nodes}
    return Flow(name, file, flow_version(text), languages, default_language, start, nodes, locations, text,
                direction)


def _required_text(doc: LocatedMap, key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise FlowError(doc.where(key), f"{key!r} is required and must be a string")
    return value


def _languages(doc: LocatedMap) -> tuple[str, ...]:
    value = doc.get("languages")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise FlowError(doc.where("languages"), "'languages' must be a non-empty list such as [zh-CN, en-US]")
    return tuple(value)


def _parse_node(node_id: str, raw: object, where: Location) -> tuple[Node, dict[str, Location]]:
    if not _NAME.match(node_id):
        raise FlowError(where, "node names must start with a letter and use letters, digits and _", node_id)
    if not isinstance(raw, LocatedMap):
        raise FlowError(where, "a node must be a mapping with a 'type'", node_id)
    type_name = raw.get("type")
    node_type = NODE_TYPES.get(type_name) if isinstance(type_name, str) else None
    if node_type is None:
        raise FlowError(raw.where("type"), f"unknown node type {type_name!r} (known: {', '.join(sorted(NODE_TYPES))})",
                        node_id)
    spec = NodeSpec(node_id, raw)
    spec.target("on_error", exit_name="error", required=False)
    after_set = spec.assignments("set", ())
    node = node_type.from_spec(spec)
    node.after_set = after_set
    return node, spec.exit_locations


def _check_prompts(nodes: dict[str, Node], raw_nodes: LocatedMap, languages: tuple[str, ...],
                   catalogue: PromptCatalogue) -> None:
    for node_id, node in nodes.items():
        for prompt_id in node.prompt_ids():
            for language in languages:
                if not catalogue.has_text(prompt_id, language):
                    raise FlowError(raw_nodes[node_id].location,
                                    f"prompt {prompt_id!r} has no {language} text in the prompt catalogue", node_id)
