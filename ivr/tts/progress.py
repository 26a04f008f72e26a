"""A one-line progress bar on stderr, with notices printed above it (no dependency)."""

from __future__ import annotations

import shutil
import sys
from typing import TextIO


class Progress:
    """On a terminal: a bar redrawn in place. Elsewhere (CI logs): one line per rendered prompt."""

    def __init__(self, total: int, stream: TextIO | None = None, bar: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self._drawn = False

    def note(self, message: str) -> None:
        """A notice that must stay visible (an engine falling back, a failure)."""
        self._clear()
        print(message, file=self.stream, flush=True)
        self._draw()

    def advance(self, label: str, detail: str | None = None) -> None:
        """One prompt done; ``detail`` (what was rendered) is logged when there is no bar."""
        self.done += 1
        self._label = label
        if self.bar:
            self._draw()
        elif detail is not None:
            width = len(str(self.total))
            print(f"[{self.done:>{width}}/{self.total}] {label}: {detail}", file=self.stream, flush=True)

    def close(self) -> None:
        self._clear()

    def _draw(self) -> None:
        if not self.bar or self.total == 0:
            return
        columns = shutil.get_terminal_size((80, 20)).columns
        count = f"{self.done}/{self.total}"
        label = getattr(self, "_label", "")
        cells = max(10, min(40, columns - len(count) - 30))
        filled = cells * self.done // self.total
        line = f"prompts [{'#' * filled}{'.' * (cells - filled)}] {count} {label}"
        self.stream.write("\r" + line[: columns - 1].ljust(columns - 1))
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            columns = shutil.get_terminal_size((80, 20)).columns
            self.stream.write("\r" + " " * (columns - 1) + "\r")
            self.stream.flush()
            self._drawn = False
