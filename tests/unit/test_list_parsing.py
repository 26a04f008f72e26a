"""Call-list files without a database: headers, rows, encodings, reading, the error report."""
from __future__ import annotations

import codecs
import hashlib
import csv
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.lists.columns import column_letter, header_key, map_columns, validate_overrides
from dialer.lists.model import Contact, FileProblem, RowError
from dialer.lists.readers import Inspector, RowSource, inspect_file
from dialer.lists.report import escape_cell, report_lines
from dialer.lists.rows import CellError, as_text, parse_amount, parse_date, validate_row

DATA = Path(__file__).resolve().parents[1] / "data"


# --- headers --------------------------------------------------------------------------------

def test_header_key_ignores_case_width_separators_and_markers():
    assert header_key("Phone Number") == header_key("phone-number") == header_key(" PHONE_NUMBER ") == "phone_number"
    assert header_key("电话*") == header_key("电话：") == header_key("\ufeff电话") == "电话"
    assert header_key("ＰＨＯＮＥ") == "phone"
    assert header_key(None) == ""


def test_column_letters():
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == \
        ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


def test_chinese_headers_map_by_default():
    cm = map_columns(["手机", "姓名", "卡号", "金额", "到期日", "时区", "分行", "备注"])
    assert cm.fields == {"phone": 0, "name": 1, "account_ref": 2, "due_amount": 3, "due_date": 4, "time_zone": 5}
    assert cm.custom == ((6, "分行"), (7, "备注"))
    assert cm.used() == {"phone": "手机", "name": "姓名", "account_ref": "卡号", "due_amount": "金额",
                         "due_date": "到期日", "time_zone": "时区"}


def test_english_headers_map_by_default():
    cm = map_columns(["Mobile", "Customer Name", "Card No", "Amount Due", "Due-Date", "Alt Phones", "Branch"])
    assert cm.fields == {"phone": 0, "name": 1, "account_ref": 2, "due_amount": 3, "due_date": 4, "alt_phones": 5}
    assert cm.custom == ((6, "Branch"),)


def test_named_headers_replace_the_defaults_for_their_field():
    cm = map_columns(["Tel", "Phone", "Who"], {"phone": ("tel",), "name": ("Who",)})
    assert cm.fields == {"phone": 0, "name": 2}
    assert cm.custom == ((1, "Phone"),)  # the default phone header is just data now


def test_a_named_header_is_not_claimed_by_another_fields_defaults():
    cm = map_columns(["电话", "手机"], {"alt_phones": ("电话",)})
    assert cm.fields == {"alt_phones": 0, "phone": 1}


def test_no_phone_column_names_what_was_found():
    with pytest.raises(FileProblem) as err:
        map_columns(["姓名", "金额", ""])
    assert err.value.code == "no_phone_column"
    assert "'姓名', '金额'" in err.value.message and "电话" in err.value.message


def test_two_candidates_for_a_field_is_ambiguous():
    with pytest.raises(FileProblem) as err:
        map_columns(["电话", "手机", "姓名"])
    assert err.value.code == "ambiguous_column" and "'电话' and '手机'" in err.value.message


def test_a_named_header_missing_from_the_file():
    with pytest.raises(FileProblem) as err:
        map_columns(["phone", "name"], {"due_amount": ("欠款",)})
    assert err.value.code == "missing_column" and "'欠款'" in err.value.message


def test_repeated_custom_headers_get_numbered_and_blank_headers_are_skipped():
    cm = map_columns(["phone", "备注", "", "备注", "备注"])
    assert cm.custom == ((1, "备注"), (3, "备注 (2)"), (4, "备注 (3)"))


def test_validate_overrides():
    assert validate_overrides({"phone": "Tel", "name": ["A", "B"]}) == {"phone": ("Tel",), "name": ("A", "B")}
    assert validate_overrides(None) == {}
    for bad in ({"fone": "x"}, {"phone": ""}, {"phone": []}, {"phone": 3}, ["phone"], {"phone": [None]}):
        with pytest.raises(ValueError):
            validate_overrides(bad)


