"""dialer.lists.copy_rows: a row's COPY line says exactly what validate_row says, quick path or not."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.lists.columns import map_columns
from dialer.lists.copy_rows import COPY_COLUMNS, CopyRows, copy_text, json_string
from dialer.lists.model import RowError
from dialer.lists.rows import validate_row

HEADER = ["手机", "备用电话", "姓名", "卡号", "金额", "到期日", "时区", "分行", "备注"]
COLUMNS = map_columns(HEADER)
CAMPAIGN, UPLOAD = 7, 42


def decode(line: str) -> dict:
    """A COPY text line back into its values (the inverse of what PostgreSQL reads)."""
    assert line.endswith("\n") and line.count("\n") == 1
    fields = line[:-1].split("\t")
    assert len(fields) == len(COPY_COLUMNS)

    def unescape(text: str) -> str | None:
        if text == "\\N":
            return None
        out, i = [], 0
        while i < len(text):
            if text[i] == "\\":
                out.append({"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}[text[i + 1]])
                i += 2
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    values = dict(zip(COPY_COLUMNS, map(unescape, fields)))
    values["due_amount"] = None if values["due_amount"] is None else Decimal(values["due_amount"])
    values["due_date"] = None if values["due_date"] is None else date.fromisoformat(values["due_date"])
    values["custom"] = json.loads(values["custom"])
    return values


def expected(row: int, cells: list, columns=COLUMNS, strict: bool = True) -> RowError | tuple[str, dict]:
    result = validate_row(row, cells, columns, "CN", strict)
    if isinstance(result, RowError):
        return result
    return result.phone, {"campaign_id": str(CAMPAIGN), "upload_id": str(UPLOAD), "phone": result.phone,
                          "alt_phones": "{" + ",".join(result.alt_phones) + "}", "name": result.name,
                          "account_ref": result.account_ref, "due_amount": result.due_amount,
                          "due_date": result.due_date, "custom": result.custom, "time_zone": result.time_zone,
                          "source_row": str(result.row)}


def got(row: int, cells: list, columns=COLUMNS, strict: bool = True) -> RowError | tuple[str, dict]:
    result = CopyRows(columns, "CN", strict, CAMPAIGN, UPLOAD).line(row, cells)
    if isinstance(result, RowError):
        return result
    phone, line = result
    return phone, decode(line)


USUAL = ["13812345678", "", "张三", "6225880012345678", "1234.50", "2026-03-01", "", "上海分行", "VIP"]


def test_the_usual_row_takes_the_quick_path_and_equals_validate_row():
    rows = CopyRows(COLUMNS, "CN", True, CAMPAIGN, UPLOAD)
    assert rows._plain(2, USUAL) is not None   # otherwise the property tests below prove nothing about it
    assert got(2, USUAL) == expected(2, USUAL)
    phone, values = got(2, USUAL)
    assert (phone, values["due_amount"], values["custom"], values["time_zone"]) == \
        ("+8613812345678", Decimal("1234.50"), {"分行": "上海分行", "备注": "VIP"}, "Asia/Shanghai")


def test_rows_the_quick_path_leaves_to_validate_row():
    rows = CopyRows(COLUMNS, "CN", True, CAMPAIGN, UPLOAD)
    for changed in ({1: "13912345678"}, {4: "¥1,234.50"}, {4: "1234.567"},
                    {5: "2026/3/1"}, {0: 13812345678}, {5: datetime(2026, 3, 1)}, {4: "１２"}):
        cells = list(USUAL)
        for i, value in changed.items():
            cells[i] = value
        assert rows._plain(2, cells) is None, changed
        assert got(2, cells) == expected(2, cells), changed


def test_escaping_for_copy_and_json():
    assert copy_text("a\\b\tc\nd\re") == "a\\\\b\\tc\\nd\\re"
    assert copy_text("普通") == "普通"
    for text in ("plain", '引"号', "back\\slash", "tab\there", "\x01", "=cmd|' /C calc'!A0", "\u2028"):
        assert json.loads(json_string(text)) == text
        assert json_string(text) == json.dumps(text, ensure_ascii=False)


phones = st.sampled_from(["13812345678", "+8613912345678", "008615000003333", "17400012345", "17951234567",
                          "12345", "138-1234-5678", "", " 13812345678 ", "16812345", "+44 20 7946 0958",
                          "1.38123E+10", "13８12345678", "abc"])
texts = st.one_of(st.sampled_from(["", " ", "张三", "=HYPERLINK(\"http://x\")", "@SUM(A1)", "-1", "+1",
                                   "back\\slash", 'say "hi"', "tab\tin", "line\nbreak", "x" * 201, "\x00",
                                   "6225880012345678"]),
                  st.text(max_size=12))
amounts = st.sampled_from(["", "0", "88", "1234.5", "1234.50", "007.5", "999999999999.99", "1000000000000",
                           "1234.567", "-5", "¥1,234.50", "1,234", "abc", "１２", " 12 ", "12.5\n", "1e3"])
dates = st.sampled_from(["", "2026-03-01", "2026-02-30", "1899-12-31", "2026/3/1", "20260301", "2026年3月1日",
                         "2026-W01-1", "not a date", " 2026-03-01"])
zones = st.sampled_from(["", "Asia/Urumqi", "asia/tokyo", " Asia/Shanghai ", "Mars/Olympus"])
customs = st.one_of(texts, st.just("y" * 1001))


@settings(max_examples=600, deadline=None)
@given(phone=phones, alt=st.sampled_from(["", " ", "13912345678", "13912345678;12345"]), name=texts,
       account=texts, amount=amounts, due=dates, zone=zones, branch=customs, note=customs,
       extra=st.lists(st.sampled_from(["", " ", "x"]), max_size=2), short=st.integers(0, 3))
def test_every_csv_row_gives_what_validate_row_gives(phone, alt, name, account, amount, due, zone, branch, note,
                                                     extra, short):
    cells = [phone, alt, name, account, amount, due, zone, branch, note] + extra
    if short:
        cells = cells[:-short] if not extra else cells
    for strict in (True, False):
        assert got(5, cells, strict=strict) == expected(5, cells, strict=strict)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.integers(-10, 10**12), st.floats(allow_nan=True),
                                st.datetimes(), st.booleans(), st.sampled_from(USUAL)), min_size=1, max_size=10))
def test_spreadsheet_cells_give_what_validate_row_gives(cells):
    assert got(3, cells, strict=False) == expected(3, cells, strict=False)


def test_only_the_columns_a_file_has():
    columns = map_columns(["phone"])
    assert got(2, ["13812345678"], columns) == expected(2, ["13812345678"], columns)
    phone, values = got(2, ["13812345678"], columns)
    assert (values["name"], values["custom"], values["due_amount"]) == ("", {}, None)


def test_quick_path_rows_of_every_usual_shape_equal_validate_row():
    rows = CopyRows(COLUMNS, "CN", True, CAMPAIGN, UPLOAD)
    names = ["", "张三", "back\\slash", 'say "hi"', "=HYPERLINK(\"http://x\")", "x" * 200]
    amounts = ["", "0", "88", "1234.5", "007.50", "999999999999.99"]
    dates = ["", "2026-03-01", "1900-01-01", "2100-12-31", "2026-W01-1"]
    zones = ["", "asia/tokyo", " Asia/Urumqi ", "Mars/Olympus"]
    customs = ["", " ", "上海分行", 'a"b', "c\\d", "=1+1", "\u2028", "y" * 1000]
    n = 0
    for i, (name, amount, due, zone, custom) in enumerate(
            (a, b, c, d, e) for a in names for b in amounts for c in dates for d in zones for e in customs):
        cells = ["+86 138 0000 " + f"{i % 10000:04d}", "", name, name[:64][::-1], amount, due, zone, custom,
                 custom[::-1]]
        assert rows._plain(2 + i, cells) is not None, cells
        assert got(2 + i, cells) == expected(2 + i, cells), cells
        n += 1
    assert n == len(names) * len(amounts) * len(dates) * len(zones) * len(customs)
