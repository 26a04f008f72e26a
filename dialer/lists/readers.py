"""Reading uploaded list files: what a file is, and its rows one at a time.

`Inspector` looks at the bytes once as they arrive (the HTTP upload feeds it
chunk by chunk while writing the temporary file): sha256, size, format, and
the text encoding of a CSV (UTF-8 with or without BOM, else GBK read as its
superset GB18030). `RowSource` then streams the rows of a CSV or of the first
visible sheet of an XLSX workbook without holding the file in memory.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from dialer.lists.model import FileProblem

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls
_UTF16 = (b"\xff\xfe", b"\xfe\xff")
_DELIMITERS = (",", "\t", ";", "|")


@dataclass(frozen=True)
class FileInfo:
    sha256: str
    size: int
    format: str                      # csv | xlsx | unknown
    encoding: str | None             # csv only
    problem: FileProblem | None = None


class Inspector:
    """Incremental: feed(chunk) for every chunk of the file, then finish(filename)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.size = 0
        self._head = b""
        self._lines = 0  # newlines in the bytes before the current chunk
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._gbk = codecs.getincrementaldecoder("gb18030")()
        self._utf8_error: tuple[int, int] | None = None  # (byte offset, line)
        self._gbk_error: tuple[int, int] | None = None
        self._nul: int | None = None  # line of the first NUL byte
        self._gbk_whole = False  # GBK decoding saw the file from its first byte

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._sha.update(chunk)
        if len(self._head) < 8:
            self._head += chunk[:8 - len(self._head)]
        if self._head.startswith((_ZIP, _OLE)):  # binary formats: only hash and size matter
            self.size += len(chunk)
            return
        if self._nul is None and b"\x00" in chunk:
            self._nul = self._lines + chunk[:chunk.index(b"\x00")].count(b"\n") + 1
        self._utf8_error = self._utf8_error or self._decode(self._utf8, chunk, False)
        if self._utf8_error:  # GBK is only a fallback: no need to decode twice for UTF-8 files
            self._gbk_whole = self._gbk_whole or self.size == 0
            self._gbk_error = self._gbk_error or self._decode(self._gbk, chunk, False)
        self.size += len(chunk)
        self._lines += chunk.count(b"\n")

    def _decode(self, decoder, chunk: bytes, final: bool) -> tuple[int, int] | None:
        try:
            decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            pos = max(0, min(exc.start, len(chunk)))
            return self.size + pos, self._lines + chunk[:pos].count(b"\n") + 1
        return None

    def _restart_gbk(self, path: Path | None) -> None:
        """UTF-8 failed after the first chunk: GBK must be checked from the first byte."""
        if path is None:
            raise ValueError("Inspector.finish needs the file's path to check it as GBK")
        self._gbk, self._gbk_error, self._gbk_whole = codecs.getincrementaldecoder("gb18030")(), None, True
        size, lines = self.size, self._lines
        self.size = self._lines = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                self._gbk_error = self._gbk_error or self._decode(self._gbk, chunk, False)
                self.size += len(chunk)
                self._lines += chunk.count(b"\n")
        self.size, self._lines = size, lines

    def finish(self, filename: str = "", path: Path | None = None) -> FileInfo:
        """`path`: the file fed so far, for a second pass when UTF-8 failed after the first chunk."""
        sha = self._sha.hexdigest()
        name = filename.lower()
        if self.size == 0:
            return FileInfo(sha, 0, "unknown", None, FileProblem("empty_file", "the file is empty"))
        if self._head.startswith(_ZIP):
            return FileInfo(sha, self.size, "xlsx", None)
        if self._head.startswith(_OLE):
            return FileInfo(sha, self.size, "unknown", None, FileProblem(
                "unsupported_format", "old Excel 97-2003 (.xls) workbooks are not supported: "
                                      "save it as Excel Workbook (.xlsx) or CSV UTF-8"))
        if name.endswith((".xlsx", ".xlsm")):
            return FileInfo(sha, self.size, "unknown", None, FileProblem(
                "bad_xlsx", "the file is named .xlsx but is not an Excel workbook"))
        if self._head.startswith(_UTF16):
            return FileInfo(sha, self.size, "csv", None, FileProblem(
                "bad_encoding", "the file is UTF-16 text (Excel's 'Unicode Text'): save it as CSV UTF-8"))
        if self._nul is not None:
            return FileInfo(sha, self.size, "csv", None, FileProblem(
                "not_text", f"the file contains NUL bytes (line {self._nul}): it is not CSV text; "
                            f"upload a .csv or .xlsx file"))
        if self._utf8_error is None:
            self._utf8_error = self._decode(self._utf8, b"", True)
        if self._utf8_error is None:
            return FileInfo(sha, self.size, "csv", "utf-8-sig" if self._head.startswith(codecs.BOM_UTF8) else "utf-8")
        if not self._gbk_whole:
            self._restart_gbk(path)  # the bytes before the chunk UTF-8 failed in were not checked as GBK
        if self._gbk_error is None:
            self._gbk_error = self._decode(self._gbk, b"", True)
        if self._gbk_error is None:
            return FileInfo(sha, self.size, "csv", "gb18030")
        offset, line = self._gbk_error
        return FileInfo(sha, self.size, "csv", None, FileProblem(
            "bad_encoding", f"the file is neither UTF-8 nor GBK text (first bad byte at line {line}, "
                            f"byte {offset + 1}): save it as CSV UTF-8"))