# --- one row --------------------------------------------------------------------------------

COLUMNS = map_columns(["手机", "备用电话", "姓名", "卡号", "金额", "到期日", "时区", "分行", "备注"])


def row(**cells):
    order = ["phone", "alt", "name", "card", "amount", "due", "tz", "branch", "note"]
    return [cells.get(k, "") for k in order]


def test_a_complete_good_row():
    result = validate_row(7, row(phone="138 1234 5678", alt="13912345678; 010-6552 9988, 138-1234-5678",
                                 name=" 张三 ", card="6225880012345678", amount="¥1,234.50", due="2026年3月1日",
                                 tz="", branch="上海分行"), COLUMNS)
    assert result == Contact(row=7, phone="+8613812345678", alt_phones=("+8613912345678", "+861065529988"),
                             name="张三", account_ref="6225880012345678", due_amount=Decimal("1234.50"),
                             due_date=date(2026, 3, 1), time_zone="Asia/Shanghai", custom={"分行": "上海分行"})


def test_only_the_phone_is_required():
    cm = map_columns(["phone"])
    assert validate_row(2, ["13812345678"], cm) == Contact(row=2, phone="+8613812345678", time_zone="Asia/Shanghai")


@pytest.mark.parametrize("cells, column, reason", [
    (row(phone=""), "手机", "missing phone number"),
    (row(phone="12345"), "手机", "not a valid CN phone number"),
    (row(phone="13812345678", alt="13912345678,12345"), "备用电话", "alternate phone 2: not a valid CN"),
    (row(phone="13812345678", alt=",".join(["13912345678"] * 11)), "备用电话", "more than 10"),
    (row(phone="13812345678", name="张\n三"), "姓名", "line break"),
    (row(phone="13812345678", name="x" * 201), "姓名", "longer than 200"),
    (row(phone="13812345678", card="6" * 65), "卡号", "longer than 64"),
    (row(phone="13812345678", amount="-5"), "金额", "amount cannot be negative"),
    (row(phone="13812345678", amount="abc"), "金额", "amount 'abc' is not an amount"),
    (row(phone="13812345678", due="31/03/2026"), "到期日", "date '31/03/2026' is not a date"),
    (row(phone="13812345678", note="x" * 1001), "备注", "longer than 1000"),
])
def test_bad_rows_name_the_column_and_reason(cells, column, reason):
    result = validate_row(9, cells, COLUMNS)
    assert isinstance(result, RowError)
    assert (result.row, result.column) == (9, column)
    assert reason in result.reason


def test_the_first_problem_in_a_row_is_reported():
    result = validate_row(3, row(phone="1", amount="abc", due="x"), COLUMNS)
    assert result.column == "手机"


def test_explicit_time_zone_wins_when_valid():
    assert validate_row(2, row(phone="13812345678", tz="Asia/Urumqi"), COLUMNS).time_zone == "Asia/Urumqi"
    assert validate_row(2, row(phone="13812345678", tz="asia/urumqi"), COLUMNS).time_zone == "Asia/Urumqi"
    assert validate_row(2, row(phone="13812345678", tz="Mars/Base"), COLUMNS).time_zone == "Asia/Shanghai"
    assert validate_row(2, row(phone="+1 800 555 0100", tz=""), COLUMNS).time_zone is None


def test_cells_right_of_the_header():
    cells = row(phone="13812345678") + ["", "  "]
    assert isinstance(validate_row(2, cells, COLUMNS), Contact)  # empty extras (trailing commas) are fine
    shifted = row(phone="13812345678") + ["surplus"]
    error = validate_row(2, shifted, COLUMNS)
    assert isinstance(error, RowError) and error.column == "column J" and "unquoted comma" in error.reason
    kept = validate_row(2, shifted, COLUMNS, strict_width=False)  # XLSX: an unlabelled column
    assert kept.custom == {"column J": "surplus"}


def test_short_rows_are_missing_cells_not_errors():
    assert validate_row(2, ["13812345678", "", "Zhang"], COLUMNS).name == "Zhang"


