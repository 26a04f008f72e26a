"""A list file read and checked in batches, ready for COPY: in a thread, or in a worker process.

    reader = BatchReader(BatchJob(...), in_process=True)
    item = await reader.next()     # a Header first, then Batches, then None
    await reader.close()

`read_batches` is the work itself: rows from a RowSource, the header mapped to
fields, each data row turned into a COPY line or a RowError (copy_rows), repeats
of a phone within a batch dropped. Big files are read in a separate process so
that checking rows (pure Python, one core) runs beside the database load on the
other core instead of sharing the GIL with the event loop; small ones in a
thread, which costs no process start. Either way only the batch being loaded and
the next one are in memory, so memory stays flat in the file's size.
"""
from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Sequence

from dialer.lists.columns import map_columns
from dialer.lists.copy_rows import CopyRows
from dialer.lists.model import FileProblem, RowError
from dialer.lists.readers import FileInfo, RowSource

_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the dialer package



@dataclass(frozen=True)
class BatchJob:
    path: Path
    info: FileInfo
    overrides: Mapping[str, Sequence[str]] | None
    region: str
    campaign_id: int
    upload_id: int
    resume_after: int   # the last row already loaded (0: none)
    batch_rows: int


@dataclass(frozen=True)
class Header:
    columns: dict[str, str]        # field -> the header used for it


@dataclass
class Batch:
    data: bytes                    # COPY text lines (copy_rows.COPY_COLUMNS), in phone order
    phones: list[str]              # the lines' phones, in the same order, distinct
    errors: list[tuple[int, int, str, str]] = field(default_factory=list)  # (upload id, row, column, reason)
    rows: int = 0                  # data rows read
    last_row: int = 0
    repeats: int = 0               # rows whose phone an earlier row of the batch had
    fraction: float | None = None  # how far through the file, when known
    problem: FileProblem | None = None  # the file cannot be read past this batch

    def lines_without(self, phones: set[str]) -> tuple[bytes, int]:
        """The COPY data without the lines of `phones`, and how many lines are left."""
        if not phones:
            return self.data, len(self.phones)
        lines = self.data.split(b"\n")  # COPY text escapes newlines inside values
        kept = [line for line, phone in zip(lines, self.phones) if phone not in phones]
        return b"".join(line + b"\n" for line in kept), len(kept)


def read_batches(job: BatchJob) -> Iterator[Header | Batch]:
    """The Header, then Batches of up to job.batch_rows data rows after job.resume_after.

    A FileProblem before the first data row (unreadable file, unmappable header) is
    raised; one later ends the last Batch (its `problem`), keeping the rows before it.
    """
    source = RowSource(job.path, job.info)
    try:
        rows = iter(source)
        first = next(rows, None)
        if first is None:
            raise FileProblem("empty_file", "the file has no header row (it is blank)")
        columns = map_columns(first[1], job.overrides)
        yield Header(columns.used())
        check = CopyRows(columns, job.region, source.strict_width, job.campaign_id, job.upload_id).line
        skip_through = max(job.resume_after, first[0])
        upload_id, size = job.upload_id, job.batch_rows
        last_row = skip_through
        while True:
            lines: dict[str, str] = {}
            errors: list[tuple[int, int, str, str]] = []
            n = repeats = 0
            problem = None
            try:
                for row, cells in rows:
                    if row <= skip_through:
                        continue
                    result = check(row, cells)
                    if type(result) is RowError:
                        errors.append((upload_id, result.row, result.column, result.reason))
                    elif result[0] in lines:
                        repeats += 1
                    else:
                        lines[result[0]] = result[1]
                    n += 1
                    last_row = row
                    if n >= size:
                        break
            except FileProblem as exc:
                problem = exc
            phones = sorted(lines)  # one order for every upload: concurrent loads cannot deadlock
            data = "".join([lines[p] for p in phones]).encode("utf-8")
            done = problem is not None or n < size
            yield Batch(data, phones, errors, n, last_row, repeats, 1.0 if done and problem is None
                        else source.fraction(), problem)
            if done:
                return
    finally:
        source.close()


