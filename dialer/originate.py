"""Placing calls with AMI Originate and following each one through its events.

Every call is an async Originate into s@bankcc-outbound (asterisk/conf/extensions.conf)
with:
  ActionID    the attempt's action id: the OriginateResponse comes back with it
  ChannelId   the attempt's unique id: Asterisk gives the customer's channel this
              Uniqueid, so every later event (Newstate, DialEnd, VarSet AMDSTATUS,
              QueueCallerJoin, AgentConnect, AgentComplete, Hangup, the hangup
              handler's UserEvent) names the attempt, and reconciliation can find
              the channel in CoreShowChannels after a crash
  Variable    BANKCC_ATTEMPT_ID and the campaign's routing for the dialplan

A Tracker per call folds events into CallFacts (dialer/facts.py). Milestones
(ringing, answered, AMD verdict, agent) are handed to `save`; once the call is
over, and `settle_s` later (the queue's AgentComplete may trail the Hangup),
to `finish`, exactly once. The Originator knows nothing of the database.

panoramisk quirks handled here: an async Originate's future resolves only with the
OriginateResponse (and that message is then not dispatched as an event), and
actions without any reply are re-sent after a reconnect unless "forgettable",
which for Originate could dial a customer twice. Originate is made forgettable
on this connection; a call whose response was lost is settled by its events or by
reconciliation.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable

from dialer.attempts import Attempt, state_of
from dialer.facts import CallFacts, apply_event, refused

log = logging.getLogger(__name__)

OUTBOUND_CONTEXT = "bankcc-outbound"
CALL_EVENTS = ("OriginateResponse", "Newchannel", "Newstate", "DialBegin", "DialState", "DialEnd", "VarSet",
               "QueueCallerJoin", "QueueCallerAbandon", "AgentCalled", "AgentConnect", "AgentComplete",
               "UserEvent", "Hangup")
_WATCHED_VARIABLES = ("AMDSTATUS", "AMDCAUSE", "QUEUESTATUS")


@dataclass(frozen=True)
class Route:
    """What the dialplan does with an answered call, from the campaign."""
    campaign_id: int
    caller_id: str
    queue: str
    queue_timeout_s: int
    human_route: str            # queue | flow
    flow: str
    machine_policy: str         # hangup | message | flow
    machine_target: str | None
    machine_prompt: str | None  # full path (no extension) of the message prompt, as Asterisk sees it
    safe_harbor: str | None = None  # prompt played to a person answered and left without an agent


def ami_up(ami) -> bool:
    """Logged in and not known to be down. panoramisk keeps `authenticated` True after the
    connection drops; dialer.ami.AmiClient's `state` says so at once."""
    if getattr(ami, "state", "connected") != "connected":
        return False
    return bool(getattr(ami, "authenticated", False)) and getattr(ami, "protocol", None) is not None


def dial_string(trunk: str, number: str) -> str:
    """The Originate channel for `number` through the campaign's trunk.

    PJSIP/<endpoint> dials PJSIP/<number>@<endpoint>: the endpoint's registered or
    configured contact, with the number as the user part. Anything else is a prefix
    the number is appended to, after a "/" unless it ends with one:
    SIP/provider -> SIP/provider/<number>, Local/ -> Local/<number>.
    """
    tech, _, rest = trunk.partition("/")
    if tech.upper() == "PJSIP" and rest and "@" not in rest and "/" not in rest:
        return f"PJSIP/{number}@{rest}"
    if rest and not trunk.endswith("/"):
        return f"{trunk}/{number}"
    return f"{trunk}{number}"


def originate_action(attempt: Attempt, route: Route, ring_timeout_s: float) -> dict[str, Any]:
    variables = {
        "BANKCC_ATTEMPT_ID": attempt.id, "BANKCC_CAMPAIGN_ID": route.campaign_id,
        "BANKCC_CONTACT_ID": attempt.contact_id, "BANKCC_PHONE": attempt.phone,
        "BANKCC_QUEUE": route.queue, "BANKCC_QUEUE_TIMEOUT": route.queue_timeout_s,
        "BANKCC_HUMAN_ROUTE": route.human_route, "BANKCC_FLOW": route.flow,
        "BANKCC_MACHINE_POLICY": route.machine_policy, "BANKCC_MACHINE_TARGET": route.machine_target or "",
        "BANKCC_MACHINE_PROMPT": route.machine_prompt or "",
        "BANKCC_SAFE_HARBOR": route.safe_harbor or "",
    }
    return {"Action": "Originate", "ActionID": attempt.action_id, "ChannelId": attempt.unique_id,
            "Channel": attempt.dial_string, "Context": OUTBOUND_CONTEXT, "Exten": "s", "Priority": "1",
            "Timeout": str(int(ring_timeout_s * 1000)), "CallerID": route.caller_id, "Async": "true",
            "Variable": [f"{k}={v}" for k, v in variables.items()]}


class Tracker:
    def __init__(self, attempt_id: int, facts: CallFacts):
        self.attempt_id = attempt_id
        self.facts = facts
        self.saved_marks: tuple = self._marks()
        self.lock = asyncio.Lock()
        self.closing: asyncio.TimerHandle | None = None
        self.finished = False

    def _marks(self) -> tuple:
        f = self.facts
        return state_of(f), f.amd_status, f.queue, f.agent

    def changed(self) -> bool:
        marks = self._marks()
        if marks != self.saved_marks:
            self.saved_marks = marks
            return True
        return False


