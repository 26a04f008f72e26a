"""Placing calls and following them: dial strings, the Originate action, the Originator's
bookkeeping (with a stand-in for the AMI connection), queue members, reconciliation verdicts."""
from __future__ import annotations

import asyncio

import pytest

from dialer.agents import QueueBoard
from dialer.attempts import Attempt, state_of
from dialer.facts import CallFacts
from dialer.originate import Originator, Route, dial_string, originate_action
from dialer.reconcile import assess, conclude

ATTEMPT = Attempt(id=7, campaign_id=3, contact_id=11, phone="+8613800000001", attempt_no=1,
                  action_id="bankcc-aa", unique_id="uid-7", dial_string="PJSIP/+8613800000001@bankcc-sim")
ROUTE = Route(campaign_id=3, caller_id="95588", queue="outbound", queue_timeout_s=30, human_route="queue",
              flow="collection_outbound", machine_policy="message", machine_target="reminder",
              machine_prompt="/srv/prompts/zh-CN/reminder")


@pytest.mark.parametrize("trunk, expected", [
    ("PJSIP/bankcc-sim", "PJSIP/+8613800000001@bankcc-sim"),
    ("PJSIP/cn-mobile", "PJSIP/+8613800000001@cn-mobile"),
    ("SIP/provider", "SIP/provider/+8613800000001"),
    ("PJSIP/trunk/sip:gw.example", "PJSIP/trunk/sip:gw.example/+8613800000001"),
    ("Local/", "Local/+8613800000001"),
])
def test_dial_string(trunk, expected):
    assert dial_string(trunk, "+8613800000001") == expected


def test_originate_action_names_the_attempt_everywhere():
    action = originate_action(ATTEMPT, ROUTE, ring_timeout_s=25)
    assert action["ActionID"] == "bankcc-aa" and action["ChannelId"] == "uid-7"
    assert action["Channel"] == ATTEMPT.dial_string and action["Async"] == "true"
    assert (action["Context"], action["Exten"], action["Priority"], action["Timeout"]) == (
        "bankcc-outbound", "s", "1", "25000")
    variables = dict(v.split("=", 1) for v in action["Variable"])
    assert variables["BANKCC_ATTEMPT_ID"] == "7" and variables["BANKCC_QUEUE"] == "outbound"
    assert variables["BANKCC_MACHINE_POLICY"] == "message"
    assert variables["BANKCC_MACHINE_PROMPT"] == "/srv/prompts/zh-CN/reminder"
    assert variables["BANKCC_HUMAN_ROUTE"] == "queue" and variables["BANKCC_PHONE"] == "+8613800000001"
    assert variables["BANKCC_SAFE_HARBOR"] == ""  # none named: the dialplan hangs up without a message
    import dataclasses

    with_message = originate_action(ATTEMPT, dataclasses.replace(ROUTE, safe_harbor="/srv/prompts/zh-CN/safe_harbor"),
                                    ring_timeout_s=25)
    assert "BANKCC_SAFE_HARBOR=/srv/prompts/zh-CN/safe_harbor" in with_message["Variable"]


class FakeAmi:
    """Just enough of panoramisk's Manager: actions are recorded, their futures resolved by the test."""

    def __init__(self, connected: bool = True):
        self.forgetable_actions = ("ping", "login")
        self.handlers: dict[str, list] = {}
        self.sent: list[tuple[dict, asyncio.Future]] = []
        self.connected = connected

    def register_event(self, name, callback):
        self.handlers.setdefault(name, []).append(callback)

    def send_action(self, action, as_list=None):
        if not self.connected:
            raise AttributeError("'NoneType' object has no attribute 'send'")
        future = asyncio.get_running_loop().create_future()
        self.sent.append((action, future))
        return future

    def emit(self, event: dict):
        for callback in self.handlers.get(event["Event"], []):
            callback(self, event)


def mine(name, **fields):
    return {"Event": name, "Uniqueid": "uid-7", "Channel": "PJSIP/bankcc-sim-1", **fields}


async def make_originator(ami) -> tuple[Originator, list, list]:
    saved, finished = [], []

    async def save(attempt_id, facts):
        saved.append((attempt_id, facts))

    async def finish(attempt_id, facts):
        finished.append((attempt_id, facts))

    originator = Originator(ami, save=save, finish=finish, settle_s=0.05)
    originator.install()
    return originator, saved, finished


