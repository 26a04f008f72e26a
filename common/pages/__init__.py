"""Operator pages: server-rendered HTML, a little plain JavaScript, no front-end build.

    add_pages(app, PagesContext(pool_of=..., flows=registry))

    /login, /logout                      token login -> session cookie (HttpOnly, SameSite=Strict)
    /                                    campaigns, with their states
    /campaigns/{id}                      live dashboard (Server-Sent Events), pause / resume
    /campaigns/{id}/upload               list upload with progress and the row-error report
    /flows, /flows/{name}                flows, versions, lint, diagram, deploy / roll back
    /compliance, /compliance/packs/{n}   packs and windows (publish a version), DNC, explain, audit
    /analytics                           IVR service analytics (common/pages/analytics.py)

Pages read the database for what they show and write through the same JSON API
everyone else uses (with the session's CSRF token), so a page can never do what
the API would refuse. Permissions come from the same role matrix (`@requires`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import asyncpg
from aiohttp import web

from common import users
from common.auth import RateLimiter
from common.http_auth import SESSION, SESSION_COOKIE, USER, requires
from common.pages.layout import page, table

STATIC = Path(__file__).parent / "static"


@dataclass
class PagesContext:
    pool_of: Callable[[], asyncpg.Pool]
    flows: Any = None  # ivr.flow_registry.FlowRegistry, for the flow pages
    login_limiter: RateLimiter = None  # type: ignore[assignment]
    secure_cookies: bool = False  # True behind HTTPS

    def __post_init__(self) -> None:
        if self.login_limiter is None:
            self.login_limiter = RateLimiter(rate=5 / 60, burst=5)  # 5 tries, then one every 12 s per address


PAGES = web.AppKey("pages_context", PagesContext)


def _ctx(request: web.Request) -> PagesContext:
    return request.config_dict[PAGES]


def _csrf(request: web.Request) -> str:
    session = request.get(SESSION)
    return session.csrf_token if session else ""


def _page(request: web.Request, title: str, body: str, **kw) -> web.Response:
    return page(title, body, user=request[USER], csrf=_csrf(request), **kw)


def _safe_next(value: str) -> str:
    """Only our own pages: never redirect a login to another site."""
    return value if value.startswith("/") and not value.startswith("//") and "\\" not in value else "/"


# --- login -------------------------------------------------------------------------------------

async def login_form(request: web.Request) -> web.Response:
    nxt = _safe_next(request.query.get("next", "/"))
    return page("Log in", _login_body(nxt, ""))


def _login_body(nxt: str, message: str) -> str:
    problem = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return (f'{problem}<form method="post" action="/login" class="login">'
            f'<label>API token <input type="password" name="token" autocomplete="current-password" required '
            f'placeholder="bcc_…"></label><input type="hidden" name="next" value="{escape(nxt)}">'
            f'<button type="submit">Log in</button></form>'
            f'<p class="hint">Your administrator gives you a token: <code>dialer users add NAME --role …</code></p>')


async def login(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    address = request.remote or "unknown"
    form = await request.post()
    nxt = _safe_next(str(form.get("next", "/")))
    if not ctx.login_limiter.allow(address):
        wait = max(1, round(ctx.login_limiter.retry_after(address)))
        response = page("Log in", _login_body(nxt, f"Too many attempts. Try again in {wait} seconds."), status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await users.user_for_token(ctx.pool_of(), str(form.get("token", "")).strip())
    if user is None:
        return page("Log in", _login_body(nxt, "That token is not valid."), status=401)
    session_id, _ = await users.open_session(ctx.pool_of(), user)
    response = web.HTTPSeeOther(nxt)
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="Strict", secure=ctx.secure_cookies,
                        max_age=int(users.SESSION_TTL.total_seconds()), path="/")
    raise response


async def logout(request: web.Request) -> web.Response:
    pool = _ctx(request).pool_of()
    session_id = request.cookies.get(SESSION_COOKIE, "")
    session = await users.session_for(pool, session_id)
    form = await request.post()
    if session is not None and str(form.get("csrf_token", "")) == session.csrf_token:
        await users.close_session(pool, session_id)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# --- campaigns ---------------------------------------------------------------------------------

@requires("campaigns.read")
async def campaigns_index(request: web.Request) -> web.Response:
    """Campaigns, newest first."""
    rows = await _ctx(request).pool_of().fetch(
        "SELECT c.id, c.name, c.kind, c.state, c.dial_mode, c.created_at,"
        " (SELECT count(*) FROM contacts k WHERE k.campaign_id = c.id) AS contacts"
        " FROM campaigns c WHERE c.state <> 'archived' ORDER BY c.id DESC LIMIT 200")
    body = table(["#", "Name", "Kind", "State", "Mode", "Contacts", "Created"], [
        [str(r["id"]), f'<a href="/campaigns/{r["id"]}">{escape(r["name"])}</a>', escape(r["kind"]),
         f'<span class="state {escape(r["state"])}">{escape(r["state"])}</span>', escape(r["dial_mode"]),
         str(r["contacts"]), f'{r["created_at"]:%Y-%m-%d %H:%M}'] for r in rows], "campaigns")
    return _page(request, "Campaigns", body if rows else "<p>No campaigns yet.</p>")


async def _campaign(request: web.Request) -> asyncpg.Record:
    try:
        campaign_id = int(request.match_info["campaign_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    row = await _ctx(request).pool_of().fetchrow(
        "SELECT id, name, kind, state, dial_mode, agent_queue, flow_name FROM campaigns WHERE id = $1", campaign_id)
    if row is None:
        raise web.HTTPNotFound()
    return row


@requires("campaigns.read")
async def campaign_dashboard(request: web.Request) -> web.Response:
    """A campaign's live dashboard."""
    c = await _campaign(request)
    tiles = "".join(f'<div class="tile"><div class="value" data-figure="{key}">–</div><div class="label">{label}</div>'
                    f'</div>' for key, label in (
                        ("now.dialing", "dialing"), ("now.waiting", "waiting for an agent"),
                        ("now.talking", "talking"), ("now.agents_waiting", "agents waiting"),
                        ("contact_rate", "contact rate"), ("occupancy_now", "agent occupancy"),
                        ("abandonment_rate", "abandonment rate"), ("abandonment_headroom", "budget headroom")))
    body = (f'<p class="meta">{escape(c["kind"])} · {escape(c["dial_mode"])} · queue {escape(c["agent_queue"])} · '
            f'flow {escape(c["flow_name"])} · state <span id="state" class="state">{escape(c["state"])}</span></p>'
            f'<p class="actions"><button data-action="start">Start</button> <button data-action="pause">Pause</button> '
            f'<button data-action="resume">Resume</button> <button data-action="finish">Finish</button> '
            f'<a href="/campaigns/{c["id"]}/upload">Upload a list</a> <span id="action-result"></span></p>'
            f'<section class="tiles">{tiles}</section>'
            f'<h2>Attempts per disposition (5-minute buckets, last 2 hours)</h2><div id="timeline"></div>'
            f'<h2>Contacts</h2><div id="contacts"></div><p class="live" id="live-status">connecting…</p>')
    return _page(request, f'Campaign {c["id"]}: {c["name"]}', body,
                 script=f"bankcc.dashboard({c['id']});")


