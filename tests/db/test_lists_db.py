"""Uploading call lists into a real PostgreSQL: files end to end, dedupe, idempotency, bad files."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from dialer import campaigns
from dialer.lists import loader

DATA = Path(__file__).resolve().parents[1] / "data"
CAMPAIGN = {"kind": "collection", "name": "test", "caller_id": "95588", "trunk": "PJSIP/cn-mobile",
            "dial_mode": "progressive", "agent_queue": "collections", "flow": "collection_outbound"}


async def new_campaign(pool, **overrides) -> int:
    campaign = await campaigns.create_campaign(pool, campaigns.validate_campaign({**CAMPAIGN, **overrides}), by="test")
    return campaign["id"]


async def upload(pool, campaign_id: int, path: Path, **kwargs) -> loader.UploadResult:
    return await loader.upload_list(pool, campaign_id, path, filename=kwargs.pop("filename", path.name),
                                    by="tester", **kwargs)


async def report(pool, upload_id: int) -> list[list[str]]:
    text = "".join([chunk async for chunk in loader.error_report(pool, upload_id)])
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


async def contacts(pool, campaign_id: int) -> list[dict]:
    rows = await pool.fetch("SELECT * FROM contacts WHERE campaign_id = $1 ORDER BY source_row", campaign_id)
    return [dict(r) for r in rows]


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


async def test_gbk_csv_from_chinese_excel_end_to_end(pool):
    cid = await new_campaign(pool)
    result = await upload(pool, cid, DATA / "contacts_gbk.csv")
    up = result.upload
    assert (up["status"], up["format"], up["encoding"], up["error"]) == ("done", "csv", "gb18030", None)
    assert up["rows"] == {"total": 7, "accepted": 3, "rejected": 3, "duplicate_in_file": 1, "duplicate_in_campaign": 0}
    assert up["columns"] == {"phone": "手机", "name": "姓名", "account_ref": "卡号", "due_amount": "金额",
                             "due_date": "到期日", "time_zone": "时区"}
    rows = await contacts(pool, cid)
    assert [(r["source_row"], r["phone"], r["name"]) for r in rows] == [
        (2, "+8613812345678", "张三"), (3, "+8613912345678", "李四"), (8, "+8615000003333", "孙八")]
    first, second, third = rows
    assert (first["due_amount"], first["due_date"], first["time_zone"], first["account_ref"]) == \
        (Decimal("1234.50"), date(2026, 3, 1), "Asia/Shanghai", "6225880012345678")
    assert first["custom"] == '{"分行": "上海分行"}'
    assert (second["due_amount"], second["due_date"], second["time_zone"]) == \
        (Decimal("88.00"), date(2026, 3, 15), "Asia/Urumqi")
    assert third["custom"] == '{"分行": "=HYPERLINK(\\"http://x\\")"}'  # stored as given, escaped only on output
    assert all(r["status"] == "new" and r["attempts"] == 0 and r["upload_id"] == up["id"] for r in rows)
    assert await report(pool, up["id"]) == [
        ["row", "column", "reason"],
        ["4", "手机", "not a valid CN phone number"],
        ["6", "金额", "amount 'abc' is not an amount (write it like 1234.56)"],
        ["7", "到期日", "date '2026-02-30' is not a real date"],
    ]


async def test_utf8_bom_csv_with_a_multiline_cell_and_blank_row(pool):
    cid = await new_campaign(pool)
    up = (await upload(pool, cid, DATA / "contacts_utf8_bom.csv")).upload
    assert (up["encoding"], up["rows"]["total"], up["rows"]["accepted"], up["rows"]["rejected"]) == \
        ("utf-8-sig", 4, 3, 1)
    rows = await contacts(pool, cid)
    assert [r["source_row"] for r in rows] == [2, 4, 6]
    assert rows[0]["custom"] == '{"Notes": "line one\\r\\nline two"}'
    assert await report(pool, up["id"]) == [["row", "column", "reason"], ["5", "Phone", "not a phone number"]]


@pytest.mark.parametrize("in_process", [False, True])
async def test_xlsx_end_to_end(pool, tmp_path, in_process):
    path = tmp_path / "名单.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["手机", "姓名", "应还金额", "还款日", "产品"])
    ws.append([13812345678, "张三", 1234.5, datetime(2026, 3, 1), "信用卡"])
    ws.append(["13912345678", "李四", "88", "2026-03-02", None])
    ws.append([None, None, None, None, None])
    ws.append([12345, "王五", 1, None, None])
    ws.append([13812345678, "张三", 1, None, None])
    wb.save(path)
    cid = await new_campaign(pool)
    up = (await upload(pool, cid, path, in_process=in_process)).upload
    assert (up["status"], up["format"], up["encoding"]) == ("done", "xlsx", None)
    assert up["rows"] == {"total": 4, "accepted": 2, "rejected": 1, "duplicate_in_file": 1, "duplicate_in_campaign": 0}
    rows = await contacts(pool, cid)
    assert [(r["source_row"], r["phone"], r["due_amount"], r["due_date"], r["custom"]) for r in rows] == [
        (2, "+8613812345678", Decimal("1234.50"), date(2026, 3, 1), '{"产品": "信用卡"}'),
        (3, "+8613912345678", Decimal("88.00"), date(2026, 3, 2), "{}")]
    assert (await report(pool, up["id"]))[1] == ["5", "手机", "not a valid CN phone number"]


async def test_dedupe_within_the_file_across_batches_and_against_the_campaign(pool, tmp_path):
    cid = await new_campaign(pool)
    first = write(tmp_path, "a.csv", "phone,name\n13800000001,A\n13800000002,B\n138-0000-0001,A again\n"
                                     "13800000003,C\n+8613800000002,B again\n13800000003,C again\n")
    up = (await upload(pool, cid, first, batch_rows=2)).upload  # repeats land in later batches
    assert up["rows"] == {"total": 6, "accepted": 3, "rejected": 0, "duplicate_in_file": 3, "duplicate_in_campaign": 0}
    # the first occurrence is the one kept
    assert [(r["phone"], r["name"]) for r in await contacts(pool, cid)] == [
        ("+8613800000001", "A"), ("+8613800000002", "B"), ("+8613800000003", "C")]

    second = write(tmp_path, "b.csv", "phone,name\n13800000002,B later\n13800000004,D\n13800000004,D again\n")
    up = (await upload(pool, cid, second)).upload
    assert up["rows"] == {"total": 3, "accepted": 1, "rejected": 0, "duplicate_in_file": 1, "duplicate_in_campaign": 1}
    assert len(await contacts(pool, cid)) == 4

    other = await new_campaign(pool)  # one row per contact per campaign: another campaign may call them too
    assert (await upload(pool, other, second)).upload["rows"]["accepted"] == 2


async def test_the_same_file_again_returns_the_earlier_result(pool, tmp_path):
    cid = await new_campaign(pool)
    path = write(tmp_path, "a.csv", "phone\n13800000001\nbad\n")
    first = await upload(pool, cid, path)
    copy = write(tmp_path, "renamed.csv", path.read_text())
    again = await upload(pool, cid, copy, filename="renamed.csv")
    assert (first.repeat, again.repeat) == (False, True)
    assert again.upload == first.upload
    assert await pool.fetchval("SELECT count(*) FROM list_uploads WHERE campaign_id = $1", cid) == 1
    assert await pool.fetchval("SELECT count(*) FROM list_row_errors WHERE upload_id = $1", first.upload["id"]) == 1
    assert len(await contacts(pool, cid)) == 1
    other = await new_campaign(pool)  # idempotency is per campaign
    assert (await upload(pool, other, path)).repeat is False


async def test_the_error_report_never_carries_a_live_formula(pool, tmp_path):
    cid = await new_campaign(pool)
    path = write(tmp_path, "a.csv", "phone,=amt\n13800000001,=1+1\n")
    up = (await upload(pool, cid, path, columns={"due_amount": ("=amt",)})).upload
    assert await report(pool, up["id"]) == [["row", "column", "reason"],
                                            ["2", "'=amt", "amount '=1+1' is not an amount (write it like 1234.56)"]]


@pytest.mark.parametrize("name, data, code", [
    ("empty.csv", b"", "empty_file"),
    ("blank.csv", b"\r\n\r\n  \r\n", "empty_file"),
    ("header-only.csv", "电话,姓名\r\n".encode(), "no_rows"),
    ("no-phone.csv", "姓名,金额\n张三,1\n".encode(), "no_phone_column"),
    ("two-phones.csv", "电话,手机\n13800000001,13800000002\n".encode(), "ambiguous_column"),
    ("latin1.csv", "phone,name\n13800000001,caf\xe9 au lait\n".encode("latin-1"), "bad_encoding"),
    ("utf16.csv", "phone\n13800000001\n".encode("utf-16"), "bad_encoding"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "unsupported_format"),
    ("corrupt.xlsx", b"PK\x03\x04" + b"\x00" * 512, "bad_xlsx"),
    ("renamed.xlsx", b"phone\n13800000001\n", "bad_xlsx"),
])
async def test_bad_files_fail_with_a_clear_reason_and_load_nothing(pool, tmp_path, name, data, code):
    cid = await new_campaign(pool)
    path = tmp_path / name
    path.write_bytes(data)
    result = await upload(pool, cid, path)
    up = result.upload
    assert (up["status"], up["error"]["code"]) == ("failed", code)
    assert up["error"]["message"] and up["finished_at"]
    assert await contacts(pool, cid) == []
    assert (await upload(pool, cid, path)).upload["id"] == up["id"]  # and it stays the same answer


async def test_broken_quoting_keeps_the_rows_before_it(pool):
    cid = await new_campaign(pool)
    up = (await upload(pool, cid, DATA / "broken_quote.csv")).upload
    assert (up["status"], up["error"]["code"]) == ("failed", "broken_csv")
    assert "line 4" in up["error"]["message"]
    assert up["rows"]["accepted"] == 2
    assert [r["phone"] for r in await contacts(pool, cid)] == ["+8613800000011", "+8613800000012"]


async def test_a_header_problem_can_be_fixed_with_a_column_mapping(pool, tmp_path):
    cid = await new_campaign(pool)
    path = write(tmp_path, "a.csv", "Contact,Who\n13800000001,Zhang\n")
    failed = (await upload(pool, cid, path)).upload
    assert failed["error"]["code"] == "no_phone_column"
    fixed = await upload(pool, cid, path, columns={"phone": ("Contact",), "name": ("Who",)})
    assert (fixed.upload["id"], fixed.upload["status"], fixed.upload["error"]) == (failed["id"], "done", None)
    assert fixed.upload["columns"] == {"phone": "Contact", "name": "Who"}
    assert [(r["phone"], r["name"]) for r in await contacts(pool, cid)] == [("+8613800000001", "Zhang")]


async def test_an_interrupted_upload_resumes_where_it_stopped(pool, tmp_path):
    cid = await new_campaign(pool)
    lines = ["phone"] + [f"1380000{n:04d}" for n in range(10)] + ["bad", "13800000000"]
    path = write(tmp_path, "a.csv", "\n".join(lines) + "\n")
    calls = 0

    def crash_after_two_batches(progress):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        await upload(pool, cid, path, batch_rows=3, progress=crash_after_two_batches)
    stuck = await loader.get_upload(pool, (await pool.fetchval(
        "SELECT id FROM list_uploads WHERE campaign_id = $1", cid)))
    assert (stuck["status"], stuck["rows"]["total"], stuck["rows"]["accepted"]) == ("processing", 6, 6)

    resumed = await upload(pool, cid, path, batch_rows=3)
    assert resumed.upload["id"] == stuck["id"]
    assert resumed.upload["status"] == "done"
    assert resumed.upload["rows"] == {"total": 12, "accepted": 10, "rejected": 1, "duplicate_in_file": 1,
                                      "duplicate_in_campaign": 0}
    assert len(await contacts(pool, cid)) == 10


async def test_the_same_file_twice_at_once_is_loaded_once(pool, tmp_path):
    cid = await new_campaign(pool)
    path = write(tmp_path, "a.csv", "phone\n" + "".join(f"1380000{n:04d}\n" for n in range(3000)))
    a, b = await asyncio.gather(upload(pool, cid, path, batch_rows=500), upload(pool, cid, path, batch_rows=500))
    assert a.upload["id"] == b.upload["id"]
    assert sorted([a.repeat, b.repeat]) == [False, True]
    final = await loader.get_upload(pool, a.upload["id"])
    assert (final["status"], final["rows"]["accepted"]) == ("done", 3000)
    assert len(await contacts(pool, cid)) == 3000


async def test_lists_only_go_to_open_campaigns(pool, tmp_path):
    path = write(tmp_path, "a.csv", "phone\n13800000001\n")
    cid = await new_campaign(pool)
    await campaigns.apply_action(pool, cid, "archive", by="test")
    with pytest.raises(loader.UploadRefused) as err:
        await upload(pool, cid, path)
    assert err.value.code == "campaign_closed"
    with pytest.raises(campaigns.CampaignNotFound):
        await upload(pool, 10**9, path)


async def test_uploads_log_counts_not_numbers(pool, tmp_path, caplog):
    cid = await new_campaign(pool)
    path = write(tmp_path, "a.csv", "phone,card\n13812345678,6225880012345678\n12345,6225880012345679\n")
    with caplog.at_level(logging.DEBUG, logger="dialer"):
        await upload(pool, cid, path)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "upload" in logged
    assert "13812345678" not in logged and "6225880012345678" not in logged


async def test_default_region_of_the_campaign_is_used(pool, tmp_path):
    cid = await new_campaign(pool, default_region="GB")
    path = write(tmp_path, "a.csv", "phone\n020 7946 0958\n13812345678\n")
    up = (await upload(pool, cid, path)).upload
    assert (up["rows"]["accepted"], up["rows"]["rejected"]) == (1, 1)
    assert [(r["phone"], r["time_zone"]) for r in await contacts(pool, cid)] == [("+442079460958", "Europe/London")]


def test_cli_lists_upload_with_progress_and_report(database_url, monkeypatch, capsys, tmp_path):
    from dialer.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["campaigns", "create", "--kind", "activation", "--name", "cli", "--caller-id", "95588", "--trunk",
                 "PJSIP/cn-mobile", "--dial-mode", "progressive", "--queue", "cards", "--flow", "activation",
                 "--json"]) == 0
    cid = json.loads(capsys.readouterr().out)["id"]
    path = write(tmp_path, "名单.csv", "Contact,Who\n" + "".join(f"1380000{n:04d},n{n}\n" for n in range(50))
                 + "oops,bad\n")
    report_path = tmp_path / "errors.csv"
    assert main(["lists", "upload", str(path), "--campaign", str(cid), "--column", "phone=Contact",
                 "--column", "name=Who", "--errors-out", str(report_path)]) == 0
    out, err = capsys.readouterr()
    assert "51 rows, 50 accepted, 1 rejected" in out
    assert "rows/s" in err and "[########################] 100%" in err  # the progress line on stderr
    assert report_path.read_bytes().decode("utf-8").startswith("\ufeffrow,column,reason\r\n52,Contact,")

    assert main(["lists", "upload", str(path), "--campaign", str(cid), "--column", "phone=Contact",
                 "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "uploaded to this campaign before" in out and err.startswith("rejected rows: dialer lists errors")
    upload_id = out.split()[1]
    assert main(["lists", "errors", upload_id]) == 0
    assert "52,Contact,not a phone number" in capsys.readouterr().out
    assert main(["lists", "show", upload_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]["accepted"] == 50

    assert main(["lists", "upload", str(DATA / "broken_quote.csv"), "--campaign", str(cid), "--no-progress"]) == 1
    assert "broken_csv" in capsys.readouterr().out
    assert main(["lists", "upload", str(tmp_path / "missing.csv"), "--campaign", str(cid)]) == 2
    assert main(["lists", "upload", str(path), "--campaign", str(cid), "--column", "fone=x"]) == 2


# --- the worker process, the COPY text, and the fallback for concurrent uploads --------------

def mixed_list(tmp_path: Path, rows: int = 2500) -> Path:
    """Good rows with every awkward cell a COPY line must carry, bad rows, repeats, blanks."""
    import random

    rng = random.Random(5)
    odd = ["back\\slash", 'say "hi"', "tab\there", "line\nbreak", "=cmd|' /C calc'!A0", "@SUM(A1)", "\\N", "",
           "上海分行", "{\"json\": 1}", "\\.", "x" * 300]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["手机", "备用电话", "姓名", "卡号", "金额", "到期日", "时区", "分行", "备注"])
    for n in range(rows):
        phone = f"13{rng.randrange(3, 10)}{rng.randrange(10**8):08d}" if n % 50 else f"1380000{n % 7:04d}"
        kind = n % 23
        if kind == 1:
            phone = "12345"
        elif kind == 2:
            phone = "+86 138-0000-0001"  # a repeat of another row's phone, written differently
        writer.writerow([phone, "13912345678;+8615000003333" if kind == 3 else "",
                         rng.choice(["张三", "O'Brien", "back\\slash", "名\t字" if kind == 4 else "李四"]),
                         f"62{rng.randrange(10**14):014d}", rng.choice(["", "88", "1234.5", "¥1,234.50", "-1"]),
                         rng.choice(["", "2026-03-01", "2026/3/1", "2026-02-30"]),
                         rng.choice(["", "", "Asia/Urumqi", "bad/zone"]), rng.choice(odd), rng.choice(odd)])
        if n % 97 == 0:
            writer.writerow([])
    path = tmp_path / "mixed.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


async def test_a_worker_process_loads_exactly_what_validate_row_says(pool, tmp_path):
    from dialer.lists.columns import map_columns
    from dialer.lists.model import Contact
    from dialer.lists.readers import RowSource, inspect_file
    from dialer.lists.rows import validate_row

    path = mixed_list(tmp_path)
    by_process, by_thread = await new_campaign(pool), await new_campaign(pool)
    a = (await upload(pool, by_process, path, batch_rows=400, in_process=True)).upload
    b = (await upload(pool, by_thread, path, batch_rows=400, in_process=False)).upload
    assert a["status"] == b["status"] == "done"
    assert a["rows"] == b["rows"]
    assert await report(pool, a["id"]) == await report(pool, b["id"])

    # The reference: every row through validate_row, the first of each phone kept.
    want: dict[str, Contact] = {}
    errors = repeats = 0
    with RowSource(path, inspect_file(path)) as source:
        rows = iter(source)
        columns = map_columns(next(rows)[1])
        for row, cells in rows:
            result = validate_row(row, cells, columns, "CN", True)
            if isinstance(result, Contact):
                if result.phone in want:
                    repeats += 1
                else:
                    want[result.phone] = result
            else:
                errors += 1
    assert a["rows"] == {"total": len(want) + errors + repeats, "accepted": len(want), "rejected": errors,
                         "duplicate_in_file": repeats, "duplicate_in_campaign": 0}
    assert errors > 100 and repeats > 50
    for campaign_id in (by_process, by_thread):
        loaded = await contacts(pool, campaign_id)
        assert [(r["phone"], r["source_row"], r["alt_phones"], r["name"], r["account_ref"], r["due_amount"],
                 r["due_date"], json.loads(r["custom"]), r["time_zone"]) for r in loaded] == \
            [(c.phone, c.row, list(c.alt_phones), c.name, c.account_ref, c.due_amount, c.due_date, c.custom,
              c.time_zone) for c in sorted(want.values(), key=lambda c: c.row)]


async def test_phones_another_upload_added_meanwhile_are_loaded_through_on_conflict(pool, tmp_path, monkeypatch,
                                                                                  caplog):
    # As if another upload added the campaign's contacts between the look-up and the COPY:
    # the look-up finds nothing, the COPY hits the unique constraint, the batch is redone staged.
    monkeypatch.setattr(loader, "_FIND_EXISTING", "SELECT NULL::text AS phone, NULL::bigint AS upload_id"
                                                  " WHERE $1::bigint IS NULL AND $2::text[] IS NULL")
    cid = await new_campaign(pool)
    first = write(tmp_path, "a.csv", "phone,name\n13800000001,A\n13800000002,B\n138-0000-0001,A again\n"
                                     "13800000003,C\n+8613800000002,B again\n13800000003,C again\n")
    up = (await upload(pool, cid, first, batch_rows=2)).upload
    assert up["rows"] == {"total": 6, "accepted": 3, "rejected": 0, "duplicate_in_file": 3, "duplicate_in_campaign": 0}
    second = write(tmp_path, "b.csv", "phone,name\n13800000002,B later\n13800000004,D\n13800000004,D again\n")
    with caplog.at_level(logging.INFO, logger="dialer"):
        up = (await upload(pool, cid, second)).upload
    assert up["rows"] == {"total": 3, "accepted": 1, "rejected": 0, "duplicate_in_file": 1, "duplicate_in_campaign": 1}
    assert "loading it staged" in caplog.text
    assert sorted((r["phone"], r["name"]) for r in await contacts(pool, cid)) == [
        ("+8613800000001", "A"), ("+8613800000002", "B"), ("+8613800000003", "C"), ("+8613800000004", "D")]


def list_readers() -> list[int]:
    """Worker processes of ours still running."""
    import os

    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and b"dialer.lists.batches" in cmdline:
            found.append(int(entry.name))
    return found


async def test_an_upload_stopped_midway_stops_its_worker_and_resumes(pool, tmp_path):
    cid = await new_campaign(pool)
    path = write(tmp_path, "a.csv", "phone\n" + "".join(f"1380000{n:04d}\n" for n in range(5000)))

    def stop(progress):
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        await upload(pool, cid, path, batch_rows=1000, in_process=True, progress=stop)
    assert list_readers() == []
    assert len(await contacts(pool, cid)) == 1000
    resumed = (await upload(pool, cid, path, batch_rows=1000, in_process=True)).upload
    assert (resumed["status"], resumed["rows"]["total"], resumed["rows"]["accepted"]) == ("done", 5000, 5000)
    assert list_readers() == []


@pytest.mark.parametrize("name, data, code, accepted", [
    ("broken.csv", (DATA / "broken_quote.csv").read_bytes(), "broken_csv", 2),
    ("no-phone.csv", "姓名,金额\n张三,1\n".encode(), "no_phone_column", 0),
    ("header-only.csv", "电话,姓名\r\n".encode(), "no_rows", 0),
    ("corrupt.xlsx", b"PK\x03\x04" + b"\x00" * 512, "bad_xlsx", 0),
])
async def test_file_problems_found_by_a_worker_process(pool, tmp_path, name, data, code, accepted):
    cid = await new_campaign(pool)
    path = tmp_path / name
    path.write_bytes(data)
    up = (await upload(pool, cid, path, in_process=True)).upload
    assert (up["status"], up["error"]["code"], up["rows"]["accepted"]) == ("failed", code, accepted)
    assert len(await contacts(pool, cid)) == accepted
    assert list_readers() == []
