"""Reconciliation on a real PostgreSQL: open attempts checked against what Asterisk reports.

Asterisk's side is a stand-in answering CoreShowChannels and Status the way Asterisk 22
does (tests/e2e/test_campaign_dialing.py does the same against a real one after a crash).
"""
from __future__ import annotations

import asyncio
import json

from dialer import attempts, hopper
from dialer.facts import CallFacts
from dialer.originate import Originator
from dialer.reconcile import Reconciler
from tests.db.test_hopper import begin, make_campaign, scoped


class AsteriskView:
    def __init__(self, channels: list[dict]):
        self.channels = channels
        self.forgetable_actions = ("ping",)
        self.handlers = {}

    def register_event(self, name, callback):
        self.handlers.setdefault(name, []).append(callback)

    async def send_action(self, action, as_list=None):
        if action["Action"] == "CoreShowChannels":
            return [{"Response": "Success", "EventList": "start"},
                    *({"Event": "CoreShowChannel", **c} for c in self.channels),
                    {"Event": "CoreShowChannelsComplete", "EventList": "Complete"}]
        if action["Action"] == "Status":
            channel = next(c for c in self.channels if c["Channel"] == action["Channel"])
            return [{"Response": "Success"}, {"Event": "Status", "Channel": channel["Channel"],
                                              "Variable": channel.get("vars", [])},
                    {"Event": "StatusComplete"}]
        raise AssertionError(action)


async def test_open_attempts_are_followed_if_up_and_closed_if_gone(pool):
    campaign_id = await make_campaign(pool, 4)
    d = scoped(campaign_id)
    leads = await hopper.claim(pool, campaign_id, d("me"), 4, lease_s=60)
    up, gone, answered_gone, theirs = [await begin(pool, lead, d("me")) for lead in leads]
    await pool.execute("UPDATE attempts SET dialer_id = $2 WHERE id = $1", theirs.id, d("dead"))
    # what was recorded before the crash
    await attempts.progress(pool, answered_gone.id, CallFacts(
        answered_gone.unique_id, answered_gone.action_id, originated_at=1.0, answer_at=2.0, agent_at=4.0,
        agent="agent2", amd_status="HUMAN", channel="PJSIP/bankcc-sim-3", channel_created=True))
    await attempts.heartbeat(pool, d("me"), starting=True)
    await attempts.heartbeat(pool, d("dead"), starting=True)
    await pool.execute("UPDATE dialer_nodes SET heartbeat_at = now() - interval '5 minutes' WHERE id = $1", d("dead"))

    ami = AsteriskView([
        {"Channel": "PJSIP/bankcc-sim-1", "Uniqueid": up.unique_id, "ChannelState": "6", "Application": "Queue",
         "BridgeId": "", "vars": ["AMDSTATUS=HUMAN", "AMDCAUSE=HUMAN-800-800"]},
        {"Channel": "PJSIP/bankcc-sim-4", "Uniqueid": theirs.unique_id, "ChannelState": "5",
         "Application": "AppDial"},
        {"Channel": "PJSIP/agent1-7", "Uniqueid": "1795.7", "ChannelState": "6"},  # not an attempt's
    ])
    finished = []

    async def save(attempt_id, facts):
        await attempts.progress(pool, attempt_id, facts)

    async def finish(attempt_id, facts):
        finished.append(attempt_id)

    originator = Originator(ami, save=save, finish=finish)
    originator.install()
    report = await Reconciler(pool, ami, originator, d("me"), stale_after_s=30).run(everything=True)
    ours = {up.id, gone.id, answered_gone.id, theirs.id}
    assert set(report.still_up) & ours == {up.id, theirs.id}
    assert set(report.closed) & ours == {gone.id, answered_gone.id}
    assert set(report.taken_over) & ours == {theirs.id}

    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM attempts WHERE id = ANY($1)", list(ours))}
    # still up: followed by this process from now on, nothing closed, facts completed
    assert set(originator.by_unique_id) >= {up.unique_id, theirs.unique_id}
    assert rows[up.id]["state"] == "answered" and rows[up.id]["amd_status"] == "HUMAN"
    assert rows[theirs.id]["dialer_id"] == d("me") and rows[theirs.id]["state"] == "originating"
    # gone without a trace: unknown, retried by the `failed` rule, never at once
    g = rows[gone.id]
    assert (g["state"], g["disposition"], g["hangup_by"], g["closed_by"], g["next_status"]) == (
        "ended", "unknown", "unknown", "reconcile", "failed")  # the test campaign's failed rule: 1 try
    # gone after reaching an agent: what was known is kept
    a = rows[answered_gone.id]
    assert (a["disposition"], a["agent"], a["end_at"], a["next_status"]) == ("answered_human", "agent2", None, "done")
    assert "end was not seen" in a["disposition_reason"]
    contacts = {r["id"]: r["status"] for r in await pool.fetch("SELECT id, status FROM contacts WHERE campaign_id = $1",
                                                               campaign_id)}
    assert contacts == {up.contact_id: "dialing", theirs.contact_id: "dialing", gone.contact_id: "failed",
                        answered_gone.contact_id: "done"}

    # Once followed and heard from, a second pass leaves them alone; the Hangup closes them.
    assert not await Reconciler(pool, ami, originator, d("me"), stale_after_s=30).run()
    for callback in ami.handlers["Hangup"]:
        callback(ami, {"Event": "Hangup", "Uniqueid": up.unique_id, "Cause": "16"})
    await asyncio.sleep(0.8)
    assert finished == [up.id]
    facts = json.loads((await pool.fetchrow("SELECT facts FROM attempts WHERE id = $1", up.id))["facts"])
    assert any("reconciliation" in note for note in facts["notes"])


async def test_an_attempt_about_to_be_placed_is_left_alone(pool):
    campaign_id = await make_campaign(pool, 1)
    d = scoped(campaign_id)
    [lead] = await hopper.claim(pool, campaign_id, d("me"), 1, lease_s=60)
    attempt = await begin(pool, lead, d("me"))
    ami = AsteriskView([])

    async def nothing(*_):
        pass

    originator = Originator(ami, save=nothing, finish=nothing)
    originator.pending.add(attempt.id)  # written, Originate not sent yet
    report = await Reconciler(pool, ami, originator, d("me"), stale_after_s=30).run(everything=True)
    assert attempt.id not in report.closed
    assert await pool.fetchval("SELECT state FROM attempts WHERE id = $1", attempt.id) == "originating"
