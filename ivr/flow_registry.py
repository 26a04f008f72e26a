"""The live flows: loaded from `flows/*.yaml`, validated, hot-reloaded.

A changed file becomes live for new calls only if it validates; otherwise
the error (file:line:column, node) is logged and kept for /health, and the
previous good version stays live. Calls in progress hold their own `Flow`
object, so they finish on the version they started with.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from ivr.flow import Flow, PromptCatalogue, load_flow
from ivr.located_yaml import Location
from ivr.nodes import FlowError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Seen:
    mtime_ns: int
    size: int


class FlowRegistry:
    def __init__(self, flows_dir: Path, catalogue: PromptCatalogue | None):
        self.flows_dir = flows_dir
        self.catalogue = catalogue
        self.flows: dict[str, Flow] = {}
        self.errors: dict[str, str] = {}  # file -> error of its latest rejected version
        self._seen: dict[Path, _Seen] = {}

    def get(self, name: str) -> Flow | None:
        return self.flows.get(name)

    def load_all(self) -> None:
        """Initial load: any invalid flow is fatal (raises FlowError), so a bad deploy never starts."""
        for path in self._files():
            flow = self._load(path)
            self.flows[flow.name] = flow
        if not self.flows:
            raise FlowError(Location(str(self.flows_dir), 1, 1), "no flow files (*.yaml) found")

    def reload_changed(self) -> list[str]:
        """Load files changed since last look; return the names of flows that changed version."""
        changed: list[str] = []
        for path in self._files():
            stat = path.stat()
            seen = _Seen(stat.st_mtime_ns, stat.st_size)
            if self._seen.get(path) == seen:
                continue
            try:
                flow = self._load(path)
            except FlowError as exc:
                self._seen[path] = seen
                self.errors[str(path)] = str(exc)
                log.error("flow change rejected, previous version stays live: %s", exc)
                continue
            self.errors.pop(str(path), None)
            old = self.flows.get(flow.name)
            if old is None or old.version != flow.version:
                self.flows[flow.name] = flow
                changed.append(flow.name)
                log.info("flow %s version %s is live (%s)", flow.name, flow.version, path.name)
        return changed

    async def watch(self, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.reload_changed()
            except OSError as exc:  # a file vanished mid-read: try again next round
                log.warning("flow reload: %s", exc)

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


def _display(path: Path) -> str:
    """Errors name the file as flow designers know it: flows/hotline.yaml."""
    return f"{path.parent.name}/{path.name}"
