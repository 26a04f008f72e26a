"""The compliance officers' page: policy packs and their calling windows (publish a new version),
do-not-call search / add / import, `explain` for a number, and the audit log."""
from __future__ import annotations

import json
import re
from html import escape

from aiohttp import web

from common.auth import role_allows
from common.http_auth import USER, requires
from common.pages.layout import table


def _windows_text(windows: dict) -> str:
    out = []
    for key, value in windows.items():
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            out.append(f"<b>{escape(key)}</b>: " + ", ".join(f"{escape(d)} {escape(t)}" for d, t in value.items()))
        elif isinstance(value, (str, int, float)) or value is None:
            out.append(f"<b>{escape(key)}</b>: {escape(str(value))}")
    return "<br>".join(out) or "–"


def next_version(text: str, version: int) -> str:
    """The pack's YAML with `version:` raised by one: a change is published as a new version."""
    return re.sub(r"(?m)^version:\s*\d+\s*$", f"version: {version + 1}", text, count=1)


@requires("policies.read")
async def compliance_page(request: web.Request) -> web.Response:
    """Compliance: policy packs and windows, do-not-call lists, explain, audit."""
    from common.pages import _ctx, _page
    from dialer.policies_api import windows_of

    pool = _ctx(request).pool_of()
    packs = await pool.fetch("SELECT DISTINCT ON (name) name, version, title, body, loaded_by, loaded_at"
                             " FROM policy_packs ORDER BY name, version DESC")
    can_write = role_allows(request[USER].role, "policies.write")
    can_dnc = role_allows(request[USER].role, "dnc.write")
    rows = [[f'<a href="/compliance/packs/{escape(p["name"])}">{escape(p["name"])}</a>', str(p["version"]),
             escape(p["title"]), _windows_text(windows_of(p["body"])), escape(p["loaded_by"])] for p in packs]
    dnc_write = (
        '<form id="dnc-add" class="inline"><label>Number <input name="phone" required></label> '
        '<label>Campaign (blank: global) <input name="campaign_id" size="6"></label> '
        '<label>Note <input name="note"></label> <button>Add to do-not-call</button></form>'
        '<form id="dnc-import" class="inline"><label>DNC file <input type="file" name="file" required></label> '
        '<button>Import</button></form>') if can_dnc else ""
    body = (
        f'<h2>Policy packs</h2>{table(["Pack", "Version", "Title", "Calling windows", "Published by"], rows, "packs")}'
        f'<h2>Do-not-call</h2><form id="dnc-search" class="inline"><label>Number <input name="phone" required>'
        f'</label> <button>Search</button></form>{dnc_write}<div id="dnc-result"></div>'
        f'<h2>Explain a dial decision</h2><form id="explain" class="inline"><label>Number <input name="phone" '
        f'required></label> <label>Campaign <input name="campaign_id" size="6"></label> <label>At (ISO, with '
        f'offset) <input name="at" placeholder="2026-03-03T20:59:00+08:00"></label> <button>Explain</button></form>'
        f'<pre id="explain-result"></pre><h2>Audit log</h2><div id="audit"></div>')
    return _page(request, "Compliance", body, script=f"bankcc.compliance({json.dumps(can_write)});")


@requires("policies.read")
async def pack_page(request: web.Request) -> web.Response:
    """One policy pack: its versions and windows; compliance publishes a changed version here."""
    from common.pages import _ctx, _page
    from dialer.policies_api import windows_of

    name = request.match_info["name"]
    rows = await _ctx(request).pool_of().fetch(
        "SELECT version, title, body, loaded_by, loaded_at FROM policy_packs WHERE name = $1 ORDER BY version DESC",
        name)
    if not rows:
        raise web.HTTPNotFound()
    latest = rows[0]
    versions = table(["Version", "Published", "By", "Calling windows"], [
        [str(r["version"]), f'{r["loaded_at"]:%Y-%m-%d %H:%M}', escape(r["loaded_by"]),
         _windows_text(windows_of(r["body"]))] for r in rows], "versions")
    editor = ""
    if role_allows(request[USER].role, "policies.write"):
        editor = (f'<h2>Publish a change</h2><p class="hint">Edit the windows (or any rule) and publish: it becomes '
                  f'version {latest["version"] + 1}; decisions made under earlier versions keep naming them.</p>'
                  f'<textarea id="pack-text" rows="30" spellcheck="false">'
                  f'{escape(next_version(latest["body"], latest["version"]))}</textarea>'
                  f'<p><button id="publish">Publish version {latest["version"] + 1}</button></p>'
                  f'<div id="pack-result"></div>')
    body = (f'<p class="meta">{escape(latest["title"])} · newest version <b id="pack-version">{latest["version"]}</b>'
            f'</p><h2>Who the newest windows block now</h2><p class="hint">Contacts still to call in live campaigns '
            f'under this pack whose calling window is closed right now, next to the version before.</p>'
            f'<div id="impact">…</div><h2>Versions</h2>{versions}{editor}')
    return _page(request, f"Policy pack {name}", body, script=f"bankcc.packEditor({json.dumps(name)});")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/compliance", compliance_page)
    app.router.add_get("/compliance/packs/{name}", pack_page)