class BatchReader:
    """read_batches(job), one item at a time, from a worker process or a thread, read ahead."""

    def __init__(self, job: BatchJob, in_process: bool):
        self._process: subprocess.Popen | None = None
        self._thread_items: Iterator[Header | Batch] | None = None
        self._pending: asyncio.Future | None = None
        self._done = False
        if in_process:
            # A fresh interpreter running this module, not multiprocessing: a fork would copy the
            # event loop, its threads and connections; a spawn would re-import the caller's
            # __main__. Items come back as length-prefixed pickles on its stdout; the pipe's
            # buffer bounds how far it can read ahead.
            env = dict(os.environ)  # this source tree first, installed or not
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SOURCE_ROOT), env.get("PYTHONPATH")) if p)
            self._process = subprocess.Popen([sys.executable, "-m", "dialer.lists.batches"], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, env=env)
            assert self._process.stdin is not None
            self._process.stdin.write(pickle.dumps(job))
            self._process.stdin.close()
            self._read = self._from_process
        else:
            self._thread_items = read_batches(job)
            self._read = self._in_thread
        self._thread_lock = threading.Lock()  # the generator runs in one thread at a time, close() included

    async def next(self) -> Header | Batch | None:
        if self._done:
            return None
        loop = asyncio.get_running_loop()
        if self._pending is None:
            self._pending = loop.run_in_executor(None, self._read)
        try:
            item = await self._pending
        finally:
            self._pending = None
        if isinstance(item, Batch) and item.problem is None:
            # Read the next batch while the caller loads this one.
            self._pending = loop.run_in_executor(None, self._read)
        if item is None:
            self._done = True
        return item

    def _in_thread(self) -> Header | Batch | None:
        with self._thread_lock:
            assert self._thread_items is not None
            return next(self._thread_items, None)

    def _close_in_thread(self) -> None:
        with self._thread_lock:  # after a read still running for a cancelled caller
            assert self._thread_items is not None
            self._thread_items.close()

    def _from_process(self) -> Header | Batch | None:
        assert self._process is not None and self._process.stdout is not None
        size = self._process.stdout.read(8)
        data = self._process.stdout.read(int.from_bytes(size, "big")) if len(size) == 8 else b""
        if len(size) < 8 or len(data) < int.from_bytes(size, "big"):
            code = self._process.wait()
            raise RuntimeError(f"the list-reading process ended unexpectedly (exit code {code})")
        item = pickle.loads(data)
        if isinstance(item, _Failed):
            if item.problem is not None:
                raise item.problem
            raise RuntimeError(f"the list-reading process failed:\n{item.traceback}")
        return item

    async def close(self) -> None:
        self._done = True
        loop = asyncio.get_running_loop()
        if self._process is not None and self._process.poll() is None:
            self._process.kill()  # stopped early (a database error, a cancelled upload): unblocks its reader
        if self._pending is not None:  # a batch still being read: let that finish, whatever its outcome
            await asyncio.wait({self._pending})
            if not self._pending.cancelled():
                self._pending.exception()  # retrieved: the caller is already handling the error that matters
            self._pending = None
        if self._thread_items is not None:
            await loop.run_in_executor(None, self._close_in_thread)
        if self._process is not None:
            process, self._process = self._process, None
            await loop.run_in_executor(None, process.wait)
            if process.stdout is not None:
                process.stdout.close()


@dataclass
class _Failed:
    problem: FileProblem | None
    traceback: str = ""


def _write(out: BinaryIO, item: Any) -> None:
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(8, "big"))
    out.write(data)
    out.flush()


def _work(job: BatchJob, out: BinaryIO) -> None:
    """The worker process: every item of read_batches(job) to `out`, then None."""
    try:
        for item in read_batches(job):
            _write(out, item)
        _write(out, None)
    except FileProblem as problem:
        _write(out, _Failed(problem))
    except BrokenPipeError:  # the parent stopped reading: nothing left to tell it
        pass
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        _write(out, _Failed(None, traceback.format_exc()))


if __name__ == "__main__":
    # Items go out on the original stdout only; anything else printed goes to stderr.
    items = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    # Through the module's own name, so what is pickled is dialer.lists.batches.Batch, not __main__.Batch.
    from dialer.lists import batches

    batches._work(pickle.load(sys.stdin.buffer), items)
    items.close()
