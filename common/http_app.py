"""The HTTP side: health, version and the API root, composed from sub-apps.

`/api/v1` is its own aiohttp application so later resources (campaigns,
lists, flows, compliance) plug in as further sub-apps or routes on it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Awaitable, Callable

import asyncpg
from aiohttp import web

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


async def api_root(request: web.Request) -> web.Response:
    return web.json_response({"api": "v1", "resources": {"calls": "/api/v1/calls", "campaigns": "/api/v1/campaigns"}})


async def list_calls(request: web.Request) -> web.Response:
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


async def get_call(request: web.Request) -> web.Response:
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


def build_app(pool: asyncpg.Pool, sources: HealthSources) -> web.Application:
    api = web.Application()
    api[POOL] = pool
    api.router.add_get("/", api_root)
    api.router.add_get("/calls", list_calls, name="calls")
    api.router.add_get("/calls/{call_id}", get_call)
    campaigns_app(pool, api)  # campaigns, call lists, uploads

    app = web.Application()
    app[HEALTH] = sources
    app.router.add_get("/health", health)
    app.router.add_get("/version", version_handler)
    app.add_subapp("/api/v1", api)
    return app
