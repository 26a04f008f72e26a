"""Compliance officers' writes over HTTP (mounted under /api/v1): publish a policy pack version,
read a pack's versions, import a do-not-call file, read the audit log.

    GET  /policies/{name}          every stored version of a pack, with its YAML and calling windows
    POST /policies                 body: a pack's YAML with a `version:` above every stored one -> published
    POST /dnc/import               multipart: file (one number a line, or CSV number first), optional
                                   campaign_id -> {rows_read, rows_added, rows_invalid}
    GET  /compliance/audit         the audit log, newest first (?limit=)
    GET  /policies/{name}/impact   who a version's calling windows block now (?version=&at=): per live
                                   campaign under the pack, contacts still to call outside the window,
                                   next to the same count under the version before it

Packs are versioned and never edited in place: a change to a calling window is a new
version (stored decisions keep naming the version they were made under), and the
database's audit triggers (migration 0006) record who published it.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from common.http_auth import actor, requires
from common.http_auth import error as _error
from dialer.compliance import store
from dialer.compliance.policy import PolicyError, load_pack_text

POOL = web.AppKey("policies_pool", asyncpg.Pool)
MAX_PACK_BYTES = 256 * 1024
MAX_DNC_BYTES = 1024 * 1024 * 1024  # a national DNC register is a few hundred MB


def windows_of(text: str) -> dict[str, Any]:
    """The calling-window section of a pack's YAML, for the compliance page."""
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return {}
    section = data.get("calling_windows") or {}
    return {k: v for k, v in section.items() if k != "source"} if isinstance(section, dict) else {}


@requires("policies.read")
async def pack_versions(request: web.Request) -> web.Response:
    """Every stored version of a policy pack, newest first, with its YAML and calling windows."""
    rows = await request.app[POOL].fetch(
        "SELECT name, version, title, sha256, body, loaded_by, loaded_at FROM policy_packs WHERE name = $1"
        " ORDER BY version DESC", request.match_info["name"])
    if not rows:
        return _error(404, "not_found", f"no policy pack {request.match_info['name']!r}", "name")
    return web.json_response({"name": rows[0]["name"], "versions": [
        {"version": r["version"], "title": r["title"], "sha256": r["sha256"], "text": r["body"],
         "windows": windows_of(r["body"]), "loaded_by": r["loaded_by"], "loaded_at": r["loaded_at"].isoformat()}
        for r in rows]})


