"""Loading an uploaded list into a campaign: the database shell around the pure parts.

    upload_list(pool, campaign_id, path, filename=..., by=...) -> UploadResult

The file is read and checked in batches (dialer.lists.batches: memory stays flat
in the file's size), in a worker process for big files so that checking rows
runs on one core while PostgreSQL loads the previous batch on the other, and the
event loop (which may also be serving IVR calls) never waits on parsing. Each
batch is one transaction: the campaign's contacts with the batch's phones are
looked up (one index probe per phone), the other rows are COPied straight into
`contacts`, bad rows go to `list_row_errors`, and the upload's counts move on.
Should another upload into the same campaign add one of the phones between the
look-up and the COPY, the batch is done again through a staging table and
`INSERT … ON CONFLICT DO NOTHING`. Whatever a later problem in the file,
committed batches stay.

Idempotency: an upload is keyed by (campaign, sha256 of the content). The same
file again returns the earlier upload's result. An upload still marked
`processing` whose worker is gone (its session advisory lock is free) is
resumed after its last committed row. A file that failed only because its
header could not be mapped is tried again (with the columns now given).
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Mapping, Sequence

import asyncpg

from dialer.campaigns import UPLOAD_STATES, CampaignNotFound
from dialer.lists.batches import Batch, BatchJob, BatchReader, Header
from dialer.lists.copy_rows import COPY_COLUMNS
from dialer.lists.model import FileProblem
from dialer.lists.readers import FileInfo, inspect_file
from dialer.lists.report import report_header, report_rows

log = logging.getLogger(__name__)

BATCH_ROWS = 20_000
# Smaller files are read in a thread: starting the worker process costs about half a second.
PROCESS_MIN_BYTES = 8 * 1024 * 1024
_UPLOAD_LOCK = 7_341_003  # pg_advisory_lock(key, upload id): held while an upload is being worked on
_MAPPING_CODES = ("no_phone_column", "ambiguous_column", "missing_column")
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)

_FIND_EXISTING = "SELECT phone, upload_id FROM contacts WHERE campaign_id = $1 AND phone = ANY($2::text[])"
_CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS contact_stage (
    campaign_id bigint, upload_id bigint, phone text, alt_phones text[], name text, account_ref text,
    due_amount numeric(14, 2), due_date date, custom jsonb, time_zone text, source_row integer
) ON COMMIT DELETE ROWS"""
# The fallback for a batch whose phones another upload added meanwhile: one statement
# (the batch's phones are already distinct). Rows are inserted in phone order so that
# concurrent uploads into one campaign take index entries in the same order and cannot
# deadlock each other. Only the (few) rows that hit an existing contact are looked up
# again, one index probe each, to tell repeats of a phone earlier in this file (the
# contact came from this upload) from contacts the campaign already had.
_LOAD_STAGE = f"""
WITH ins AS (
    INSERT INTO contacts ({", ".join(COPY_COLUMNS)})
    SELECT {", ".join(COPY_COLUMNS)} FROM contact_stage ORDER BY phone
    ON CONFLICT (campaign_id, phone) DO NOTHING
    RETURNING phone
), conflicts AS (
    SELECT phone FROM contact_stage EXCEPT ALL SELECT phone FROM ins
)
SELECT (SELECT count(*) FROM ins) AS inserted,
       (SELECT count(*) FROM conflicts x
        WHERE (SELECT c.upload_id FROM contacts c WHERE c.campaign_id = $1 AND c.phone = x.phone) = $2)
           AS earlier_in_file"""
_UPLOAD_COLUMNS = ("id, campaign_id, filename, sha256, size_bytes, format, encoding, columns, status, rows_total,"
                   " rows_accepted, rows_rejected, rows_duplicate_in_file, rows_duplicate_in_campaign, last_row,"
                   " error_code, error_message, uploaded_by, started_at, finished_at")


