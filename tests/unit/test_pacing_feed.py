"""The live feed of the predictive pacer: history and wrap-ups in, a model the pacer uses out."""
import random
from datetime import datetime, timedelta, timezone

from dialer.agents import QueueBoard
from dialer.pacing import pacer_for
from dialer.pacing_feed import learn
from dialer.pacing_live import live_input


def history(n: int, answer_rate: float, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
    rows = []
    for i in range(n):
        at = start + timedelta(seconds=20 * i)
        if rng.random() < answer_rate:
            ring, talk = rng.uniform(5, 20), rng.lognormvariate(4.6, 0.7)
            rows.append({"originate_at": at, "answer_at": at + timedelta(seconds=ring),
                         "agent_at": at + timedelta(seconds=ring + 1), "end_at": at + timedelta(seconds=ring + talk),
                         "ring_seconds": ring, "talk_seconds": talk, "amd_status": "HUMAN",
                         "disposition": "answered_human"})
        else:
            rows.append({"originate_at": at, "answer_at": None, "agent_at": None,
                         "end_at": at + timedelta(seconds=25), "ring_seconds": 25.0, "talk_seconds": None,
                         "amd_status": None, "disposition": "no_answer"})
    return rows


def test_the_board_sees_wrap_ups_end():
    board = QueueBoard()
    board.apply({"Event": "QueueMemberAdded", "Queue": "q", "MemberName": "a1", "Interface": "PJSIP/a1",
                 "Status": "1", "Paused": "0"}, 100.0)
    board.apply({"Event": "AgentConnect", "Queue": "q", "MemberName": "a1"}, 110.0)
    board.apply({"Event": "QueueMemberPause", "Queue": "q", "MemberName": "a1", "Paused": "1"}, 169.0)
    board.apply({"Event": "AgentComplete", "Queue": "q", "MemberName": "a1"}, 170.0)
    assert board.wrapping_since("q") == [170.0] and not board.wrap_ups
    board.apply({"Event": "QueueMemberPause", "Queue": "q", "MemberName": "a1", "Paused": "0"}, 182.5)
    assert list(board.wrap_ups) == [("q", 182.5, 12.5)] and board.wrapping_since("q") == []


def test_enough_history_gives_a_model_and_predictive_dials_ahead_of_free_agents():
    wraps = [(1_763_860_000.0 + i, 15.0) for i in range(40)]
    stats = learn(history(600, 0.25), wraps)
    assert stats.thin() is None
    now = history(600, 0.25)[-1]["end_at"].timestamp()
    model = stats.model(now)
    assert model is not None
    state = live_input(now=now, open_attempts=[], agents_available=4, agents_logged_in=10, max_lines=60,
                       model=model)
    from dataclasses import replace

    decision = pacer_for("predictive").decide(replace(state, abandon_headroom=20.0))
    assert decision.calls > 4, decision.explanation  # answer rate 25 %: more calls than free agents
    cold = pacer_for("predictive").decide(replace(state, model=None, abandon_headroom=20.0))
    assert cold.calls == 4  # no model: exactly progressive
    spent = pacer_for("predictive").decide(replace(state, abandon_headroom=0.0))
    assert spent.calls == 4  # no abandonment headroom left: progressive


def test_thin_history_means_no_model():
    stats = learn(history(20, 0.5), [])
    assert stats.thin() is not None and stats.model(1e9) is None
