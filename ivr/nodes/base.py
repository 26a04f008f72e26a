"""What every flow node type shares: the spec reader, the result type, the base class.

A node type is one small module under `ivr/nodes/` that subclasses `Node`,
reads its YAML through a `NodeSpec` (so every error names file, line and
node) and is registered by name with `@register`. The runner only knows
this interface, so new node types never touch it.
"""
from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ivr.expr import AssignmentError, ExpressionError, compile_assignments, parse_scalar
from ivr.located_yaml import LocatedMap, Location

if TYPE_CHECKING:
    from ivr.call import CallContext


class FlowError(ValueError):
    """A flow that cannot be used, with the place that makes it so."""

    def __init__(self, location: Location, message: str, node: str | None = None):
        where = f"{location}: node {node!r}: " if node is not None else f"{location}: "
        super().__init__(where + message)
        self.location = location
        self.node = node
        self.message = message


@dataclass(frozen=True)
class StepResult:
    """What one node did: the exit it took, the caller's input (masked if secret), details.

    `exit=None` ends the call with `outcome` (e.g. completed, transferred).
    `call_flow` runs another flow first and continues at `exit` when it
    returns; `returns` ends the current subflow.
    """

    exit: str | None
    input: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    outcome: str = "completed"
    call_flow: str | None = None
    returns: bool = False


_MISSING = object()


class NodeSpec:
    """Typed, located access to one node's YAML mapping.

    Reading a key marks it as known; `finish()` then rejects any key no one
    read, so a typo such as `promt:` is an error instead of a silent default.
    """

    def __init__(self, node_id: str, data: LocatedMap):
        self.node_id = node_id
        self.data = data
        self._read: set[str] = {"type"}
        self.exits: dict[str, str] = {}
        self.exit_locations: dict[str, Location] = {}

    def error(self, message: str, key: str | None = None) -> FlowError:
        return FlowError(self.data.where(key), message, self.node_id)

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            typo = difflib.get_close_matches(key, [k for k in self.data if k not in self._read], n=1)
            if typo:
                raise self.error(f"unknown key {typo[0]!r} (did you mean {key!r}?)", typo[0])
            raise self.error(f"missing required key {key!r}")
        return default

    def value(self, key: str, default: Any = _MISSING) -> Any:
        """The raw YAML value of `key`, for node types that validate it themselves."""
        return self._get(key, default)

    def text(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is not default and (not isinstance(value, str) or not value.strip()):
            raise self.error(f"{key!r} must be a non-empty string", key)
        return value

    def number(self, key: str, default: Any = _MISSING, *, minimum: float, maximum: float) -> Any:
        value = self._get(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"{key!r} must be a number", key)
        if not minimum <= value <= maximum:
            raise self.error(f"{key!r} must be between {minimum} and {maximum}, got {value}", key)
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{key!r} must be true or false", key)
        return value

    def text_list(self, key: str, default: Any = _MISSING) -> Any:
        """A string or a non-empty list of strings (one prompt or several)."""
        value = self._get(key, default)
        if value is default:
            return value
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
            raise self.error(f"{key!r} must be a string or a non-empty list of strings", key)
        return tuple(items)

    def mapping(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is not default and not isinstance(value, LocatedMap):
            raise self.error(f"{key!r} must be a mapping", key)
        return value

    def expression(self, key: str, default: Any = _MISSING) -> Any:
        """An expression (see ivr.expr); a number or true/false stands for its own text."""
        value = self._get(key, default)
        if value is default:
            return value
        try:
            return parse_scalar(value)
        except ExpressionError as exc:
            raise self.error(f"in {key!r}: {exc}", key) from None

    def assignments(self, key: str, default: Any = _MISSING) -> Any:
        """A mapping of variable name -> expression, as `((name, Expression), ...)`."""
        targets = self.mapping(key, default)
        if targets is default:
            return targets
        try:
            return compile_assignments(targets)
        except AssignmentError as exc:
            raise FlowError(targets.where(exc.variable), f"in {key!r}: {exc}", self.node_id) from None

    def exit(self, exit_name: str, target: Any, location: Location) -> None:
        """Declare an exit of this node leading to the node named `target`."""
        if not isinstance(target, str) or not target:
            raise FlowError(location, f"exit {exit_name!r} must name a node", self.node_id)
        self.exits[exit_name] = target
        self.exit_locations[exit_name] = location

    def target(self, key: str, exit_name: str | None = None, required: bool = True) -> str | None:
        """Read `key` as the name of the node an exit leads to."""
        value = self._get(key, _MISSING if required else None)
        if value is None:
            return None
        self.exit(exit_name or key, value, self.data.where(key))
        return value

    def finish(self) -> None:
        unknown = [k for k in self.data if k not in self._read]
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r} for a {self.data.get('type')} node", unknown[0])


class Node(ABC):
    """One step of a flow. Subclasses are immutable after parsing and shared by all calls."""

    type_name: ClassVar[str]
    # JSON Schema of this type's own keys ("properties", "required"). The common
    # keys (type, on_error) are added by `ivr.schema`, which builds the flow
    # schema for editors from these.
    schema: ClassVar[dict[str, Any]] = {"properties": {}, "required": []}

    # Variables any node may set after it succeeds (the common `set:` key).
    after_set: tuple = ()

    def __init__(self, node_id: str, exits: dict[str, str]):
        self.id = node_id
        self.exits = dict(exits)

    @classmethod
    def from_spec(cls, spec: NodeSpec) -> "Node":
        """Read the node's keys from `spec`; declare exits with `spec.target`."""
        node = cls._parse(spec)
        spec.finish()
        return node

    @classmethod
    @abstractmethod
    def _parse(cls, spec: NodeSpec) -> "Node": ...

    def prompt_ids(self) -> tuple[str, ...]:
        """Catalogue ids of every prompt this node may play (checked at load)."""
        return ()

    def reads(self) -> frozenset[str]:
        """Variables this node reads (the linter reports ones no node sets)."""
        return frozenset()

    def writes(self) -> frozenset[str]:
        """Variables this node sets."""
        return frozenset()

    def calls_flows(self) -> tuple[str, ...]:
        """Names of other flows this node runs (checked against the live flows)."""
        return ()

    def check(self, languages: tuple[str, ...]) -> str | None:
        """A problem with this node in the context of its flow, or None."""
        return None

    @property
    def ends_call(self) -> bool:
        """True for nodes after which the flow has nowhere to go (hangup, transfer, return)."""
        return not self.exits or set(self.exits) == {"error"}

    @abstractmethod
    async def run(self, call: "CallContext") -> StepResult: ...