class UploadRefused(Exception):
    """The upload cannot start at all (nothing is recorded): e.g. the campaign is finished."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Progress:
    rows: int
    accepted: int
    rejected: int
    duplicates: int
    fraction: float | None  # how far through the file, when known


@dataclass(frozen=True)
class UploadResult:
    upload: dict[str, Any]
    repeat: bool = False        # the same file was uploaded to this campaign before: its result
    in_progress: bool = False   # ... and another worker is still loading it


def upload_json(row: Mapping[str, Any]) -> dict[str, Any]:
    error = {"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None
    return {"id": row["id"], "campaign_id": row["campaign_id"], "filename": row["filename"],
            "sha256": row["sha256"], "size_bytes": row["size_bytes"], "format": row["format"],
            "encoding": row["encoding"], "columns": json.loads(row["columns"]), "status": row["status"],
            "rows": {"total": row["rows_total"], "accepted": row["rows_accepted"], "rejected": row["rows_rejected"],
                     "duplicate_in_file": row["rows_duplicate_in_file"],
                     "duplicate_in_campaign": row["rows_duplicate_in_campaign"]},
            "error": error, "uploaded_by": row["uploaded_by"], "started_at": row["started_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None}


async def get_upload(pool: asyncpg.Pool | asyncpg.Connection, upload_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"SELECT {_UPLOAD_COLUMNS} FROM list_uploads WHERE id = $1", upload_id)
    return upload_json(row) if row else None


async def list_uploads(pool: asyncpg.Pool, campaign_id: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT {_UPLOAD_COLUMNS} FROM list_uploads WHERE campaign_id = $1 ORDER BY id",
                            campaign_id)
    return [upload_json(r) for r in rows]


async def error_report(pool: asyncpg.Pool, upload_id: int, chunk_rows: int = 2000) -> AsyncIterator[str]:
    """The upload's error report as CSV text chunks in row order, read through a cursor."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        yield report_header()
        pending: list[tuple[int, str, str]] = []
        async for r in conn.cursor("SELECT row_number, column_name, reason FROM list_row_errors"
                                   " WHERE upload_id = $1 ORDER BY row_number", upload_id, prefetch=chunk_rows):
            pending.append((r["row_number"], r["column_name"], r["reason"]))
            if len(pending) >= chunk_rows:
                yield report_rows(pending)
                pending.clear()
        if pending:
            yield report_rows(pending)


# --- the pipeline ---------------------------------------------------------------------------

