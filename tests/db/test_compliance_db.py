"""The compliance gate on a real PostgreSQL: packs and selections, the audit log nobody can
rewrite, DNC lists and imports, history in one query, and the dialer loop itself driven with a
simulated clock across a calling-window edge and a DST change."""
from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from dialer import attempts, campaigns
from dialer.compliance import store
from dialer.compliance.decision import decide
from dialer.compliance.model import CampaignFacts
from dialer.compliance.policy import load_pack_text, shipped_packs
from dialer.engine import CampaignRunner, DialerEngine
from dialer.facts import CallFacts
from dialer.dispositions import Verdict
from dialer.settings import DialerSettings

UTC = timezone.utc


async def make_campaign(pool, phones: list[str], *, zone: str | None = None, kind: str = "collection",
                        dial_mode: str = "progressive") -> dict:
    spec = campaigns.validate_campaign({
        "kind": kind, "name": "compliance test", "caller_id": "95588", "trunk": "PJSIP/bankcc-sim",
        "dial_mode": dial_mode, "agent_queue": f"q-{uuid.uuid4().hex[:12]}", "flow": "none",
        "schedule": {"windows": {"mon-sun": "00:00-24:00"}}})
    campaign = await campaigns.create_campaign(pool, spec, by="test")
    await pool.executemany("INSERT INTO contacts (campaign_id, phone, name, time_zone) VALUES ($1, $2, $3, $4)",
                           [(campaign["id"], p, f"c{i}", zone) for i, p in enumerate(phones)])
    return campaign


async def end_open_attempts(pool, *campaign_ids: int) -> None:
    """Other tests reconcile every open attempt of unregistered dialers: leave none behind."""
    await pool.execute("UPDATE attempts SET state = 'ended', disposition = 'unknown', closed_by = 'reconcile'"
                       " WHERE campaign_id = ANY($1::bigint[]) AND state <> 'ended'", list(campaign_ids))


def numbers(n: int, prefix: str = "+8613") -> list[str]:
    base = uuid.uuid4().int % 10**8
    return [f"{prefix}{(base + i) % 10**9:09d}" for i in range(n)]


@pytest.fixture
async def packs(pool):
    await store.sync_packs(pool, shipped_packs(), by="test")
    return await store.PolicyBook.load(pool)


async def test_packs_are_stored_once_and_a_silent_change_is_refused(pool, packs):
    assert {"cn-collection", "cn-marketing", "us-tcpa", "uk-ofcom"} <= {n for n, _ in packs.packs}
    assert await store.sync_packs(pool, shipped_packs(), by="test") == []  # nothing new
    pack = shipped_packs()["uk-ofcom"]
    changed = load_pack_text(pack.text.replace("after_abandoned_hours: 72", "after_abandoned_hours: 24"), "uk.yaml")
    with pytest.raises(store.PolicyError, match="version did not"):
        await store.sync_packs(pool, {"uk-ofcom": changed}, by="test")
    bumped = load_pack_text(changed.text.replace("version: 1", "version: 2"), "uk.yaml")
    assert await store.sync_packs(pool, {"uk-ofcom": bumped}, by="compliance-officer") == ["uk-ofcom@2"]
    book = await store.PolicyBook.load(pool)
    assert book.latest("uk-ofcom").caps.after_abandoned_hours == 24
    assert book.get("uk-ofcom", 1).caps.after_abandoned_hours == 72
    audit = await store.audit(pool, limit=50)
    assert any(a["object_id"] == "uk-ofcom@2" and a["actor"] == "compliance-officer" for a in audit)


async def test_the_audit_log_and_the_lists_cannot_be_rewritten(pool, packs):
    campaign = await make_campaign(pool, numbers(1))
    await store.select_pack(pool, campaign["id"], "cn-collection", 1, by="alice")
    await store.select_pack(pool, campaign["id"], "cn-marketing", None, by="bob")
    rows = await pool.fetch("SELECT actor, action, before, after FROM compliance_audit WHERE object = 'campaign_policy'"
                            " AND object_id = $1 ORDER BY id", str(campaign["id"]))
    assert [(r["actor"], r["action"]) for r in rows] == [("alice", "INSERT"), ("bob", "UPDATE")]
    assert json.loads(rows[1]["before"])["pack_name"] == "cn-collection"
    assert json.loads(rows[1]["after"])["pack_name"] == "cn-marketing"
    await store.add_dnc(pool, "+8613811112222", by="carol", source="manual")
    for sql in ("UPDATE compliance_audit SET actor = 'mallory'", "DELETE FROM compliance_audit",
                "TRUNCATE compliance_audit", "UPDATE dnc_entries SET phone = '+8613800000000'",
                "DELETE FROM dnc_entries", "UPDATE policy_packs SET body = ''", "DELETE FROM policy_packs"):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await pool.execute(sql)
    with pytest.raises(store.NoPolicy):
        await store.select_pack(pool, campaign["id"], "no-such-pack", None, by="bob")


