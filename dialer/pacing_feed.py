"""What the live engine tells the predictive pacer, per agent queue (dialer/predictive.py).

    feed = PacingFeed()
    state = await feed.input(conn, queue, board, now, max_lines, abandons_left)   # PacingInput with a model

The model is learned from the queue's own history: ended attempts of the last two
days (dialer/pacing_stats.stats_from_attempts: answer rate and machine share by time
of day, ring durations, talk times, how live answers ended) and the wrap-ups the agent
board saw (dialer/agents.py). It is rebuilt at most every `refresh_s` seconds, so a
tick costs one query for the calls in flight; with too little history the model is
None and the predictive pacer says "cold start" and paces as progressive.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from dialer.pacing import PacingInput
from dialer.pacing_live import live_input
from dialer.pacing_stats import PacingStats, stats_from_attempts

HISTORY = "2 days"

_HISTORY_SQL = f"""
SELECT a.originate_at, a.created_at, a.answer_at, a.agent_at, a.end_at, a.ring_seconds, a.hold_seconds,
       a.talk_seconds, a.amd_status, a.disposition
FROM attempts a JOIN campaigns c ON c.id = a.campaign_id
WHERE c.agent_queue = $1 AND a.state = 'ended' AND a.end_at > now() - interval '{HISTORY}'
ORDER BY a.end_at"""

_OPEN_SQL = """
SELECT a.state, a.originate_at, a.created_at, a.answer_at, a.agent_at, a.amd_status
FROM attempts a JOIN campaigns c ON c.id = a.campaign_id
WHERE a.state <> 'ended' AND c.agent_queue = $1"""


def learn(history: list, wrap_ups: list[tuple[float, float]]) -> PacingStats:
    """The estimators from ended attempts (oldest first) and (at, seconds) wrap-ups. Pure."""
    stats = stats_from_attempts(history)
    for at, seconds in wrap_ups:
        stats.observe_wrap(at=at, seconds=seconds)
    return stats


@dataclass
class PacingFeed:
    refresh_s: float = 30.0
    patience_s: float = 2.0  # a live answer with no agent this long is abandoned (the compliance definition)
    _stats: dict[str, tuple[float, PacingStats]] = field(default_factory=dict)

    async def stats(self, conn, queue: str, board) -> PacingStats:
        cached = self._stats.get(queue)
        if cached is not None and time.monotonic() - cached[0] < self.refresh_s:
            return cached[1]
        history = [dict(r) for r in await conn.fetch(_HISTORY_SQL, queue)]
        wraps = [(at, seconds) for q, at, seconds in board.wrap_ups if q == queue]
        stats = learn(history, wraps)
        self._stats[queue] = (time.monotonic(), stats)
        return stats

    async def input(self, conn, queue: str, board, now: float, max_lines: int,
                    abandons_left: float | None) -> PacingInput:
        stats = await self.stats(conn, queue, board)
        model = stats.model(now, patience_s=self.patience_s)
        rows = [dict(r) for r in await conn.fetch(_OPEN_SQL, queue)]
        state = live_input(now=now, open_attempts=rows, agents_available=board.available(queue),
                           agents_logged_in=board.logged_in(queue), max_lines=max_lines,
                           wrap_started=board.wrapping_since(queue), model=model)
        return dataclasses.replace(state, abandon_headroom=abandons_left)

    def thin(self, queue: str) -> Any:
        cached = self._stats.get(queue)
        return cached[1].thin() if cached else "no history read yet"