async def upload_list(pool: asyncpg.Pool, campaign_id: int, path: Path, *, filename: str, by: str,
                      columns: Mapping[str, Sequence[str]] | None = None, info: FileInfo | None = None,
                      batch_rows: int = BATCH_ROWS,
                      progress: Callable[[Progress], None] | None = None,
                      in_process: bool | None = None) -> UploadResult:
    """Load the list file at `path` into the campaign; see the module doc for the guarantees.

    `info`: the file's FileInfo when the caller already inspected it while receiving it.
    `in_process`: read the file in a worker process (True) or a thread (False); by default
    files of PROCESS_MIN_BYTES and more are read in a process.
    Raises CampaignNotFound or UploadRefused before anything is recorded.
    """
    campaign = await pool.fetchrow("SELECT state, default_region FROM campaigns WHERE id = $1", campaign_id)
    if campaign is None:
        raise CampaignNotFound(campaign_id)
    if campaign["state"] not in UPLOAD_STATES:
        raise UploadRefused("campaign_closed", f"campaign {campaign_id} is {campaign['state']}: "
                                               f"lists can only be added while it is draft, running or paused")
    if info is None:
        info = await asyncio.to_thread(inspect_file, path, filename)
    async with pool.acquire() as conn:
        upload_id: int | None = None
        try:
            claim = await _claim(conn, campaign_id, filename, info, by)
            if isinstance(claim, UploadResult):
                return claim
            upload_id, resume_after = claim
            if resume_after:
                log.info("upload %s: resuming after row %s", upload_id, resume_after)
            try:
                if info.problem is not None:
                    raise info.problem
                await _load(conn, campaign_id, upload_id, path, info, campaign["default_region"], columns,
                            resume_after, batch_rows, progress, in_process)
            except FileProblem as problem:
                await conn.execute("UPDATE list_uploads SET status = 'failed', error_code = $2, error_message = $3,"
                                   " finished_at = now() WHERE id = $1", upload_id, problem.code, problem.message)
                log.info("upload %s for campaign %s failed: %s", upload_id, campaign_id, problem.code)
            else:
                await conn.execute("UPDATE list_uploads SET status = 'done', finished_at = now() WHERE id = $1",
                                   upload_id)
            upload = await get_upload(conn, upload_id)
            log.info("upload %s for campaign %s: %s rows, %s accepted, %s rejected, %s duplicates", upload_id,
                     campaign_id, f"{upload['rows']['total']:,}", f"{upload['rows']['accepted']:,}",
                     f"{upload['rows']['rejected']:,}",
                     f"{upload['rows']['duplicate_in_file'] + upload['rows']['duplicate_in_campaign']:,}")
            return UploadResult(upload)
        finally:
            # Anything unexpected (a lost connection, a bug) leaves the upload 'processing' with its
            # committed batches; releasing the lock lets the same file, uploaded again, resume it.
            if upload_id is not None and not conn.is_closed():
                try:
                    await conn.execute("DROP TABLE IF EXISTS pg_temp.contact_stage")
                    await conn.execute("SELECT pg_advisory_unlock($1, $2::int)", _UPLOAD_LOCK, upload_id)
                except (asyncpg.PostgresError, OSError):  # the connection is going away: the lock goes with it
                    log.warning("upload %s: could not release its lock cleanly", upload_id)


async def _claim(conn: asyncpg.Connection, campaign_id: int, filename: str, info: FileInfo,
                 by: str) -> UploadResult | tuple[int, int]:
    """(upload id, last committed row) to work on, holding its lock; or the earlier result."""
    async with conn.transaction():
        upload_id = await conn.fetchval(
            "INSERT INTO list_uploads (campaign_id, filename, sha256, size_bytes, format, encoding, uploaded_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (campaign_id, sha256) DO NOTHING RETURNING id",
            campaign_id, filename, info.sha256, info.size, info.format, info.encoding, by)
        if upload_id is not None:
            # Session lock taken inside the transaction: a concurrent upload of the same file
            # waits on our row, then finds it locked.
            await conn.execute("SELECT pg_advisory_lock($1, $2::int)", _UPLOAD_LOCK, upload_id)
            return upload_id, 0
    earlier = await conn.fetchrow(f"SELECT {_UPLOAD_COLUMNS} FROM list_uploads WHERE campaign_id = $1"
                                  " AND sha256 = $2", campaign_id, info.sha256)
    retry_mapping = earlier["status"] == "failed" and earlier["error_code"] in _MAPPING_CODES
    if earlier["status"] != "processing" and not retry_mapping:
        return UploadResult(upload_json(earlier), repeat=True)
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2::int)", _UPLOAD_LOCK, earlier["id"]):
        return UploadResult(upload_json(earlier), repeat=True, in_progress=True)
    status = await conn.fetchval("SELECT status FROM list_uploads WHERE id = $1", earlier["id"])  # under the lock
    if status == "done" or (status == "failed" and not retry_mapping):
        await conn.execute("SELECT pg_advisory_unlock($1, $2::int)", _UPLOAD_LOCK, earlier["id"])
        return UploadResult(await get_upload(conn, earlier["id"]), repeat=True)
    await conn.execute("UPDATE list_uploads SET status = 'processing', error_code = NULL, error_message = NULL,"
                       " finished_at = NULL, filename = $2, uploaded_by = $3 WHERE id = $1",
                       earlier["id"], filename, by)
    return earlier["id"], earlier["last_row"]