async def test_dnc_entries_opt_outs_and_imports(pool, packs, tmp_path):
    campaign = await make_campaign(pool, numbers(1))
    phone = numbers(1)[0]
    assert await store.add_dnc(pool, phone, by="agent-7", source="agent") is True
    assert await store.add_dnc(pool, phone, by="agent-7", source="agent") is False  # already listed
    assert await store.add_dnc(pool, phone, scope="campaign", campaign_id=campaign["id"], by="x") is True
    found = await store.search_dnc(pool, phone)
    assert [(e["scope"], e["source"]) for e in found] == [("global", "agent"), ("campaign", "manual")]

    listed = numbers(5)
    csv_file = tmp_path / "dnc.csv"
    csv_file.write_text("phone,note\n" + "".join(f"{p[3:]},x\n" for p in listed) + "not a number\n"
                        + f"{listed[0]}\n", encoding="utf-8")
    result = await store.import_dnc(pool, csv_file, by="importer")
    assert (result.rows_read, result.rows_added, result.rows_invalid) == (7, 5, 1)
    again = await store.import_dnc(pool, csv_file, by="importer")
    assert again.rows_added == 0
    audit = await pool.fetch("SELECT action, after FROM compliance_audit WHERE object_id = $1", f"import {result.import_id}")
    assert audit and json.loads(audit[0]["after"])["rows"] == 5


async def test_an_opt_out_during_a_call_finds_the_dialled_number(pool, packs):
    phone = numbers(1)[0]
    campaign = await make_campaign(pool, [phone])
    from dialer import hopper
    [lead] = await hopper.claim(pool, campaign["id"], "d-opt", 1, lease_s=60)
    async with pool.acquire() as conn, conn.transaction():
        attempt = await attempts.start(conn, lead, owner="d-opt", dial_mode="progressive", dial_string="x",
                                       decision={})
    out = await store.opt_out_for_call(pool, unique_id=attempt.unique_id, caller="", scope="campaign", by="ivr")
    assert out == {"phone": phone, "scope": "campaign", "campaign_id": campaign["id"], "attempt_id": attempt.id,
                   "added": True}
    inbound = await store.opt_out_for_call(pool, unique_id="no-such", caller="13900001111", scope="campaign", by="ivr")
    assert inbound["phone"] == "+8613900001111" and inbound["scope"] == "global"
    await end_open_attempts(pool, campaign["id"])


async def test_history_comes_in_one_query_and_matches_the_database(pool, packs):
    phones = numbers(3)
    campaign = await make_campaign(pool, phones, zone="Asia/Shanghai")
    other = await make_campaign(pool, [phones[0]])
    from dialer import hopper
    leads = await hopper.claim(pool, campaign["id"], "d-hist", 3, lease_s=60)
    [other_lead] = await hopper.claim(pool, other["id"], "d-hist", 1, lease_s=60)
    async with pool.acquire() as conn, conn.transaction():
        a1 = await attempts.start(conn, leads[0], owner="d-hist", dial_mode="progressive", dial_string="x", decision={})
        a2 = await attempts.start(conn, other_lead, owner="d-hist", dial_mode="progressive", dial_string="x",
                                  decision={})
    t = datetime.now(UTC).timestamp() - 30
    facts = CallFacts(a1.unique_id, a1.action_id, originated_at=t, answer_at=t + 5, end_at=t + 20)
    await attempts.close(pool, a1.id, facts, Verdict("dropped", "system", "no agent"), closed_by="events")
    await store.add_dnc(pool, phones[2], by="t", source="manual")
    await pool.execute("UPDATE contacts SET custom = '{\"consent\": \"是\"}' WHERE id = $1", leads[1].contact_id)
    pack = packs.latest("cn-collection")
    now = datetime.now(UTC) + timedelta(seconds=1)
    facts_for = CampaignFacts(campaign["id"], "collection", "progressive", 30.0)
    async with pool.acquire() as conn:
        gathered = await store.gather(conn, leads, facts_for, pack, now)
    c0, h0 = gathered[leads[0].contact_id]
    assert c0.time_zone == "Asia/Shanghai"
    assert {a.campaign_id for a in h0.attempts} == {campaign["id"], other["id"]}  # the number's calls anywhere
    assert h0.lifetime_contact == (1, 0) and h0.lifetime_number == (1, 0)  # dropped = answered
    assert h0.abandonment.live_answered == 1 and h0.abandonment.abandoned == 1
    assert gathered[leads[1].contact_id][0].consent is True
    assert [e.source for e in gathered[leads[2].contact_id][1].dnc] == ["manual"]
    contact, history = gathered[leads[2].contact_id]
    assert decide(contact, facts_for, pack, history, now).verdict == "deny"
    # As of before the attempts were made, the history is empty.
    async with pool.acquire() as conn:
        earlier = await store.gather(conn, leads, facts_for, pack, now - timedelta(hours=1))
    assert earlier[leads[0].contact_id][1].attempts == () and earlier[leads[2].contact_id][1].dnc == ()
    del a2
    await end_open_attempts(pool, campaign["id"], other["id"])


