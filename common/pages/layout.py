"""The page shell every operator page shares: head, navigation, the user and their CSRF token."""
from __future__ import annotations

from html import escape

from aiohttp import web

NAV = (("/", "Campaigns", "campaigns.read"), ("/flows", "Flows", "flows.read"),
       ("/compliance", "Compliance", "policies.read"), ("/analytics", "IVR analytics", "calls.read"))


def page(title: str, body: str, *, user=None, csrf: str = "", status: int = 200, script: str = "") -> web.Response:
    from common.auth import role_allows

    nav = ""
    if user is not None:
        links = "".join(f'<a href="{href}">{escape(label)}</a>' for href, label, permission in NAV
                        if role_allows(user.role, permission))
        nav = (f'<nav>{links}<span class="who">{escape(user.name)} ({escape(user.role)})'
               f'<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{escape(csrf)}">'
               f'<button>Log out</button></form></span></nav>')
    scripts = '<script src="/static/app.js"></script>' + (f'<script>{script}</script>' if script else "")
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · Star River Bank'
            f'</title><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="csrf-token" content="{escape(csrf)}"><link rel="stylesheet" href="/static/app.css"></head>'
            f'<body>{nav}<main><h1>{escape(title)}</h1>{body}</main>{scripts}</body></html>')
    return web.Response(text=html, content_type="text/html", status=status,
                        headers={"Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                                            "style-src 'self' 'unsafe-inline'; img-src 'self' data:",
                                 "X-Frame-Options": "DENY", "Cache-Control": "no-store"})


def table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Rows are HTML already escaped by the caller."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
