"""What a call-list upload produces: contacts, rejected rows, and file-level problems."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

# The columns a list may map; everything else in a file becomes a custom field.
FIELDS = ("phone", "alt_phones", "name", "account_ref", "due_amount", "due_date", "time_zone")


class FileProblem(Exception):
    """The file as a whole cannot be read (further); `code` is stable, `message` says what to fix."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    def __reduce__(self):  # it crosses from the list-reading worker process as it is
        return FileProblem, (self.code, self.message)


@dataclass(frozen=True, slots=True)
class Contact:
    row: int                      # row number in the file (the header is row 1 when it is the first row)
    phone: str                    # E.164
    alt_phones: tuple[str, ...] = ()
    name: str = ""
    account_ref: str = ""
    due_amount: Decimal | None = None
    due_date: date | None = None
    time_zone: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str                   # the file's own header text for that column
    reason: str
