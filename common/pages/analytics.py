"""IVR service analytics: the figures bank contact centres report on, per flow version.

    GET /analytics?days=7&flow=hotline          the page
    GET /api/v1/analytics/ivr?days=7&flow=…     the same figures as JSON

- containment: calls that ended in the IVR without an agent (outcome completed) out of
  all calls; transferred, hung up by the caller and failed calls shown beside it;
- speech vs keys: of the `ask` steps that found an intent, how many by speech;
- intent mix by day: the intents `ask` nodes captured ("why customers call");
- drop-off: the node callers hung up at;
- transfer reasons: `transfer` nodes' reasons;
- queue wait and agent answer rate for transferred calls, from AMI queue events
  (ivr/queue_events.py: joined, answered by an agent, or abandoned, with the wait).
Every figure is split by flow version, so a change's effect is visible.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from html import escape
from typing import Any

from aiohttp import web

from common.http_auth import USER, requires
from common.pages.layout import page, table

MAX_DAYS = 92


def _window(request: web.Request) -> tuple[int, str | None]:
    try:
        days = int(request.query.get("days", "7"))
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": {"code": "invalid_parameter", "message": "days must be a number",'
                                      ' "field": "days"}}', content_type="application/json") from None
    flow = request.query.get("flow") or None
    return max(1, min(MAX_DAYS, days)), flow


async def ivr_figures(pool, days: int, flow: str | None) -> dict[str, Any]:
    since = datetime.now(timezone.utc) - timedelta(days=days)
    async with pool.acquire() as conn:
        outcomes = await conn.fetch(
            "SELECT flow_name, flow_version, coalesce(outcome, 'in_progress') AS outcome, count(*) AS n FROM calls"
            " WHERE started_at >= $1 AND ($2::text IS NULL OR flow_name = $2) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            since, flow)
        asks = await conn.fetch(
            "SELECT c.flow_name, c.flow_version, s.result AS intent,"
            " CASE WHEN s.detail->'tries'->-1->>'heard' = 'key' THEN 'dtmf' ELSE 'speech' END AS source,"
            " date_trunc('day', c.started_at) AS day, count(*) AS n"
            " FROM call_steps s JOIN calls c ON c.id = s.call_id WHERE s.node_type = 'ask' AND c.started_at >= $1"
            " AND ($2::text IS NULL OR c.flow_name = $2) AND s.result NOT IN ('failure', 'error', 'caller_hangup')"
            " GROUP BY 1, 2, 3, 4, 5", since, flow)
        dropoff = await conn.fetch(
            "SELECT flow_name, flow_version, last_node, count(*) AS n FROM calls WHERE started_at >= $1"
            " AND outcome = 'caller_hangup' AND ($2::text IS NULL OR flow_name = $2) GROUP BY 1, 2, 3"
            " ORDER BY n DESC LIMIT 100", since, flow)
        transfers = await conn.fetch(
            "SELECT c.flow_name, c.flow_version, s.detail->>'reason' AS reason, count(*) AS n"
            " FROM call_steps s JOIN calls c ON c.id = s.call_id WHERE s.node_type = 'transfer'"
            " AND c.started_at >= $1 AND ($2::text IS NULL OR c.flow_name = $2) GROUP BY 1, 2, 3 ORDER BY n DESC",
            since, flow)
        queues = await conn.fetch(
            "SELECT c.flow_name, c.flow_version, count(q.*) AS joined,"
            " count(*) FILTER (WHERE q.answered_at IS NOT NULL) AS answered,"
            " count(*) FILTER (WHERE q.abandoned) AS abandoned,"
            " avg(q.wait_seconds) AS wait_avg,"
            " percentile_cont(0.9) WITHIN GROUP (ORDER BY q.wait_seconds) AS wait_p90"
            " FROM queue_waits q JOIN calls c ON c.unique_id = q.unique_id WHERE c.started_at >= $1"
            " AND ($2::text IS NULL OR c.flow_name = $2) GROUP BY 1, 2", since, flow)
    versions: dict[tuple[str, str], dict[str, Any]] = {}
    for r in outcomes:
        v = versions.setdefault((r["flow_name"], r["flow_version"]), {"flow": r["flow_name"],
                                                                      "version": r["flow_version"], "outcomes": {}})
        v["outcomes"][r["outcome"]] = r["n"]
    for v in versions.values():
        total = sum(v["outcomes"].values())
        v["calls"] = total
        v["containment"] = v["outcomes"].get("completed", 0) / total if total else None
    speech: dict[tuple[str, str], dict[str, int]] = {}
    intents_by_day: dict[str, dict[str, int]] = {}
    for r in asks:
        s = speech.setdefault((r["flow_name"], r["flow_version"]), {"speech": 0, "dtmf": 0})
        s["speech" if r["source"] == "speech" else "dtmf"] += r["n"]
        day = intents_by_day.setdefault(r["day"].date().isoformat(), {})
        day[r["intent"]] = day.get(r["intent"], 0) + r["n"]
    for key, s in speech.items():
        if key in versions:
            versions[key]["speech_share"] = s["speech"] / (s["speech"] + s["dtmf"]) if s["speech"] + s["dtmf"] else None
    for r in queues:
        key = (r["flow_name"], r["flow_version"])
        if key in versions:
            versions[key]["queue"] = {"joined": r["joined"], "answered": r["answered"], "abandoned": r["abandoned"],
                                      "answer_rate": r["answered"] / r["joined"] if r["joined"] else None,
                                      "wait_avg_s": float(r["wait_avg"]) if r["wait_avg"] is not None else None,
                                      "wait_p90_s": float(r["wait_p90"]) if r["wait_p90"] is not None else None}
    return {"days": days, "flow": flow, "versions": list(versions.values()),
            "intents_by_day": dict(sorted(intents_by_day.items())),
            "dropoff": [dict(r) for r in dropoff], "transfer_reasons": [dict(r) for r in transfers]}


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


@requires("calls.read")
async def analytics_api(request: web.Request) -> web.Response:
    """IVR analytics as JSON: containment, speech share, intents by day, drop-off, transfers, queue waits."""
    from common.pages import _ctx

    days, flow = _window(request)
    return web.json_response(await ivr_figures(_ctx(request).pool_of(), days, flow), dumps=_dumps)


def _dumps(obj) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False, default=str)


@requires("calls.read")
async def analytics_page(request: web.Request) -> web.Response:
    """IVR service analytics."""
    from common.pages import _csrf, _ctx

    days, flow = _window(request)
    f = await ivr_figures(_ctx(request).pool_of(), days, flow)
    versions = table(["Flow", "Version", "Calls", "Containment", "Transferred", "Caller hung up", "Speech share",
                      "Queue answer rate", "Queue wait avg / p90"], [
        [escape(v["flow"]), f"<code>{escape(v['version'])}</code>", str(v["calls"]), _pct(v["containment"]),
         str(v["outcomes"].get("transferred", 0)), str(v["outcomes"].get("caller_hangup", 0)),
         _pct(v.get("speech_share")), _pct((v.get("queue") or {}).get("answer_rate")),
         _waits(v.get("queue"))] for v in f["versions"]], "versions")
    intents = sorted({i for day in f["intents_by_day"].values() for i in day})
    mix = table(["Day", *intents], [[d, *(str(day.get(i, 0)) for i in intents)]
                                    for d, day in f["intents_by_day"].items()], "intents") if intents else \
        "<p>No intents captured by <code>ask</code> nodes in this period.</p>"
    drop = table(["Flow", "Version", "Node", "Callers who hung up there"], [
        [escape(r["flow_name"]), f"<code>{escape(r['flow_version'])}</code>", escape(r["last_node"] or "–"),
         str(r["n"])] for r in f["dropoff"]], "dropoff")
    reasons = table(["Flow", "Version", "Reason", "Transfers"], [
        [escape(r["flow_name"]), f"<code>{escape(r['flow_version'])}</code>", escape(r["reason"] or "–"), str(r["n"])]
        for r in f["transfer_reasons"]], "transfers")
    form = (f'<form method="get" class="filters"><label>Days <input name="days" type="number" min="1" max="{MAX_DAYS}"'
            f' value="{days}"></label> <label>Flow <input name="flow" value="{escape(flow or "")}"></label> '
            f'<button>Show</button></form>')
    body = (f"{form}<h2>By flow version</h2>{versions}<h2>Why customers call (intents by day)</h2>{mix}"
            f"<h2>Drop-off: where callers hang up</h2>{drop}<h2>Transfer reasons</h2>{reasons}")
    return page("IVR analytics", body, user=request[USER], csrf=_csrf(request))


def _waits(queue) -> str:
    if not queue or queue.get("wait_avg_s") is None:
        return "–"
    return f"{queue['wait_avg_s']:.1f} s / {queue['wait_p90_s']:.1f} s"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/analytics", analytics_page)


def add_api_routes(api: web.Application) -> None:
    api.router.add_get("/analytics/ivr", analytics_api)
