"""Benchmark: the compliance gate with a 10,000,000-number do-not-call list loaded.

    .venv/bin/python benchmarks/compliance.py [--numbers 10000000] [--leads 20000] [--batch 20]

1. Writes a DNC file of N distinct Chinese mobile numbers (national format, as banks get them).
2. DNC import: dialer.compliance.store.import_dnc (normalise to E.164, COPY to staging, add
   where not listed, one audit row), against a raw COPY of the same numbers, already E.164,
   into an unindexed table (the fastest PostgreSQL can take them) in the same run.
3. Gate: a campaign of L contacts, half of them on the list. What the dialer does per tick,
   in batches of a hopper's size: one history query (compliance.store.gather) and decide()
   per lead; and decide() alone on gathered histories. Against a plain Python `set`
   lookup loop over the same numbers with all N numbers in the set.
4. Prints the rates and ratios. The gate must not be what limits the dialer: a dialer
   places tens of calls a second at most (max_lines 30 per queue, calls lasting minutes).

The database is a fresh one on DATABASE_URL's server or the embedded server in
.run/pgdata; it is dropped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import db  # noqa: E402
from common.config import PROJECT_ROOT  # noqa: E402
from common.postgres import embedded_database_url  # noqa: E402
from dialer import campaigns  # noqa: E402
from dialer.compliance import store  # noqa: E402
from dialer.compliance.decision import decide  # noqa: E402
from dialer.compliance.model import CampaignFacts  # noqa: E402
from dialer.compliance.policy import shipped_packs  # noqa: E402

PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
            "159", "177", "180", "181", "182", "183", "186", "187", "188", "189", "199")


def national(i: int) -> str:
    """Distinct valid CN mobiles for distinct i < 25 * 10**8 (an affine bijection on 8 digits)."""
    prefix = PREFIXES[i % len(PREFIXES)]
    return prefix + f"{(i // len(PREFIXES) * 7_919_027 + 12_345) % 100_000_000:08d}"


def write_numbers(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("phone\n")
        chunk = 100_000
        for start in range(0, n, chunk):
            f.write("".join(national(i) + "\n" for i in range(start, min(n, start + chunk))))


class Lead:
    __slots__ = ("contact_id", "phone")

    def __init__(self, contact_id: int, phone: str):
        self.contact_id, self.phone = contact_id, phone


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=10_000_000)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=20, help="leads per gate query (the hopper's size)")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL") or embedded_database_url(PROJECT_ROOT / ".run" / "pgdata")
    url = await db.create_database(server, "bankcc_bench_compliance")
    tmp = Path(tempfile.mkdtemp(prefix="bench-dnc-"))
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=1, max_size=4, command_timeout=None)
    try:
        await db.migrate(pool)
        await pool.execute("SET statement_timeout = 0")
        dnc_file, e164_file = tmp / "dnc.csv", tmp / "dnc-e164.txt"
        t = time.perf_counter()
        write_numbers(dnc_file, args.numbers)
        with open(e164_file, "w") as f:
            for start in range(0, args.numbers, 100_000):
                f.write("".join("+86" + national(i) + "\n" for i in range(start, min(args.numbers, start + 100_000))))
        print(f"wrote {args.numbers:,} numbers ({dnc_file.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")

        # --- import ---------------------------------------------------------------------
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE raw_copy (phone text)")
            t = time.perf_counter()
            await conn.copy_to_table("raw_copy", source=str(e164_file), columns=["phone"], timeout=None)
            raw_s = time.perf_counter() - t
            await conn.execute("DROP TABLE raw_copy")
        result = await store.import_dnc(pool, dnc_file, by="benchmark")
        assert result.rows_added == args.numbers, result
        raw_rate, import_rate = args.numbers / raw_s, args.numbers / result.seconds
        print(f"DNC import     {import_rate:>12,.0f} numbers/s  ({result.seconds:.1f} s: normalise + COPY to staging "
              f"{result.staging_seconds:.1f} s, dedupe into the indexed list + audit "
              f"{result.seconds - result.staging_seconds:.1f} s)")
        print(f"raw COPY       {raw_rate:>12,.0f} numbers/s  ({raw_s:.1f} s: E.164 text into an unindexed table)")
        print(f"  import / raw COPY = {import_rate / raw_rate:.2f}")

        # What autovacuum does after such a load anyway; measured apart so it does not land in the gate's time.
        t = time.perf_counter()
        await pool.execute("VACUUM ANALYZE dnc_entries")
        print(f"VACUUM ANALYZE after the import: {time.perf_counter() - t:.1f} s")

        # --- the gate -------------------------------------------------------------------
        spec = campaigns.validate_campaign({"kind": "collection", "name": "bench", "caller_id": "95588",
                                            "trunk": "PJSIP/x", "dial_mode": "progressive", "agent_queue": "q",
                                            "flow": "none"})
        campaign = await campaigns.create_campaign(pool, spec, by="benchmark")
        # Half the leads are on the list (every other one), half are not (numbers beyond N).
        phones = ["+86" + national(i * 2 if k % 2 == 0 else args.numbers + i) for k, i in enumerate(range(args.leads))]
        await pool.copy_records_to_table("contacts", records=[(campaign["id"], p, "Asia/Shanghai") for p in phones],
                                         columns=["campaign_id", "phone", "time_zone"])
        rows = await pool.fetch("SELECT id, phone FROM contacts WHERE campaign_id = $1 ORDER BY id", campaign["id"])
        leads = [Lead(r["id"], r["phone"]) for r in rows]
        await store.sync_packs(pool, shipped_packs(), by="benchmark")
        book = await store.PolicyBook.load(pool)
        pack = book.latest("cn-collection")
        facts = CampaignFacts(campaign["id"], "collection", "progressive", 30.0)
        now = datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc).replace(year=datetime.now().year + 1)  # 10:00 Beijing

        verdicts: dict[str, int] = {}
        gathered_all = {}
        query_s: list[float] = []
        t = time.perf_counter()
        async with pool.acquire() as conn:
            for start in range(0, len(leads), args.batch):
                batch = leads[start:start + args.batch]
                q = time.perf_counter()
                gathered = await store.gather(conn, batch, facts, pack, now)
                query_s.append(time.perf_counter() - q)
                gathered_all.update(gathered)
                for lead in batch:
                    contact, history = gathered[lead.contact_id]
                    v = decide(contact, facts, pack, history, now).verdict
                    verdicts[v] = verdicts.get(v, 0) + 1
        gate_s = time.perf_counter() - t
        assert verdicts == {"deny": len(leads) // 2 + len(leads) % 2, "allow": len(leads) // 2}, verdicts

        t = time.perf_counter()
        for contact, history in gathered_all.values():
            decide(contact, facts, pack, history, now)
        pure_s = time.perf_counter() - t

        listed = set(open(e164_file).read().split())
        t = time.perf_counter()
        hits = 0
        for _ in range(20):
            for p in phones:
                if p in listed:
                    hits += 1
        set_s = (time.perf_counter() - t) / 20
        assert hits == 20 * (len(leads) // 2 + len(leads) % 2)
        n = len(leads)
        print(f"gate (query + decide) {n / gate_s:>12,.0f} decisions/s  (batches of {args.batch}, "
              f"{gate_s / (n / args.batch) * 1000:.2f} ms a batch; {verdicts})")
        query_s.sort()
        print(f"  history query per batch: median {query_s[len(query_s) // 2] * 1000:.2f} ms, "
              f"p99 {query_s[int(len(query_s) * 0.99)] * 1000:.2f} ms")
        print(f"decide() alone        {n / pure_s:>12,.0f} decisions/s  ({pure_s / n * 1e6:.0f} µs each)")
        print(f"set lookup loop       {n / set_s:>12,.0f} lookups/s    (Python set of {len(listed):,} numbers)")
        print(f"  gate / set = {(n / gate_s) / (n / set_s):.5f}, decide / set = {(n / pure_s) / (n / set_s):.5f}")
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        await pool.close()
        await db.drop_database(server, url)
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    asyncio.run(main())
