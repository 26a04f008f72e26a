"""One row of an uploaded list in, one Contact or one RowError out.

Pure. Cells are what the reader gives: text from CSV, or text, numbers and
dates from XLSX. The first problem in a row (in the order phone, alternate
phones, name, account, amount, date, layout) is the row's error; reasons say
what to fix and never repeat a phone or account number.
"""
from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Sequence

from dialer.lists.columns import ColumnMap, column_letter
from dialer.lists.model import Contact, RowError
from dialer.phones import PhoneError, normalise, valid_time_zone

MAX_NAME = 200
MAX_ACCOUNT = 64
MAX_CUSTOM = 1000
MAX_ALT_PHONES = 10
MAX_AMOUNT = Decimal("999999999999.99")  # numeric(14, 2)
_CENT = Decimal("0.01")
_ALT_SPLIT = re.compile(r"[,;，；、|/\n]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CURRENCY = re.compile(r"^(?:¥|￥|\$|RMB|CNY|人民币)\s*|\s*(?:元|RMB|CNY)$", re.IGNORECASE)
_PLAIN_AMOUNT = re.compile(r"^-?\d+(?:\.\d+)?$")
_GROUPED_AMOUNT = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                   r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")  # an export's time part is dropped
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class CellError(ValueError):
    pass


def as_text(value: Any) -> str:
    """A cell as text: numbers without a spurious '.0', dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value).strip()


def _cents(amount: Decimal) -> Decimal:
    """To whole cents; too large first (quantizing a 29-digit amount overflows decimal's context)."""
    if abs(amount) > MAX_AMOUNT:
        raise CellError("is too large")
    return amount.quantize(_CENT)


def parse_amount(value: Any) -> Decimal | None:
    """'¥1,234.50', '1234.5元', 1234.5 -> Decimal('1234.50'); None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise CellError("is not an amount")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CellError("is not an amount")
        exact = Decimal(repr(value))
        amount = _cents(exact)
        if abs(exact - amount) > Decimal("0.000001"):  # spreadsheet float noise is fine, real fractions not
            raise CellError("has more than 2 decimal places")
    elif isinstance(value, str) and len(value) < 30 and _PLAIN_AMOUNT.match(value):  # the usual: 1234.56
        amount = Decimal(value)
        if amount.as_tuple().exponent < -2:
            raise CellError("has more than 2 decimal places")
        amount = _cents(amount)
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if not text:
            return None
        text = _CURRENCY.sub("", text).strip()
        if _GROUPED_AMOUNT.match(text):
            text = text.replace(",", "")
        elif not _PLAIN_AMOUNT.match(text):
            raise CellError(f"{_show(value)} is not an amount (write it like 1234.56)")
        try:
            amount = Decimal(text)
        except InvalidOperation:  # pragma: no cover - the patterns above only let numbers through
            raise CellError(f"{_show(value)} is not an amount") from None
        if amount.as_tuple().exponent < -2:
            raise CellError("has more than 2 decimal places")
        amount = _cents(amount)
    if amount < 0:
        raise CellError("cannot be negative")
    if amount > MAX_AMOUNT:
        raise CellError("is too large")
    return amount


def parse_date(value: Any) -> date | None:
    """2026-03-01, 2026/3/1, 2026.03.01, 20260301, 2026年3月1日, or a spreadsheet date cell."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool) or (isinstance(value, (int, float)) and not _eight_digits(value)):
        raise CellError("is a number, not a date (format the column as a date, or write YYYY-MM-DD)")
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":  # the usual case: 2026-03-01
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            pass
        else:
            if not 1900 <= parsed.year <= 2100:
                raise CellError(f"{_show(value)} is out of range")
            return parsed
    text = unicodedata.normalize("NFKC", as_text(value))
    if not text:
        return None
    m = _DATE.match(text) or _COMPACT_DATE.match(text)
    if not m:
        raise CellError(f"{_show(value)} is not a date (write it as YYYY-MM-DD)")
    year, month, day = map(int, m.groups())
    try:
        parsed = date(year, month, day)
    except ValueError:
        raise CellError(f"{_show(value)} is not a real date") from None
    if not 1900 <= parsed.year <= 2100:
        raise CellError(f"{_show(value)} is out of range")
    return parsed


def _eight_digits(value: int | float) -> bool:
    """20260301 typed into a number cell."""
    return (isinstance(value, int) or value.is_integer()) and 10_000_000 <= value < 100_000_000


def _show(value: Any, limit: int = 30) -> str:
    text = as_text(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _line_text(value: Any, limit: int) -> str:
    text = as_text(value)
    if _CONTROL.search(text):
        if "\n" in text or "\r" in text:
            raise CellError("contains a line break (a quote left open in an earlier cell?)")
        raise CellError("contains control characters")
    if len(text) > limit:
        raise CellError(f"is longer than {limit} characters")
    return text


def _phone_text(value: Any) -> str:
    if isinstance(value, float):
        if not value.is_integer():
            raise PhoneError("not a phone number")
        return str(int(value))
    return as_text(value)


def validate_row(row: int, cells: Sequence[Any], columns: ColumnMap, region: str = "CN",
                 strict_width: bool = True) -> Contact | RowError:
    """Check and normalise one data row.

    `strict_width`: a non-empty cell right of the last header is an error (CSV,
    where it means an unquoted comma shifted the row); otherwise (XLSX) it is
    kept as a custom field named after its column letter.
    """
    fields = columns.fields
    n = len(cells)

    def cell(field: str) -> Any:
        i = fields.get(field)
        return cells[i] if i is not None and i < n else None

    # phone
    try:
        phone = normalise(_phone_text(cell("phone")), region)
    except PhoneError as exc:
        return RowError(row, columns.header_of("phone"), str(exc))
    # alternate phones
    alts: list[str] = []
    raw_alts = as_text(cell("alt_phones"))
    if raw_alts:
        parts = [p for p in _ALT_SPLIT.split(raw_alts) if p.strip()]
        if len(parts) > MAX_ALT_PHONES:
            return RowError(row, columns.header_of("alt_phones"), f"more than {MAX_ALT_PHONES} alternate phones")
        for k, part in enumerate(parts, 1):
            try:
                alt = normalise(part, region).e164
            except PhoneError as exc:
                return RowError(row, columns.header_of("alt_phones"), f"alternate phone {k}: {exc}")
            if alt != phone.e164 and alt not in alts:
                alts.append(alt)
    try:
        name = _line_text(cell("name"), MAX_NAME) if "name" in fields else ""
    except CellError as exc:
        return RowError(row, columns.header_of("name"), str(exc))
    try:
        raw_account = cell("account_ref")
        if isinstance(raw_account, (int, float)) and not isinstance(raw_account, bool) and abs(raw_account) >= 1e15:
            raise CellError("is a number too long for a spreadsheet to keep exactly; "
                            "format the column as text and export again")
        account = _line_text(raw_account, MAX_ACCOUNT) if "account_ref" in fields else ""
    except CellError as exc:
        return RowError(row, columns.header_of("account_ref"), str(exc))
    try:
        amount = parse_amount(cell("due_amount"))
    except CellError as exc:
        return RowError(row, columns.header_of("due_amount"), f"amount {exc}")
    try:
        due = parse_date(cell("due_date"))
    except CellError as exc:
        return RowError(row, columns.header_of("due_date"), f"date {exc}")
    zone = valid_time_zone(as_text(cell("time_zone"))) if "time_zone" in fields else None
    custom: dict[str, str] = {}
    for i, key in columns.custom:
        if i < n:
            text = as_text(cells[i])
            if text:
                if len(text) > MAX_CUSTOM:
                    return RowError(row, key, f"is longer than {MAX_CUSTOM} characters")
                custom[key] = text
    for i in range(columns.width, n):
        text = as_text(cells[i])
        if text:
            if strict_width:
                return RowError(row, f"column {column_letter(i)}",
                                f"row has {n} cells but the header has {columns.width}: "
                                f"an unquoted comma in an earlier cell?")
            custom[f"column {column_letter(i)}"] = text[:MAX_CUSTOM]
    return Contact(row=row, phone=phone.e164, alt_phones=tuple(alts), name=name, account_ref=account,
                   due_amount=amount, due_date=due, time_zone=zone or phone.time_zone, custom=custom)
