"""The opt_out flow node through the real runner, with a recorder standing in for PostgreSQL
(tests/db/test_compliance_db.py checks the recorder itself)."""
import textwrap
from datetime import datetime, timezone

import pytest

from ivr.call import CallContext, Services
from ivr.call_log import CallStart, MemoryCallLog
from ivr.fake_channel import ScriptedChannel
from ivr.flow import parse_flow
from ivr.nodes import FlowError
from ivr.runner import FlowRunner

FLOW = """
flow: stop
languages: [zh-CN]
start: stop_calls
nodes:
  stop_calls: {type: opt_out, scope: campaign, next: bye, on_error: sorry}
  bye: {type: hangup, reason: opted_out}
  sorry: {type: hangup, reason: opt_out_failed}
"""


class Recorder:
    def __init__(self, fail=False):
        self.calls, self.fail = [], fail

    async def __call__(self, **kw):
        self.calls.append(kw)
        if self.fail:
            raise OSError("database down")
        return {"phone": "+8613800000001", "scope": kw["scope"], "campaign_id": 7, "attempt_id": 3, "added": True}


async def run(recorder):
    flow = parse_flow(textwrap.dedent(FLOW), "flows/stop.yaml")
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("PJSIP/x-1", "u-1", "13800000001", "s", flow.name, flow.version,
                                               "zh-CN", datetime.now(timezone.utc)))
    call = CallContext(ScriptedChannel(keys=[]), "zh-CN", lambda p, lang: p,
                       {"unique_id": "u-1", "caller": "+8613800000001", "call_id": call_id},
                       Services(opt_out=recorder))
    outcome = await FlowRunner(flow, call, log, call_id, flows={flow.name: flow}).run()
    return outcome, log.steps[call_id]


async def test_the_opt_out_is_recorded_for_this_call_and_the_number_is_not_in_the_step():
    recorder = Recorder()
    outcome, steps = await run(recorder)
    assert recorder.calls == [{"unique_id": "u-1", "caller": "+8613800000001", "scope": "campaign",
                               "source": "opt_out_call", "by": recorder.calls[0]["by"]}]
    assert [s.node for s in steps] == ["stop_calls", "bye"]
    assert steps[0].detail["added"] is True and "13800000001" not in repr(steps[0].detail)


async def test_a_failed_recording_takes_the_error_exit():
    outcome, steps = await run(Recorder(fail=True))
    assert [s.node for s in steps] == ["stop_calls", "sorry"]


async def test_without_a_recorder_the_node_fails_rather_than_pretends():
    outcome, steps = await run(None)
    assert steps[-1].node == "sorry"


def test_bad_scope_is_named_with_its_line():
    with pytest.raises(FlowError, match=r"stop.yaml:6:.*'scope' must be one of global, campaign"):
        parse_flow(textwrap.dedent(FLOW.replace("scope: campaign", "scope: everyone")), "flows/stop.yaml")
