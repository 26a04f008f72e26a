"""HTTP API for campaigns and their call lists (mounted under /api/v1).

    POST /campaigns                              create (JSON body, see dialer.campaigns.validate_campaign)
    GET  /campaigns[?state=&limit=]              list, newest first
    GET  /campaigns/{id}                         one, with contact counts and its event history
    POST /campaigns/{id}/actions/{action}        start | pause | resume | finish | archive
    POST /campaigns/{id}/lists                   upload a CSV/XLSX list (multipart: file, optional columns JSON)
    GET  /campaigns/{id}/lists                   the campaign's uploads
    GET  /uploads/{id}                           an upload's status and counts
    GET  /uploads/{id}/errors.csv                its rejected rows (row, column, reason)
    GET  /compliance/explain?phone=&campaign_id=&at=   why a number was / wasn't called (dialer.compliance.explain)
    GET  /dnc?phone=                             a number's do-not-call entries
    POST /dnc                                    add one: {phone, campaign_id?, source?, note?}
    GET  /policies                               stored policy packs (every version)
    PUT  /campaigns/{id}/policy                  dial the campaign under {pack, version?}

Errors are JSON: {"error": {"code", "message", "field"}}. Each handler names
the permission it needs (common/http_auth.py); the authenticated user is who
is recorded with campaign events and uploads.

The upload is streamed to a temporary file chunk by chunk (never held in
memory) while its sha256 and text encoding are worked out, then loaded; the
response carries the upload's counts.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import unquote
from typing import Any, Awaitable, Callable

import asyncpg
from aiohttp import web

from common.http_auth import USER, requires
from dialer import campaigns
from dialer.lists import loader
from dialer.lists.columns import validate_overrides
from dialer.lists.readers import Inspector

log = logging.getLogger(__name__)

CAMPAIGNS_POOL = web.AppKey("campaigns_pool", asyncpg.Pool)
UPLOAD_LIMIT = web.AppKey("campaigns_upload_limit", int)
UPLOAD_DIR = web.AppKey("campaigns_upload_dir", str)

DEFAULT_MAX_UPLOAD_BYTES = 256 * 1024 * 1024
_CHUNK = 256 * 1024
_ACTOR = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.extra = status, code, message, field, extra

    def response(self) -> web.Response:
        body = {"error": {"code": self.code, "message": self.message, "field": self.field}, **self.extra}
        return web.json_response(body, status=self.status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _api(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return exc.response()
        except campaigns.CampaignNotFound as exc:
            return ApiError(404, "not_found", str(exc), "campaign_id").response()
    return wrapped


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


def _int_param(request: web.Request, name: str) -> int:
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"{name} must be a number", name) from None
    if not 0 < value < 2**63:
        raise ApiError(404, "not_found", f"no such {name.removesuffix('_id')} {value}", name)
    return value


def _actor(request: web.Request) -> str:
    user = request.get(USER)
    if user is not None:  # authenticated (common/http_auth.py): the user is who acts
        return user.name
    actor = request.headers.get("X-User", "").strip() or "api"  # the app mounted alone, without auth (tests)
    if not _ACTOR.match(actor):
        raise ApiError(400, "invalid_parameter", "X-User must be one line of at most 100 characters", "X-User")
    return actor


def _pool(request: web.Request) -> asyncpg.Pool:
    return request.app[CAMPAIGNS_POOL]


# --- campaigns ------------------------------------------------------------------------------

@requires("campaigns.write")
@_api
async def create_campaign(request: web.Request) -> web.Response:
    """Create a campaign (it starts as a draft); the body is the campaign as JSON."""
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body must be a JSON object") from None
    try:
        spec = campaigns.validate_campaign(payload)
    except campaigns.CampaignError as exc:
        raise ApiError(400, exc.code, exc.message, exc.field or None) from None
    campaign = await campaigns.create_campaign(_pool(request), spec, by=_actor(request))
    url = request.app.router["campaign"].url_for(campaign_id=str(campaign["id"]))
    return _json(campaign, 201, {"Location": str(url)})


@requires("campaigns.read")
@_api
async def list_campaigns(request: web.Request) -> web.Response:
    """Campaigns, newest first (?state=, ?limit=)."""
    state = request.query.get("state") or None
    if state is not None and state not in campaigns.STATES:
        raise ApiError(400, "invalid_parameter", f"state must be one of {', '.join(campaigns.STATES)}", "state")
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(400, "invalid_parameter", "limit must be a whole number", "limit") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "invalid_parameter", "limit must be between 1 and 1000", "limit")
    return _json({"campaigns": await campaigns.list_campaigns(_pool(request), state=state, limit=limit)})


@requires("campaigns.read")
@_api
async def get_campaign(request: web.Request) -> web.Response:
    """One campaign with its contact counts and event history."""
    return _json(await campaigns.get_campaign(_pool(request), _int_param(request, "campaign_id")))


@requires("campaigns.control")
@_api
async def campaign_action(request: web.Request) -> web.Response:
    """Start, pause, resume, finish or archive a campaign."""
    campaign_id = _int_param(request, "campaign_id")
    action = request.match_info["action"]
    if action not in campaigns.ACTIONS:
        raise ApiError(404, "unknown_action", f"unknown action {action!r} (use {', '.join(campaigns.ACTIONS)})",
                       "action")
    try:
        campaign = await campaigns.apply_action(_pool(request), campaign_id, action, by=_actor(request))
    except campaigns.IllegalTransition as exc:
        raise ApiError(409, "illegal_transition", str(exc), "action", state=exc.state,
                       allowed_actions=list(campaigns.allowed_actions(exc.state))) from None
    return _json(campaign)


# --- lists ----------------------------------------------------------------------------------

def _upload_body(request: web.Request, upload: dict[str, Any], **extra: Any) -> dict[str, Any]:
    errors = request.app.router["upload_errors"].url_for(upload_id=str(upload["id"]))
    return {**upload, "errors_csv": str(errors), **extra}


@requires("lists.upload")
@_api
async def upload_list(request: web.Request) -> web.Response:
    """Upload a CSV or XLSX call list (multipart: file, optional columns JSON); returns its counts."""
    campaign_id = _int_param(request, "campaign_id")
    by = _actor(request)
    if not request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "send the list as multipart/form-data with a 'file' part",
                       "file")
    # Refuse before reading what may be a large body (the loader checks again).
    state = await _pool(request).fetchval("SELECT state FROM campaigns WHERE id = $1", campaign_id)
    if state is None:
        raise campaigns.CampaignNotFound(campaign_id)
    if state not in campaigns.UPLOAD_STATES:
        raise ApiError(409, "campaign_closed", f"campaign {campaign_id} is {state}: lists can only be added while "
                                               f"it is draft, running or paused", "campaign_id")
    limit = request.app[UPLOAD_LIMIT]
    fd, tmp_name = tempfile.mkstemp(prefix="list-upload-", dir=request.app[UPLOAD_DIR] or None)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            filename, columns_raw, inspector = await _receive(request, out, limit)
        if inspector is None:
            raise ApiError(400, "missing_file", "no 'file' part in the upload", "file")
        try:
            columns = validate_overrides(json.loads(columns_raw) if columns_raw else None)
        except (ValueError, json.JSONDecodeError) as exc:
            raise ApiError(400, "invalid_columns", str(exc), "columns") from None
        info = await asyncio.to_thread(inspector.finish, filename, tmp)
        try:
            result = await loader.upload_list(_pool(request), campaign_id, tmp, filename=filename, by=by,
                                              columns=columns, info=info)
        except loader.UploadRefused as exc:
            raise ApiError(409, exc.code, exc.message, "campaign_id") from None
    finally:
        tmp.unlink(missing_ok=True)
    upload = result.upload
    location = {"Location": str(request.app.router["upload"].url_for(upload_id=str(upload["id"])))}
    if result.in_progress:
        return _json(_upload_body(request, upload, repeat=True), 202, location)
    if upload["status"] == "failed":
        error = upload["error"]
        message = error["message"]
        if upload["rows"]["total"]:
            message += (f" (the {upload['rows']['total']:,} rows before it were read: "
                        f"{upload['rows']['accepted']:,} accepted)")
        raise ApiError(422, error["code"], message, "file", upload=_upload_body(request, upload, repeat=result.repeat))
    return _json(_upload_body(request, upload, repeat=result.repeat), 200 if result.repeat else 201, location)


async def _receive(request: web.Request, out, limit: int) -> tuple[str, str | None, Inspector | None]:
    """Stream the multipart body: the 'file' part to `out` (inspected on the way), 'columns' as text."""
    try:
        reader = await request.multipart()
        filename, columns, inspector = "", None, None
        while (part := await reader.next()) is not None:
            if part.name == "file":
                if inspector is not None:
                    raise ApiError(400, "too_many_files", "send one 'file' part per upload", "file")
                inspector = Inspector()
                # Browsers send UTF-8 names as they are; some clients percent-encode them.
                filename = Path(unquote(part.filename or "upload")).name[:200] or "upload"
                while chunk := await part.read_chunk(_CHUNK):
                    if inspector.size + len(chunk) > limit:
                        raise ApiError(413, "file_too_large", f"the file is larger than {limit // (1024 * 1024)} MiB",
                                       "file")
                    inspector.feed(chunk)
                    out.write(chunk)
            elif part.name == "columns":
                raw = b""
                while chunk := await part.read_chunk(8192):
                    raw += chunk
                    if len(raw) > 64 * 1024:
                        raise ApiError(400, "invalid_columns", "the columns mapping is too large", "columns")
                columns = raw.decode("utf-8", errors="replace")
            else:
                await part.release()
        return filename, columns, inspector
    except (ValueError, AssertionError) as exc:  # malformed multipart bodies
        raise ApiError(400, "bad_multipart", f"could not read the multipart body: {exc}", "file") from None


@requires("lists.read")
@_api
async def campaign_uploads(request: web.Request) -> web.Response:
    """A campaign's list uploads."""
    campaign_id = _int_param(request, "campaign_id")
    await campaigns.get_campaign(_pool(request), campaign_id, details=False)  # 404 if missing
    uploads = await loader.list_uploads(_pool(request), campaign_id)
    return _json({"uploads": [_upload_body(request, u) for u in uploads]})


