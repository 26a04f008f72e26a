"""Queue waits from AMI events: for each caller an IVR transferred, when they joined the
queue, whether an agent answered (and after how long) or they gave up.

    QueueCallerJoin    -> a row (unique_id, queue, joined_at)
    AgentConnect       -> answered_at, agent, wait_seconds = HoldTime
    QueueCallerAbandon -> abandoned, wait_seconds = HoldTime
    QueueCallerLeave   -> left_at

`apply(event, now)` turns an event into one SQL statement (pure, tested alone);
`QueueWaitRecorder` runs them in arrival order on one task, so a slow database
delays the figures, never the AMI reader. The table feeds /analytics.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Mapping

import asyncpg

log = logging.getLogger(__name__)

EVENTS = ("QueueCallerJoin", "AgentConnect", "QueueCallerAbandon", "QueueCallerLeave")
_BACKLOG = 10_000  # events kept while the database is away; beyond that the oldest figures are lost


def _seconds(value: Any) -> float | None:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def statement(event: Mapping[str, Any], now: datetime) -> tuple[str, tuple] | None:
    """The SQL that records `event`, or None if it is not one we keep (or lacks its fields)."""
    name, unique_id, queue = event.get("Event"), event.get("Uniqueid"), event.get("Queue")
    if not unique_id or not queue:
        return None
    if name == "QueueCallerJoin":
        return "INSERT INTO queue_waits (unique_id, queue, joined_at) VALUES ($1, $2, $3)", (unique_id, queue, now)
    open_row = "unique_id = $1 AND queue = $2 AND left_at IS NULL"
    if name == "AgentConnect":
        return (f"UPDATE queue_waits SET answered_at = $3, wait_seconds = $4, agent = $5 WHERE {open_row}",
                (unique_id, queue, now, _seconds(event.get("HoldTime")), event.get("MemberName") or None))
    if name == "QueueCallerAbandon":
        return (f"UPDATE queue_waits SET abandoned = true, wait_seconds = $3 WHERE {open_row}",
                (unique_id, queue, _seconds(event.get("HoldTime"))))
    if name == "QueueCallerLeave":
        return f"UPDATE queue_waits SET left_at = $3 WHERE {open_row}", (unique_id, queue, now)
    return None


class QueueWaitRecorder:
    def __init__(self, pool: asyncpg.Pool, ami) -> None:
        self.pool, self.ami = pool, ami
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=_BACKLOG)
        self.task: asyncio.Task | None = None
        self.dropped = 0

    def start(self) -> None:
        for name in EVENTS:
            self.ami.register_event(name, self._on_event)
        self.task = asyncio.create_task(self._write())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()

    def _on_event(self, manager, event) -> None:
        sql = statement(event, datetime.now(timezone.utc))
        if sql is None:
            return
        try:
            self.queue.put_nowait(sql)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _write(self) -> None:
        while True:
            sql, args = await self.queue.get()
            while True:
                try:
                    await self.pool.execute(sql, *args)
                    break
                except (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError) as exc:
                    log.warning("queue waits: database unavailable (%s); retrying", exc)
                    await asyncio.sleep(2)
                except asyncpg.PostgresError:
                    log.exception("queue waits: could not record a queue event")
                    break
