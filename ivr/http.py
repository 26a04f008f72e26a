"""HTTP API for flow designers (mounted under /api/v1): flows, versions, lint, diagram, deploy, roll back.

    GET  /flows                          the live flows with their versions and lint counts
    GET  /flows/{name}                   one flow: live text, lint findings, Mermaid diagram
    GET  /flows/{name}/versions          deploy history (who, when, what), newest last
    POST /flows/{name}/validate          body: YAML text -> {"ok", "errors" | "findings"}; changes nothing
    POST /flows/{name}/deploy            body: YAML text -> validated, recorded, written to flows/NAME.yaml
    POST /flows/{name}/rollback          body: {"version": "…"} (optional: the previous live version)

The YAML file stays the one source of what is live: deploy and roll back write
it atomically and the IVR's watcher hot-loads it (calls in progress keep their
version). The deployment is recorded under the user's name first, so the
watcher's own record of the same version is not a second deployment.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from common.http_auth import actor, requires
from ivr import flow_store
from ivr.flow import Flow, parse_flow
from ivr.flow_registry import FlowRegistry, _check_subflows
from ivr.graph import mermaid
from ivr.lint import asterisk_queues, lint_flow
from ivr.nodes import FlowError

MAX_FLOW_BYTES = 512 * 1024  # the hotline is 8 KB; anything near this is not a flow
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass
class FlowsContext:
    registry: FlowRegistry
    pool: asyncpg.Pool | None
    queues_conf: Path


FLOWS = web.AppKey("flows_context", FlowsContext)


class FlowApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.extra = status, code, message, field, extra


def _error(exc: FlowApiError) -> web.Response:
    return web.json_response({"error": {"code": exc.code, "message": exc.message, "field": exc.field},
                              **exc.extra}, status=exc.status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _api(handler):
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except FlowApiError as exc:
            return _error(exc)
    wrapped.__name__, wrapped.__doc__, wrapped.__wrapped__ = handler.__name__, handler.__doc__, handler
    return wrapped


def _ctx(request: web.Request) -> FlowsContext:
    return request.app[FLOWS]


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not _NAME.match(name):
        raise FlowApiError(400, "invalid_parameter", "a flow name is letters, digits and _", "name")
    return name


def _live(request: web.Request, name: str) -> Flow:
    flow = _ctx(request).registry.get(name)
    if flow is None:
        raise FlowApiError(404, "not_found", f"no live flow {name!r}", "name")
    return flow


def _findings(flow: Flow, ctx: FlowsContext) -> list[dict[str, Any]]:
    catalogue = ctx.registry.catalogue
    missing = set(catalogue.missing_audio()) if catalogue is not None else set()
    queues = asterisk_queues(ctx.queues_conf) if ctx.queues_conf.exists() else None
    known = {**ctx.registry.snapshot(), flow.name: flow}
    return [{"line": f.location.line, "column": f.location.column, "node": f.node, "severity": f.severity,
             "message": f.message} for f in lint_flow(flow, audio_missing=missing, known_flows=known, queues=queues)]


def _summary(flow: Flow, ctx: FlowsContext) -> dict[str, Any]:
    return {"name": flow.name, "version": flow.version, "direction": flow.direction,
            "languages": list(flow.languages), "nodes": len(flow.nodes), "lint": len(_findings(flow, ctx))}


async def _body_text(request: web.Request) -> str:
    if request.content_length is not None and request.content_length > MAX_FLOW_BYTES:
        raise FlowApiError(413, "too_large", f"a flow file is at most {MAX_FLOW_BYTES} bytes", "body")
    raw = await request.content.read(MAX_FLOW_BYTES + 1)
    if len(raw) > MAX_FLOW_BYTES:
        raise FlowApiError(413, "too_large", f"a flow file is at most {MAX_FLOW_BYTES} bytes", "body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowApiError(400, "invalid_body", f"the flow must be UTF-8 text ({exc.reason} at byte {exc.start})",
                           "body") from None
    if not text.strip():
        raise FlowApiError(400, "invalid_body", "send the flow's YAML as the request body", "body")
    return text


def _parse(text: str, name: str, ctx: FlowsContext) -> Flow:
    """Parse and check `text` as flows/NAME.yaml would be; FlowApiError with the place if it is not valid."""
    try:
        flow = parse_flow(text, f"{name}.yaml", ctx.registry.catalogue)
        if flow.name != name:
            raise FlowApiError(400, "invalid_flow", f"the file says flow: {flow.name!r}, but it is deployed as "
                                                    f"{name!r}", "flow", errors=[])
        _check_subflows(flow, {**ctx.registry.snapshot(), name: flow})
    except FlowError as exc:
        raise FlowApiError(400, "invalid_flow", str(exc), "body", errors=[{
            "line": exc.location.line, "column": exc.location.column, "node": exc.node,
            "message": exc.message}]) from None
    return flow


async def _write(ctx: FlowsContext, name: str, text: str) -> Path:
    path = ctx.registry.flows_dir / f"{name}.yaml"
    tmp = path.with_suffix(".yaml.deploy")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # atomic: the watcher never reads half a file
    return path


@requires("flows.read")
async def list_flows(request: web.Request) -> web.Response:
    """The live flows.

    Each with its version (a hash of its text), direction, languages, node count and number of lint findings."""
    ctx = _ctx(request)
    flows = [_summary(f, ctx) for f in sorted(ctx.registry.snapshot().values(), key=lambda f: f.name)]
    return web.json_response({"flows": flows, "rejected": ctx.registry.errors}, dumps=_dumps)


@requires("flows.read")
async def get_flow(request: web.Request) -> web.Response:
    """One live flow: its text, lint findings and a Mermaid diagram."""
    ctx = _ctx(request)
    flow = _live(request, _name(request))
    return web.json_response({**_summary(flow, ctx), "text": flow.text, "findings": _findings(flow, ctx),
                              "mermaid": mermaid(flow)}, dumps=_dumps)


@requires("flows.read")
async def flow_versions(request: web.Request) -> web.Response:
    """A flow's deploy history: every deploy, rollback and rejected change, oldest first."""
    ctx = _ctx(request)
    name = _name(request)
    rows = await flow_store.history(ctx.pool, name) if ctx.pool is not None else []
    live = ctx.registry.get(name)
    return web.json_response({"name": name, "live": live.version if live else None,
                              "history": [dict(r) for r in rows]}, dumps=_dumps)


