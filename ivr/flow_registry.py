"""The live flows: loaded from `flows/*.yaml`, validated, hot-reloaded.

A changed file becomes live for new calls only if it validates (including
that every flow it calls as a subflow is live); otherwise the error
(file:line:column, node) is logged and kept for /health, and the previous
good version stays live. Calls in progress hold their own `Flow` objects, so
they finish on the versions they started with.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ivr.flow import Flow, PromptCatalogue, flow_version, load_flow
from ivr.located_yaml import Location
from ivr.nodes import FlowError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Seen:
    mtime_ns: int
    size: int


@dataclass(frozen=True)
class Rejected:
    flow_name: str  # the file's stem: the flow it was meant to replace
    version: str  # hash of the rejected text
    error: str


@dataclass
class ReloadReport:
    live: list[Flow] = field(default_factory=list)  # flows whose new version went live
    rejected: list[Rejected] = field(default_factory=list)


class FlowRegistry:
    def __init__(self, flows_dir: Path, catalogue: PromptCatalogue | None):
        self.flows_dir = flows_dir
        self.catalogue = catalogue
        self.flows: dict[str, Flow] = {}
        self.errors: dict[str, str] = {}  # file -> error of its latest rejected version
        self._seen: dict[Path, _Seen] = {}

    def get(self, name: str) -> Flow | None:
        return self.flows.get(name)

    def snapshot(self) -> dict[str, Flow]:
        """The live flows as one consistent set, for a call to keep to its end."""
        return dict(self.flows)

    def load_all(self) -> None:
        """Initial load: any invalid flow is fatal (raises FlowError), so a bad deploy never starts."""
        loaded = {}
        for path in self._files():
            flow = self._load(path)
            loaded[flow.name] = flow
        if not loaded:
            raise FlowError(Location(str(self.flows_dir), 1, 1), "no flow files (*.yaml) found")
        for flow in loaded.values():
            _check_subflows(flow, loaded)
        self.flows = loaded

    def reload_changed(self) -> ReloadReport:
        """Load files changed since last look."""
        report = ReloadReport()
        for path in self._files():
            stat = path.stat()
            seen = _Seen(stat.st_mtime_ns, stat.st_size)
            if self._seen.get(path) == seen:
                continue
            try:
                flow = self._load(path)
                _check_subflows(flow, {**self.flows, flow.name: flow})
            except FlowError as exc:
                self._seen[path] = seen
                self.errors[str(path)] = str(exc)
                text = path.read_text(encoding="utf-8", errors="replace")
                report.rejected.append(Rejected(path.stem, flow_version(text), str(exc)))
                log.error("flow change rejected, previous version stays live: %s", exc)
                continue
            self.errors.pop(str(path), None)
            old = self.flows.get(flow.name)
            if old is None or old.version != flow.version:
                self.flows[flow.name] = flow
                report.live.append(flow)
                log.info("flow %s version %s is live (%s)", flow.name, flow.version, path.name)
        return report

    def _files(self) -> list[Path]:
        return sorted(self.flows_dir.glob("*.yaml"))

    def _load(self, path: Path) -> Flow:
        stat = path.stat()
        flow = load_flow(path, self.catalogue, display_name=_display(path))
        if flow.name != path.stem:
            raise FlowError(Location(_display(path), 1, 1),
                            f"flow name {flow.name!r} must match the file name {path.name!r}")
        self._seen[path] = _Seen(stat.st_mtime_ns, stat.st_size)
        return flow


def _check_subflows(flow: Flow, live: dict[str, Flow]) -> None:
    for node_id, node in flow.nodes.items():
        for name in node.calls_flows():
            if name not in live:
                raise FlowError(flow.locations[node_id], f"calls flow {name!r}, which is not a live flow", node_id)


def _display(path: Path) -> str:
    """Errors name the file as flow designers know it: flows/hotline.yaml."""
    return f"{path.parent.name}/{path.name}"
