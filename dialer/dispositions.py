"""How a call ended (its disposition) and what happens to the contact next. Pure.

    classify(facts)                          -> Verdict(disposition, hangup_by, reason, permanent)
    next_step(verdict, attempts, rules, now) -> NextStep(status, next_attempt_at, reason)
    durations(facts)                         -> (ring, hold, talk) seconds

Dispositions:
    answered_human  a person answered and reached an agent (or the campaign's flow)
    machine         AMD heard an answering machine
    no_answer       it rang until we gave up, or the phone was off / unreachable
    busy            busy, or the callee rejected the call
    failed          the network could not place it (number not in service, congestion, ...)
    dropped         a person answered but we ended the call without an agent (queue timeout,
                    no agents): the regulator's "abandoned call", the dialer's fault
    abandoned       a person answered and hung up before an agent took the call
    unknown         the end was never seen (reconciliation after a crash found no channel)

A verdict is `permanent` when trying again cannot help (the number does not
exist): the contact fails at once whatever its retry rules.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Mapping

from dialer.facts import CallFacts

DISPOSITIONS = ("answered_human", "machine", "no_answer", "busy", "failed", "dropped", "abandoned", "unknown")
HANGUP_BY = ("customer", "agent", "system", "network", "unknown")

# Which of the campaign's retry rules (dialer.campaigns.DISPOSITIONS) applies.
RETRY_RULE = {"machine": "machine", "no_answer": "no_answer", "busy": "busy", "failed": "failed",
              "dropped": "dropped", "abandoned": "dropped", "unknown": "failed"}

# Q.850 causes, as Asterisk reports them in Hangup events.
CAUSE_UNALLOCATED = 1          # number not in service (SIP 404)
CAUSE_NO_ROUTE = 3
CAUSE_NORMAL = 16
CAUSE_BUSY = 17
CAUSE_NO_USER_RESPONSE = 18
CAUSE_NO_ANSWER = 19           # rang out (our Originate timeout, or SIP 480)
CAUSE_SUBSCRIBER_ABSENT = 20   # phone off / out of coverage
CAUSE_REJECTED = 21            # SIP 603 Decline: the person refused the call
CAUSE_NUMBER_CHANGED = 22
CAUSE_INVALID_FORMAT = 28

_PERMANENT = {CAUSE_UNALLOCATED: "number not in service", CAUSE_NO_ROUTE: "no route to the number",
              CAUSE_NUMBER_CHANGED: "number changed", CAUSE_INVALID_FORMAT: "invalid number format"}
_NOT_REACHED = {CAUSE_NO_USER_RESPONSE, CAUSE_NO_ANSWER, CAUSE_SUBSCRIBER_ABSENT}
# OriginateResponse Reason codes (Asterisk's AST_CONTROL_* of the failed dial).
REASON_HUNG_UP, REASON_RING_TIMEOUT, REASON_ANSWERED, REASON_BUSY, REASON_CONGESTION = 1, 3, 4, 5, 8
_GAVE_UP = ("TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL")


@dataclass(frozen=True)
class Verdict:
    disposition: str
    hangup_by: str | None  # None when nobody answered
    reason: str
    permanent: bool = False


def classify(f: CallFacts) -> Verdict:
    """The disposition of a finished call from what AMI said about it."""
    if f.answer_at is None:
        return _unanswered(f)
    who = hangup_by(f)
    if f.amd_status == "MACHINE":
        return Verdict("machine", who, f"answering machine ({f.amd_cause or 'AMD'})")
    if f.agent_at is not None:
        return Verdict("answered_human", who, f"talked with agent {f.agent}")
    if f.human_route == "flow" and f.amd_status in ("HUMAN", "NOTSURE") and not f.abandoned:
        return Verdict("answered_human", who, "a person answered and was handed to the outbound flow")
    if f.amd_status == "HANGUP":
        return Verdict("abandoned", "customer", "hung up while we were listening for a machine")
    if f.queue_status in _GAVE_UP:
        return Verdict("dropped", "system", f"no agent took the call (queue {f.queue_status.lower()})")
    if f.abandoned or who == "customer":
        where = f"waiting in queue {f.queue}" if f.queue else "before reaching an agent"
        return Verdict("abandoned", "customer", f"hung up {where}")
    return Verdict("dropped", who, "answered, but ended before an agent took it")


def _unanswered(f: CallFacts) -> Verdict:
    cause = f.hangup_cause
    if f.originate_response == "Error":
        return Verdict("failed", None, f"not placed: {f.originate_message or 'Asterisk refused the Originate'}")
    if cause in _PERMANENT:
        return Verdict("failed", "network", _PERMANENT[cause], permanent=True)
    if cause == CAUSE_BUSY or f.dial_status == "BUSY" or f.originate_reason == REASON_BUSY:
        return Verdict("busy", "customer", "busy")
    if cause == CAUSE_REJECTED:
        return Verdict("busy", "customer", "the callee rejected the call")
    if cause in _NOT_REACHED or f.originate_reason == REASON_RING_TIMEOUT or f.dial_status == "NOANSWER":
        if cause == CAUSE_SUBSCRIBER_ABSENT:
            return Verdict("no_answer", "network", "phone off or unreachable")
        what = "rang without an answer" if f.ring_at is not None else "no answer"
        return Verdict("no_answer", "system" if f.originate_reason == REASON_RING_TIMEOUT else "customer", what)
    if f.originate_reason == REASON_HUNG_UP and f.ring_at is not None:
        return Verdict("no_answer", "customer", "hung up while it rang")
    text = f.hangup_cause_text or (f"cause {cause}" if cause is not None else f"dial {f.dial_status or 'failed'}")
    return Verdict("failed", "network", f"network could not place the call ({text})")


def hangup_by(f: CallFacts) -> str:
    """Who ended an answered call: the hangup handler's CHANNEL(hangupsource) says which
    channel did, the queue's AgentComplete says caller or agent."""
    source = f.hangup_source
    if source:
        if f.channel and source == f.channel:
            return "customer"
        if f.agent_channel and source == f.agent_channel:
            return "agent"
        if source.startswith("dialplan/"):
            return "system"
    if f.agent_reason == "caller":
        return "customer"
    if f.agent_reason == "agent":
        return "agent"
    if source == "" and f.hangup_source is not None:
        return "system"  # hung up by Asterisk itself (e.g. the Originate's own timeout)
    return "unknown"