async def test_originator_follows_a_call_and_finishes_it_once():
    ami = FakeAmi()
    originator, saved, finished = await make_originator(ami)
    assert "originate" in ami.forgetable_actions  # never re-sent blindly after a reconnect
    originator.originate(ATTEMPT, ROUTE, 30)
    action, future = ami.sent[0]
    assert action["ChannelId"] == "uid-7"
    ami.emit(mine("Newchannel"))
    ami.emit(mine("Newstate", ChannelStateDesc="Ringing"))
    ami.emit(mine("Newstate", ChannelStateDesc="Up"))
    future.set_result([{"Response": "Success", "Message": "Originate successfully queued"},
                       {"Event": "OriginateResponse", "ActionID": "bankcc-aa", "Response": "Success", "Reason": "4",
                        "Uniqueid": "uid-7", "Channel": "PJSIP/bankcc-sim-1"}])
    ami.emit(mine("VarSet", Variable="AMDSTATUS", Value="HUMAN"))
    ami.emit(mine("VarSet", Variable="SOMETHING", Value="else"))
    ami.emit(mine("AgentConnect", Queue="outbound", MemberName="agent2", DestChannel="PJSIP/agent2-1"))
    await asyncio.sleep(0.01)
    # each milestone asks for a write; a write stores the latest facts
    assert len(saved) == 5 and state_of(saved[-1][1]) == "connected" and saved[-1][1].amd_status == "HUMAN"
    ami.emit(mine("Hangup", Cause="16"))
    ami.emit(mine("AgentComplete", Queue="outbound", MemberName="agent2", Reason="caller"))  # trails the Hangup
    assert not finished
    await asyncio.sleep(0.15)
    assert len(finished) == 1
    attempt_id, facts = finished[0]
    assert attempt_id == 7 and facts.agent == "agent2" and facts.agent_reason == "caller" and facts.over
    assert originator.active == 0
    ami.emit(mine("Hangup", Cause="16"))  # nothing more happens for a finished call
    await asyncio.sleep(0.1)
    assert len(finished) == 1


async def test_a_refused_originate_finishes_as_failed():
    ami = FakeAmi()
    originator, _, finished = await make_originator(ami)
    originator.originate(ATTEMPT, ROUTE, 30)
    ami.sent[0][1].set_result({"Response": "Error", "Message": "Extension does not exist."})
    await asyncio.sleep(0.15)
    assert finished and finished[0][1].originate_response == "Error"
    assert conclude(finished[0][1])[0].disposition == "failed"


async def test_not_connected_finishes_without_sending():
    ami = FakeAmi(connected=False)
    originator, _, finished = await make_originator(ami)
    originator.originate(ATTEMPT, ROUTE, 30)
    await asyncio.sleep(0.15)
    assert not ami.sent and finished and "not sent" in finished[0][1].originate_message


async def test_a_late_channel_reopens_a_failed_originate_until_its_hangup():
    ami = FakeAmi()
    originator, _, finished = await make_originator(ami)
    originator.originate(ATTEMPT, ROUTE, 30)
    ami.emit({"Event": "OriginateResponse", "ActionID": "bankcc-aa", "Response": "Failure", "Reason": "0",
              "Uniqueid": "uid-7", "Channel": ATTEMPT.dial_string})
    ami.emit(mine("Newchannel"))
    await asyncio.sleep(0.15)
    assert not finished  # the channel exists: wait for its Hangup
    ami.emit(mine("Hangup", Cause="17"))
    await asyncio.sleep(0.15)
    assert len(finished) == 1 and conclude(finished[0][1])[0].disposition == "busy"


async def test_adopted_calls_are_followed_and_closed_by_reconciliation():
    ami = FakeAmi()
    originator, _, finished = await make_originator(ami)
    tracker = originator.adopt(9, CallFacts("uid-9", "bankcc-9", answer_at=1.0, amd_status="HUMAN"))
    ami.emit({"Event": "AgentConnect", "Uniqueid": "uid-9", "MemberName": "agent1", "DestChannel": "x"})
    assert tracker.facts.agent == "agent1"
    originator.close(tracker)
    originator.close(tracker)
    await asyncio.sleep(0.05)
    assert len(finished) == 1 and finished[0][0] == 9


# --- queue members ----------------------------------------------------------------------------

