"""subflow/return, language, transfer and hours nodes, through the real runner."""
import textwrap
from datetime import datetime, timezone

import pytest

from ivr.business_hours import BusinessHours, HoursError, parse_days, parse_ranges
from ivr.call import CallContext, Services
from ivr.call_log import CallStart, MemoryCallLog
from ivr.fake_channel import ScriptedChannel
from ivr.flow import parse_flow
from ivr.nodes import FlowError
from ivr.runner import FlowRunner


def flow(text: str, name: str = "t"):
    return parse_flow(textwrap.dedent(text), f"flows/{name}.yaml")


async def run(main, *others, keys=(), variables=None, now=None, language="zh-CN"):
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("PJSIP/x-1", "1.1", "13812345678", "4000", main.name, main.version,
                                               language, datetime.now(timezone.utc)))
    channel = ScriptedChannel(keys=list(keys))
    services = Services(clock=(lambda: now) if now else Services().clock)
    call = CallContext(channel, language, lambda p, lang: f"{lang}/{p}", dict(variables or {}), services)
    flows = {f.name: f for f in (main, *others)}
    outcome = await FlowRunner(main, call, log, call_id, flows=flows).run()
    return outcome, log.steps[call_id], channel, call


MAIN = """
flow: main
languages: [zh-CN, en-US]
start: identify
nodes:
  identify: {type: subflow, flow: ident, next: done}
  done: {type: hangup}
"""
IDENT = """
flow: ident
languages: [zh-CN, en-US]
start: english
nodes:
  english: {type: language, language: en-US, next: back}
  back: {type: return}
"""


async def test_subflow_runs_and_returns_to_the_caller_flow_with_its_changes():
    outcome, steps, _, call = await run(flow(MAIN, "main"), flow(IDENT, "ident"))
    assert [s.node for s in steps] == ["identify", "ident/english", "ident/back", "done"]
    assert [s.result for s in steps] == ["call:ident", "next", "return", "end"]
    assert outcome.outcome == "completed"
    assert call.language == "en-US" and call.variables["language"] == "en-US"


async def test_missing_subflow_takes_the_error_path():
    outcome, steps, _, _ = await run(flow(MAIN, "main"))
    assert outcome.outcome == "error" and steps[0].result == "error"
    assert "ident" in steps[0].detail["error"]


async def test_return_outside_a_subflow_is_an_error():
    main = flow("""
    flow: main
    languages: [zh-CN]
    start: back
    nodes:
      back: {type: return}
    """, "main")
    outcome, _, _, _ = await run(main)
    assert outcome.outcome == "error"


def test_language_must_be_one_of_the_flows_languages():
    with pytest.raises(FlowError) as err:
        flow("""
        flow: t
        languages: [zh-CN]
        start: a
        nodes:
          a: {type: language, language: en-US, next: b}
          b: {type: hangup}
        """)
    assert "flows/t.yaml:6:" in str(err.value) and "'en-US'" in str(err.value)


TRANSFER = """
flow: t
languages: [zh-CN]
start: pop
nodes:
  pop: {type: transfer, queue: cards, reason: lost_card, data: [card_number, segment]}
"""


async def test_transfer_sets_screen_pop_and_hands_the_call_to_the_queue():
    variables = {"caller": "13812345678", "customer_id": "C001", "intent": "lost_card",
                 "card_number": "6222020000001234", "segment": "gold"}
    log = MemoryCallLog()
    main = flow(TRANSFER)
    call_id = await log.call_started(CallStart("c", "u", "1", "4000", "t", main.version, "zh-CN",
                                               datetime.now(timezone.utc)))
    channel = ScriptedChannel()
    call = CallContext(channel, "zh-CN", lambda p, lang: p, variables, secret_variables={"card_number"})
    outcome = await FlowRunner(main, call, log, call_id).run()
    assert outcome.outcome == "transferred"
    assert channel.continued_at == ("bankcc-queue", "cards", 1)
    v = channel.variables
    assert v["BANKCC_CUSTOMER_ID"] == "C001" and v["BANKCC_INTENT"] == "lost_card"
    assert v["BANKCC_REASON"] == "lost_card" and v["BANKCC_PATH"] == "pop" and v["BANKCC_SEGMENT"] == "gold"
    assert v["BANKCC_CARD_NUMBER"].endswith("1234") and "6222020000" not in v["BANKCC_CARD_NUMBER"]
    assert log.steps[call_id][0].detail["target"] == "queue:cards"