def test_spreadsheet_typed_cells():
    cm = map_columns(["phone", "card", "amount", "due date", "note"])
    result = validate_row(2, [13812345678, "6225880012345678", 1234.5, datetime(2026, 3, 1), 42.0], cm)
    assert (result.phone, result.due_amount, result.due_date, result.custom) == \
        ("+8613812345678", Decimal("1234.50"), date(2026, 3, 1), {"note": "42"})
    assert validate_row(2, [13812345678.0, None, None, None, None], cm).phone == "+8613812345678"
    card_as_number = validate_row(2, [13812345678, 6225880012345678, None, None, None], cm)
    assert isinstance(card_as_number, RowError) and "format the column as text" in card_as_number.reason
    fractional_phone = validate_row(2, [138123456.78, None, None, None, None], cm)
    assert isinstance(fractional_phone, RowError)


@pytest.mark.parametrize("raw, expected", [
    ("1234.56", "1234.56"), ("1,234.56", "1234.56"), ("¥1,234.50", "1234.50"), ("￥１２３４", "1234.00"),
    ("1234元", "1234.00"), ("RMB 12", "12.00"), ("CNY12.5", "12.50"), (" 0 ", "0.00"), (12, "12.00"),
    (12.5, "12.50"), (0.1 + 0.2, "0.30"), ("999999999999.99", "999999999999.99"), ("", None), (None, None),
])
def test_amounts(raw, expected):
    assert parse_amount(raw) == (Decimal(expected) if expected is not None else None)


@pytest.mark.parametrize("raw, reason", [
    ("12.345", "more than 2 decimal places"), (12.345, "more than 2 decimal places"), ("-5", "negative"),
    ("1,23", "not an amount"), ("1.234,56", "not an amount"), ("abc", "not an amount"), ("1e3", "not an amount"),
    (float("nan"), "not an amount"), (True, "not an amount"), ("1000000000000", "too large"),
])
def test_bad_amounts(raw, reason):
    with pytest.raises(CellError, match=reason):
        parse_amount(raw)


@pytest.mark.parametrize("raw", ["2026-03-01", "2026/3/1", "2026.03.01", "20260301", "2026年3月1日", "2026年03月01日",
                                 "2026-03-01 00:00:00", "2026-3-1T08:30", datetime(2026, 3, 1, 8, 0), date(2026, 3, 1),
                                 20260301, "２０２６-０３-０１"])
def test_dates(raw):
    assert parse_date(raw) == date(2026, 3, 1)


@pytest.mark.parametrize("raw, reason", [
    ("31/03/2026", "write it as YYYY-MM-DD"), ("03/31/2026", "YYYY-MM-DD"), ("2026-02-30", "not a real date"),
    ("1899-12-31", "out of range"), ("2201-01-01", "out of range"), (45000, "is a number"), (True, "is a number"),
    ("soon", "not a date"),
])
def test_bad_dates(raw, reason):
    with pytest.raises(CellError, match=reason):
        parse_date(raw)


def test_as_text():
    assert [as_text(v) for v in (None, " a ", 12, 12.0, 12.5, True, datetime(2026, 3, 1), date(2026, 3, 1),
                                 datetime(2026, 3, 1, 8, 30))] == \
        ["", "a", "12", "12", "12.5", "TRUE", "2026-03-01", "2026-03-01", "2026-03-01 08:30:00"]


# --- what a file is -------------------------------------------------------------------------