def test_queue_board_counts_free_agents():
    board = QueueBoard()
    for name in ("agent1", "agent2", "agent3"):
        board.apply({"Event": "QueueMemberAdded", "Queue": "outbound", "MemberName": name,
                     "Interface": f"PJSIP/{name}", "Status": "1", "Paused": "0", "InCall": "0"}, 1.0)
    assert (board.available("outbound"), board.logged_in("outbound")) == (3, 3)
    board.apply({"Event": "AgentCalled", "Queue": "outbound", "MemberName": "agent1"}, 2.0)
    assert board.available("outbound") == 2
    board.apply({"Event": "QueueMemberStatus", "Queue": "outbound", "MemberName": "agent1", "Status": "6",
                 "Paused": "0", "InCall": "0"}, 2.1)
    board.apply({"Event": "AgentConnect", "Queue": "outbound", "MemberName": "agent1"}, 2.5)
    board.apply({"Event": "QueueMemberStatus", "Queue": "outbound", "MemberName": "agent1", "Status": "2",
                 "Paused": "0", "InCall": "0"}, 2.5)
    assert board.available("outbound") == 2 and board.snapshot("outbound")[0]["state"] == "talking"
    board.apply({"Event": "QueueMemberPause", "Queue": "outbound", "MemberName": "agent2", "Paused": "1",
                 "PausedReason": "wrap-up"}, 3.0)
    assert board.available("outbound") == 1 and board.snapshot("outbound")[1]["state"] == "paused (wrap-up)"
    board.apply({"Event": "AgentComplete", "Queue": "outbound", "MemberName": "agent1", "Reason": "agent"}, 9.0)
    board.apply({"Event": "QueueMemberStatus", "Queue": "outbound", "MemberName": "agent1", "Status": "1",
                 "Paused": "0", "InCall": "0"}, 9.0)
    assert board.available("outbound") == 2
    member = board.members["outbound"]["agent1"]
    assert member.calls_taken == 1 and member.last_call_end == 9.0
    board.apply({"Event": "QueueMemberRemoved", "Queue": "outbound", "MemberName": "agent3"}, 10.0)
    assert board.logged_in("outbound") == 2 and board.available("other") == 0


def test_queue_status_snapshot_members_and_unavailable_phones():
    board = QueueBoard()
    board.apply({"Event": "QueueMember", "Queue": "outbound", "Name": "agent1", "Location": "PJSIP/agent1",
                 "Status": "5", "Paused": "0", "InCall": "0", "CallsTaken": "4"}, 1.0)
    board.apply({"Event": "QueueMember", "Queue": "outbound", "Name": "agent2", "Location": "PJSIP/agent2",
                 "Status": "1", "Paused": "0", "InCall": "1"}, 1.0)
    board.apply({"Event": "QueueParams", "Queue": "outbound"}, 1.0)
    assert board.logged_in("outbound") == 2 and board.available("outbound") == 0  # unregistered, talking
    assert board.snapshot("outbound")[0] == {"name": "agent1", "interface": "PJSIP/agent1", "state": "unavailable",
                                             "calls_taken": 4}


# --- reconciliation verdicts ------------------------------------------------------------------

def test_a_call_found_up_is_completed_from_what_asterisk_shows():
    facts = CallFacts("u", "a", originated_at=1.0)
    channel = {"Channel": "PJSIP/bankcc-sim-9", "ChannelState": "6", "Application": "Queue", "BridgeId": "b1"}
    f = assess(facts, channel, {"AMDSTATUS": "HUMAN", "AMDCAUSE": "HUMAN-800-800"}, 50.0)
    assert (f.answer_at, f.agent_at, f.amd_status, f.channel) == (50.0, 50.0, "HUMAN", "PJSIP/bankcc-sim-9")
    assert len(f.notes) == 2 and state_of(f) == "connected"
    ringing = assess(facts, {"Channel": "c", "ChannelState": "5", "Application": "AppDial"}, {}, 50.0)
    assert ringing.answer_at is None and state_of(ringing) == "originating" and not ringing.notes


@pytest.mark.parametrize("facts, disposition, closed_by", [
    (CallFacts("u", "a"), "unknown", "reconcile"),
    (CallFacts("u", "a", ring_at=2.0), "unknown", "reconcile"),
    (CallFacts("u", "a", answer_at=2.0, amd_status="MACHINE"), "machine", "reconcile"),
    (CallFacts("u", "a", answer_at=2.0, agent_at=4.0, agent="agent1"), "answered_human", "reconcile"),
    (CallFacts("u", "a", answer_at=2.0, amd_status="HUMAN"), "unknown", "reconcile"),
    (CallFacts("u", "a", originate_response="Failure", channel_created=True, end_at=3.0, hangup_cause=17),
     "busy", "events"),
])
def test_a_call_gone_unseen_is_closed_from_what_was_known(facts, disposition, closed_by):
    verdict, by = conclude(facts)
    assert (verdict.disposition, by) == (disposition, closed_by)
    if by == "reconcile":
        assert "end was not seen" in verdict.reason and verdict.hangup_by == "unknown"