@requires("policies.write")
async def publish_pack(request: web.Request) -> web.Response:
    """Publish a new version of a policy pack (its YAML as the body; `version:` above the stored ones)."""
    raw = await request.content.read(MAX_PACK_BYTES + 1)
    if len(raw) > MAX_PACK_BYTES:
        return _error(413, "too_large", f"a policy pack is at most {MAX_PACK_BYTES} bytes", "body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _error(400, "invalid_body", "the pack must be UTF-8 YAML", "body")
    try:
        pack = load_pack_text(text, "request body")
    except PolicyError as exc:
        return _error(400, "invalid_pack", str(exc), "body")
    pool = request.app[POOL]
    newest = await pool.fetchval("SELECT max(version) FROM policy_packs WHERE name = $1", pack.name)
    if newest is not None and pack.version <= newest:
        return _error(409, "version_exists", f"{pack.name} already has version {newest}: publish version "
                                             f"{newest + 1} (a published version never changes)", "version")
    await store.sync_packs(pool, {pack.name: pack}, by=actor(request))
    return web.json_response({"name": pack.name, "version": pack.version, "sha256": pack.sha256,
                              "windows": windows_of(text)}, status=201)


@requires("dnc.write")
async def import_dnc(request: web.Request) -> web.Response:
    """Import a do-not-call file (multipart `file`; optional `campaign_id` for a campaign's own list)."""
    if not request.content_type.startswith("multipart/"):
        return _error(400, "invalid_body", "send the file as multipart/form-data field 'file'", "file")
    reader = await request.multipart()
    campaign_id = None
    path = None
    try:
        async for part in reader:
            if part.name == "campaign_id":
                value = (await part.text()).strip()
                if value:
                    if not value.isdigit():
                        return _error(400, "invalid_parameter", "campaign_id must be a number", "campaign_id")
                    campaign_id = int(value)
            elif part.name == "file":
                fd, name = tempfile.mkstemp(prefix="dnc-", suffix=".txt")
                path = Path(name)
                size = 0
                with os.fdopen(fd, "wb") as out:
                    while chunk := await part.read_chunk(256 * 1024):
                        size += len(chunk)
                        if size > MAX_DNC_BYTES:
                            return _error(413, "too_large", "a DNC file is at most 1 GB", "file")
                        out.write(chunk)
        if path is None:
            return _error(400, "invalid_body", "the 'file' field is missing", "file")
        if campaign_id is not None and not await request.app[POOL].fetchval(
                "SELECT true FROM campaigns WHERE id = $1", campaign_id):
            return _error(404, "not_found", f"no campaign {campaign_id}", "campaign_id")
        result = await store.import_dnc(request.app[POOL], path, scope="campaign" if campaign_id else "global",
                                        campaign_id=campaign_id, by=actor(request))
    finally:
        if path is not None:
            path.unlink(missing_ok=True)
    return web.json_response({"import_id": result.import_id, "rows_read": result.rows_read,
                              "rows_added": result.rows_added, "rows_invalid": result.rows_invalid,
                              "seconds": round(result.seconds, 3)}, status=201)


@requires("policies.read")
async def audit_log(request: web.Request) -> web.Response:
    """The compliance audit log (policy, list and window changes), newest first."""
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        return _error(400, "invalid_parameter", "limit must be a whole number", "limit")
    if not 1 <= limit <= 1000:
        return _error(400, "invalid_parameter", "limit must be between 1 and 1000", "limit")
    return web.json_response({"audit": await store.audit(request.app[POOL], limit=limit)},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


async def window_impact(conn, book, name: str, version: int, at) -> list[dict[str, Any]]:
    """Per live campaign dialling under pack `name`: contacts still to call whose calling window
    (callee time, this version vs. the one before) is closed at `at`. Contacts are grouped by
    zone and one of each group is asked, so the cost is per zone, not per contact."""
    from dialer.compliance import calling_window
    from dialer.compliance.model import CampaignFacts, Contact
    from dialer.compliance.policy import default_pack_name

    new = book.get(name, version)
    old = book.get(name, version - 1) if version > 1 else None
    campaigns = await conn.fetch(
        "SELECT c.id, c.name, c.kind, c.dial_mode, c.schedule, p.pack_name FROM campaigns c"
        " LEFT JOIN campaign_policy p ON p.campaign_id = c.id WHERE c.state IN ('draft', 'running', 'paused')")
    out = []
    for c in campaigns:
        if (c["pack_name"] or default_pack_name(c["kind"])) != name:
            continue
        schedule = json.loads(c["schedule"]) if isinstance(c["schedule"], str) else c["schedule"]
        facts = CampaignFacts(c["id"], c["kind"], c["dial_mode"], schedule=schedule)
        groups = await conn.fetch(
            "SELECT time_zone, min(phone) AS phone, count(*) AS n FROM contacts WHERE campaign_id = $1"
            " AND status IN ('new', 'retry', 'scheduled') GROUP BY time_zone", c["id"])
        blocked = {"new": 0, "old": 0}
        total = 0
        for g in groups:
            total += g["n"]
            contact = Contact(0, c["id"], g["phone"], g["time_zone"])
            for label, pack in (("new", new), ("old", old)):
                if pack is not None and calling_window.evaluate(contact, facts, pack, at).verdict != "allow":
                    blocked[label] += g["n"]
        out.append({"campaign_id": c["id"], "campaign": c["name"], "contacts_to_call": total,
                    "blocked_now": blocked["new"], "blocked_now_before": blocked["old"] if old else None})
    return out


@requires("policies.read")
async def pack_impact(request: web.Request) -> web.Response:
    """Who a pack version's calling windows block now (or ?at=), per live campaign, against the version before."""
    from datetime import datetime, timezone

    from dialer.compliance.store import PolicyBook

    name = request.match_info["name"]
    pool = request.app[POOL]
    newest = await pool.fetchval("SELECT max(version) FROM policy_packs WHERE name = $1", name)
    if newest is None:
        return _error(404, "not_found", f"no policy pack {name!r}", "name")
    try:
        version = int(request.query.get("version", newest))
        at = (datetime.fromisoformat(request.query["at"].strip().replace(" ", "+"))  # an unescaped + arrives as a space
              if "at" in request.query else datetime.now(timezone.utc))
    except ValueError:
        return _error(400, "invalid_parameter", "version is a number; at is an ISO time with its offset", "at")
    if at.tzinfo is None:
        return _error(400, "invalid_parameter", "at needs its offset, e.g. 2026-03-03T20:59:00+08:00", "at")
    book = await PolicyBook.load(pool)
    if book.get(name, version) is None:
        return _error(404, "not_found", f"{name} has no version {version}", "version")
    async with pool.acquire() as conn:
        impact = await window_impact(conn, book, name, version, at)
    return web.json_response({"name": name, "version": version, "at": at.isoformat(), "campaigns": impact})


def add_routes(api: web.Application, pool: asyncpg.Pool) -> None:
    api[POOL] = pool
    api.router.add_get("/policies/{name}", pack_versions)
    api.router.add_get("/policies/{name}/impact", pack_impact)
    api.router.add_post("/policies", publish_pack)
    api.router.add_post("/dnc/import", import_dnc)
    api.router.add_get("/compliance/audit", audit_log)