def inspect_bytes(tmp_path: Path, data: bytes, name: str = "list.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return inspect_file(path, name, chunk_size=7)  # tiny chunks: multi-byte characters straddle them


def test_utf8_with_and_without_bom(tmp_path):
    assert inspect_bytes(tmp_path, "电话\n13812345678\n".encode()).encoding == "utf-8"
    assert inspect_bytes(tmp_path, codecs.BOM_UTF8 + "电话\n13812345678\n".encode()).encoding == "utf-8-sig"


def test_gbk_is_detected_after_utf8_fails(tmp_path):
    text = "电话,姓名\n13812345678,张三\n" * 50 + "13812345679,李四\n"
    info = inspect_bytes(tmp_path, text.encode("gbk"))
    assert (info.format, info.encoding, info.problem) == ("csv", "gb18030", None)
    # UTF-8 only fails late in the file: GBK must still be checked from the first byte
    late = ("phone,name\n" + "13812345678,Zhang\n" * 200 + "13812345679,张三\n").encode("gbk")
    assert inspect_bytes(tmp_path, late).encoding == "gb18030"


def test_text_that_is_neither_utf8_nor_gbk(tmp_path):
    info = inspect_bytes(tmp_path, b"phone,name\n13812345678,ok\n13812345679,\x80bad\n")
    assert info.problem.code == "bad_encoding"
    assert "line 3" in info.problem.message and "CSV UTF-8" in info.problem.message


def test_sha256_and_size(tmp_path):
    data = b"phone\n13812345678\n" * 100
    info = inspect_bytes(tmp_path, data)
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("data, name, code", [
    (b"", "list.csv", "empty_file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "list.xls", "unsupported_format"),
    (b"phone,name\n", "list.xlsx", "bad_xlsx"),
    (codecs.BOM_UTF16_LE + "phone\n".encode("utf-16-le"), "list.txt", "bad_encoding"),
    ("phone\n".encode("utf-16-le"), "list.csv", "not_text"),
    (b"%PDF-1.4\n\x00\x01binary", "list.csv", "not_text"),
])
def test_files_that_are_not_lists(tmp_path, data, name, code):
    assert inspect_bytes(tmp_path, data, name).problem.code == code


def test_a_zip_is_taken_for_an_xlsx_whatever_its_name(tmp_path):
    assert inspect_bytes(tmp_path, b"PK\x03\x04rest", "list.csv").format == "xlsx"


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="电话姓名张三李四abc,\n0123456789\"", max_size=200),
       encoding=st.sampled_from(["utf-8", "gbk", "utf-8-sig"]),
       cuts=st.lists(st.integers(min_value=1, max_value=50), max_size=20))
def test_chunk_boundaries_do_not_change_the_verdict(tmp_path_factory, text, encoding, cuts):
    data = text.encode(encoding)
    path = tmp_path_factory.mktemp("chunks") / "f.csv"
    path.write_bytes(data)
    whole = inspect_file(path, "f.csv", chunk_size=1 << 20)
    inspector, pos = Inspector(), 0
    for cut in cuts:
        inspector.feed(data[pos:pos + cut])
        pos += cut
    inspector.feed(data[pos:])
    chunked = inspector.finish("f.csv", path)
    assert (chunked.sha256, chunked.size, chunked.format, chunked.encoding) == \
        (whole.sha256, whole.size, whole.format, whole.encoding)
    assert (chunked.problem is None) == (whole.problem is None)


# --- reading rows ---------------------------------------------------------------------------

def read_all(path: Path) -> list[tuple[int, list]]:
    with RowSource(path, inspect_file(path)) as source:
        return list(source)


def test_csv_row_numbers_are_spreadsheet_rows(tmp_path):
    rows = read_all(DATA / "contacts_utf8_bom.csv")
    assert rows[0] == (1, ["Phone", "Name", "Amount Due", "Due Date", "Notes"])  # BOM gone
    assert [r for r, _ in rows] == [1, 2, 4, 5, 6]  # the multi-line cell is one row; blank row 3 skipped
    assert rows[1][1][4] == "line one\r\nline two"


def test_gbk_file_reads_as_chinese():
    rows = read_all(DATA / "contacts_gbk.csv")
    assert rows[0][1][:5] == ["手机", "姓名", "卡号", "金额", "到期日"]
    assert rows[1][1][1] == "张三" and rows[2][1][6] == "乌鲁木齐分行"


@pytest.mark.parametrize("delimiter", ["\t", ";", "|"])
def test_the_delimiter_is_taken_from_the_header_line(tmp_path, delimiter):
    path = tmp_path / "list.csv"
    path.write_text(delimiter.join(["电话", "姓名", "金额"]) + "\n" + delimiter.join(["13812345678", "张,三", "1"])
                    + "\n", encoding="utf-8")
    assert read_all(path)[1] == (2, ["13812345678", "张,三", "1"])


