"""Compliance officers' writes over HTTP (mounted under /api/v1): publish a policy pack version,
read a pack's versions, import a do-not-call file, read the audit log.

    GET  /policies/{name}          every stored version of a pack, with its YAML and calling windows
    POST /policies                 body: a pack's YAML with a `version:` above every stored one -> published
    POST /dnc/import               multipart: file (one number a line, or CSV number first), optional
                                   campaign_id -> {rows_read, rows_added, rows_invalid}
    GET  /compliance/audit         the audit log, newest first (?limit=)

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
from dialer.compliance import store
from dialer.compliance.policy import PolicyError, load_pack_text

POOL = web.AppKey("policies_pool", asyncpg.Pool)
MAX_PACK_BYTES = 256 * 1024
MAX_DNC_BYTES = 1024 * 1024 * 1024  # a national DNC register is a few hundred MB


def _error(status: int, code: str, message: str, field: str | None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "field": field}}, status=status)


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


def add_routes(api: web.Application, pool: asyncpg.Pool) -> None:
    api[POOL] = pool
    api.router.add_get("/policies/{name}", pack_versions)
    api.router.add_post("/policies", publish_pack)
    api.router.add_post("/dnc/import", import_dnc)
    api.router.add_get("/compliance/audit", audit_log)