@pytest.mark.parametrize("body, message", [
    ("{type: transfer}", "exactly one of"),
    ("{type: transfer, queue: cards, extension: '8001'}", "exactly one of"),
    ("{type: transfer, queue: 'Cards Queue'}", "lowercase"),
    ("{type: transfer, extension: '80a1'}", "2-15 digits"),
    ("{type: transfer, queue: cards, data: ['not a var']}", "not a variable"),
])
def test_transfer_validation(body, message):
    with pytest.raises(FlowError) as err:
        flow(f"flow: t\nlanguages: [zh-CN]\nstart: x\nnodes:\n  x: {body}\n")
    assert message in str(err.value) and "flows/t.yaml:5:" in str(err.value)


HOURS = """
flow: t
languages: [zh-CN]
start: h
nodes:
  h:
    type: hours
    timezone: Asia/Shanghai
    schedule: {mon-fri: "08:00-20:00", sat: "09:00-12:00, 13:00-17:00"}
    holidays: CN
    closed_dates: [2026-12-31]
    if_open: open
    if_closed: closed
  open: {type: hangup, reason: open}
  closed: {type: hangup, reason: closed}
"""


@pytest.mark.parametrize("utc, expected, reason", [
    ("2026-11-23T01:00:00", "open", "regular"),        # Mon 09:00 Shanghai
    ("2026-11-23T12:30:00", "closed", "outside_hours"),  # Mon 20:30
    ("2026-11-23T12:00:00", "open", "regular"),         # Mon 20:00 sharp: still open
    ("2026-11-28T04:30:00", "closed", "outside_hours"),  # Sat 12:30 lunch break
    ("2026-11-28T06:00:00", "open", "regular"),         # Sat 14:00
    ("2026-11-29T03:00:00", "closed", "outside_hours"),  # Sunday
    ("2026-10-01T03:00:00", "closed", "holiday"),       # National Day
    ("2026-01-04T03:00:00", "open", "makeup_workday"),  # Sunday made a working day (调休)
    ("2026-12-31T03:00:00", "closed", "closed_date"),
])
async def test_hours_in_shanghai_time_with_chinese_holidays(utc, expected, reason):
    now = datetime.fromisoformat(utc).replace(tzinfo=timezone.utc)
    outcome, steps, _, _ = await run(flow(HOURS), now=now)
    assert steps[0].result == expected and steps[0].detail["reason"] == reason
    assert steps[1].node == expected


def test_hours_dst_zone_uses_local_wall_clock():
    hours = BusinessHours("America/New_York", {d: parse_ranges("08:00-21:00") for d in range(7)})
    # 12:30 UTC is 08:30 in summer (EDT) but 07:30 in winter (EST)
    assert hours.status(datetime(2026, 7, 1, 12, 30, tzinfo=timezone.utc))[0] is True
    assert hours.status(datetime(2026, 12, 1, 12, 30, tzinfo=timezone.utc))[0] is False


@pytest.mark.parametrize("days, ranges, message", [
    ("mon-fri", "8-20", "not a time range"),
    ("fri-mon", "08:00-20:00", "backwards"),
    ("weekdays", "08:00-20:00", "unknown day"),
    ("mon", "20:00-08:00", "ends before"),
    ("mon", "25:00-26:00", "not a valid"),
])
def test_hours_schedule_errors_name_the_schedule_line(days, ranges, message):
    text = HOURS.replace('{mon-fri: "08:00-20:00", sat: "09:00-12:00, 13:00-17:00"}', f'{{{days}: "{ranges}"}}')
    with pytest.raises(FlowError) as err:
        flow(text)
    assert message in str(err.value) and "flows/t.yaml:9:" in str(err.value)


def test_hours_unknown_zone_and_country():
    with pytest.raises(FlowError, match="unknown time zone"):
        flow(HOURS.replace("Asia/Shanghai", "Mars/Olympus"))
    with pytest.raises(FlowError, match="no holiday calendar"):
        flow(HOURS.replace("holidays: CN", "holidays: XX"))


def test_parse_days_and_ranges():
    assert parse_days("mon-fri") == (0, 1, 2, 3, 4)
    assert parse_days("sat,sun") == (5, 6)
    assert parse_ranges("00:00-24:00")[0][1].hour == 23
    with pytest.raises(HoursError):
        parse_days("")
