"""The HTTP side: health, version, the API and the operator pages, composed from sub-apps.

`/api/v1` is its own aiohttp application; each part adds its routes to it
(calls here, campaigns and lists in dialer/http.py, live figures in
dialer/live.py, flows in ivr/http.py, analytics in common/pages/analytics.py).
Every request but /health, /version, /login and the OpenAPI document is
authenticated, and every route names its permission (common/http_auth.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Awaitable, Callable

import asyncpg
from aiohttp import web

from common.http_auth import auth_middleware, requires
from common.masking import mask_digits
from dialer.http import campaigns_app

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]

POOL = web.AppKey("pool", asyncpg.Pool)
HEALTH = web.AppKey("health", object)


@dataclass
class HealthSources:
    """Each part of the service reports itself; /health gathers them."""

    database: Callable[[], Awaitable[dict[str, Any]]]
    ami: Callable[[], dict[str, Any]]
    ivr: Callable[[], dict[str, Any]]
    asterisk: Callable[[], dict[str, Any]]
    speech: Callable[[], dict[str, Any]] = dict


def version() -> str:
    try:
        return metadata.version("bank-contact-centre")
    except metadata.PackageNotFoundError:
        return "unknown"


async def health(request: web.Request) -> web.Response:
    sources: HealthSources = request.app[HEALTH]
    parts = {"database": await sources.database(), "ami": sources.ami(), "ivr": sources.ivr(),
             "asterisk": sources.asterisk(), "speech": sources.speech()}
    # AMI down degrades the service (no outbound dialing) but inbound IVR still works.
    healthy = parts["database"]["ok"] and parts["ivr"]["ok"]
    status = "ok" if healthy and parts["ami"]["state"] == "connected" else ("degraded" if healthy else "down")
    return web.json_response({"status": status, **parts}, status=200 if healthy else 503)


async def version_handler(request: web.Request) -> web.Response:
    return web.json_response({"name": "bank-contact-centre", "version": version()})


@requires("campaigns.read")
async def api_root(request: web.Request) -> web.Response:
    """The API's resources."""
    return web.json_response({"api": "v1", "openapi": "/api/v1/openapi.json", "resources": {
        "calls": "/api/v1/calls", "campaigns": "/api/v1/campaigns", "flows": "/api/v1/flows",
        "analytics": "/api/v1/analytics/ivr"}})


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of this API, built from its routes."""
    from common.openapi import document

    return web.json_response(document(request.app, title="Star River Bank contact-centre API", version=version()))


@requires("calls.read")
async def list_calls(request: web.Request) -> web.Response:
    """IVR calls, newest first (?limit=1-500, default 50); caller numbers masked."""
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise _bad_request("limit", "limit must be a whole number") from None
    if not 1 <= limit <= 500:
        raise _bad_request("limit", "limit must be between 1 and 500")
    rows = await request.app[POOL].fetch(
        "SELECT id, channel, caller_id, dialed, flow_name, flow_version, language, started_at, ended_at, outcome,"
        " last_node FROM calls ORDER BY id DESC LIMIT $1", limit)
    return web.json_response({"calls": [_call_json(r) for r in rows]})


@requires("calls.read")
async def get_call(request: web.Request) -> web.Response:
    """One IVR call with every step it walked."""
    try:
        call_id = int(request.match_info["call_id"])
    except ValueError:
        raise _bad_request("call_id", "call id must be a number") from None
    pool = request.app[POOL]
    row = await pool.fetchrow(
        "SELECT id, channel, caller_id, dialed, flow_name, flow_version, language, started_at, ended_at, outcome,"
        " last_node FROM calls WHERE id = $1", call_id)
    if row is None:
        raise web.HTTPNotFound(text=json.dumps({"error": {"code": "not_found", "message": f"no call {call_id}",
                                                          "field": "call_id"}}), content_type="application/json")
    steps = await pool.fetch(
        "SELECT seq, node, node_type, input, result, started_at, duration_ms, detail FROM call_steps"
        " WHERE call_id = $1 ORDER BY seq", call_id)
    return web.json_response({**_call_json(row), "steps": [
        {"seq": s["seq"], "node": s["node"], "type": s["node_type"], "input": s["input"], "result": s["result"],
         "started_at": s["started_at"].isoformat(), "duration_ms": s["duration_ms"],
         "detail": json.loads(s["detail"])} for s in steps]})


def _call_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "channel": row["channel"], "caller_id": mask_digits(row["caller_id"]),
            "dialed": row["dialed"], "flow": row["flow_name"], "flow_version": row["flow_version"],
            "language": row["language"], "started_at": row["started_at"].isoformat(),
            "ended_at": row["ended_at"].isoformat() if row["ended_at"] else None,
            "outcome": row["outcome"], "last_node": row["last_node"]}


def _bad_request(field: str, message: str) -> web.HTTPBadRequest:
    body = {"error": {"code": "invalid_parameter", "message": message, "field": field}}
    return web.HTTPBadRequest(text=json.dumps(body), content_type="application/json")


def build_app(pool: asyncpg.Pool, sources: HealthSources, *, flows=None, agents_of=None,
              upload_limiter=None) -> web.Application:
    """The whole HTTP side. `flows`: the IVR's FlowRegistry (flow API and pages); `agents_of(queue)`:
    (logged in, waiting) agents from AMI, for the live campaign figures."""
    from common.auth import RateLimiter
    from common.config import PROJECT_ROOT
    from common.pages import PagesContext, add_pages
    from common.pages.analytics import add_api_routes as add_analytics
    from dialer import attempts_api, live, policies_api
    from ivr import http as flows_http

    api = web.Application()
    api[POOL] = pool
    api.router.add_get("/", api_root)
    api.router.add_get("/openapi.json", openapi_json)
    api.router.add_get("/calls", list_calls, name="calls")
    api.router.add_get("/calls/{call_id}", get_call)
    campaigns_app(pool, api)  # campaigns, call lists, uploads
    attempts_api.add_routes(api, pool)
    policies_api.add_routes(api, pool)
    live.add_routes(api, live.LiveContext(lambda: pool, agents_of or (lambda queue: (0, 0))))
    add_analytics(api)
    if flows is not None:
        flows_http.add_routes(api, flows_http.FlowsContext(flows, pool, PROJECT_ROOT / "asterisk/conf/queues.conf"))

    limiter = upload_limiter or RateLimiter(rate=1 / 6, burst=10)  # 10 uploads at once, then one per 6 s per user
    app = web.Application(middlewares=[auth_middleware(lambda: pool, upload_limiter=limiter)])
    app[HEALTH] = sources
    app.router.add_get("/health", health)
    app.router.add_get("/version", version_handler)
    add_pages(app, PagesContext(lambda: pool, flows))
    app.add_subapp("/api/v1", api)
    return app
