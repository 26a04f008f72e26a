"""The OpenAPI document of the HTTP API, built from the routes the app really has.

Each handler documents itself: the first line of its docstring is the summary,
the rest the description; `@requires` gives its permission (shown as
`x-permission` and in the description, with the bearer security scheme);
`handler.request_schema` / `handler.query` (optional) describe its body and
query parameters. Building the document from the router means it cannot list a
route that does not exist or miss one that does; tests check that every route
has a summary and a permission.
"""
from __future__ import annotations

import inspect
import re
from typing import Any

from aiohttp import web

from common.http_auth import is_public, permission_of

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": ["string", "null"]}},
    "required": ["code", "message"]}}, "required": ["error"]}


def _routes(app: web.Application):
    """(method, path, handler) of every route, sub-applications included (their paths carry the prefix)."""
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:  # a mounted sub-application: its resources already start with the prefix
            yield from _routes(info["app"])
            continue
        path = info.get("formatter") or info.get("path")
        if path is None:
            continue
        for route in resource:
            if route.method not in ("HEAD", "OPTIONS", "*"):
                yield route.method, path, route.handler


def api_routes(app: web.Application, under: str = "/api/") -> list[tuple[str, str, Any]]:
    return sorted(((m, p, h) for m, p, h in _routes(app) if p.startswith(under)), key=lambda r: (r[1], r[0]))


def document(app: web.Application, *, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler in api_routes(app):
        doc = inspect.getdoc(handler) or ""
        summary, _, description = doc.partition("\n")
        permission = permission_of(handler)
        operation: dict[str, Any] = {
            "summary": summary.strip(),
            "operationId": f"{method.lower()}_{handler.__name__}",
            "responses": {"200": {"description": "OK"},
                          "400": {"description": "bad input", "content": {"application/json": {"schema": _ERROR}}},
                          "401": {"description": "no or bad credentials"},
                          "403": {"description": "the role lacks the permission"}},
        }
        if description.strip():
            operation["description"] = description.strip()
        if not is_public(path):
            operation["security"] = [{"bearer": []}, {"session": []}]
            operation["x-permission"] = permission
        parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                      for name in _PARAM.findall(path)]
        for name, schema in getattr(handler, "query", {}).items():
            parameters.append({"name": name, "in": "query", "required": False, "schema": schema})
        if parameters:
            operation["parameters"] = parameters
        body = getattr(handler, "request_schema", None)
        if body is not None:
            operation["requestBody"] = {"required": True, "content": body}
        paths.setdefault(_PARAM.sub(r"{\1}", path), {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "API token: dialer users add/rotate-token"},
            "session": {"type": "apiKey", "in": "cookie", "name": "bankcc_session",
                        "description": "page session; writes also need the X-CSRF-Token header"}}},
        "paths": paths,
    }
