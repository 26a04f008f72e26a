"""IVR analytics on a real PostgreSQL: queue waits from AMI events, and the figures per flow version."""
import asyncio
import json
import uuid
from datetime import datetime, timedelta, timezone

from common.pages.analytics import ivr_figures
from ivr.queue_events import QueueWaitRecorder, statement


def test_queue_event_statements():
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    assert statement({"Event": "QueueCallerJoin", "Uniqueid": "1.1", "Queue": "cards"}, now)[1] == ("1.1", "cards", now)
    sql, args = statement({"Event": "AgentConnect", "Uniqueid": "1.1", "Queue": "cards", "HoldTime": "12",
                           "MemberName": "agent1"}, now)
    assert sql.startswith("UPDATE") and args == ("1.1", "cards", now, 12.0, "agent1")
    assert statement({"Event": "QueueCallerAbandon", "Uniqueid": "1.1", "Queue": "cards", "HoldTime": "x"},
                     now)[1] == ("1.1", "cards", None)
    assert statement({"Event": "QueueCallerJoin", "Queue": "cards"}, now) is None  # garbled: ignored
    assert statement({"Event": "Newchannel", "Uniqueid": "1.1", "Queue": "q"}, now) is None


class FakeAmi:
    def __init__(self):
        self.handlers = {}

    def register_event(self, name, callback):
        self.handlers.setdefault(name, []).append(callback)

    def emit(self, event):
        for callback in self.handlers.get(event["Event"], []):
            callback(self, event)


async def call(pool, flow, version, outcome, last_node, unique_id):
    return await pool.fetchval(
        "INSERT INTO calls (channel, unique_id, caller_id, dialed, flow_name, flow_version, language, started_at,"
        " ended_at, outcome, last_node) VALUES ('PJSIP/x', $1, '', '4000', $2, $3, 'zh-CN', now(), now(), $4, $5)"
        " RETURNING id", unique_id, flow, version, outcome, last_node)


async def step(pool, call_id, seq, node, node_type, result, input=None, detail=None):
    await pool.execute("INSERT INTO call_steps (call_id, seq, node, node_type, input, result, started_at, ended_at,"
                       " detail) VALUES ($1, $2, $3, $4, $5, $6, now(), now(), $7::jsonb)", call_id, seq, node,
                       node_type, input, result, json.dumps(detail or {}))


async def test_figures_per_flow_version(pool):
    flow = f"f{uuid.uuid4().hex[:8]}"
    ids = [f"{flow}.{i}" for i in range(4)]
    a = await call(pool, flow, "v1", "completed", "end", ids[0])
    await step(pool, a, 1, "main", "ask", "lost_card", "挂失", {"tries": [{"heard": "speech", "intent": "lost_card"}]})
    b = await call(pool, flow, "v1", "transferred", "to_agent", ids[1])
    await step(pool, b, 1, "main", "ask", "agent", "0", {"tries": [{"heard": "key", "key": "0"}]})
    await step(pool, b, 2, "to_agent", "transfer", "transferred", None, {"reason": "hotline"})
    await call(pool, flow, "v1", "caller_hangup", "main", ids[2])
    await call(pool, flow, "v2", "completed", "end", ids[3])
    recorder = QueueWaitRecorder(pool, FakeAmi())
    recorder.start()
    try:
        recorder.ami.emit({"Event": "QueueCallerJoin", "Uniqueid": ids[1], "Queue": "cards"})
        recorder.ami.emit({"Event": "AgentConnect", "Uniqueid": ids[1], "Queue": "cards", "HoldTime": "7",
                           "MemberName": "agent2"})
        recorder.ami.emit({"Event": "QueueCallerLeave", "Uniqueid": ids[1], "Queue": "cards"})
        for _ in range(50):
            await asyncio.sleep(0.05)
            if recorder.queue.empty():
                break
        await asyncio.sleep(0.1)
    finally:
        await recorder.stop()
    f = await ivr_figures(pool, 7, flow)
    v1 = next(v for v in f["versions"] if v["version"] == "v1")
    v2 = next(v for v in f["versions"] if v["version"] == "v2")
    assert v1["calls"] == 3 and v1["containment"] == 1 / 3 and v2["containment"] == 1.0
    assert v1["speech_share"] == 0.5
    assert v1["queue"] == {"joined": 1, "answered": 1, "abandoned": 0, "answer_rate": 1.0, "wait_avg_s": 7.0,
                           "wait_p90_s": 7.0}
    assert [(d["last_node"], d["n"]) for d in f["dropoff"]] == [("main", 1)]
    assert [(t["reason"], t["n"]) for t in f["transfer_reasons"]] == [("hotline", 1)]
    assert sum(sum(day.values()) for day in f["intents_by_day"].values()) == 2