# --- the dialer loop with a simulated clock --------------------------------------------------------

class FakeAmi:
    state, authenticated, protocol = "connected", True, object()

    def __init__(self):
        self.forgetable_actions = ("ping",)
        self.sent: list[dict] = []

    def register_event(self, name, callback):
        pass

    def send_action(self, action, as_list=None):
        self.sent.append(action)
        future = asyncio.get_running_loop().create_future()
        future.set_result({"Response": "Success"})
        return future


class Board:
    def available(self, queue):
        return 10

    def logged_in(self, queue):
        return 10


async def test_the_dialer_loop_respects_the_window_across_a_dst_change(pool, packs):
    """us-tcpa, callees in New York. Saturday 7 March 2026 opens at 08:00 EST (13:00 UTC);
    that night clocks go forward, so Sunday opens at 08:00 EDT (12:00 UTC)."""
    phones = numbers(3, "+1212555")
    phones = [f"+1212555{p[-4:]}" for p in phones]
    campaign = await make_campaign(pool, phones, zone="America/New_York")
    await store.select_pack(pool, campaign["id"], "us-tcpa", 1, by="test")
    clock = [datetime(2026, 3, 7, 12, 59, 0, tzinfo=UTC)]
    ami = FakeAmi()
    settings = DialerSettings(dialer_id=f"sim-{uuid.uuid4().hex[:6]}", ring_timeout_s=30, tick_s=0.05)
    engine = DialerEngine(pool, ami, settings, prompts_dir="/tmp", clock=lambda: clock[0])
    engine.policies = packs
    engine.synced = True
    engine.agents.board = Board()
    row = await pool.fetchrow("SELECT id, kind, name, caller_id, trunk, dial_mode, agent_queue, flow_name AS flow,"
                              " machine_policy, machine_target, retry_rules, schedule, state FROM campaigns"
                              " WHERE id = $1", campaign["id"])
    runner = CampaignRunner(engine, dict(row))

    async def tick_at(when: datetime) -> list[dict]:
        clock[0] = when
        before = len(ami.sent)
        await runner.tick()
        return ami.sent[before:]

    async def decisions():
        return await pool.fetch("SELECT verdict, until, decision FROM compliance_decisions WHERE campaign_id = $1"
                                " ORDER BY id", campaign["id"])

    # 07:59 EST: nobody is called; everyone is deferred to 08:00 EST.
    assert await tick_at(datetime(2026, 3, 7, 12, 59, 0, tzinfo=UTC)) == []
    first = await decisions()
    assert len(first) == 3 and {r["until"] for r in first} == {datetime(2026, 3, 7, 13, 0, tzinfo=UTC)}
    assert all(r["verdict"] == "defer" for r in first)
    assert {r["status"] for r in await pool.fetch("SELECT status FROM contacts WHERE campaign_id = $1",
                                                  campaign["id"])} == {"retry"}

    # 08:00 EST: all three are dialled, each attempt carrying the gate's decision.
    sent = await tick_at(datetime(2026, 3, 7, 13, 0, 0, tzinfo=UTC))
    assert len(sent) == 3 and all(a["Action"] == "Originate" for a in sent)
    rows = await pool.fetch("SELECT id, decision FROM attempts WHERE campaign_id = $1", campaign["id"])
    for r in rows:
        decision = json.loads(r["decision"])
        assert decision["compliance"]["verdict"] == "allow" and decision["compliance"]["policy"] == "us-tcpa@1"
        assert any(e["rule"] == "calling_window" for e in decision["compliance"]["rules"])
        assert "abandons_left" in decision["abandonment"]

    # The calls end unanswered; the contacts come back as due retries.
    for r in rows:
        a = await pool.fetchrow("SELECT unique_id, action_id FROM attempts WHERE id = $1", r["id"])
        await attempts.close(pool, r["id"], CallFacts(a["unique_id"], a["action_id"], originated_at=1.0, end_at=30.0,
                                                      hangup_cause=19), Verdict("no_answer", None, "no answer"),
                             closed_by="events", now=datetime(2026, 3, 7, 13, 1, tzinfo=UTC))
    await pool.execute("UPDATE contacts SET next_attempt_at = now() - interval '1 s' WHERE campaign_id = $1",
                       campaign["id"])
    runner.hopper.leads.clear()

    # 20:59:30 EST: too close to 21:00 to ring 35 s. Deferred to Sunday 08:00 EDT = 12:00 UTC (not 13:00).
    assert await tick_at(datetime(2026, 3, 8, 1, 59, 30, tzinfo=UTC)) == []
    late = (await decisions())[3:]
    assert len(late) == 3 and {r["until"] for r in late} == {datetime(2026, 3, 8, 12, 0, tzinfo=UTC)}
    assert "too close to its end" in json.loads(late[0]["decision"])["reasons"][0]

    # 07:59:59 EDT Sunday: still closed; 08:00:00 EDT: dialled.
    assert await tick_at(datetime(2026, 3, 8, 11, 59, 59, tzinfo=UTC)) == []
    assert len(await tick_at(datetime(2026, 3, 8, 12, 0, 0, tzinfo=UTC))) == 3
    await engine.originator.drain()
    await end_open_attempts(pool, campaign["id"])


