"""Registry of flow node types: name in YAML -> class.

Each node type lives in its own module in this package and registers itself
with `@register`; every module here is imported on start, so adding a node
type means adding one module and touching nothing else.
"""
from __future__ import annotations

import importlib
import pkgutil

from ivr.nodes.base import FlowError, Node, NodeSpec, StepResult

NODE_TYPES: dict[str, type[Node]] = {}


def register(cls: type[Node]) -> type[Node]:
    if cls.type_name in NODE_TYPES:
        raise ValueError(f"node type {cls.type_name!r} registered twice")
    NODE_TYPES[cls.type_name] = cls
    return cls


def _import_node_modules() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


_import_node_modules()

__all__ = ["NODE_TYPES", "FlowError", "Node", "NodeSpec", "StepResult", "register"]