async def _upload_or_404(request: web.Request) -> dict[str, Any]:
    upload_id = _int_param(request, "upload_id")
    upload = await loader.get_upload(_pool(request), upload_id)
    if upload is None:
        raise ApiError(404, "not_found", f"no upload {upload_id}", "upload_id")
    return upload


@requires("lists.read")
@_api
async def get_upload(request: web.Request) -> web.Response:
    """An upload's status and counts."""
    return _json(_upload_body(request, await _upload_or_404(request)))


@requires("lists.read")
@_api
async def upload_errors(request: web.Request) -> web.StreamResponse:
    """An upload's rejected rows as CSV (row, column, reason), formula cells defused."""
    upload = await _upload_or_404(request)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="upload-{upload["id"]}-errors.csv"',
        "X-Content-Type-Options": "nosniff",
    })
    await response.prepare(request)
    async for chunk in loader.error_report(_pool(request), upload["id"]):
        await response.write(chunk.encode("utf-8"))
    await response.write_eof()
    return response


# --- compliance -------------------------------------------------------------------------------

def _phone(value: Any, field: str = "phone") -> str:
    from dialer.compliance import store
    from dialer.phones import PhoneError

    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_parameter", f"{field} is required", field)
    try:
        return store.e164(value)
    except PhoneError as exc:
        raise ApiError(400, "invalid_phone", f"{field}: {exc}", field) from None