def test_an_unclosed_quote_keeps_the_rows_before_it_and_names_its_line():
    path = DATA / "broken_quote.csv"
    got = []
    with pytest.raises(FileProblem) as err:
        with RowSource(path, inspect_file(path)) as source:
            for item in source:
                got.append(item)
    assert [r for r, _ in got] == [1, 2, 3]
    assert err.value.code == "broken_csv"
    assert "line 4" in err.value.message and "never closed" in err.value.message


def test_text_after_a_closing_quote_is_broken_quoting(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text('phone,name\n13812345678,"Zhang" San\n', encoding="utf-8")
    with pytest.raises(FileProblem, match="line 2") as err:
        read_all(path)
    assert err.value.code == "broken_csv"


def test_a_giant_cell_is_reported_as_an_unclosed_quote(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text('phone,name\n13812345678,"' + "x" * (csv.field_size_limit() + 10) + '"\n', encoding="utf-8")
    with pytest.raises(FileProblem, match="longer than"):
        read_all(path)


def test_fraction_moves_to_one(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("phone\n" + "13812345678\n" * 30000, encoding="utf-8")
    with RowSource(path, inspect_file(path)) as source:
        seen = []
        for n, _ in enumerate(source):
            if n % 5000 == 0:
                seen.append(source.fraction())
        assert source.fraction() == 1.0
    assert seen == sorted(seen) and 0 <= seen[0] < 0.1


def make_xlsx(path: Path, rows, *, hidden_first: bool = False) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    if hidden_first:
        ws.title = "notes"
        ws.append(["nothing to see"])
        ws.sheet_state = "hidden"
        ws = wb.create_sheet("list")
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def test_xlsx_rows_keep_their_types_and_numbers(tmp_path):
    path = make_xlsx(tmp_path / "list.xlsx", [
        ["手机", "姓名", "金额", "到期日"],
        [13812345678, "张三", 1234.5, datetime(2026, 3, 1)],
        [None, None, None, None],
        ["13912345678", "李四", "88", "2026-03-02"],
    ])
    info = inspect_file(path)
    assert (info.format, info.encoding, info.problem) == ("xlsx", None, None)
    rows = read_all(path)
    assert [r for r, _ in rows] == [1, 2, 4]
    assert rows[1][1] == [13812345678, "张三", 1234.5, datetime(2026, 3, 1)]


def test_xlsx_uses_the_first_visible_sheet(tmp_path):
    path = make_xlsx(tmp_path / "list.xlsx", [["phone"], ["13812345678"]], hidden_first=True)
    assert read_all(path) == [(1, ["phone"]), (2, ["13812345678"])]


def test_a_broken_xlsx_is_a_file_problem(tmp_path):
    path = tmp_path / "list.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    with pytest.raises(FileProblem) as err:
        read_all(path)
    assert err.value.code == "bad_xlsx"


# --- the error report -----------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("电话", "电话"), ("a=b", "a=b"), ("", ""), (None, ""), (12, "12"),
])
def test_escape_cell(value, expected):
    assert escape_cell(value) == expected


@given(st.text())
def test_escaped_cells_never_start_a_formula(value):
    escaped = escape_cell(value)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert escaped in (value, "'" + value)


def test_report_is_excel_friendly_csv():
    text = "".join(report_lines([(3, "电话", "not a valid CN phone number"), (4, "=cmd|' /C calc'!A0", "-oops")]))
    assert text.startswith("\ufeffrow,column,reason\r\n")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [["row", "column", "reason"], ["3", "电话", "not a valid CN phone number"],
                    ["4", "'=cmd|' /C calc'!A0", "'-oops"]]


@pytest.mark.parametrize("value", ["9" * 29, "1" * 40, 1e26, 10**30, "1,000,000,000,000,000,000,000,000,000"])
def test_huge_amounts_are_a_cell_error_not_a_crash(value):
    from dialer.lists.rows import CellError, parse_amount

    with pytest.raises(CellError, match="too large"):
        parse_amount(value)
