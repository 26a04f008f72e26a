"""What the live engine feeds the predictive pacer, from the attempts table and the agent board.
Pure: rows and times in, a PacingInput out; the engine does the querying.

    rows = SELECT state, originate_at, created_at, answer_at, agent_at, amd_status
           FROM attempts a JOIN campaigns c ON c.id = a.campaign_id
           WHERE a.state <> 'ended' AND c.agent_queue = $1        -- every campaign on the queue
    state = live_input(now=time.time(), open_attempts=rows,
                       agents_available=board.available(q), agents_logged_in=board.logged_in(q),
                       wrap_started=[m.last_call_end for m in members if in wrap-up],
                       max_lines=settings.max_lines, abandoned=..., live_answers=...,
                       abandon_limit=campaign policy (e.g. 0.03), model=stats.model(now))

`abandoned` / `live_answers` are the compliance window's counts (rolling 24 h or 30 days, as
the campaign's policy says): attempts with disposition dropped or abandoned, and those plus
answered_human with an agent. The headroom is abandon_limit·live_answers − abandoned.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from dialer.pacing import PacingInput


def _epoch(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return v.timestamp()


def live_input(*, now: float, open_attempts: Iterable[Mapping[str, Any]], agents_available: int,
               agents_logged_in: int, max_lines: int, wrap_started: Iterable[float] = (),
               abandoned: int | None = None, live_answers: int | None = None, abandon_limit: float = 0.03,
               model: Any = None) -> PacingInput:
    """Ages of ringing calls, talks and wrap-ups; answered calls waiting (AMD said person, no
    agent yet) and in AMD (no verdict yet); the abandonment headroom (None if not given)."""
    ring_ages: list[float] = []
    talk_ages: list[float] = []
    amd_pending = waiting = machines = 0
    for row in open_attempts:
        state = row.get("state")
        if state in ("originating", "ringing"):
            start = _epoch(row.get("originate_at")) or _epoch(row.get("created_at"))
            ring_ages.append(max(0.0, now - start) if start is not None else 0.0)
        elif state == "answered":
            if row.get("amd_status") in ("HUMAN", "NOTSURE"):
                waiting += 1
            elif row.get("amd_status") is None:
                amd_pending += 1
            else:
                machines += 1  # AMD heard a machine: still on a line, never needs an agent
        elif state == "connected":
            start = _epoch(row.get("agent_at"))
            talk_ages.append(max(0.0, now - start) if start is not None else 0.0)
        else:
            raise ValueError(f"open attempt with state {state!r}: expected originating, ringing, answered or "
                             f"connected")
    headroom = None
    if abandoned is not None and live_answers is not None:
        headroom = abandon_limit * live_answers - abandoned
    return PacingInput(
        agents_available=agents_available, agents_logged_in=agents_logged_in,
        calls_in_flight=len(ring_ages) + amd_pending + waiting + machines, max_lines=max_lines,
        calls_connected=len(talk_ages), ring_ages=tuple(ring_ages), amd_pending=amd_pending,
        answered_waiting=waiting, talk_ages=tuple(talk_ages),
        wrap_ages=tuple(max(0.0, now - t) for t in wrap_started), abandon_headroom=headroom, model=model)