def inspect_file(path: Path, filename: str | None = None, chunk_size: int = 1 << 20) -> FileInfo:
    inspector = Inspector()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            inspector.feed(chunk)
    return inspector.finish(filename if filename is not None else Path(path).name, path)


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class RowSource:
    """Non-blank rows of a list file as (row number, cells), the header row first.

    Row numbers are what a spreadsheet shows: the first row of the file is 1,
    blank rows count. FileProblem if the file cannot be read further; rows
    yielded before that stay valid.
    """

    def __init__(self, path: Path, info: FileInfo):
        if info.problem is not None:
            raise info.problem
        self.path, self.info = Path(path), info
        self.strict_width = info.format == "csv"
        self._binary: BinaryIO | None = None
        self._rows_hint: int | None = None
        self._row = 0
        self._workbook = None
        self._xlsx_file: BinaryIO | None = None
        self._finished = False

    def fraction(self) -> float | None:
        """How far through the file the rows read so far are (0..1), when known."""
        if self._finished:
            return 1.0
        if self._binary is not None and not self._binary.closed and self.info.size:
            return min(1.0, self._binary.tell() / self.info.size)
        if self._rows_hint:
            return min(1.0, self._row / self._rows_hint)
        return None

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        if self.info.format == "csv":
            return self._csv_rows()
        if self.info.format == "xlsx":
            return self._xlsx_rows()
        raise FileProblem("unsupported_format", f"cannot read {self.info.format} files")

    def close(self) -> None:
        if self._binary is not None:
            self._binary.close()
        if self._workbook is not None:
            self._workbook.close()
        if self._xlsx_file is not None:
            self._xlsx_file.close()

    def __enter__(self) -> "RowSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _csv_rows(self) -> Iterator[tuple[int, list[Any]]]:
        encoding = self.info.encoding or "utf-8"
        with open(self.path, encoding=encoding, newline="") as f:
            delimiter = _sniff_delimiter(f.readline(64 * 1024))
        self._binary = open(self.path, "rb")
        text = io.TextIOWrapper(self._binary, encoding=encoding, newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        row = 0
        while True:
            start_line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                self._finished = True
                return
            except csv.Error as exc:
                raise _csv_problem(exc, start_line) from None
            except UnicodeDecodeError:
                raise FileProblem("bad_encoding", f"the file is not valid {encoding} text at line {start_line}") \
                    from None
            row += 1
            self._row = row
            if any(c and not c.isspace() for c in cells):
                yield row, cells

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        import zipfile

        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            # A file object, not the path: openpyxl judges a path by its extension, and uploads
            # live in temporary files without one.
            self._xlsx_file = open(self.path, "rb")
            self._workbook = openpyxl.load_workbook(self._xlsx_file, read_only=True, data_only=True)
            sheets = [ws for ws in self._workbook.worksheets if getattr(ws, "sheet_state", "visible") == "visible"]
            if not sheets:
                raise FileProblem("bad_xlsx", "the workbook has no visible worksheet")
            sheet = sheets[0]
            try:
                self._rows_hint = sheet.max_row if sheet.max_row and sheet.max_row > 1 else None
            except Exception:  # noqa: BLE001 - a missing or odd dimension is only a progress hint
                self._rows_hint = None
            sheet.reset_dimensions()  # trust the rows, not the (often wrong) stored dimension
            for row, values in enumerate(sheet.iter_rows(values_only=True), 1):
                self._row = row
                cells = list(values)
                if any(c is not None and not (isinstance(c, str) and (not c or c.isspace())) for c in cells):
                    yield row, cells
            self._finished = True
        except FileProblem:
            raise
        except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError) as exc:
            raise FileProblem("bad_xlsx", f"not a readable .xlsx workbook: {exc}") from None


def _csv_problem(exc: csv.Error, line: int) -> FileProblem:
    text = str(exc)
    if "unexpected end of data" in text:
        return FileProblem("broken_csv", f"broken CSV quoting: a quoted cell opened on line {line} is never closed")
    if "field larger than field limit" in text:
        return FileProblem("broken_csv", f"broken CSV quoting: a cell starting on line {line} is longer than "
                                         f"{csv.field_size_limit() // 1024} KiB (a quote left open?)")
    return FileProblem("broken_csv", f"broken CSV quoting on line {line}: {text}")
