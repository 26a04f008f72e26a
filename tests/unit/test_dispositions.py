"""AMI events -> CallFacts -> disposition, and the contact's next step by the retry rules.

The event sequences are the ones a real Asterisk 22 sent for calls placed by
dialer/originate.py against the simulator (busy, 404, no answer, a person the
agent or the customer hung up on, an answering machine), trimmed to the fields used.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.campaigns import DEFAULT_RETRY_RULES, validate_retry_rules
from dialer.dispositions import (DISPOSITIONS, HANGUP_BY, RETRY_RULE, Verdict, classify, durations, hangup_by,
                                 next_step)
from dialer.facts import CallFacts, apply_event, refused

UID, AID = "6a1f0c1e-0000-4000-8000-000000000001", "bankcc-0001"
CHAN = "PJSIP/bankcc-sim-00000003"
AGENT_CHAN = "PJSIP/agent1-00000005"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def fresh(**kw) -> CallFacts:
    return CallFacts(unique_id=UID, action_id=AID, originated_at=100.0, **kw)


def ev(name: str, **fields) -> dict:
    return {"Event": name, **fields}


def mine(name: str, **fields) -> dict:
    return ev(name, Channel=CHAN, Uniqueid=UID, Linkedid=UID, **fields)


def run(events: list[tuple[float, dict]], facts: CallFacts | None = None) -> CallFacts:
    f = facts or fresh()
    for at, event in events:
        f = apply_event(f, event, at)
    return f


def originate_response(response: str, reason: int, channel: str = CHAN) -> dict:
    return ev("OriginateResponse", ActionID=AID, Response=response, Reason=str(reason), Uniqueid=UID,
              Channel=channel)


DIALSTRING = "PJSIP/+8613800000001@bankcc-sim"

BUSY = [(100.01, mine("Newchannel", ChannelStateDesc="Down")),
        (100.02, ev("DialBegin", DestChannel=CHAN, DestUniqueid=UID)),
        (100.02, mine("HangupRequest", Cause="17")),
        (100.02, ev("DialEnd", DestChannel=CHAN, DestUniqueid=UID, DialStatus="BUSY")),
        (100.02, originate_response("Failure", 0, DIALSTRING)),
        (100.03, mine("Hangup", Cause="17", **{"Cause-txt": "User busy"}))]

NOT_IN_SERVICE = [(100.01, mine("Newchannel")),
                  (100.02, ev("DialBegin", DestChannel=CHAN, DestUniqueid=UID)),
                  (100.02, ev("DialEnd", DestChannel=CHAN, DestUniqueid=UID, DialStatus="NOANSWER")),
                  (100.02, originate_response("Failure", 0, DIALSTRING)),
                  (100.03, mine("Hangup", Cause="1", **{"Cause-txt": "Unallocated (unassigned) number"}))]

NO_ANSWER = [(100.01, mine("Newchannel")),
             (100.02, ev("DialBegin", DestChannel=CHAN, DestUniqueid=UID)),
             (100.05, ev("DialState", DestChannel=CHAN, DestUniqueid=UID, DialStatus="RINGING")),
             (100.05, mine("Newstate", ChannelStateDesc="Ringing")),
             (106.02, originate_response("Failure", 3, DIALSTRING)),
             (106.03, mine("Hangup", Cause="19", **{"Cause-txt": "User alerting, no answer"}))]

ANSWERED = [(100.01, mine("Newchannel")),
            (100.01, ev("DialBegin", DestChannel=CHAN, DestUniqueid=UID)),
            (100.02, mine("Newstate", ChannelStateDesc="Ringing")),
            (100.82, mine("Newstate", ChannelStateDesc="Up")),
            (100.82, ev("DialEnd", DestChannel=CHAN, DestUniqueid=UID, DialStatus="ANSWER")),
            (100.82, originate_response("Success", 4))]

HUMAN = [(102.36, mine("VarSet", Variable="AMDSTATUS", Value="HUMAN")),
         (102.36, mine("VarSet", Variable="AMDCAUSE", Value="HUMAN-800-800")),
         (102.36, mine("QueueCallerJoin", Queue="outbound", Position="1"))]

TO_AGENT = [(102.37, mine("AgentCalled", Queue="outbound", MemberName="agent1", DestChannel=AGENT_CHAN,
                          DestUniqueid="1795416445.5")),
            (102.37, mine("DialBegin", DestChannel=AGENT_CHAN, DestUniqueid="1795416445.5")),
            (102.67, mine("DialEnd", DestChannel=AGENT_CHAN, DestUniqueid="1795416445.5", DialStatus="ANSWER")),
            (102.67, mine("QueueCallerLeave", Queue="outbound")),
            (102.67, mine("AgentConnect", Queue="outbound", MemberName="agent1", Interface="PJSIP/agent1",
                          DestChannel=AGENT_CHAN, HoldTime="0", RingTime="0"))]


def end(source: str, reason: str | None, at: float = 106.83) -> list[tuple[float, dict]]:
    out = [(at, mine("UserEvent", UserEvent="BankccHangup", AttemptId="1", Source=source))]
    if reason:
        out.append((at, mine("AgentComplete", Queue="outbound", MemberName="agent1", DestChannel=AGENT_CHAN,
                             TalkTime="4", Reason=reason)))
    out.append((at + 0.01, mine("Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"})))
    out.append((at + 0.01, ev("Hangup", Channel=AGENT_CHAN, Uniqueid="1795416445.5", Linkedid=UID, Cause="16")))
    return out


MACHINE = [(102.63, mine("VarSet", Variable="AMDSTATUS", Value="MACHINE")),
           (102.63, mine("VarSet", Variable="AMDCAUSE", Value="LONGGREETING-1500-1500")),
           (102.63, mine("UserEvent", UserEvent="BankccHangup", Source="dialplan/builtin")),
           (102.64, mine("Hangup", Cause="16", **{"Cause-txt": "Normal Clearing"}))]


# --- facts from events ----------------------------------------------------------------------

def test_busy_call_facts():
    f = run(BUSY)
    assert f.over and f.channel == CHAN and f.answer_at is None
    assert (f.hangup_cause, f.dial_status, f.originate_response, f.originate_reason) == (17, "BUSY", "Failure", 0)


def test_facts_are_not_over_until_both_the_response_and_the_hangup_came():
    f = run(NO_ANSWER[:-2])
    assert not f.over and f.ring_at == 100.05
    assert not run(NO_ANSWER[:-1]).over  # the response came, the channel still exists
    assert run(NO_ANSWER).over
    # and the other way round: the Hangup first, the OriginateResponse later
    assert not run([NO_ANSWER[0], NO_ANSWER[-1]]).over


def test_a_failure_without_any_channel_is_over_at_once():
    f = run([(100.01, originate_response("Failure", 0, DIALSTRING))])
    assert f.over and not f.channel_created and f.channel is None  # the dial string is not a channel


def test_a_refused_originate_is_over():
    f = refused(fresh(), "Extension does not exist.", 100.01)
    assert f.over and classify(f).disposition == "failed"
    assert "Extension does not exist" in classify(f).reason


def test_events_of_other_channels_change_nothing():
    other = {"Event": "Hangup", "Uniqueid": "someone-else", "Cause": "16"}
    f = fresh()
    assert apply_event(f, other, 101.0) == f
    assert apply_event(f, ev("OriginateResponse", ActionID="other", Uniqueid="x", Response="Success"), 1) == f
    # the agent leg's own Hangup (Linkedid ours, Uniqueid not) is not the customer's hangup
    g = run(ANSWERED + HUMAN + TO_AGENT)
    assert apply_event(g, end("x", None)[-1][1], 107.0) == g


def test_answered_human_facts():
    f = run(ANSWERED + HUMAN + TO_AGENT + end(CHAN, "caller"))
    assert f.answer_at == 100.82 and f.ring_at == 100.02
    assert (f.amd_status, f.amd_cause, f.queue, f.agent) == ("HUMAN", "HUMAN-800-800", "outbound", "agent1")
    assert f.agent_channel == AGENT_CHAN and f.agent_at == 102.67 and f.agents_called == 1
    assert (f.agent_reason, f.hangup_source, f.hangup_cause, f.end_at) == ("caller", CHAN, 16, 106.84)


def test_first_times_win():
    f = run(ANSWERED + [(150.0, mine("Newstate", ChannelStateDesc="Up")),
                        (151.0, mine("Newstate", ChannelStateDesc="Ringing"))])
    assert f.answer_at == 100.82 and f.ring_at == 100.02


def test_other_variables_are_ignored_and_queue_status_is_kept():
    f = run([(101, mine("VarSet", Variable="BANKCC_QUEUE", Value="outbound")),
             (130, mine("VarSet", Variable="QUEUESTATUS", Value="TIMEOUT"))])
    assert f.queue_status == "TIMEOUT" and f.amd_status is None


def test_facts_round_trip_through_json():
    from dialer.attempts import facts_from_json

    f = replace(run(ANSWERED + HUMAN + TO_AGENT), notes=("estimated",))
    assert facts_from_json(f.as_json()) == f


# --- dispositions -----------------------------------------------------------------------------

@pytest.mark.parametrize("events, disposition, who, permanent", [
    (BUSY, "busy", "customer", False),
    (NOT_IN_SERVICE, "failed", "network", True),
    (NO_ANSWER, "no_answer", "system", False),
    (ANSWERED + HUMAN + TO_AGENT + end(CHAN, "caller"), "answered_human", "customer", False),
    (ANSWERED + HUMAN + TO_AGENT + end(AGENT_CHAN, "agent"), "answered_human", "agent", False),
    (ANSWERED + MACHINE, "machine", "system", False),
])
def test_recorded_calls(events, disposition, who, permanent):
    verdict = classify(run(events))
    assert (verdict.disposition, verdict.hangup_by, verdict.permanent) == (disposition, who, permanent)
    assert verdict.reason


def test_machine_that_hangs_up_first():
    f = run(ANSWERED + MACHINE[:2] + [(108, mine("UserEvent", UserEvent="BankccHangup", Source=CHAN)),
                                      (108, mine("Hangup", Cause="16"))])
    assert (classify(f).disposition, classify(f).hangup_by) == ("machine", "customer")


def test_customer_gone_during_amd_is_abandoned():
    f = run(ANSWERED + [(101.5, mine("VarSet", Variable="AMDSTATUS", Value="HANGUP")),
                        (101.5, mine("Hangup", Cause="16"))])
    assert (classify(f).disposition, classify(f).hangup_by) == ("abandoned", "customer")


def test_customer_hanging_up_in_the_queue_is_abandoned():
    f = run(ANSWERED + HUMAN + [(104, mine("QueueCallerAbandon", Queue="outbound", Position="1")),
                                (104, mine("UserEvent", UserEvent="BankccHangup", Source=CHAN)),
                                (104, mine("Hangup", Cause="16"))])
    verdict = classify(f)
    assert (verdict.disposition, verdict.hangup_by) == ("abandoned", "customer")
    assert "outbound" in verdict.reason


def test_queue_timeout_is_dropped():
    f = run(ANSWERED + HUMAN + [(132, mine("VarSet", Variable="QUEUESTATUS", Value="TIMEOUT")),
                                (132, mine("UserEvent", UserEvent="BankccHangup", Source="dialplan/builtin")),
                                (132, mine("Hangup", Cause="16"))])
    assert (classify(f).disposition, classify(f).hangup_by) == ("dropped", "system")


def test_notsure_goes_to_a_person_and_counts_as_human():
    f = run(ANSWERED + [(105, mine("VarSet", Variable="AMDSTATUS", Value="NOTSURE"))] + TO_AGENT
            + end(AGENT_CHAN, "agent"))
    assert classify(f).disposition == "answered_human"


def test_flow_route_reaching_a_person_is_answered_human():
    f = run(ANSWERED + HUMAN[:2] + [(110, mine("Hangup", Cause="16"))], fresh(human_route="flow"))
    assert classify(f).disposition == "answered_human"
    g = run(ANSWERED + HUMAN[:2] + [(110, mine("Hangup", Cause="16"))])  # same, queue route, no agent
    assert classify(g).disposition in ("dropped", "abandoned")


@pytest.mark.parametrize("cause, disposition, permanent", [
    (1, "failed", True), (3, "failed", True), (22, "failed", True), (28, "failed", True),
    (17, "busy", False), (21, "busy", False), (18, "no_answer", False), (19, "no_answer", False),
    (20, "no_answer", False), (34, "failed", False), (38, "failed", False), (41, "failed", False),
    (27, "failed", False), (127, "failed", False),
])
def test_unanswered_by_cause(cause, disposition, permanent):
    f = run([(100.01, mine("Newchannel")), (100.02, originate_response("Failure", 0, DIALSTRING)),
             (100.03, mine("Hangup", Cause=str(cause)))])
    verdict = classify(f)
    assert (verdict.disposition, verdict.permanent) == (disposition, permanent)


def test_unanswered_by_originate_reason_alone():
    assert classify(fresh(originate_response="Failure", originate_reason=5)).disposition == "busy"
    assert classify(fresh(originate_response="Failure", originate_reason=3)).disposition == "no_answer"
    assert classify(fresh(originate_response="Failure", originate_reason=8)).disposition == "failed"
    hung_up_ringing = fresh(originate_response="Failure", originate_reason=1, ring_at=101.0, hangup_cause=16,
                            end_at=103.0)
    assert (classify(hung_up_ringing).disposition, classify(hung_up_ringing).hangup_by) == ("no_answer", "customer")


@pytest.mark.parametrize("source, reason, who", [
    (CHAN, None, "customer"), (AGENT_CHAN, None, "agent"), ("dialplan/builtin", None, "system"),
    (None, "caller", "customer"), (None, "agent", "agent"), ("PJSIP/else-1", "agent", "agent"),
    (None, None, "unknown"), ("", None, "system"), (None, "transfer", "unknown"),
])
def test_hangup_by(source, reason, who):
    f = fresh(channel=CHAN, agent_channel=AGENT_CHAN, hangup_source=source, agent_reason=reason, answer_at=101.0)
    assert hangup_by(f) == who


def test_durations():
    human = run(ANSWERED + HUMAN + TO_AGENT + end(CHAN, "caller"))
    assert durations(human) == (0.82, 1.85, 4.17)
    assert durations(run(ANSWERED + MACHINE)) == (0.82, None, 1.82)
    assert durations(run(NO_ANSWER)) == (6.03, None, None)
    assert durations(CallFacts(UID, AID)) == (None, None, None)


# --- the contact's next step ----------------------------------------------------------------

RULES = validate_retry_rules({"busy": {"delay_seconds": 300, "max_tries": 3},
                              "no_answer": {"delay_seconds": 3600, "max_tries": 2},
                              "machine": {"delay_seconds": 7200, "max_tries": 1},
                              "failed": {"delay_seconds": 900, "max_tries": 2},
                              "dropped": {"delay_seconds": 120, "max_tries": 4}})


def test_reached_is_done():
    step = next_step(Verdict("answered_human", "agent", "x"), 1, RULES, NOW)
    assert (step.status, step.next_attempt_at) == ("done", None)


@pytest.mark.parametrize("disposition, rule", sorted(RETRY_RULE.items()))
def test_each_disposition_retries_by_its_rule_until_the_tries_are_used(disposition, rule):
    max_tries, delay = RULES[rule]["max_tries"], RULES[rule]["delay_seconds"]
    for made in range(1, max_tries):
        step = next_step(Verdict(disposition, None, "x"), made, RULES, NOW)
        assert step.status == "retry" and step.next_attempt_at == NOW + timedelta(seconds=delay)
        assert f"try {made + 1} of {max_tries}" in step.reason
    for made in (max_tries, max_tries + 1):
        step = next_step(Verdict(disposition, None, "x"), made, RULES, NOW)
        assert (step.status, step.next_attempt_at) == ("failed", None)


def test_abandoned_and_unknown_borrow_the_dropped_and_failed_rules():
    assert next_step(Verdict("abandoned", "customer", "x"), 3, RULES, NOW).status == "retry"  # dropped: 4 tries
    assert next_step(Verdict("unknown", "unknown", "x"), 2, RULES, NOW).status == "failed"   # failed: 2 tries


def test_a_permanent_failure_is_never_retried():
    step = next_step(Verdict("failed", "network", "number not in service", permanent=True), 1, RULES, NOW)
    assert step.status == "failed" and "not retried" in step.reason


def test_a_missing_rule_fails_rather_than_dialling_forever():
    assert next_step(Verdict("busy", None, "x"), 1, {}, NOW).status == "failed"


def test_default_rules_cover_every_disposition():
    assert set(RETRY_RULE) == set(DISPOSITIONS) - {"answered_human"}
    assert set(RETRY_RULE.values()) <= set(DEFAULT_RETRY_RULES)


# --- properties -------------------------------------------------------------------------------

times = st.one_of(st.none(), st.floats(min_value=100, max_value=10_000, allow_nan=False))
facts_strategy = st.builds(
    CallFacts, unique_id=st.just(UID), action_id=st.just(AID), originated_at=st.just(100.0),
    originate_response=st.sampled_from([None, "Success", "Failure", "Error"]),
    originate_reason=st.sampled_from([None, 0, 1, 3, 4, 5, 8]),
    channel=st.sampled_from([None, CHAN]), channel_created=st.booleans(), ring_at=times, answer_at=times,
    dial_status=st.sampled_from([None, "ANSWER", "BUSY", "NOANSWER", "CONGESTION", "CHANUNAVAIL"]),
    amd_status=st.sampled_from([None, "HUMAN", "MACHINE", "NOTSURE", "HANGUP"]),
    queue=st.sampled_from([None, "outbound"]), queue_status=st.sampled_from([None, "TIMEOUT", "LEAVEEMPTY"]),
    agent=st.sampled_from([None, "agent1"]), agent_channel=st.sampled_from([None, AGENT_CHAN]), agent_at=times,
    agent_reason=st.sampled_from([None, "caller", "agent", "transfer"]), abandoned=st.booleans(),
    hangup_source=st.sampled_from([None, "", CHAN, AGENT_CHAN, "dialplan/builtin"]), end_at=times,
    hangup_cause=st.one_of(st.none(), st.integers(0, 127)), human_route=st.sampled_from(["queue", "flow"]))


@settings(max_examples=400, deadline=None)
@given(facts_strategy)
def test_every_call_gets_a_known_disposition(f):
    verdict = classify(f)
    assert verdict.disposition in DISPOSITIONS
    assert verdict.hangup_by is None or verdict.hangup_by in HANGUP_BY
    assert verdict.reason
    if f.answer_at is None:
        assert verdict.disposition in ("busy", "no_answer", "failed")
    else:
        assert verdict.disposition not in ("busy", "no_answer", "failed")
    if verdict.disposition == "answered_human":
        assert f.agent_at is not None or f.human_route == "flow"
    ring, hold, talk = durations(f)
    assert all(d is None or d >= 0 for d in (ring, hold, talk))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(DISPOSITIONS), min_size=1, max_size=30),
       st.fixed_dictionaries({d: st.fixed_dictionaries({"delay_seconds": st.integers(60, 86_400),
                                                         "max_tries": st.integers(1, 20)})
                              for d in DEFAULT_RETRY_RULES}))
def test_a_contact_is_never_dialled_more_than_its_rules_allow(outcomes, rules):
    """Whatever happens call after call, the dialer stops at the rule's max_tries, and
    every retry waits the rule's delay."""
    made = 0
    for disposition in outcomes:
        made += 1
        step = next_step(Verdict(disposition, None, "x"), made, rules, NOW)
        if step.status != "retry":
            break
        rule = rules[RETRY_RULE[disposition]]
        assert made < rule["max_tries"]
        assert step.next_attempt_at - NOW == timedelta(seconds=rule["delay_seconds"])
    assert made <= max(r["max_tries"] for r in rules.values())
    assert step.status in ("done", "retry", "failed")
    assert (step.status == "done") == (disposition == "answered_human")
