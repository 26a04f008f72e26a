"""Benchmark: a call list uploaded end to end, against a raw COPY of the same rows.

    .venv/bin/python benchmarks/list_upload.py [--rows 1000000] [--batch-rows 5000] [--keep-file]

1. Writes a CSV of N contacts (Chinese headers; 1% bad rows, 1% repeated phones by default).
2. Uploads it through dialer.lists.loader.upload_list: parse, check, normalise, dedupe, load.
3. Empties the table and COPies the same rows, already prepared as the loader would
   insert them, into the same `contacts` table with asyncpg's copy_records_to_table.
4. Prints both rates, their ratio, and peak RSS of this process after the upload
   (before the baseline's in-memory records exist).

The database is a fresh one on DATABASE_URL's server or the embedded server in
.run/pgdata; it is dropped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402

from common import db  # noqa: E402
from common.config import PROJECT_ROOT  # noqa: E402
from common.postgres import embedded_database_url  # noqa: E402
from dialer import campaigns  # noqa: E402
from dialer.lists import loader  # noqa: E402

PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
            "159", "177", "180", "181", "182", "183", "186", "187", "188", "189", "199")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
BRANCHES = ("上海分行", "北京分行", "深圳分行", "广州分行", "杭州分行")
HEADER = "手机,姓名,卡号,金额,到期日,分行,产品\n"


def phone_for(i: int) -> str:
    """Distinct, valid CN mobiles for distinct i (an affine bijection on 8 digits)."""
    prefix = PREFIXES[i % len(PREFIXES)]
    return prefix + f"{(i // len(PREFIXES) * 7_919_027 + 12_345) % 100_000_000:08d}"


def rows(n: int, bad_rate: float, dup_rate: float, seed: int = 7):
    """(row number, kind, fields) for each data row; kind is good | bad | dup."""
    rng = random.Random(seed)
    base = date(2026, 1, 1)
    for k in range(n):
        row = k + 2
        phone = phone_for(k)
        roll = rng.random()
        kind = "good"
        if roll < bad_rate:
            kind, phone = "bad", "12345"
        elif roll < bad_rate + dup_rate and k > 0:
            kind, phone = "dup", phone_for(rng.randrange(k))
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        card = f"62{rng.randrange(10**13, 10**14)}"
        amount = Decimal(rng.randrange(10_000, 5_000_000)) / 100
        due = base + timedelta(days=rng.randrange(365))
        yield row, kind, (phone, name, card, amount, due, rng.choice(BRANCHES), "信用卡")


def write_csv(path: Path, n: int, bad_rate: float, dup_rate: float) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for _, _, (phone, name, card, amount, due, branch, product) in rows(n, bad_rate, dup_rate):
            f.write(f"{phone},{name},{card},{amount},{due.isoformat()},{branch},{product}\n")


def prepared_records(campaign_id: int, upload_id: int, n: int, bad_rate: float, dup_rate: float) -> list[tuple]:
    """The rows the loader ends up inserting, as contacts records (no parsing, no checks)."""
    out = []
    for row, kind, (phone, name, card, amount, due, branch, product) in rows(n, bad_rate, dup_rate):
        if kind != "good":
            continue
        custom = json.dumps({"分行": branch, "产品": product}, ensure_ascii=False)
        out.append((campaign_id, "+86" + phone, [], name, card, amount, due, custom, "Asia/Shanghai", upload_id,
                    row))
    return out


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench(args: argparse.Namespace, url: str) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4, command_timeout=600)
    try:
        await db.migrate(pool)
        spec = campaigns.validate_campaign({"kind": "collection", "name": "bench", "caller_id": "95588",
                                            "trunk": "PJSIP/cn-mobile", "dial_mode": "predictive",
                                            "agent_queue": "collections", "flow": "collection_outbound"})
        camp = await campaigns.create_campaign(pool, spec, by="bench")

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(args.keep_file or Path(tmp) / "contacts.csv")
            t0 = time.perf_counter()
            write_csv(path, args.rows, args.bad_rate, args.dup_rate)
            size_mb = path.stat().st_size / 1e6
            print(f"generated {args.rows:,} rows, {size_mb:.1f} MB in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)
            rss_before = rss_mib()
            t0 = time.perf_counter()
            result = await loader.upload_list(pool, camp["id"], path, filename=path.name, by="bench",
                                              batch_rows=args.batch_rows)
            upload_s = time.perf_counter() - t0
            rss_after = rss_mib()
        counts = result.upload["rows"]
        assert result.upload["status"] == "done", result.upload

        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE contacts, list_row_errors")
            # Same table, same constraints and foreign keys (campaign and upload) as the loader's rows.
            upload_id = result.upload["id"]
            records = prepared_records(camp["id"], upload_id, args.rows, args.bad_rate, args.dup_rate)
            columns = ("campaign_id", "phone", "alt_phones", "name", "account_ref", "due_amount", "due_date",
                       "custom", "time_zone", "upload_id", "source_row")
            t0 = time.perf_counter()
            await conn.copy_records_to_table("contacts", records=records, columns=columns)
            copy_s = time.perf_counter() - t0

        upload_rate = args.rows / upload_s
        copy_rate = len(records) / copy_s
        print(f"rows in file            {args.rows:>12,}   ({size_mb:.1f} MB CSV, batches of {args.batch_rows:,})")
        print(f"accepted / rejected     {counts['accepted']:>12,} / {counts['rejected']:,}"
              f"   duplicates in file {counts['duplicate_in_file']:,}")
        print(f"upload end to end       {upload_rate:>12,.0f} rows/s   ({upload_s:.2f} s)")
        print(f"raw COPY (baseline)     {copy_rate:>12,.0f} rows/s   ({copy_s:.2f} s, {len(records):,} prepared rows)")
        print(f"ratio upload / COPY     {upload_rate / copy_rate:>12.2f}")
        print(f"peak RSS                {rss_after:>12.1f} MiB   (before the upload: {rss_before:.1f} MiB)")
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=loader.BATCH_ROWS)
    parser.add_argument("--bad-rate", type=float, default=0.01)
    parser.add_argument("--dup-rate", type=float, default=0.01)
    parser.add_argument("--keep-file", type=Path, default=None, help="write the generated CSV here and keep it")
    args = parser.parse_args(argv)

    server = os.environ.get("DATABASE_URL") or embedded_database_url(PROJECT_ROOT / ".run" / "pgdata")
    url = asyncio.run(db.create_database(server, "bankcc_bench"))
    try:
        asyncio.run(bench(args, url))
    finally:
        asyncio.run(db.drop_database(server, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
