"""Authentication and authorisation for the HTTP API and pages (aiohttp middleware).

    @requires("campaigns.write")
    async def create_campaign(request): ... request[USER].name is the actor ...

    app = web.Application(middlewares=[auth_middleware(pool)])

A request to a protected route carries either an API token
(`Authorization: Bearer bcc_…`) or a page session cookie; writes made with a
session must also send the session's CSRF token (`X-CSRF-Token` header or a
`csrf_token` form field), so another site cannot make a logged-in browser write.
The route's handler names the one permission it needs (`@requires`); the role
matrix in common/auth.py decides. A protected route without a permission is a
bug and is refused (fail closed), and a test checks that every API route has one.

Errors are JSON like the rest of the API: 401 `unauthenticated`, 403 `forbidden`
(naming the permission), 403 `csrf` and 429 `rate_limited` (with Retry-After).
"""
from __future__ import annotations

import hmac
from typing import Awaitable, Callable

import asyncpg
from aiohttp import web

from common import users
from common.auth import RateLimiter, role_allows

USER = web.RequestKey("bankcc_user", users.User)  # request[USER]: the authenticated user
SESSION = web.RequestKey("bankcc_session", users.Session)  # request[SESSION]: set for page sessions only
SESSION_COOKIE = "bankcc_session"
PUBLIC_PATHS = frozenset({"/health", "/version", "/login", "/logout", "/favicon.ico", "/api/v1/openapi.json"})
PUBLIC_PREFIXES = ("/static/",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def requires(permission: str) -> Callable[[Handler], Handler]:
    """Mark a handler with the permission it needs (checked by the middleware, listed in OpenAPI)."""
    role_allows("admin", permission)  # an unknown permission fails at import, not at request time

    def mark(handler: Handler) -> Handler:
        handler.permission = permission  # type: ignore[attr-defined]
        return handler
    return mark


def permission_of(handler) -> str | None:
    while handler is not None:
        permission = getattr(handler, "permission", None)
        if permission:
            return permission
        handler = getattr(handler, "__wrapped__", None)
    return None


def error(status: int, code: str, message: str, field: str | None = None, headers=None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "field": field}}, status=status,
                             headers=headers)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def auth_middleware(pool_of: Callable[[], asyncpg.Pool], *, upload_limiter: RateLimiter | None = None):
    """`pool_of()` gives the database pool (it may be created after the app)."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_public(request.path) or request.match_info.http_exception is not None:
            return await handler(request)  # public, or no such route (404/405 as usual)
        pool = pool_of()
        header = request.headers.get("Authorization", "")
        session = None
        if header:
            scheme, _, token = header.partition(" ")
            user = await users.user_for_token(pool, token.strip()) if scheme.lower() == "bearer" else None
            if user is None:
                return error(401, "unauthenticated", "the API token is not valid (see: dialer users rotate-token)",
                             "Authorization", headers={"WWW-Authenticate": 'Bearer realm="bankcc"'})
        else:
            session = await users.session_for(pool, request.cookies.get(SESSION_COOKIE, ""))
            if session is None:
                if request.method in SAFE_METHODS and "text/html" in request.headers.get("Accept", ""):
                    raise web.HTTPFound(f"/login?next={request.path}")
                return error(401, "unauthenticated", "send 'Authorization: Bearer <token>' or log in",
                             "Authorization", headers={"WWW-Authenticate": 'Bearer realm="bankcc"'})
            user = session.user
            if request.method not in SAFE_METHODS and not await _csrf_ok(request, session.csrf_token):
                return error(403, "csrf", "missing or wrong CSRF token for a write from a page", "X-CSRF-Token")
        if request.method in SAFE_METHODS:
            return await _authorised(request, handler, user, session, upload_limiter)
        status = 500
        try:  # every write is audited, refused or not (the audit is append-only: migration 0010)
            response = await _authorised(request, handler, user, session, upload_limiter)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            await _audit(pool, user, request, status)

    return authenticate


async def _authorised(request: web.Request, handler: Handler, user: users.User, session, upload_limiter):
    permission = permission_of(handler)
    if permission is None:
        return error(403, "forbidden", "this route has no permission assigned", None)
    if not role_allows(user.role, permission):
        return error(403, "forbidden", f"role {user.role} lacks permission {permission}", None)
    if upload_limiter is not None and permission == "lists.upload" and not upload_limiter.allow(user.name):
        wait = max(1, round(upload_limiter.retry_after(user.name)))
        return error(429, "rate_limited", f"too many uploads; try again in {wait} s", None,
                     headers={"Retry-After": str(wait)})
    request[USER] = user
    if session is not None:
        request[SESSION] = session
    return await handler(request)


async def _audit(pool: asyncpg.Pool, user: users.User, request: web.Request, status: int) -> None:
    route = request.match_info.route.resource
    template = route.canonical if route is not None else request.path
    try:
        await pool.execute("INSERT INTO api_audit (actor, role, method, path, target, status)"
                           " VALUES ($1, $2, $3, $4, $5, $6)", user.name, user.role, request.method, template,
                           request.path[:500], status)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        import logging

        logging.getLogger(__name__).error("could not audit %s %s by %s: %s", request.method, template, user.name, exc)


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    sent = request.headers.get("X-CSRF-Token", "")
    if not sent and request.content_type == "application/x-www-form-urlencoded":
        sent = str((await request.post()).get("csrf_token", ""))
    return bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


def actor(request: web.Request) -> str:
    """Who is acting, for audit records: the authenticated user's name."""
    return request[USER].name

