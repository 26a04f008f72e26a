"""Registry of flow node types: name in YAML -> class.

Each node type lives in its own module and registers itself with `@register`;
adding a type means adding a module and importing it at the bottom here.
"""
from __future__ import annotations

from ivr.nodes.base import FlowError, Node, NodeSpec, StepResult

NODE_TYPES: dict[str, type[Node]] = {}


def register(cls: type[Node]) -> type[Node]:
    if cls.type_name in NODE_TYPES:
        raise ValueError(f"node type {cls.type_name!r} registered twice")
    NODE_TYPES[cls.type_name] = cls
    return cls


# Node type modules register themselves on import.
from ivr.nodes import goto, hangup, menu, play  # noqa: E402,F401

__all__ = ["NODE_TYPES", "FlowError", "Node", "NodeSpec", "StepResult", "register"]
