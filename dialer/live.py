"""Live campaign figures over HTTP: a JSON snapshot and a Server-Sent Events stream (mounted under /api/v1).

    GET /campaigns/{id}/stats     the figures now (dialer/stats.py)
    GET /campaigns/{id}/live      text/event-stream: an `stats` event whenever the figures change

The dashboard page listens to the stream (EventSource reconnects by itself), so
browsers never poll; the server looks at the database once a second per open
stream and sends only changes, plus a comment line every 15 s so proxies keep
the connection open. A stream ends after an hour; the browser reconnects.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Callable

import asyncpg
from aiohttp import web

from common.http_auth import error, requires
from dialer.stats import campaign_figures

KEEPALIVE_S = 15.0
MAX_STREAM_S = 3600.0


@dataclass
class LiveContext:
    pool_of: Callable[[], asyncpg.Pool]
    agents_of: Callable[[str], tuple[int, int]] = lambda queue: (0, 0)  # (logged in, waiting) from AMI
    interval_s: float = 1.0
    _book: tuple[float, object] | None = None  # the policy packs, re-read every minute (for the budget)

    async def book(self):
        from dialer.compliance.store import PolicyBook

        if self._book is None or time.monotonic() - self._book[0] > 60:
            self._book = (time.monotonic(), await PolicyBook.load(self.pool_of()))
        return self._book[1]


LIVE = web.AppKey("live_context", LiveContext)


def _campaign_id(request: web.Request) -> int | None:
    try:
        value = int(request.match_info["campaign_id"])
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


def _not_found(campaign_id) -> web.Response:
    return error(404, "not_found", f"no campaign {campaign_id}", "campaign_id")


async def _figures(ctx: LiveContext, campaign_id: int) -> dict:
    pool = ctx.pool_of()
    queue = await pool.fetchval("SELECT agent_queue FROM campaigns WHERE id = $1", campaign_id)
    if queue is None:
        raise LookupError(campaign_id)
    return await campaign_figures(pool, campaign_id, agents=ctx.agents_of(queue), book=await ctx.book())


@requires("stats.read")
async def campaign_stats(request: web.Request) -> web.Response:
    """A campaign's live figures: calls dialing, waiting and talking, agents, rates, occupancy, timeline."""
    campaign_id = _campaign_id(request)
    if campaign_id is None:
        return _not_found(request.match_info["campaign_id"])
    try:
        figures = await _figures(request.app[LIVE], campaign_id)
    except LookupError:
        return _not_found(campaign_id)
    return web.json_response(figures)


@requires("stats.read")
async def campaign_live(request: web.Request) -> web.StreamResponse:
    """The same figures as a Server-Sent Events stream: a `stats` event each time they change."""
    ctx = request.app[LIVE]
    campaign_id = _campaign_id(request)
    if campaign_id is None:
        return _not_found(request.match_info["campaign_id"])
    try:
        figures = await _figures(ctx, campaign_id)
    except LookupError:
        return _not_found(campaign_id)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    started = last_write = time.monotonic()
    last = None
    try:
        while time.monotonic() - started < MAX_STREAM_S:
            comparable = {k: v for k, v in figures.items() if k != "at"}
            if comparable != last:
                await response.write(f"event: stats\ndata: {json.dumps(figures, ensure_ascii=False)}\n\n".encode())
                last, last_write = comparable, time.monotonic()
            elif time.monotonic() - last_write >= KEEPALIVE_S:
                await response.write(b": keep-alive\n\n")
                last_write = time.monotonic()
            await asyncio.sleep(ctx.interval_s)
            try:
                figures = await _figures(ctx, campaign_id)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                continue  # the database blinked: keep the stream, send when it is back
    except ConnectionResetError:
        pass  # the browser went away
    return response


def add_routes(api: web.Application, context: LiveContext) -> None:
    api[LIVE] = context
    api.router.add_get("/campaigns/{campaign_id}/stats", campaign_stats)
    api.router.add_get("/campaigns/{campaign_id}/live", campaign_live)