@requires("flows.read")
async def validate_flow(request: web.Request) -> web.Response:
    """Check a flow's YAML without deploying it.

    400 with `errors` (line, column, node, message) if it does not load; else the lint findings."""
    ctx = _ctx(request)
    name = _name(request)
    flow = _parse(await _body_text(request), name, ctx)
    return web.json_response({"ok": True, "version": flow.version, "findings": _findings(flow, ctx)}, dumps=_dumps)


@requires("flows.deploy")
async def deploy_flow(request: web.Request) -> web.Response:
    """Deploy a flow: validate its YAML, record the version under your name, make it live for new calls."""
    ctx = _ctx(request)
    name = _name(request)
    text = await _body_text(request)
    flow = _parse(text, name, ctx)
    changed = True
    if ctx.pool is not None:
        changed = await flow_store.record_live(ctx.pool, flow, by=actor(request))
    path = await _write(ctx, name, text)
    return web.json_response({"name": name, "version": flow.version, "changed": changed, "file": path.name,
                              "findings": _findings(flow, ctx)}, status=200, dumps=_dumps)


@requires("flows.deploy")
async def rollback_flow(request: web.Request) -> web.Response:
    """Roll a flow back to an earlier stored version (default: the one live before the current)."""
    ctx = _ctx(request)
    name = _name(request)
    if ctx.pool is None:
        raise FlowApiError(503, "unavailable", "no database: flow history is not recorded", None)
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise FlowApiError(400, "invalid_body", "the body must be JSON such as {\"version\": \"…\"}", "body") from None
    if not isinstance(body, dict):
        raise FlowApiError(400, "invalid_body", "the body must be a JSON object", "body")
    version = body.get("version")
    if version is not None and (not isinstance(version, str) or not re.fullmatch(r"[0-9a-f]{12}", version)):
        raise FlowApiError(400, "invalid_parameter", "version is a 12-character hash from /versions", "version")
    version = version or await flow_store.rollback_target(ctx.pool, name)
    if version is None:
        raise FlowApiError(409, "no_earlier_version", f"flow {name!r} has no earlier version", "version")
    text = await flow_store.content(ctx.pool, name, version)
    if text is None:
        raise FlowApiError(404, "not_found", f"flow {name!r} has no stored version {version}", "version")
    flow = _parse(text, name, ctx)
    await flow_store.record_live(ctx.pool, flow, by=actor(request), action="rollback")
    await _write(ctx, name, text)
    return web.json_response({"name": name, "version": flow.version}, dumps=_dumps)


def add_routes(api: web.Application, context: FlowsContext) -> None:
    api[FLOWS] = context
    api.router.add_get("/flows", _api(list_flows))
    api.router.add_get("/flows/{name}", _api(get_flow))
    api.router.add_get("/flows/{name}/versions", _api(flow_versions))
    api.router.add_post("/flows/{name}/validate", _api(validate_flow))
    api.router.add_post("/flows/{name}/deploy", _api(deploy_flow))
    api.router.add_post("/flows/{name}/rollback", _api(rollback_flow))