async def test_a_number_on_the_dnc_list_is_excluded_by_the_loop(pool, packs):
    phones = numbers(2)
    campaign = await make_campaign(pool, phones, zone="Asia/Shanghai")
    await store.add_dnc(pool, phones[1], by="ivr", source="opt_out_call")
    # An entry counts from when it was added (real time): the simulated clock must be later.
    tomorrow_10_beijing = (datetime.now(UTC) + timedelta(days=1)).replace(hour=2, minute=0, second=0)
    ami = FakeAmi()
    engine = DialerEngine(pool, ami, DialerSettings(dialer_id=f"sim-{uuid.uuid4().hex[:6]}"),
                          prompts_dir="/tmp", clock=lambda: tomorrow_10_beijing)
    engine.policies, engine.synced, engine.agents.board = packs, True, Board()
    row = await pool.fetchrow("SELECT id, kind, name, caller_id, trunk, dial_mode, agent_queue, flow_name AS flow,"
                              " machine_policy, machine_target, retry_rules, schedule, state FROM campaigns"
                              " WHERE id = $1", campaign["id"])
    runner = CampaignRunner(engine, dict(row))
    await runner.tick()
    assert [a["Variable"] for a in ami.sent] and len(ami.sent) == 1
    status = {r["phone"]: r["status"] for r in await pool.fetch("SELECT phone, status FROM contacts"
                                                                 " WHERE campaign_id = $1", campaign["id"])}
    assert status == {phones[0]: "dialing", phones[1]: "excluded"}
    [refusal] = await pool.fetch("SELECT verdict, policy, decision FROM compliance_decisions WHERE campaign_id = $1",
                                 campaign["id"])
    assert refusal["verdict"] == "deny" and refusal["policy"] == "cn-collection@1"
    assert "do_not_call" in json.loads(refusal["decision"])["reasons"][0]
    await engine.originator.drain()
    await end_open_attempts(pool, campaign["id"])


# --- explain, the API and the CLI -----------------------------------------------------------------

@pytest.fixture
async def client(pool):
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from dialer.http import campaigns_app

    api = web.Application()
    campaigns_app(pool, api)
    app = web.Application()
    app.add_subapp("/api/v1", api)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_explain_answers_why_a_number_was_not_called_then(pool, packs):
    from dialer.compliance import explain

    phone = numbers(1)[0]
    campaign = await make_campaign(pool, [phone], zone="Asia/Shanghai")
    from dialer import hopper
    [lead] = await hopper.claim(pool, campaign["id"], "d-explain", 1, lease_s=60)
    pack = packs.latest("cn-collection")
    facts = CampaignFacts(campaign["id"], "collection", "progressive", 30.0)
    night = datetime.now(UTC) + timedelta(seconds=1)
    night = night.replace(hour=14, minute=30)  # 22:30 in Beijing, some day
    async with pool.acquire() as conn, conn.transaction():
        gathered = await store.gather(conn, [lead], facts, pack, night)
        contact, history = gathered[lead.contact_id]
        verdict = decide(contact, facts, pack, history, night)
        assert verdict.verdict == "defer"
        assert await store.refuse(conn, contact, verdict, owner="d-explain")
    report = await explain.explain(pool, phone[3:], campaign_id=campaign["id"], at=datetime.now(UTC) + timedelta(1),
                                   book=packs)
    [entry] = report["contacts"]
    assert entry["status"] == "retry" and entry["in_force"]["kind"] == "refusal"
    assert entry["in_force"]["verdict"] == "defer" and "calling_window" in entry["in_force"]["reasons"][0]
    assert all(rule["source"] for rule in entry["in_force"]["rules"])  # from the pack version on record
    text = explain.render(report)
    assert "refused (defer until" in text and "calling_window" in text
    # At 22:30 Beijing the gate says wait; at 10:00 it allows.
    at_night = await explain.explain(pool, phone, at=night, book=packs)
    assert at_night["contacts"][0]["gate_at"]["verdict"] == "defer"
    morning = night.replace(hour=2, minute=0)
    assert (await explain.explain(pool, phone, at=morning, book=packs))["contacts"][0]["gate_at"]["verdict"] == "allow"


