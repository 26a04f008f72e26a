"""JSON Schema for flow files, generated from the registered node types.

Editors that speak yaml-language-server pick it up from the first line of a
flow (`# yaml-language-server: $schema=./schema.json`) and autocomplete keys.
`flows/schema.json` is regenerated with `ivr flow schema > flows/schema.json`;
a test fails when it is out of date.
"""
from __future__ import annotations

import json
import sys
from typing import Any

from ivr.nodes import NODE_TYPES

_COMMON = {
    "on_error": {"type": "string", "description": "node to continue at if this node fails"},
    "set": {"type": "object", "description": "variables to set (name: expression) once the node succeeds",
            "additionalProperties": {"type": ["string", "number", "boolean"]}},
}


def node_schema(type_name: str) -> dict[str, Any]:
    cls = NODE_TYPES[type_name]
    props = {"type": {"const": type_name}, **_COMMON, **cls.schema.get("properties", {})}
    doc = (sys.modules[cls.__module__].__doc__ or "").strip()
    return {
        "title": f"{type_name} node",
        "description": doc.split("\n")[0] if doc else "",
        "type": "object",
        "properties": props,
        "required": ["type", *cls.schema.get("required", [])],
        "additionalProperties": False,
    }


def flow_schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "IVR flow",
        "type": "object",
        "properties": {
            "flow": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
            "description": {"type": "string"},
            "languages": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "default_language": {"type": "string"},
            "start": {"type": "string"},
            "direction": {"enum": ["inbound", "outbound"], "default": "inbound",
                          "description": "outbound: runs on answered campaign calls and may read `contact`"},
            "nodes": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
                "additionalProperties": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"enum": sorted(NODE_TYPES)}},
                    "allOf": [
                        {"if": {"properties": {"type": {"const": name}}}, "then": node_schema(name)}
                        for name in sorted(NODE_TYPES)
                    ],
                },
            },
        },
        "required": ["flow", "languages", "start", "nodes"],
        "additionalProperties": False,
    }


def schema_json() -> str:
    return json.dumps(flow_schema(), indent=2, ensure_ascii=False) + "\n"