def _optional_id(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_parameter", f"{field} must be a number", field) from None
    if isinstance(value, bool) or not 0 < number < 2**63:
        raise ApiError(400, "invalid_parameter", f"{field} must be a positive number", field)
    return number


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return payload


@requires("policies.read")
@_api
async def explain_number(request: web.Request) -> web.Response:
    """Why a number was or was not called: recorded decisions and the gate at ?at= (?phone=, ?campaign_id=)."""
    from datetime import datetime

    from dialer.compliance import explain

    phone = _phone(request.query.get("phone"))
    campaign_id = _optional_id(request.query.get("campaign_id"), "campaign_id")
    at = None
    if request.query.get("at"):
        try:
            at = datetime.fromisoformat(request.query["at"].strip().replace(" ", "+"))
        except ValueError:
            raise ApiError(400, "invalid_parameter", "at must be an ISO time such as 2026-03-03T20:59:00+08:00",
                           "at") from None
        if at.tzinfo is None:
            raise ApiError(400, "invalid_parameter", "at must include its offset, e.g. 2026-03-03T20:59:00+08:00",
                           "at")
    return _json(await explain.explain(_pool(request), phone, campaign_id=campaign_id, at=at))


@requires("dnc.read")
@_api
async def search_dnc(request: web.Request) -> web.Response:
    """A number's do-not-call entries (?phone=)."""
    from dialer.compliance import store

    phone = _phone(request.query.get("phone"))
    return _json({"phone": phone, "entries": await store.search_dnc(_pool(request), phone)})


@requires("dnc.write")
@_api
async def add_dnc(request: web.Request) -> web.Response:
    """Put a number on the global do-not-call list, or a campaign's: {phone, campaign_id?, source?, note?}."""
    from dialer.compliance import store

    payload = await _json_body(request)
    unknown = sorted(set(payload) - {"phone", "campaign_id", "source", "note"})
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {unknown[0]!r}", unknown[0])
    phone = _phone(payload.get("phone"))
    campaign_id = _optional_id(payload.get("campaign_id"), "campaign_id")
    source = payload.get("source", "manual")
    allowed = ("manual", "agent", "refusal", "opt_out_call")
    if source not in allowed:
        raise ApiError(400, "invalid_field", f"source must be one of {', '.join(allowed)}", "source")
    note = payload.get("note", "")
    if not isinstance(note, str) or len(note) > 500:
        raise ApiError(400, "invalid_field", "note must be text of at most 500 characters", "note")
    if campaign_id is not None:
        await campaigns.get_campaign(_pool(request), campaign_id, details=False)  # 404 if missing
    added = await store.add_dnc(_pool(request), phone, scope="campaign" if campaign_id else "global",
                                campaign_id=campaign_id, source=source, note=note, by=_actor(request))
    entries = await store.search_dnc(_pool(request), phone)
    return _json({"phone": phone, "added": added, "entries": entries}, 201 if added else 200)


@requires("policies.read")
@_api
async def list_policies(request: web.Request) -> web.Response:
    """Stored compliance policy packs (every version) and the campaigns' selections."""
    rows = await _pool(request).fetch("SELECT name, version, title, sha256, loaded_by, loaded_at FROM policy_packs"
                                      " ORDER BY name, version")
    selections = await _pool(request).fetch("SELECT campaign_id, pack_name, pack_version, selected_by, selected_at"
                                            " FROM campaign_policy ORDER BY campaign_id")
    return _json({"packs": [{**dict(r), "loaded_at": r["loaded_at"].isoformat()} for r in rows],
                  "selections": [{**dict(r), "selected_at": r["selected_at"].isoformat()} for r in selections]})


@requires("policies.write")
@_api
async def select_policy(request: web.Request) -> web.Response:
    """Dial a campaign under a policy pack: {pack, version?} (no version: the newest)."""
    from dialer.compliance import store

    campaign_id = _int_param(request, "campaign_id")
    payload = await _json_body(request)
    name = payload.get("pack")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "invalid_field", "pack is required (a policy pack name)", "pack")
    version = payload.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ApiError(400, "invalid_field", "version must be a whole number from 1, or absent for the newest",
                       "version")
    await campaigns.get_campaign(_pool(request), campaign_id, details=False)
    try:
        await store.select_pack(_pool(request), campaign_id, name.strip(), version, by=_actor(request))
    except store.NoPolicy as exc:
        raise ApiError(404, "not_found", str(exc), "pack") from None
    return _json({"campaign_id": campaign_id, "pack": name.strip(), "version": version})


