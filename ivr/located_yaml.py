"""YAML loading that remembers where every mapping and key came from.

Flow designers need errors that name file, line and column; plain
`yaml.safe_load` forgets positions, so mappings load as `LocatedMap`s.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class LocatedMap(dict):
    """A dict that knows its own location and the location of each key."""

    location: Location
    key_locations: dict[str, Location]

    def where(self, key: str | None = None) -> Location:
        if key is not None and key in self.key_locations:
            return self.key_locations[key]
        return self.location


class YamlSourceError(ValueError):
    def __init__(self, location: Location, message: str):
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


def _loader_for(file: str) -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            # Aliases let a few hundred bytes expand to gigabytes ("billion laughs");
            # flows never need them, so they are refused where they stand.
            if self.check_event(yaml.AliasEvent):
                raise YamlSourceError(_loc(file, self.peek_event().start_mark),
                                      "YAML aliases (*name) are not allowed here")
            return super().compose_node(parent, index)

        def construct_object(self, node, deep=False):
            try:
                return super().construct_object(node, deep=deep)
            except (yaml.YAMLError, YamlSourceError):
                raise
            except RecursionError:
                raise
            except Exception as exc:  # PyYAML's constructors fail in many ways: !!int abc, 2026-13-40, !!bool x
                raise YamlSourceError(_loc(file, node.start_mark),
                                      f"cannot read this value ({type(exc).__name__}: {exc})") from None

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LocatedMap:
        result = LocatedMap()
        result.location = _loc(file, node.start_mark)
        result.key_locations = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlSourceError(_loc(file, key_node.start_mark), "mapping keys must be plain strings")
            # The key as written: menu keys 1 or 012 and switch cases such as true stay
            # text, instead of YAML's int 1, octal 10 or bool True.
            key = key_node.value
            if key in result:
                raise YamlSourceError(_loc(file, key_node.start_mark), f"duplicate key {key!r}")
            result[key] = loader.construct_object(value_node, deep=True)
            result.key_locations[key] = _loc(file, key_node.start_mark)
        return result

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


def _loc(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def load_located(text: str, file: str) -> Any:
    """Parse YAML text; syntax errors become YamlSourceError with the position."""
    try:
        return yaml.load(text, Loader=_loader_for(file))  # noqa: S506 - SafeLoader subclass
    except YamlSourceError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = _loc(file, mark) if mark else Location(file, 1, 1)
        raise YamlSourceError(location, f"YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlSourceError(Location(file, 1, 1), f"YAML error: {exc}") from None
    except RecursionError:
        raise YamlSourceError(Location(file, 1, 1), "nested too deeply") from None


def load_located_file(path: Path, display_name: str | None = None) -> Any:
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlSourceError(Location(name, 1, 1), f"file is not UTF-8 ({exc.reason})") from None
    return load_located(text, name)
