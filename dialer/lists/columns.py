"""Which column of an uploaded list is which: header names to fields.

Pure. Defaults cover the headers bank staff use in English and Chinese
(电话/手机, 姓名, 金额, 到期日 ...); an upload may name its own headers for any
field, which then replace that field's defaults. Columns that map to no field
are kept as custom fields under their header text.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from dialer.lists.model import FIELDS, FileProblem

DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "phone_number", "phone_no", "mobile", "mobile_phone", "mobile_number", "cell", "msisdn",
              "tel", "telephone", "电话", "手机", "手机号", "手机号码", "电话号码", "联系电话", "联系方式"),
    "alt_phones": ("alt_phones", "alt_phone", "alternate_phones", "alternate_phone", "other_phones", "other_phone",
                   "phone2", "备用电话", "备用号码", "其他电话", "其他号码", "其它电话"),
    "name": ("name", "customer_name", "full_name", "customer", "姓名", "客户姓名", "客户名称", "客户名", "名字"),
    "account_ref": ("account", "account_ref", "account_number", "account_no", "card", "card_number", "card_no",
                    "账号", "账户", "帐号", "卡号", "银行卡号", "信用卡号"),
    "due_amount": ("due_amount", "amount", "amount_due", "金额", "应还金额", "欠款金额", "还款金额", "逾期金额",
                   "分期金额"),
    "due_date": ("due_date", "date_due", "payment_due", "到期日", "到期日期", "还款日", "还款日期", "最后还款日"),
    "time_zone": ("time_zone", "timezone", "tz", "时区"),
}

_SEPARATORS = re.compile(r"[\s\-./]+")


def header_key(text: Any) -> str:
    """How headers are compared: width-folded, case-folded, separators as '_', no markers.

    'Phone Number' == 'phone-number' == 'PHONE_NUMBER'; '电话*' and '电话：' == '电话'.
    """
    s = unicodedata.normalize("NFKC", "" if text is None else str(text)).replace("\ufeff", "")
    s = s.strip().rstrip("*:").strip().casefold()
    return _SEPARATORS.sub("_", s).strip("_")


def column_letter(index: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA' (how spreadsheets name columns)."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def validate_overrides(raw: Any) -> dict[str, tuple[str, ...]]:
    """{"phone": "Tel"} or {"phone": ["Tel", "Mobile"]} -> {"phone": ("Tel", "Mobile")}; ValueError if bad."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("columns must be an object mapping fields to header names")
    out = {}
    for field, names in raw.items():
        if field not in FIELDS:
            raise ValueError(f"unknown field {field!r} in columns (use {', '.join(FIELDS)})")
        if isinstance(names, str):
            names = (names,)
        if (not isinstance(names, (list, tuple)) or not names
                or not all(isinstance(n, str) and header_key(n) for n in names)):
            raise ValueError(f"columns.{field} must be a header name or a list of them")
        out[field] = tuple(names)
    return out


@dataclass(frozen=True)
class ColumnMap:
    headers: tuple[str, ...]              # the header row as written (stripped)
    fields: dict[str, int]                # field -> column index
    custom: tuple[tuple[int, str], ...]   # (column index, custom field name) for the other named columns

    @property
    def width(self) -> int:
        return len(self.headers)

    def header_of(self, field: str) -> str:
        return self.headers[self.fields[field]]

    def used(self) -> dict[str, str]:
        """field -> header, for the upload's record."""
        return {f: self.headers[i] for f, i in self.fields.items()}


def map_columns(header_row: Sequence[Any], overrides: Mapping[str, Sequence[str]] | None = None) -> ColumnMap:
    """Map a header row to fields; FileProblem if there is no phone column or a field is ambiguous."""
    headers = tuple("" if h is None else str(h).replace("\ufeff", "").strip() for h in header_row)
    keys = [header_key(h) for h in headers]
    overrides = dict(overrides or {})
    fields: dict[str, int] = {}
    taken: set[int] = set()
    # Named headers first, so a header named for one field is never claimed by another's defaults.
    for field in sorted(FIELDS, key=lambda f: f not in overrides):
        wanted = {header_key(n) for n in overrides.get(field, DEFAULT_HEADERS[field])}
        found = [i for i, k in enumerate(keys) if k and k in wanted and i not in taken]
        if len(found) > 1:
            names = " and ".join(repr(headers[i]) for i in found)
            raise FileProblem("ambiguous_column", f"columns {names} could both be {field}; "
                                                  f"say which one in the column mapping")
        if found:
            fields[field] = found[0]
            taken.add(found[0])
        elif field in overrides:
            given = ", ".join(repr(n) for n in overrides[field])
            raise FileProblem("missing_column", f"no column {given} (given for {field}) in the header row; "
                                                f"found: {_listing(headers)}")
    if "phone" not in fields:
        raise FileProblem("no_phone_column",
                          f"no phone column in the header row (found: {_listing(headers)}); name it one of "
                          f"{', '.join(DEFAULT_HEADERS['phone'][:4])}, 电话, 手机 or map it explicitly")
    custom: list[tuple[int, str]] = []
    names_used: set[str] = set()
    for i, header in enumerate(headers):
        if i in taken or not header:
            continue
        name, n = header, 2
        while name in names_used:
            name, n = f"{header} ({n})", n + 1
        names_used.add(name)
        custom.append((i, name))
    return ColumnMap(headers, fields, tuple(custom))


def _listing(headers: Sequence[str]) -> str:
    shown = [repr(h) for h in headers if h][:12]
    return ", ".join(shown) + (" ..." if sum(1 for h in headers if h) > 12 else "") if shown else "nothing"
