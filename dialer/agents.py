"""Agents are Asterisk queue members; their state comes from AMI queue events.

`QueueBoard` is pure: it folds QueueMember (QueueStatus answer), QueueMemberAdded,
QueueMemberRemoved, QueueMemberStatus, QueueMemberPause, AgentCalled,
AgentConnect, AgentComplete and AgentRingNoAnswer into members per queue, and
says how many agents of a queue are free, which is what pacing needs.

`AgentDirectory` is the AMI shell: a QueueStatus snapshot at start (and after a
reconnect), events afterwards, and QueueAdd / QueueRemove / QueuePause for
logging agents in and out (the simulator's agents, or an agent desktop later).

Member Status is Asterisk's device state: 0 unknown, 1 not in use, 2 in use,
3 busy, 4 invalid, 5 unavailable, 6 ringing, 7 ring+in use, 8 on hold.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Mapping

log = logging.getLogger(__name__)

NOT_IN_USE, IN_USE, UNAVAILABLE, RINGING = 1, 2, 5, 6
_IDLE_STATES = (0, NOT_IN_USE)  # queue rings "unknown" members too


@dataclass(frozen=True)
class Member:
    queue: str
    name: str
    interface: str
    status: int = 0
    paused: bool = False
    pause_reason: str = ""
    in_call: bool = False
    ringing: bool = False       # AgentCalled until answered / RingNoAnswer
    calls_taken: int = 0
    last_call_end: float | None = None
    wrapping: bool = False      # after AgentComplete, until the member is available again (wrap-up)

    @property
    def available(self) -> bool:
        return not self.paused and not self.in_call and not self.ringing and self.status in _IDLE_STATES

    def describe(self) -> str:
        if self.paused:
            return f"paused ({self.pause_reason})" if self.pause_reason else "paused"
        if self.in_call:
            return "talking"
        if self.ringing or self.status in (RINGING, 7):
            return "ringing"
        return {0: "idle", 1: "idle", 2: "in use", 3: "busy", 4: "invalid", 5: "unavailable",
                8: "on hold"}.get(self.status, f"state {self.status}")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


class QueueBoard:
    """Queue members by queue and name. Mutable, but only through `apply`/`reset`."""

    def __init__(self) -> None:
        self.members: dict[str, dict[str, Member]] = {}
        # (queue, at, seconds) of finished wrap-ups, newest last: the predictive pacer learns them
        self.wrap_ups: deque[tuple[str, float, float]] = deque(maxlen=2000)

    def _store(self, queue: str, member: Member, at: float) -> None:
        """Keep `member`; a member available again after a call has finished its wrap-up."""
        if member.wrapping and member.available and member.last_call_end is not None:
            self.wrap_ups.append((queue, at, max(0.0, at - member.last_call_end)))
            member = replace(member, wrapping=False)
        self.members.setdefault(queue, {})[member.name] = member

    def reset(self, queue: str | None = None) -> None:
        if queue is None:
            self.members.clear()
        else:
            self.members.pop(queue, None)

    def apply(self, event: Mapping[str, Any], at: float) -> None:
        name = event.get("Event")
        queue = event.get("Queue")
        if not queue:
            return
        member_name = event.get("MemberName") or event.get("Name") or event.get("Interface") or ""
        if name == "QueueMemberRemoved":
            self.members.get(queue, {}).pop(member_name, None)
            return
        if name in ("QueueMember", "QueueMemberAdded", "QueueMemberStatus", "QueueMemberPause"):
            current = self.members.get(queue, {}).get(member_name)
            member = Member(queue, member_name, event.get("Interface") or event.get("Location") or "")
            if current is not None:
                member = replace(current, interface=member.interface or current.interface)
            fields: dict[str, Any] = {"paused": _flag(event.get("Paused", member.paused))}
            if "Status" in event:
                fields["status"] = _int(event["Status"])
                if fields["status"] not in (RINGING, 7):
                    fields["ringing"] = False
            # InCall stays 0 in QueueMemberStatus during a queue call on Asterisk 22: trust a 1,
            # and clear the flag only once the phone is idle again.
            if _flag(event.get("InCall")):
                fields["in_call"] = True
            elif fields.get("status", member.status) in _IDLE_STATES + (UNAVAILABLE, 4):
                fields["in_call"] = False
            if "CallsTaken" in event:
                fields["calls_taken"] = _int(event["CallsTaken"])
            if "PausedReason" in event or "Reason" in event:
                fields["pause_reason"] = str(event.get("PausedReason") or event.get("Reason") or "")
            self._store(queue, replace(member, **fields), at)
            return
        member = self.members.get(queue, {}).get(member_name)
        if member is None:
            return
        if name == "AgentCalled":
            member = replace(member, ringing=True)
        elif name == "AgentRingNoAnswer":
            member = replace(member, ringing=False)
        elif name == "AgentConnect":
            member = replace(member, ringing=False, in_call=True)
        elif name == "AgentComplete":
            member = replace(member, in_call=False, last_call_end=at, calls_taken=member.calls_taken + 1,
                             wrapping=True)
        else:
            return
        self._store(queue, member, at)

    def wrapping_since(self, queue: str) -> list[float]:
        """When the members still in wrap-up finished their calls."""
        return [m.last_call_end for m in self.members.get(queue, {}).values()
                if m.wrapping and m.last_call_end is not None]

    def available(self, queue: str) -> int:
        return sum(1 for m in self.members.get(queue, {}).values() if m.available)

    def logged_in(self, queue: str) -> int:
        return len(self.members.get(queue, {}))

    def snapshot(self, queue: str) -> list[dict[str, Any]]:
        return [{"name": m.name, "interface": m.interface, "state": m.describe(), "calls_taken": m.calls_taken}
                for m in sorted(self.members.get(queue, {}).values(), key=lambda m: m.name)]


QUEUE_EVENTS = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberStatus", "QueueMemberPause",
                "AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer")


class AgentDirectory:
    """The board kept up to date from a panoramisk Manager."""

    def __init__(self, ami, clock) -> None:
        self.ami = ami
        self.clock = clock
        self.board = QueueBoard()
        self.synced = False

    def install(self) -> None:
        for name in QUEUE_EVENTS:
            self.ami.register_event(name, self._on_event)

    def _on_event(self, manager, event) -> None:
        self.board.apply(event, self.clock())

    async def refresh(self) -> None:
        """Replace the board with Asterisk's QueueStatus (at start, after a reconnect)."""
        reply = await self.ami.send_action({"Action": "QueueStatus"})
        messages = reply if isinstance(reply, list) else [reply]
        board = QueueBoard()
        for message in messages:
            if message.get("Event") == "QueueMember":
                board.apply(message, self.clock())
        self.board.members = board.members
        self.synced = True


async def add_member(ami, queue: str, interface: str, name: str, *, paused: bool = False,
                     state_interface: str | None = None) -> None:
    """Log an agent into a queue (QueueAdd). Already a member is fine."""
    action = {"Action": "QueueAdd", "Queue": queue, "Interface": interface, "MemberName": name,
              "Paused": "true" if paused else "false"}
    if state_interface:
        action["StateInterface"] = state_interface
    # as_list=False: panoramisk otherwise waits for more replies after "Added interface to queue".
    reply = await ami.send_action(action, as_list=False)
    if reply.get("Response") != "Success" and "Already there" not in str(reply.get("Message")):
        raise RuntimeError(f"QueueAdd {name} to {queue}: {reply.get('Message')}")


async def remove_member(ami, queue: str, interface: str) -> None:
    await ami.send_action({"Action": "QueueRemove", "Queue": queue, "Interface": interface}, as_list=False)


async def pause_member(ami, queue: str, interface: str, paused: bool, reason: str = "") -> None:
    await ami.send_action({"Action": "QueuePause", "Queue": queue, "Interface": interface,
                           "Paused": "true" if paused else "false", "Reason": reason}, as_list=False)