async def _load(conn: asyncpg.Connection, campaign_id: int, upload_id: int, path: Path, info: FileInfo,
                region: str, overrides: Mapping[str, Sequence[str]] | None, resume_after: int, batch_rows: int,
                progress: Callable[[Progress], None] | None, in_process: bool | None) -> None:
    job = BatchJob(path, info, overrides, region, campaign_id, upload_id, resume_after, batch_rows)
    reader = BatchReader(job, info.size >= PROCESS_MIN_BYTES if in_process is None else in_process)
    try:
        header = await reader.next()
        assert isinstance(header, Header), header
        await conn.execute("UPDATE list_uploads SET columns = $2 WHERE id = $1", upload_id,
                           json.dumps(header.columns, ensure_ascii=False))
        seen = resume_after > 0
        while (batch := await reader.next()) is not None:
            assert isinstance(batch, Batch), batch
            seen = seen or batch.rows > 0
            totals = await _load_batch(conn, campaign_id, upload_id, batch)
            if progress is not None:
                progress(Progress(totals["rows_total"], totals["rows_accepted"], totals["rows_rejected"],
                                  totals["rows_duplicate_in_file"] + totals["rows_duplicate_in_campaign"],
                                  batch.fraction))
            if batch.problem is not None:
                raise batch.problem
        if not seen:
            raise FileProblem("no_rows", "the file has a header row but no data rows")
    finally:
        await reader.close()


async def _load_batch(conn: asyncpg.Connection, campaign_id: int, upload_id: int, batch: Batch) -> asyncpg.Record:
    staged = False
    for attempt in range(4):
        try:
            async with conn.transaction():
                inserted = earlier = 0
                if batch.phones:
                    add = _add_staged if staged else _add_new
                    inserted, earlier = await add(conn, campaign_id, upload_id, batch)
                if batch.errors:
                    await conn.copy_records_to_table("list_row_errors", records=batch.errors,
                                                     columns=("upload_id", "row_number", "column_name", "reason"))
                return await conn.fetchrow(
                    "UPDATE list_uploads SET rows_total = rows_total + $2, rows_accepted = rows_accepted + $3,"
                    " rows_rejected = rows_rejected + $4, rows_duplicate_in_file = rows_duplicate_in_file + $5,"
                    " rows_duplicate_in_campaign = rows_duplicate_in_campaign + $6, last_row = $7 WHERE id = $1"
                    " RETURNING rows_total, rows_accepted, rows_rejected, rows_duplicate_in_file,"
                    " rows_duplicate_in_campaign",
                    upload_id, batch.rows, inserted, len(batch.errors), batch.repeats + earlier,
                    len(batch.phones) - inserted - earlier, batch.last_row)
        except asyncpg.UniqueViolationError:
            if staged:
                raise
            # Another upload added one of these phones since we looked: let ON CONFLICT sort it out.
            log.info("upload %s: a concurrent upload added contacts of this batch; loading it staged", upload_id)
            staged = True
        except _RETRYABLE:
            if attempt == 3:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def _add_new(conn: asyncpg.Connection, campaign_id: int, upload_id: int, batch: Batch) -> tuple[int, int]:
    """COPY the batch's rows whose phone the campaign does not have yet: (inserted, earlier in this file)."""
    found = await conn.fetch(_FIND_EXISTING, campaign_id, batch.phones)
    earlier = sum(1 for r in found if r["upload_id"] == upload_id)
    data, count = batch.lines_without({r["phone"] for r in found})
    if count:
        await conn.copy_to_table("contacts", source=memoryview(data), columns=COPY_COLUMNS)  # bytes would be a path
    return count, earlier


async def _add_staged(conn: asyncpg.Connection, campaign_id: int, upload_id: int, batch: Batch) -> tuple[int, int]:
    """The same through a staging table and INSERT … ON CONFLICT DO NOTHING."""
    await conn.execute(_CREATE_STAGE)
    await conn.copy_to_table("contact_stage", source=memoryview(batch.data), columns=COPY_COLUMNS)
    inserted, earlier = await conn.fetchrow(_LOAD_STAGE, campaign_id, upload_id)
    return inserted, earlier