Save = Callable[[int, CallFacts], Awaitable[None]]


class Originator:
    def __init__(self, ami, *, save: Save, finish: Save, settle_s: float = 0.5,
                 clock: Callable[[], float] = time.time):
        self.ami = ami
        self.save, self.finish = save, finish
        self.settle_s = settle_s
        self.clock = clock
        self.by_unique_id: dict[str, Tracker] = {}
        self.by_action_id: dict[str, Tracker] = {}
        self._tasks: set[asyncio.Task] = set()
        # Attempts written but whose Originate is not sent yet (the commit, a preview wait):
        # reconciliation must not take their missing channel for a call that ended.
        self.pending: set[int] = set()

    def install(self) -> None:
        if "originate" not in self.ami.forgetable_actions:
            self.ami.forgetable_actions = (*self.ami.forgetable_actions, "originate")
        for name in CALL_EVENTS:
            self.ami.register_event(name, self._on_event)

    @property
    def active(self) -> int:
        return len(self.by_unique_id)

    def originate(self, attempt: Attempt, route: Route, ring_timeout_s: float) -> None:
        facts = CallFacts(unique_id=attempt.unique_id, action_id=attempt.action_id, originated_at=self.clock(),
                          human_route=route.human_route, last_event_at=self.clock())
        tracker = self._track(attempt.id, facts)
        self.pending.discard(attempt.id)
        try:
            if getattr(self.ami, "state", "connected") != "connected":
                raise ConnectionError("AMI is down")
            future = self.ami.send_action(originate_action(attempt, route, ring_timeout_s))
        except Exception as exc:  # not connected: nothing was sent
            self._update(tracker, refused(tracker.facts, f"not sent: {type(exc).__name__}: {exc}", self.clock()))
            return
        future.add_done_callback(lambda fut: self._on_reply(tracker, fut))
        self._spawn(self._save(tracker))

    def adopt(self, attempt_id: int, facts: CallFacts) -> Tracker:
        """Follow a call that was already up when this process took it over (reconciliation)."""
        return self._track(attempt_id, replace(facts, last_event_at=self.clock()))

    def _track(self, attempt_id: int, facts: CallFacts) -> Tracker:
        tracker = Tracker(attempt_id, facts)
        self.by_unique_id[facts.unique_id] = tracker
        self.by_action_id[facts.action_id] = tracker
        return tracker

    def _on_reply(self, tracker: Tracker, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # connection trouble: events or reconciliation will settle the call
        reply = future.result()
        messages = reply if isinstance(reply, list) else [reply]
        for message in messages:
            if message.get("Event") == "OriginateResponse":
                self._update(tracker, apply_event(tracker.facts, message, self.clock()))
            elif message.get("Response") == "Error":
                self._update(tracker, refused(tracker.facts, str(message.get("Message") or "error"), self.clock()))

    def _on_event(self, manager, event) -> None:
        name = event.get("Event")
        if name == "VarSet" and event.get("Variable") not in _WATCHED_VARIABLES:
            return
        tracker = self.by_unique_id.get(event.get("Uniqueid") or "") or self.by_unique_id.get(
            event.get("DestUniqueid") or "")
        if tracker is None and name == "OriginateResponse":
            tracker = self.by_action_id.get(event.get("ActionID") or "")
        if tracker is None or tracker.finished:
            return
        self._update(tracker, apply_event(tracker.facts, event, self.clock()))

    def _update(self, tracker: Tracker, facts: CallFacts) -> None:
        tracker.facts = facts
        if tracker.changed() and not facts.over:
            self._spawn(self._save(tracker))
        if facts.over and tracker.closing is None:
            # Only an answered call has queue events that may trail its Hangup; an unanswered
            # one holds a line in the pacing count, so it is closed at once.
            settle = self.settle_s if facts.answer_at is not None else 0.05
            tracker.closing = asyncio.get_running_loop().call_later(settle, self._settled, tracker)

    def _settled(self, tracker: Tracker) -> None:
        tracker.closing = None
        if tracker.facts.over:  # a late Newchannel may have reopened a refused call
            self.close(tracker)

    def close(self, tracker: Tracker, facts: CallFacts | None = None) -> None:
        """Finish the call with its facts (reconciliation passes what it found)."""
        if tracker.finished:
            return
        tracker.finished = True
        if facts is not None:
            tracker.facts = facts
        if tracker.closing is not None:
            tracker.closing.cancel()
        self.by_unique_id.pop(tracker.facts.unique_id, None)
        self.by_action_id.pop(tracker.facts.action_id, None)
        self._spawn(self._finish(tracker))

    async def _save(self, tracker: Tracker) -> None:
        async with tracker.lock:
            if not tracker.finished:
                await self.save(tracker.attempt_id, tracker.facts)

    async def _finish(self, tracker: Tracker) -> None:
        async with tracker.lock:
            await self.finish(tracker.attempt_id, tracker.facts)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("attempt bookkeeping failed: %s", task.exception(), exc_info=task.exception())

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for pending database writes (shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
