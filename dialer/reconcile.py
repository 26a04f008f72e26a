"""Open attempts checked against what Asterisk really has, so none is left without a result.

When does an attempt stay open with nobody following it? The dialer crashed or was
restarted mid-call; the AMI connection dropped and events were lost; another dialer
process died. Then (at start, after an AMI reconnect, and every few seconds for
calls that have gone quiet) the open attempts this dialer is responsible for (its
own, and those of dialers whose heartbeat stopped) are looked up by their unique id
in AMI `CoreShowChannels`:

  - the channel is there: the call is still up. It is followed again (its
    variables, e.g. the AMD verdict, read with AMI `Status`), and its own Hangup
    will close it. It is not dialled again.
  - the channel is gone: the call ended unseen. The attempt is closed from what
    was recorded (answered? AMD? agent?); if nothing says how it ended, the
    disposition is `unknown`, and the contact is retried by the campaign's `failed`
    rule (delay and tries), never at once.

`assess` and `conclude` are pure; `Reconciler` is the AMI/SQL shell.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from dialer import attempts, dispositions
from dialer.facts import CallFacts

log = logging.getLogger(__name__)


def assess(facts: CallFacts, channel: Mapping[str, Any] | None, variables: Mapping[str, str],
           now: float) -> CallFacts:
    """Facts of a call that is still up, completed from its CoreShowChannel entry and variables."""
    f = replace(facts, last_event_at=now, channel=facts.channel or (channel or {}).get("Channel"),
                channel_created=True)
    notes = list(f.notes)
    if channel is not None and str(channel.get("ChannelState")) == "6" and f.answer_at is None:
        f = replace(f, answer_at=now)
        notes.append("answer time not seen: set when reconciliation found the call up")
    if variables.get("AMDSTATUS") and f.amd_status is None:
        f = replace(f, amd_status=variables["AMDSTATUS"], amd_cause=variables.get("AMDCAUSE") or f.amd_cause)
    in_queue_bridge = channel is not None and channel.get("Application") == "Queue" and channel.get("BridgeId")
    if in_queue_bridge and f.agent_at is None:
        f = replace(f, agent_at=now)
        notes.append("agent connect not seen: the call was found bridged in the queue")
    return replace(f, notes=tuple(notes))


def conclude(facts: CallFacts) -> tuple[dispositions.Verdict, str]:
    """(verdict, closed_by) for a call that is over: from its events when its end was
    seen, else from what was known when it disappeared."""
    if facts.over:
        return dispositions.classify(facts), "events"
    note = "the call was gone from Asterisk and its end was not seen"
    if facts.answer_at is not None and facts.amd_status == "MACHINE":
        return dispositions.Verdict("machine", "unknown", f"answering machine; {note}"), "reconcile"
    if facts.agent_at is not None:
        return dispositions.Verdict("answered_human", "unknown", f"talked with agent {facts.agent}; {note}"), \
            "reconcile"
    return dispositions.Verdict("unknown", "unknown", note), "reconcile"


@dataclass
class Report:
    checked: int = 0
    still_up: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    taken_over: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.still_up or self.closed or self.taken_over)


async def live_channels(ami) -> dict[str, Mapping[str, Any]]:
    """Asterisk's channels by Uniqueid (AMI CoreShowChannels)."""
    reply = await ami.send_action({"Action": "CoreShowChannels"})
    messages = reply if isinstance(reply, list) else [reply]
    if messages and messages[0].get("Response") == "Error":
        raise RuntimeError(f"CoreShowChannels refused: {messages[0].get('Message')}")
    return {m["Uniqueid"]: m for m in messages if m.get("Event") == "CoreShowChannel" and m.get("Uniqueid")}


async def channel_variables(ami, channel: str) -> dict[str, str]:
    reply = await ami.send_action({"Action": "Status", "Channel": channel,
                                   "Variables": "AMDSTATUS,AMDCAUSE,QUEUESTATUS,BANKCC_ATTEMPT_ID"})
    out: dict[str, str] = {}
    for message in reply if isinstance(reply, list) else [reply]:
        values = message.get("Variable") or []
        for item in [values] if isinstance(values, str) else values:
            name, _, value = str(item).partition("=")
            out[name] = value
    return out


class Reconciler:
    """Settles the open attempts this dialer answers for; see the module docstring."""

    def __init__(self, pool, ami, originator, dialer_id: str, *, stale_after_s: float, idle_s: float = 20.0,
                 clock=time.time):
        self.pool, self.ami, self.originator, self.dialer_id = pool, ami, originator, dialer_id
        self.stale_after_s, self.idle_s = stale_after_s, idle_s
        self.clock = clock

    async def run(self, *, everything: bool = False) -> Report:
        """everything: also calls this process is following and hears from (after a reconnect)."""
        report = Report()
        rows = await attempts.open_for_reconcile(self.pool, self.dialer_id, self.stale_after_s)
        now = self.clock()
        todo = []
        for row in rows:
            tracker = self.originator.by_unique_id.get(row["unique_id"])
            if tracker is not None and not everything and now - (tracker.facts.last_event_at or now) < self.idle_s:
                continue  # followed, and events are coming
            if row["id"] in self.originator.pending:
                continue  # being placed right now
            todo.append((row, tracker))
        if not todo:
            return report
        channels = await live_channels(self.ami)
        for row, tracker in todo:
            report.checked += 1
            if not row["own"]:
                if not await attempts.take_over(self.pool, row["id"], row["dialer_id"], self.dialer_id):
                    continue  # someone else got there first
                report.taken_over.append(row["id"])
            facts = tracker.facts if tracker is not None else attempts.facts_from_json(_json(row["facts"]))
            channel = channels.get(row["unique_id"])
            if channel is not None:
                variables = await channel_variables(self.ami, channel["Channel"])
                facts = assess(facts, channel, variables, self.clock())
                if tracker is None:
                    self.originator.adopt(row["id"], facts)
                    await attempts.progress(self.pool, row["id"], facts)
                else:
                    tracker.facts = facts
                report.still_up.append(row["id"])
                continue
            verdict, closed_by = conclude(facts)
            if tracker is not None:
                self.originator.close(tracker)  # the engine's finish callback concludes it
            else:
                await attempts.close(self.pool, row["id"], facts, verdict, closed_by=closed_by)
            report.closed.append(row["id"])
        if report.closed or report.taken_over or (everything and report):
            log.info("reconciled open attempts: %d still up %s, %d closed %s, %d taken over",
                     len(report.still_up), report.still_up, len(report.closed), report.closed,
                     len(report.taken_over))
        elif report:
            log.debug("quiet calls checked: %s still up", report.still_up)
        return report


def _json(value: Any) -> dict[str, Any]:
    import json

    return json.loads(value) if isinstance(value, str) else dict(value or {})
