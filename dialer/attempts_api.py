"""Attempts and dispositions over HTTP (mounted under /api/v1), for campaign managers and supervisors.

    GET /campaigns/{id}/attempts        filtered, paginated JSON (newest first)
        ?disposition=machine&phone=+8613800000001&since=2026-11-23T00:00:00Z&until=…&limit=100&before=<id>
    GET /campaigns/{id}/attempts.csv    the same filters, every matching attempt as CSV, streamed
    GET /campaigns/{id}/dispositions    final dispositions: totals and per day

Each attempt carries what the outbound flow recorded for it (`results`, e.g. a
promise to pay). Pagination is by id (`before` = the last id of the previous
page), so pages stay stable while the campaign keeps dialling. The CSV is
written row by row from a server-side cursor: memory stays flat for millions
of attempts, and cells that a spreadsheet would run as formulas are defused.
"""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from common.http_auth import error, requires

POOL = web.AppKey("attempts_pool", asyncpg.Pool)
MAX_LIMIT = 1000
DISPOSITIONS = ("answered_human", "machine", "no_answer", "busy", "failed", "dropped", "abandoned", "unknown")
COLUMNS = ("id", "contact_id", "phone", "attempt_no", "state", "disposition", "disposition_reason", "created_at",
           "answer_at", "end_at", "ring_seconds", "hold_seconds", "talk_seconds", "amd_status", "agent", "hangup_by",
           "hangup_cause", "next_status", "next_attempt_at", "results")


class BadParameter(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _bad(exc: BadParameter) -> web.Response:
    return error(400, "invalid_parameter", str(exc), exc.field)


def parse_filters(query, campaign_id: int) -> tuple[str, list[Any]]:
    """WHERE clause and its arguments from the query string (pure: validates every value)."""
    where, args = ["a.campaign_id = $1"], [campaign_id]

    def arg(value) -> str:
        args.append(value)
        return f"${len(args)}"

    disposition = query.get("disposition")
    if disposition:
        if disposition not in DISPOSITIONS:
            raise BadParameter("disposition", f"disposition must be one of {', '.join(DISPOSITIONS)}")
        where.append(f"a.disposition = {arg(disposition)}")
    phone = query.get("phone")
    if phone:
        if not phone.startswith("+") or not phone[1:].isdigit() or len(phone) > 16:
            raise BadParameter("phone", "phone must be an E.164 number such as +8613800000001")
        where.append(f"a.phone = {arg(phone)}")
    for name, op in (("since", ">="), ("until", "<")):
        value = query.get(name)
        if value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise BadParameter(name, f"{name} must be an ISO time such as 2026-11-23T08:00:00Z") from None
            if moment.tzinfo is None:
                raise BadParameter(name, f"{name} needs a time zone (Z or +08:00)")
            where.append(f"a.created_at {op} {arg(moment)}")
    before = query.get("before")
    if before:
        if not before.isdigit():
            raise BadParameter("before", "before must be an attempt id")
        where.append(f"a.id < {arg(int(before))}")
    return " AND ".join(where), args


def _campaign_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["campaign_id"])
    except ValueError:
        raise BadParameter("campaign_id", "campaign_id must be a number") from None
    return value


_SELECT = ("SELECT a.id, a.contact_id, a.phone, a.attempt_no, a.state, a.disposition, a.disposition_reason,"
           " a.created_at, a.answer_at, a.end_at, a.ring_seconds, a.hold_seconds, a.talk_seconds, a.amd_status,"
           " a.agent, a.hangup_by, a.hangup_cause, a.next_status, a.next_attempt_at,"
           " (SELECT c.results FROM calls c WHERE c.attempt_id = a.id ORDER BY c.id DESC LIMIT 1) AS results"
           " FROM attempts a WHERE ")