def campaigns_app(pool: asyncpg.Pool, app: web.Application | None = None, *,
                  max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, upload_dir: str | None = None) -> web.Application:
    """The campaigns API as an application to mount under /api/v1.

    aiohttp allows one sub-application per prefix, so to serve these routes beside
    others under /api/v1, pass that application as `app`: the routes are added to it.
    """
    app = app if app is not None else web.Application()
    app[CAMPAIGNS_POOL] = pool
    app[UPLOAD_LIMIT] = max_upload_bytes
    app[UPLOAD_DIR] = upload_dir or ""
    app.router.add_post("/campaigns", create_campaign)
    app.router.add_get("/campaigns", list_campaigns, name="campaigns")
    app.router.add_get("/campaigns/{campaign_id}", get_campaign, name="campaign")
    app.router.add_post("/campaigns/{campaign_id}/actions/{action}", campaign_action)
    app.router.add_post("/campaigns/{campaign_id}/lists", upload_list)
    app.router.add_get("/campaigns/{campaign_id}/lists", campaign_uploads)
    app.router.add_get("/uploads/{upload_id}", get_upload, name="upload")
    app.router.add_get("/uploads/{upload_id}/errors.csv", upload_errors, name="upload_errors")
    app.router.add_get("/compliance/explain", explain_number)
    app.router.add_get("/dnc", search_dnc)
    app.router.add_post("/dnc", add_dnc)
    app.router.add_get("/policies", list_policies)
    app.router.add_put("/campaigns/{campaign_id}/policy", select_policy)
    return app