@requires("lists.upload")
async def upload_page(request: web.Request) -> web.Response:
    """Upload a call list to a campaign, with progress and the row-error report."""
    c = await _campaign(request)
    body = (f'<form id="upload" class="upload"><label>CSV or XLSX file <input type="file" name="file" '
            f'accept=".csv,.xlsx,text/csv" required></label> <button type="submit">Upload</button></form>'
            f'<progress id="progress" max="100" value="0" hidden></progress><div id="upload-result"></div>'
            f'<p><a href="/campaigns/{c["id"]}">Back to the dashboard</a></p>')
    return _page(request, f'Upload a list: {c["name"]}', body, script=f"bankcc.upload({c['id']});")


# --- flows -------------------------------------------------------------------------------------

@requires("flows.read")
async def flows_index(request: web.Request) -> web.Response:
    """The live flows."""
    registry = _ctx(request).flows
    flows = sorted(registry.snapshot().values(), key=lambda f: f.name) if registry else []
    rows = [[f'<a href="/flows/{quote(f.name)}">{escape(f.name)}</a>', escape(f.direction),
             escape(", ".join(f.languages)), str(len(f.nodes)), f"<code>{escape(f.version)}</code>"] for f in flows]
    rejected = "".join(f"<li><code>{escape(k)}</code>: {escape(v)}</li>" for k, v in (registry.errors.items()
                                                                                     if registry else []))
    body = table(["Flow", "Direction", "Languages", "Nodes", "Live version"], rows, "flows")
    if rejected:
        body += f'<h2>Rejected changes (the previous version stays live)</h2><ul class="error">{rejected}</ul>'
    return _page(request, "Flows", body)