def durations(f: CallFacts) -> tuple[float | None, float | None, float | None]:
    """(ring, hold, talk) seconds: ring until answered (or the end), answered until an
    agent took it, then until the end. Talk without an agent is time with the machine."""
    def span(a: float | None, b: float | None) -> float | None:
        return round(max(0.0, b - a), 2) if a is not None and b is not None else None

    start = f.originated_at
    ring = span(start, f.answer_at if f.answer_at is not None else f.end_at)
    if f.answer_at is None:
        return ring, None, None
    if f.agent_at is not None:
        return ring, span(f.answer_at, f.agent_at), span(f.agent_at, f.end_at)
    return ring, None, span(f.answer_at, f.end_at)


# --- what the contact does next -------------------------------------------------------------

@dataclass(frozen=True)
class NextStep:
    status: str                       # done | retry | failed
    next_attempt_at: datetime | None  # when status is retry
    reason: str


def next_step(verdict: Verdict, attempts_made: int, rules: Mapping[str, Mapping[str, int]],
              now: datetime) -> NextStep:
    """After `attempts_made` attempts (this one included), by the campaign's retry rules.

    A rule's max_tries is the number of attempts a contact may have had for one more
    to follow an end of that kind: busy {max_tries 3} retries after the 1st and 2nd
    busy, not after the 3rd.
    """
    if verdict.disposition == "answered_human":
        return NextStep("done", None, "reached")
    if verdict.permanent:
        return NextStep("failed", None, f"{verdict.reason}: not retried")
    rule_name = RETRY_RULE[verdict.disposition]
    rule = rules.get(rule_name)
    if rule is None:
        return NextStep("failed", None, f"no retry rule for {rule_name}")
    max_tries, delay = int(rule["max_tries"]), int(rule["delay_seconds"])
    if attempts_made >= max_tries:
        return NextStep("failed", None, f"{rule_name}: {attempts_made} of {max_tries} tries used")
    return NextStep("retry", now + timedelta(seconds=delay),
                    f"{rule_name}: try {attempts_made + 1} of {max_tries} in {delay} s")
