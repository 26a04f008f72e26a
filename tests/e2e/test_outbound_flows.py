"""Outbound IVR flows end to end: an answered campaign call runs the campaign's flow with the
contact's data, and what the customer keyed is recorded on the call, linked to the attempt.

Real service, Asterisk and PostgreSQL; customers are the simulator's sipp carrier, here
people who answer "Hello?" and then keep pressing one key (dialer/simulator, kind `keys`).
The collection reminder says the amount due from the uploaded list and registers a
promise to pay with the bank back-end stub the service runs (examples/bank_backend.py).
"""
from __future__ import annotations

import asyncio
import json
import os
from datetime import date, timedelta

import aiohttp
import asyncpg
import pytest

from common.config import PROJECT_ROOT
from dialer.simulator.plan import demo_numbers, parse_config, presses_key
from dialer.simulator.run import TRUNK, Simulator
from tests.e2e.conftest import start_service, stop_service
from tests.e2e.test_campaign_dialing import SIMULATOR, api, connect_ami, dialer_env, run_until_finished

pytestmark = pytest.mark.e2e


async def test_collection_reminder_records_promises_to_pay(asterisk_available, own_database_url, tmp_path):
    env = dialer_env(f"e2e-outflow-{os.getpid()}")
    service = await asyncio.to_thread(start_service, env, tmp_path / "service.log", own_database_url,
                                      PROJECT_ROOT / "flows", lambda h: h.get("status") == "ok")
    ami = simulator = db = None
    try:
        ami = await connect_ami(env)
        config = parse_config({**SIMULATOR, "agents": {**SIMULATOR["agents"], "count": 2}})
        three_days, seven_days = demo_numbers(2, seed=31)
        simulator = Simulator(config, tmp_path / "simulator", sip_port=service.sip_port, ami=ami)
        await simulator.start([three_days, seven_days], overrides={three_days: presses_key(three_days, "1"),
                                                                  seven_days: presses_key(seven_days, "2")})
        csv = tmp_path / "contacts.csv"
        csv.write_text("phone,name,account_ref,due_amount,due_date\n"
                       f"{three_days},陈杰,C1004,560.75,2026-12-05\n{seven_days},李娜,C1002,846.00,2026-12-25\n",
                       encoding="utf-8")
        payload = {"kind": "collection", "name": "e2e reminder", "caller_id": "95588", "trunk": TRUNK,
                   "dial_mode": "progressive", "agent_queue": "outbound", "flow": "outbound_collection",
                   "retry_rules": {d: {"delay_seconds": 60, "max_tries": 1}
                                   for d in ("busy", "no_answer", "machine", "failed", "dropped")},
                   "schedule": {"windows": {"mon-sun": "00:00-24:00"}}}
        async with aiohttp.ClientSession() as session:
            campaign = await api(session, "POST", f"{service.http}/api/v1/campaigns", json=payload)
            form = aiohttp.FormData()
            form.add_field("file", csv.read_bytes(), filename=csv.name, content_type="text/csv")
            upload = await api(session, "POST", f"{service.http}/api/v1/campaigns/{campaign['id']}/lists", data=form)
            assert upload["rows"]["accepted"] == 2, upload
            await api(session, "POST", f"{service.http}/api/v1/campaigns/{campaign['id']}/actions/start")
        db = await asyncpg.connect(own_database_url)
        await run_until_finished(db, campaign["id"], timeout_s=150)
        attempts = {r["phone"]: r for r in await db.fetch("SELECT * FROM attempts WHERE campaign_id = $1",
                                                           campaign["id"])}
        calls = {r["attempt_id"]: r for r in await db.fetch(
            "SELECT c.* FROM calls c JOIN attempts a ON a.id = c.attempt_id WHERE a.campaign_id = $1", campaign["id"])}
        steps = await db.fetch("SELECT s.call_id, s.node, s.result FROM call_steps s JOIN calls c ON c.id = s.call_id"
                               " JOIN attempts a ON a.id = c.attempt_id WHERE a.campaign_id = $1 ORDER BY s.call_id,"
                               " s.seq", campaign["id"])
    finally:
        if db is not None:
            await db.close()
        if simulator is not None:
            await simulator.stop()
        if ami is not None:
            ami.close()
        await asyncio.to_thread(stop_service, service)

    today = date.today()
    for phone, days, amount in ((three_days, 3, "560.75"), (seven_days, 7, "846.00")):
        attempt = attempts[phone]
        assert attempt["disposition"] == "answered_human" and attempt["amd_status"] == "HUMAN", dict(attempt)
        assert json.loads(attempt["decision"])["route"]["human"] == "flow"
        call = calls[attempt["id"]]
        assert call["flow_name"] == "outbound_collection", dict(call)
        walked = [s["node"] for s in steps if s["call_id"] == call["id"]]
        assert walked[:5] == ["prepare", "intro", "say_amount", "say_due_date", "promise_menu"], walked
        results = json.loads(call["results"])
        assert results["collection"] == "promised" and results["promise_to_pay"] is True, (results, walked)
        assert results["promise_amount"] == amount  # from the uploaded list, exact
        promised = date.fromisoformat(results["promise_date"])
        assert promised - today in (timedelta(days=days), timedelta(days=days + 1)), results  # the stub's clock
        assert results["promise_id"].startswith("PTP")
