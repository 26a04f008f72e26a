"""Outbound campaigns end to end: the service's dialer against simulated customers and agents.

Real everything: the service (`bankcc run` as a subprocess) with its managed Asterisk
and PostgreSQL, the campaign created and its list uploaded over the HTTP API, the
customers a sipp "carrier" and the agents sipp phones registered as PJSIP endpoints
and logged into the queue over AMI (dialer/simulator). What the dialer did is then
read back from the database and compared with what the simulator's plan says each
customer did.

Retries: campaigns allow 60 s as the shortest retry delay. Rather than wait, the test
moves due times to now once a retry has been scheduled ("time passes"); the attempt
rows keep the time the rules gave, which is what is checked.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from common.config import PROJECT_ROOT
from dialer.ami import AmiClient
from dialer.simulator.plan import behaviour, demo_numbers, parse_config
from dialer.simulator.run import TRUNK, Simulator
from tests.e2e.conftest import ADMIN_HEADERS, service_ports, start_service, stop_service

pytestmark = pytest.mark.e2e

AGENTS = 3
MAX_TRIES = 2
RETRY_DELAY_S = 60
RING_TIMEOUT_S = 3
SIMULATOR = {
    "seed": 4,
    "customers": {"answer": 0.6, "machine": 0.25, "busy": 0.12, "invalid": 0.04, "ring_seconds": [0.2, 1.0],
                  "talk_seconds": [0.8, 2.0], "hangs_up_first": 0.5},
    "agents": {"count": AGENTS, "queue": "outbound", "answer_seconds": [0.2, 0.5], "wrapup_seconds": [0.3, 0.8]},
}


def dialer_env(instance: str, **extra: str) -> dict[str, str]:
    return {**service_ports(instance), "BANKCC_AMI_SECRET": "e2e-dialer-secret",
            "BANKCC_DIALER_RING_TIMEOUT_S": str(RING_TIMEOUT_S), "BANKCC_DIALER_QUEUE_TIMEOUT_S": "20",
            "BANKCC_DIALER_TICK_S": "0.2", "BANKCC_DIALER_ID": f"{instance}-dialer",
            # Dial at any hour with 3 s rings: the compliance gate's test-rig pack (tests/e2e/packs/)
            "BANKCC_COMPLIANCE_PACKS_DIR": str(PROJECT_ROOT / "tests" / "e2e" / "packs"),
            "BANKCC_COMPLIANCE_DEFAULT_PACK": "e2e-anytime", **extra}


async def connect_ami(env: dict[str, str]) -> AmiClient:
    ami = AmiClient("127.0.0.1", int(env["BANKCC_AMI_PORT"]), "bankcc", env["BANKCC_AMI_SECRET"])
    ami.connect()
    for _ in range(100):
        if ami.authenticated:
            return ami
        await asyncio.sleep(0.1)
    raise AssertionError(f"simulator could not log in to AMI: {ami.status()}")


async def api(session: aiohttp.ClientSession, method: str, url: str, **kw) -> dict:
    async with session.request(method, url, headers=ADMIN_HEADERS, **kw) as response:
        body = await response.json()
        assert response.status in (200, 201), body
        return body


async def create_campaign(http: str, numbers: list[str], tmp_path: Path, **overrides) -> int:
    payload = {"kind": "collection", "name": "e2e progressive", "caller_id": "95588", "trunk": TRUNK,
               "dial_mode": "progressive", "agent_queue": "outbound", "flow": "collection_outbound",
               "retry_rules": {d: {"delay_seconds": RETRY_DELAY_S, "max_tries": MAX_TRIES}
                               for d in ("busy", "no_answer", "machine", "failed", "dropped")},
               "schedule": {"windows": {"mon-sun": "00:00-24:00"}}, **overrides}
    csv = tmp_path / "contacts.csv"
    csv.write_text("phone,name\n" + "".join(f"{n},Customer {i}\n" for i, n in enumerate(numbers)), encoding="utf-8")
    async with aiohttp.ClientSession() as session:
        campaign = await api(session, "POST", f"{http}/api/v1/campaigns", json=payload)
        form = aiohttp.FormData()
        form.add_field("file", csv.read_bytes(), filename=csv.name, content_type="text/csv")
        upload = await api(session, "POST", f"{http}/api/v1/campaigns/{campaign['id']}/lists", data=form)
        assert upload["rows"]["accepted"] == len(numbers), upload
        await api(session, "POST", f"{http}/api/v1/campaigns/{campaign['id']}/actions/start")
    return campaign["id"]


async def run_until_finished(db: asyncpg.Connection, campaign_id: int, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        # "time passes": scheduled retries become due now (their attempts keep the rule's time)
        await db.execute("UPDATE contacts SET next_attempt_at = now() WHERE campaign_id = $1 AND status = 'retry'"
                         " AND next_attempt_at > now()", campaign_id)
        if await db.fetchval("SELECT state FROM campaigns WHERE id = $1", campaign_id) == "finished":
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    counts = await db.fetch("SELECT status, count(*) FROM contacts WHERE campaign_id = $1 GROUP BY 1", campaign_id)
    raise AssertionError(f"campaign not finished after {timeout_s:.0f} s: {[tuple(r) for r in counts]}")


async def test_progressive_campaign_reaches_every_customer_as_the_rules_say(asterisk_available, own_database_url,
                                                                           tmp_path):
    env = dialer_env(f"e2e-dial-{os.getpid()}")
    service = await asyncio.to_thread(start_service, env, tmp_path / "service.log", own_database_url,
                                      PROJECT_ROOT / "flows", lambda h: h.get("status") == "ok")
    ami = simulator = db = None
    try:
        ami = await connect_ami(env)
        config = parse_config(SIMULATOR)
        numbers = demo_numbers(50, seed=config.seed)
        # A second, small campaign on the same agents leaves a message on answering machines.
        machines = [n for n in demo_numbers(300, seed=99) if behaviour(n, config).kind == "machine"
                    and n not in numbers][:2]
        simulator = Simulator(config, tmp_path / "simulator", sip_port=service.sip_port, ami=ami)
        await simulator.start(numbers + machines)
        kinds = Counter(simulator.expected(n).kind for n in numbers)
        assert set(kinds) == {"human", "machine", "busy", "invalid", "no_answer"}, kinds  # every path is exercised
        db = await asyncpg.connect(own_database_url)
        campaign_id = await create_campaign(service.http, numbers, tmp_path)
        message_id = await create_campaign(service.http, machines, tmp_path, name="e2e messages",
                                           machine_policy="message", machine_target="goodbye")
        elapsed = await run_until_finished(db, campaign_id, timeout_s=150)
        await run_until_finished(db, message_id, timeout_s=30)
        print(f"\ncampaign of {len(numbers)} contacts ({dict(kinds)}) finished in {elapsed:.0f} s")
        attempts = await db.fetch("SELECT * FROM attempts WHERE campaign_id = $1 ORDER BY id", campaign_id)
        messages = await db.fetch("SELECT * FROM attempts WHERE campaign_id = $1 ORDER BY id", message_id)
        contacts = {r["phone"]: r for r in await db.fetch("SELECT * FROM contacts WHERE campaign_id = $1",
                                                          campaign_id)}
    finally:
        if db is not None:
            await db.close()
        if simulator is not None:
            await simulator.stop()
        if ami is not None:
            ami.close()
        await asyncio.to_thread(stop_service, service)

    by_phone: dict[str, list] = defaultdict(list)
    for a in attempts:
        by_phone[a["phone"]].append(a)
    assert set(by_phone) == set(numbers)  # everyone was called

    for phone, tries in by_phone.items():
        plan = simulator.expected(phone)
        contact = contacts[phone]
        where = f"{phone} ({plan.kind}, {plan.hangup_by} ends): {[dict(t) for t in tries]}"
        # attempt numbers 1..n, each closed before the next began: never dialled twice at once
        assert [t["attempt_no"] for t in tries] == list(range(1, len(tries) + 1)), where
        assert contact["attempts"] == len(tries) <= MAX_TRIES, where
        for earlier, later in zip(tries, tries[1:]):
            assert earlier["end_at"] is not None and later["created_at"] >= earlier["end_at"], where
        for t in tries:
            assert t["state"] == "ended" and t["closed_by"] == "events", where
            assert t["disposition"] == plan.expected_disposition, where
            decision = json.loads(t["decision"])
            assert decision["pacing"]["mode"] == "progressive" and decision["compliance"]["verdict"] == "allow"
            assert decision["compliance"]["policy"] == "e2e-anytime@1" and decision["compliance"]["rules"]
            assert t["originate_at"] is not None and t["ring_seconds"] is not None
        last = tries[-1]
        # the contact's final state, as the retry rules say
        if plan.kind == "human":
            assert len(tries) == 1 and contact["status"] == "done", where
            assert last["amd_status"] == "HUMAN" and last["agent"] in {f"agent{i}" for i in range(1, AGENTS + 1)}
            assert last["hangup_by"] == plan.hangup_by, where
            assert last["talk_seconds"] > 0 and last["hold_seconds"] is not None and last["answer_at"] is not None
        elif plan.kind == "invalid":  # a number not in service is not retried
            assert len(tries) == 1 and contact["status"] == "failed" and last["hangup_cause"] == 1, where
        else:  # busy, no answer, machine: retried once after RETRY_DELAY_S, then given up
            assert len(tries) == MAX_TRIES and contact["status"] == "failed", where
            assert [t["next_status"] for t in tries] == ["retry", "failed"], where
            retry_in = tries[0]["next_attempt_at"] - tries[0]["end_at"]
            assert timedelta(seconds=RETRY_DELAY_S) <= retry_in < timedelta(seconds=RETRY_DELAY_S + 5), where
            for t in tries:
                if plan.kind == "machine":  # detected, and hung up on by the dialplan
                    assert t["amd_status"] == "MACHINE" and t["amd_cause"] and t["hangup_by"] == "system", where
                    assert t["agent"] is None, where
                elif plan.kind == "busy":
                    assert t["hangup_cause"] == 17 and t["answer_at"] is None, where
                else:
                    assert t["hangup_cause"] == 19 and t["ring_seconds"] >= RING_TIMEOUT_S - 0.5, where

    # machine policy "message": the machine heard the goodbye prompt before the dialplan hung up
    hung_up_at_once = max(a["talk_seconds"] for a in attempts if a["disposition"] == "machine")
    assert len(messages) == 2 * len(machines), [dict(m) for m in messages]
    for m in messages:
        assert (m["disposition"], m["amd_status"], m["hangup_by"]) == ("machine", "MACHINE", "system"), dict(m)
        assert m["talk_seconds"] > hung_up_at_once + 2, (dict(m), hung_up_at_once)
        assert json.loads(m["decision"])["route"]["machine"] == "message"

    # one channel per attempt, and never more unattended calls in flight than free agents
    # (both campaigns share the agents of queue outbound, so they are paced together)
    everything = list(attempts) + list(messages)
    assert len({a["unique_id"] for a in everything}) == len(everything)
    events = sorted([(a["created_at"], 1) for a in everything]
                    + [(a["agent_at"] or a["end_at"], -1) for a in everything], key=lambda e: (e[0], e[1]))
    flying = peak = 0
    for _, step in events:
        flying += step
        peak = max(peak, flying)
    assert peak <= AGENTS, peak
    assert "Traceback" not in service.log_text()


async def test_a_restarted_dialer_picks_up_calls_in_progress_and_never_redials(asterisk_available,
                                                                              own_database_url, tmp_path):
    """The dialer is killed (SIGKILL) with calls up. Asterisk (run by the test here, so
    it survives) keeps the calls; the restarted dialer finds them by their unique ids,
    follows them to their end, and closes every attempt. Nobody is called twice."""
    from common.asterisk import AsteriskInstance, find_install
    from common.config import Settings

    env = dialer_env(f"e2e-redial-{os.getpid()}", ASTERISK_MODE="external")
    settings = Settings.from_env({**os.environ, **env})
    asterisk = AsteriskInstance(find_install(settings), settings)
    await asyncio.to_thread(asterisk.start)
    ami = simulator = service = None
    try:
        service = await asyncio.to_thread(start_service, env, tmp_path / "service1.log", own_database_url,
                                          PROJECT_ROOT / "flows", lambda h: h.get("status") == "ok")
        ami = await connect_ami(env)
        config = parse_config({"seed": 1, "customers": {"answer": 1.0, "machine": 0.0, "busy": 0, "invalid": 0,
                                                        "ring_seconds": [0.2, 0.4], "talk_seconds": [9, 11],
                                                        "hangs_up_first": 0.0},
                               "agents": {"count": AGENTS, "answer_seconds": [0.2, 0.3],
                                          "wrapup_seconds": [0, 0]}})
        numbers = demo_numbers(AGENTS, seed=2)
        simulator = Simulator(config, tmp_path / "simulator", sip_port=service.sip_port, ami=ami)
        await simulator.start(numbers)
        db = await asyncpg.connect(own_database_url)
        try:
            campaign_id = await create_campaign(service.http, numbers, tmp_path)
            deadline = time.monotonic() + 30
            while await db.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1 AND state = 'connected'",
                                    campaign_id) < AGENTS:
                assert time.monotonic() < deadline, "the calls never reached the agents"
                await asyncio.sleep(0.2)
            service.process.send_signal(signal.SIGKILL)  # no goodbye: attempts stay open
            await asyncio.to_thread(service.process.wait, 10)
            assert await db.fetchval("SELECT count(*) FROM attempts WHERE campaign_id = $1 AND state <> 'ended'",
                                     campaign_id) == AGENTS

            service = await asyncio.to_thread(start_service, env, tmp_path / "service2.log", own_database_url,
                                              PROJECT_ROOT / "flows", lambda h: h.get("status") == "ok")
            deadline = time.monotonic() + 40
            while await db.fetchval("SELECT state FROM campaigns WHERE id = $1", campaign_id) != "finished":
                assert time.monotonic() < deadline, "the restarted dialer did not finish the campaign"
                await asyncio.sleep(0.5)
            rows = await db.fetch("SELECT * FROM attempts WHERE campaign_id = $1 ORDER BY id", campaign_id)
            statuses = await db.fetch("SELECT status, attempts FROM contacts WHERE campaign_id = $1", campaign_id)
        finally:
            await db.close()
        assert len(rows) == AGENTS and all(s["attempts"] == 1 and s["status"] == "done" for s in statuses)
        for row in rows:  # followed to their real end after the restart
            assert (row["state"], row["disposition"], row["hangup_by"]) == ("ended", "answered_human", "agent"), \
                dict(row)
            assert row["end_at"] is not None and row["talk_seconds"] >= 5
        log = service.log_text()
        assert f"reconciled open attempts: {AGENTS} still up" in log, log[-3000:]
    finally:
        if simulator is not None:
            await simulator.stop()
        if ami is not None:
            ami.close()
        if service is not None:
            await asyncio.to_thread(stop_service, service)
        await asyncio.to_thread(asterisk.stop)
