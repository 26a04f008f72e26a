"""What AMI tells us about one outbound call, folded into a CallFacts record. Pure.

The dialer names the customer's channel itself (Originate ChannelId = the
attempt's unique id), so every event about the call carries that id, as
Uniqueid (the channel's own events, queue events about it as a caller) or as
DestUniqueid (the Originate's dial). The OriginateResponse carries our ActionID.
`apply_event` takes one event and returns the facts with it folded in; events
about other channels are ignored, so the caller may pass anything it routed here.

Times are seconds since the epoch as seen by the dialer when the event arrived
(AMI events carry no timestamp unless Asterisk is configured to add one).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping


@dataclass(frozen=True)
class CallFacts:
    unique_id: str
    action_id: str
    originated_at: float | None = None
    originate_response: str | None = None  # Success | Failure | Error (the action itself was refused)
    originate_reason: int | None = None    # 0 failed, 1 hung up, 3 ringing timeout, 4 answered, 5 busy, 8 congested
    originate_message: str | None = None   # the refusal text when originate_response is Error
    channel: str | None = None
    channel_created: bool = False
    ring_at: float | None = None
    answer_at: float | None = None
    dial_status: str | None = None         # DialEnd: ANSWER, BUSY, NOANSWER, CONGESTION, CHANUNAVAIL, ...
    amd_status: str | None = None          # HUMAN | MACHINE | NOTSURE | HANGUP
    amd_cause: str | None = None
    queue: str | None = None
    queue_at: float | None = None
    queue_status: str | None = None        # QUEUESTATUS: TIMEOUT, FULL, JOINEMPTY, LEAVEEMPTY, ...
    agents_called: int = 0
    agent: str | None = None
    agent_channel: str | None = None
    agent_at: float | None = None
    agent_reason: str | None = None        # AgentComplete Reason: caller | agent | transfer
    abandoned: bool = False                # QueueCallerAbandon: left the queue before an agent answered
    hangup_source: str | None = None       # CHANNEL(hangupsource), from the dialplan's hangup handler
    end_at: float | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    human_route: str = "queue"             # queue | flow: where the dialplan sends a person
    last_event_at: float | None = None
    notes: tuple[str, ...] = ()            # what was estimated rather than seen (reconciliation)

    def as_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if v not in (None, False, 0, ()) or k == "unique_id"}

    @property
    def over(self) -> bool:
        """Nothing more will happen on this call (a few trailing events may still come)."""
        if self.end_at is not None:
            return self.originate_response is not None or self.answer_at is not None
        # Refused before any channel existed: there will be no Hangup.
        return self.originate_response in ("Failure", "Error") and not self.channel_created


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _first(current: float | None, at: float) -> float:
    return current if current is not None else at


def apply_event(facts: CallFacts, event: Mapping[str, Any], at: float) -> CallFacts:
    """Fold one AMI event (a mapping of its fields) into `facts`."""
    name = str(event.get("Event", ""))
    uid = event.get("Uniqueid")
    dest = event.get("DestUniqueid")
    mine = uid == facts.unique_id
    f = facts

    if name == "OriginateResponse":
        if event.get("ActionID") != facts.action_id and not mine:
            return facts
        channel = event.get("Channel") or None
        success = event.get("Response") == "Success"
        return replace(f, originate_response=str(event.get("Response") or "Failure"),
                       originate_reason=_int(event.get("Reason")),
                       # On failure Channel is the dial string, not a channel.
                       channel=f.channel or (channel if success else None),
                       answer_at=_first(f.answer_at, at) if success else f.answer_at,
                       last_event_at=at)
    if name in ("DialBegin", "DialState", "DialEnd") and dest == facts.unique_id and not mine:
        if name == "DialBegin":
            return replace(f, channel_created=True, channel=f.channel or event.get("DestChannel"), last_event_at=at)
        if name == "DialState":
            ringing = event.get("DialStatus") == "RINGING"
            return replace(f, ring_at=_first(f.ring_at, at) if ringing else f.ring_at, last_event_at=at)
        status = event.get("DialStatus") or None
        answered = status == "ANSWER"
        return replace(f, dial_status=status, answer_at=_first(f.answer_at, at) if answered else f.answer_at,
                       last_event_at=at)
    if not mine:
        return facts

    f = replace(f, last_event_at=at)
    if name == "Newchannel":
        return replace(f, channel_created=True, channel=f.channel or event.get("Channel"))
    if name == "Newstate":
        state = event.get("ChannelStateDesc")
        if state == "Ringing":
            return replace(f, ring_at=_first(f.ring_at, at))
        if state == "Up":
            return replace(f, answer_at=_first(f.answer_at, at))
        return f
    if name == "VarSet":
        variable, value = event.get("Variable"), event.get("Value") or None
        if variable == "AMDSTATUS":
            return replace(f, amd_status=value)
        if variable == "AMDCAUSE":
            return replace(f, amd_cause=value)
        if variable == "QUEUESTATUS":
            return replace(f, queue_status=value)
        return f
    if name == "QueueCallerJoin":
        return replace(f, queue=event.get("Queue"), queue_at=_first(f.queue_at, at))
    if name == "AgentCalled":
        return replace(f, agents_called=f.agents_called + 1)
    if name == "AgentConnect":
        return replace(f, agent=event.get("MemberName") or event.get("Interface"),
                       agent_channel=event.get("DestChannel"), agent_at=_first(f.agent_at, at))
    if name == "AgentComplete":
        return replace(f, agent=f.agent or event.get("MemberName"), agent_reason=event.get("Reason") or None)
    if name == "QueueCallerAbandon":
        return replace(f, abandoned=True)
    if name == "UserEvent" and event.get("UserEvent") == "BankccHangup":
        return replace(f, hangup_source=event.get("Source") or "")
    if name == "Hangup":
        return replace(f, end_at=_first(f.end_at, at), channel_created=True,
                       hangup_cause=_int(event.get("Cause")), hangup_cause_text=event.get("Cause-txt") or None,
                       channel=f.channel or event.get("Channel"))
    return f


def refused(facts: CallFacts, message: str, at: float) -> CallFacts:
    """Asterisk refused the Originate action itself (bad channel, no permission, ...)."""
    return replace(facts, originate_response="Error", originate_message=message, last_event_at=at)
