"""The downloadable error report of an upload: row, column, reason as CSV.

Pure. Cells that a spreadsheet would run as a formula (starting with = + - @,
or a tab or carriage return that some spreadsheets skip before one) get a
leading apostrophe, so opening the report never executes anything a list file
put in a header. The text starts with a UTF-8 BOM so Excel shows Chinese
headers correctly.
"""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Iterator

BOM = "\ufeff"
HEADER = ("row", "column", "reason")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _line(cells: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([escape_cell(c) for c in cells])
    return buffer.getvalue()


def report_header(*, bom: bool = True) -> str:
    return (BOM if bom else "") + _line(HEADER)


def report_rows(errors: Iterable[tuple[int, str, str]]) -> str:
    """CSV text for (row, column, reason) tuples, without the header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([row, escape_cell(column), escape_cell(reason)] for row, column, reason in errors)
    return buffer.getvalue()


def report_lines(errors: Iterable[tuple[int, str, str]], *, bom: bool = True) -> Iterator[str]:
    """The whole report as text chunks: the header line, then one line per error."""
    yield report_header(bom=bom)
    for error in errors:
        yield report_rows((error,))