@requires("flows.read")
async def flow_page(request: web.Request) -> web.Response:
    """One flow: diagram, lint findings, versions, deploy and roll back."""
    from ivr import flow_store
    from ivr.graph import svg
    from ivr.http import FlowsContext, _findings
    from common.config import PROJECT_ROOT

    ctx = _ctx(request)
    name = request.match_info["name"]
    flow = ctx.flows.get(name) if ctx.flows else None
    if flow is None:
        raise web.HTTPNotFound()
    findings = _findings(flow, FlowsContext(ctx.flows, ctx.pool_of(), PROJECT_ROOT / "asterisk/conf/queues.conf"))
    history = await flow_store.history(ctx.pool_of(), name)
    lint = ("<p class='ok'>No findings.</p>" if not findings else "<ul class='findings'>" + "".join(
        f"<li>line {f['line']}: {escape(f['node'] or '')} {escape(f['message'])}</li>" for f in findings) + "</ul>")
    versions = table(["When", "Action", "Version", "By"], [
        [f'{r["deployed_at"]:%Y-%m-%d %H:%M:%S}', escape(r["action"]), f"<code>{escape(r['version'])}</code>",
         escape(r["deployed_by"])] for r in reversed(history[-50:])], "versions")
    can_deploy = request[USER].role in ("flow_designer", "admin")
    editor = (f'<h2>Edit and deploy</h2><textarea id="flow-text" spellcheck="false" rows="24">{escape(flow.text)}'
              f'</textarea><p><button id="validate">Validate</button> <button id="deploy">Deploy</button> '
              f'<button id="rollback">Roll back to the previous version</button></p><div id="flow-result"></div>'
              if can_deploy else "")
    body = (f'<p class="meta">{escape(flow.direction)} · {escape(", ".join(flow.languages))} · live version '
            f'<code id="live-version">{escape(flow.version)}</code></p><h2>Diagram</h2>'
            f'<div class="diagram">{svg(flow)}</div><h2>Lint</h2>{lint}{editor}<h2>Versions</h2>{versions}')
    return _page(request, f"Flow {name}", body, script=f"bankcc.flowEditor({json.dumps(name)});")


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ("app.js", "app.css"):
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


def add_pages(app: web.Application, context: PagesContext) -> None:
    from common.pages import analytics, compliance

    app[PAGES] = context
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/", campaigns_index)
    app.router.add_get("/campaigns/{campaign_id}", campaign_dashboard)
    app.router.add_get("/campaigns/{campaign_id}/upload", upload_page)
    app.router.add_get("/flows", flows_index)
    app.router.add_get("/flows/{name}", flow_page)
    analytics.add_routes(app)
    compliance.add_routes(app)