async def test_http_dnc_explain_and_policy(client, pool, packs):
    phone = numbers(1)[0]
    campaign = await make_campaign(pool, [phone])
    r = await client.post("/api/v1/dnc", json={"phone": phone[3:], "source": "agent"}, headers={"X-User": "agent-3"})
    assert r.status == 201 and (await r.json())["entries"][0]["added_by"] == "agent-3"
    r = await client.post("/api/v1/dnc", json={"phone": phone})
    assert r.status == 200 and (await r.json())["added"] is False
    r = await client.post("/api/v1/dnc", json={"phone": "12"})
    assert r.status == 400 and (await r.json())["error"]["field"] == "phone"
    r = await client.post("/api/v1/dnc", json={"phone": phone, "source": "rumour"})
    assert (await r.json())["error"]["field"] == "source"
    r = await client.post("/api/v1/dnc", json={"phone": phone, "campaign_id": "x"})
    assert (await r.json())["error"]["field"] == "campaign_id"
    r = await client.get("/api/v1/dnc", params={"phone": phone})
    assert [e["source"] for e in (await r.json())["entries"]] == ["agent"]

    r = await client.get("/api/v1/compliance/explain", params={"phone": phone, "campaign_id": str(campaign["id"])})
    body = await r.json()
    assert r.status == 200 and body["contacts"][0]["gate_at"]["verdict"] == "deny"
    r = await client.get("/api/v1/compliance/explain", params={"phone": phone, "at": "2026-03-03T20:59:00"})
    assert r.status == 400 and (await r.json())["error"]["field"] == "at"

    r = await client.put(f"/api/v1/campaigns/{campaign['id']}/policy", json={"pack": "us-tcpa"})
    assert r.status == 200
    r = await client.put(f"/api/v1/campaigns/{campaign['id']}/policy", json={"pack": "nope"})
    assert r.status == 404 and (await r.json())["error"]["field"] == "pack"
    r = await client.put(f"/api/v1/campaigns/{campaign['id']}/policy", json={"pack": "us-tcpa", "version": "1"})
    assert (await r.json())["error"]["field"] == "version"
    r = await client.get("/api/v1/policies")
    assert any(s["campaign_id"] == campaign["id"] and s["pack_name"] == "us-tcpa"
               for s in (await r.json())["selections"])


async def test_cli_dnc_and_explain(pool, packs, database_url, monkeypatch, capsys, tmp_path):
    from dialer import cli

    monkeypatch.setenv("DATABASE_URL", database_url)
    phone = numbers(1)[0]
    campaign = await make_campaign(pool, [phone], zone="Asia/Shanghai")

    def run(*argv):
        return cli.main(list(argv))

    # cli.main runs its own event loop: call it from a thread.
    assert await asyncio.to_thread(run, "dnc", "add", phone[3:], "--by", "officer") == 0
    assert "added to the global list" in capsys.readouterr().out
    assert await asyncio.to_thread(run, "dnc", "search", phone) == 0
    assert "manual" in capsys.readouterr().out
    assert await asyncio.to_thread(run, "explain", phone, "--campaign", str(campaign["id"])) == 0
    out = capsys.readouterr().out
    assert "do-not-call: on the global list" in out and "DENY" in out
    assert await asyncio.to_thread(run, "policy", "select", str(campaign["id"]), "uk-ofcom@1", "--by", "officer") == 0
    assert await asyncio.to_thread(run, "policy", "audit", "--limit", "5") == 0
    assert "campaign_policy" in capsys.readouterr().out
    assert await asyncio.to_thread(run, "dnc", "add", "12345") == 2
    assert "phone:" in capsys.readouterr().err