def _jsonable(row: asyncpg.Record) -> dict[str, Any]:
    out = {}
    for key in COLUMNS:
        value = row[key]
        if key == "results":
            value = json.loads(value) if value else {}
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif value is not None and not isinstance(value, (int, str, bool)):
            value = str(value)
        out[key] = value
    return out


@requires("attempts.read")
async def list_attempts(request: web.Request) -> web.Response:
    """A campaign's attempts, newest first, filtered (disposition, phone, since, until) and paginated (before)."""
    try:
        campaign_id = _campaign_id(request)
        where, args = parse_filters(request.query, campaign_id)
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            raise BadParameter("limit", "limit must be a whole number") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadParameter("limit", f"limit must be between 1 and {MAX_LIMIT}")
    except BadParameter as exc:
        return _bad(exc)
    rows = await request.app[POOL].fetch(f"{_SELECT}{where} ORDER BY a.id DESC LIMIT {limit}", *args)
    attempts = [_jsonable(r) for r in rows]
    page: dict[str, Any] = {"attempts": attempts}
    if len(attempts) == limit:
        nxt = request.rel_url.update_query({"before": attempts[-1]["id"]})
        page["next"] = str(nxt)
    return web.json_response(page)


def defuse(cell: str) -> str:
    """A cell a spreadsheet would evaluate (=, +, -, @, tab, CR) is prefixed with a quote."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


@requires("attempts.read")
async def export_attempts(request: web.Request) -> web.StreamResponse:
    """The filtered attempts as CSV (UTF-8 with BOM, for spreadsheets), streamed."""
    try:
        campaign_id = _campaign_id(request)
        where, args = parse_filters(request.query, campaign_id)
    except BadParameter as exc:
        return _bad(exc)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-attempts.csv"'})
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    await response.write(("\ufeff" + buffer.getvalue()).encode("utf-8"))
    async with request.app[POOL].acquire() as conn, conn.transaction():
        batch: list[list[str]] = []
        async for row in conn.cursor(f"{_SELECT}{where} ORDER BY a.id", *args, prefetch=500):
            record = _jsonable(row)
            record["results"] = json.dumps(record["results"], ensure_ascii=False) if record["results"] else ""
            # phone numbers start with "+": kept as they are (a number, not a formula, in every spreadsheet
            # that reads E.164), every other text cell defused
            batch.append([str(record[c]) if record[c] is not None else "" for c in COLUMNS])
            if len(batch) == 500:
                await response.write(_rows(batch))
                batch = []
        if batch:
            await response.write(_rows(batch))
    await response.write_eof()
    return response


def _rows(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([cell if i == 2 else defuse(cell) for i, cell in enumerate(row)])
    return buffer.getvalue().encode("utf-8")


@requires("attempts.read")
async def dispositions(request: web.Request) -> web.Response:
    """A campaign's final dispositions: totals and per day."""
    try:
        campaign_id = _campaign_id(request)
    except BadParameter as exc:
        return _bad(exc)
    rows = await request.app[POOL].fetch(
        "SELECT date_trunc('day', end_at) AS day, disposition, count(*) AS n FROM attempts"
        " WHERE campaign_id = $1 AND state = 'ended' GROUP BY 1, 2 ORDER BY 1", campaign_id)
    totals: dict[str, int] = {}
    by_day: dict[str, dict[str, int]] = {}
    for r in rows:
        totals[r["disposition"]] = totals.get(r["disposition"], 0) + r["n"]
        day = r["day"].date().isoformat() if r["day"] else "unknown"
        by_day.setdefault(day, {})[r["disposition"]] = r["n"]
    return web.json_response({"campaign_id": campaign_id, "totals": totals, "by_day": by_day})


def add_routes(api: web.Application, pool: asyncpg.Pool) -> None:
    api[POOL] = pool
    api.router.add_get("/campaigns/{campaign_id}/attempts", list_attempts)
    api.router.add_get("/campaigns/{campaign_id}/attempts.csv", export_attempts)
    api.router.add_get("/campaigns/{campaign_id}/dispositions", dispositions)
