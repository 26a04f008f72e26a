"""Rows of a list file as lines of PostgreSQL COPY text for the `contacts` table.

Pure. `CopyRows(columns, region, strict_width, campaign_id, upload_id).line(row, cells)`
gives `(phone, line)` for a good row or the row's RowError. The answer is always
the one `rows.validate_row` gives (the same checks, the same normalised values),
encoded as one line of COPY's text format in COPY_COLUMNS order:

- the shapes that make up almost every row of a CSV export (a cell that is a
  mobile number, plain text, `1234.56`, `2026-03-01`, or empty) are checked here
  directly, without building a Contact, a Decimal or a date on the way;
- any other row (a cell of another shape, a spreadsheet value, anything to
  reject) goes through `validate_row` itself and its Contact is encoded.

tests/unit/test_copy_rows.py checks on generated rows that both ways give the same.
"""
from __future__ import annotations

import json
import re
from datetime import date
from typing import Any, Sequence

from dialer.lists.columns import ColumnMap
from dialer.lists.model import Contact, RowError
from dialer.lists.rows import MAX_ACCOUNT, MAX_CUSTOM, MAX_NAME, validate_row
from dialer.phones import PhoneError, cn_mobile, normalise, valid_time_zone

COPY_COLUMNS = ("campaign_id", "upload_id", "phone", "alt_phones", "name", "account_ref", "due_amount", "due_date",
                "custom", "time_zone", "source_row")
NULL = "\\N"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What parse_amount accepts as is and validate_row stores unchanged (numeric(14, 2) keeps
# the value): no sign, at most 12 integer digits (MAX_AMOUNT), at most 2 decimals.
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?")  # ASCII digits only: PostgreSQL reads them
_JSON_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')  # json.dumps(s, ensure_ascii=False) == '"' + s + '"'
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """A text value as COPY's text format writes it (backslash escapes)."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def json_string(value: str) -> str:
    """json.dumps(value, ensure_ascii=False), quicker for the usual plain text."""
    return f'"{value}"' if _JSON_PLAIN.fullmatch(value) else json.dumps(value, ensure_ascii=False)


class CopyRows:
    def __init__(self, columns: ColumnMap, region: str, strict_width: bool, campaign_id: int, upload_id: int):
        self.columns, self.region, self.strict_width = columns, region, strict_width
        self.prefix = f"{int(campaign_id)}\t{int(upload_id)}\t"
        fields = columns.fields
        self._phone = fields["phone"]
        self._alt = fields.get("alt_phones")
        self._name = fields.get("name")
        self._account = fields.get("account_ref")
        self._amount = fields.get("due_amount")
        self._date = fields.get("due_date")
        self._zone = fields.get("time_zone")
        self._custom = tuple((i, json_string(key) + ": ") for i, key in columns.custom)
        self._width = columns.width
        self._cn = region == "CN"

    def line(self, row: int, cells: Sequence[Any]) -> tuple[str, str] | RowError:
        fast = self._plain(row, cells)
        if fast is not None:
            return fast
        result = validate_row(row, cells, self.columns, self.region, self.strict_width)
        if type(result) is RowError:
            return result
        return result.phone, self.contact_line(result)

    def contact_line(self, c: Contact) -> str:
        custom = json.dumps(c.custom, ensure_ascii=False) if c.custom else "{}"
        return (f"{self.prefix}{c.phone}\t{{{','.join(c.alt_phones)}}}\t{copy_text(c.name)}\t"
                f"{copy_text(c.account_ref)}\t{NULL if c.due_amount is None else c.due_amount}\t"
                f"{NULL if c.due_date is None else c.due_date.isoformat()}\t{copy_text(custom)}\t"
                f"{c.time_zone or NULL}\t{c.row}\n")

    def _plain(self, row: int, cells: Sequence[Any]) -> tuple[str, str] | None:
        """The line for a row of only the usual shapes; None for anything else."""
        n = len(cells)
        raw = cells[self._phone] if self._phone < n else None
        if type(raw) is not str:
            return None
        try:
            quick = cn_mobile(raw.strip()) if self._cn else None
            if quick is None:
                phone = normalise(raw, self.region)
                e164, zone = phone.e164, phone.time_zone
            else:
                e164, _, zone = quick
        except PhoneError:
            return None
        i = self._alt
        if i is not None and i < n and cells[i] is not None and (type(cells[i]) is not str or cells[i].strip()):
            return None
        name = account = ""
        i = self._name
        if i is not None and i < n and cells[i] is not None:
            name = cells[i]
            if type(name) is not str:
                return None
            name = name.strip()
            if len(name) > MAX_NAME or _CONTROL.search(name):
                return None
            if "\\" in name:
                name = name.replace("\\", "\\\\")
        i = self._account
        if i is not None and i < n and cells[i] is not None:
            account = cells[i]
            if type(account) is not str:
                return None
            account = account.strip()
            if len(account) > MAX_ACCOUNT or _CONTROL.search(account):
                return None
            if "\\" in account:
                account = account.replace("\\", "\\\\")
        amount = due = NULL
        i = self._amount
        if i is not None and i < n and cells[i] is not None and cells[i] != "":
            amount = cells[i]
            if type(amount) is not str or not _PLAIN_AMOUNT.fullmatch(amount):
                return None
        i = self._date
        if i is not None and i < n and cells[i] is not None and cells[i] != "":
            value = cells[i]
            if type(value) is not str or len(value) != 10 or value[4] != "-":
                return None
            try:
                parsed = date.fromisoformat(value)
            except ValueError:
                return None
            if not 1900 <= parsed.year <= 2100:
                return None
            due = parsed.isoformat()
        i = self._zone
        if i is not None and i < n and cells[i] is not None:
            if type(cells[i]) is not str:
                return None
            zone = valid_time_zone(cells[i]) or zone
        parts = []
        for i, key in self._custom:
            if i < n:
                value = cells[i]
                if value is None:
                    continue
                if type(value) is not str:
                    return None
                text = value.strip()
                if text:
                    if len(text) > MAX_CUSTOM:
                        return None
                    parts.append(key + json_string(text))
        for i in range(self._width, n):
            value = cells[i]
            if value is not None and (type(value) is not str or value.strip()):
                return None
        custom = "{" + ", ".join(parts) + "}"
        if "\\" in custom:  # JSON escapes every control character: a backslash is all COPY must escape
            custom = custom.replace("\\", "\\\\")
        return e164, (f"{self.prefix}{e164}\t{{}}\t{name}\t{account}\t{amount}\t{due}\t"
                      f"{custom}\t{zone or NULL}\t{row}\n")
