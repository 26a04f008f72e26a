"""dialer.campaigns, the pure half: the state machine and campaign definitions."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.campaigns import (ACTIONS, DEFAULT_RETRY_RULES, DISPOSITIONS, STATES, CampaignError, IllegalTransition,
                              allowed_actions, transition, validate_campaign, validate_retry_rules,
                              validate_schedule)

# The whole machine, written out once more by hand: every (state, action) pair is here.
EXPECTED = {
    ("draft", "start"): "running", ("draft", "pause"): None, ("draft", "resume"): None,
    ("draft", "finish"): None, ("draft", "archive"): "archived",
    ("running", "start"): None, ("running", "pause"): "paused", ("running", "resume"): None,
    ("running", "finish"): "finished", ("running", "archive"): None,
    ("paused", "start"): None, ("paused", "pause"): None, ("paused", "resume"): "running",
    ("paused", "finish"): "finished", ("paused", "archive"): None,
    ("finished", "start"): None, ("finished", "pause"): None, ("finished", "resume"): None,
    ("finished", "finish"): None, ("finished", "archive"): "archived",
    ("archived", "start"): None, ("archived", "pause"): None, ("archived", "resume"): None,
    ("archived", "finish"): None, ("archived", "archive"): None,
}


def test_the_table_covers_every_pair():
    assert set(EXPECTED) == set(itertools.product(STATES, ACTIONS))


@pytest.mark.parametrize("state, action", sorted(EXPECTED))
def test_transition(state, action):
    expected = EXPECTED[(state, action)]
    if expected is None:
        with pytest.raises(IllegalTransition) as err:
            transition(state, action)
        assert (err.value.state, err.value.action) == (state, action)
        assert f"cannot {action} a campaign that is {state}" in str(err.value)
    else:
        assert transition(state, action) == expected


def test_illegal_transition_says_what_is_allowed():
    with pytest.raises(IllegalTransition, match=r"allowed: start, archive"):
        transition("draft", "pause")
    with pytest.raises(IllegalTransition, match="no action is allowed any more"):
        transition("archived", "start")


def test_unknown_states_and_actions_are_illegal():
    for state, action in (("draft", "explode"), ("deleted", "start"), ("", "")):
        with pytest.raises(IllegalTransition):
            transition(state, action)


def test_allowed_actions_match_the_table():
    for state in STATES:
        assert allowed_actions(state) == tuple(a for a in ACTIONS if EXPECTED[(state, a)])
    assert allowed_actions("archived") == ()


def test_every_state_is_reachable_and_every_campaign_can_be_archived():
    reachable, frontier = {"draft"}, ["draft"]
    while frontier:
        state = frontier.pop()
        for action in allowed_actions(state):
            nxt = transition(state, action)
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(STATES)
    for state in STATES:  # archived is reachable from anywhere in at most three steps
        paths = {state}
        for _ in range(3):
            paths |= {transition(s, a) for s in paths for a in allowed_actions(s)}
        assert "archived" in paths


@given(st.lists(st.sampled_from(ACTIONS), max_size=30))
def test_random_action_sequences_stay_on_the_machine(actions):
    state, history = "draft", ["draft"]
    for action in actions:
        try:
            state = transition(state, action)
        except IllegalTransition:
            continue
        history.append(state)
    assert all(s in STATES for s in history)
    if "archived" in history:  # archived is final
        assert history[history.index("archived"):] == ["archived"]
    if "finished" in history:  # nothing runs again once finished
        assert "running" not in history[history.index("finished"):]
        assert "paused" not in history[history.index("finished"):]


# --- campaign definitions -------------------------------------------------------------------

MINIMAL = {"kind": "collection", "name": "March arrears", "caller_id": "95588", "trunk": "PJSIP/cn-mobile",
           "dial_mode": "progressive", "agent_queue": "collections", "flow": "collection_outbound"}


def test_a_minimal_campaign_gets_the_defaults():
    spec = validate_campaign(MINIMAL)
    assert spec.machine_policy == "hangup" and spec.machine_target is None
    assert spec.default_region == "CN"
    assert spec.retry_rules == DEFAULT_RETRY_RULES
    assert spec.schedule == {"start_date": None, "end_date": None, "windows": {"mon-sun": "09:00-20:00"},
                             "holidays": None, "time_zone": "Asia/Shanghai", "auto_start": False}


def test_text_is_trimmed_and_region_upper_cased():
    spec = validate_campaign({**MINIMAL, "name": "  三月催收  ", "default_region": "gb"})
    assert spec.name == "三月催收" and spec.default_region == "GB"


@pytest.mark.parametrize("field", ["kind", "name", "caller_id", "trunk", "dial_mode", "agent_queue", "flow"])
def test_required_fields(field):
    payload = {k: v for k, v in MINIMAL.items() if k != field}
    with pytest.raises(CampaignError) as err:
        validate_campaign(payload)
    assert err.value.field == field and "required" in err.value.message


@pytest.mark.parametrize("field, value", [
    ("kind", "marketing"), ("dial_mode", "blaster"), ("machine_policy", "voicemail"),
    ("caller_id", "95588x"), ("caller_id", "12"), ("caller_id", 95588), ("trunk", "PJSIP/cn mobile"),
    ("agent_queue", "collections queue"), ("flow", "../etc/passwd"), ("name", "x" * 201), ("name", "a\nb"),
    ("default_region", "XX"), ("dial_mode", None),
])
def test_bad_values_name_their_field(field, value):
    with pytest.raises(CampaignError) as err:
        validate_campaign({**MINIMAL, field: value})
    assert err.value.field == field


def test_unknown_fields_are_refused():
    with pytest.raises(CampaignError) as err:
        validate_campaign({**MINIMAL, "dialmode": "power"})
    assert err.value.field == "dialmode"
    with pytest.raises(CampaignError):
        validate_campaign(["not", "an", "object"])


def test_machine_policy_and_target_go_together():
    assert validate_campaign({**MINIMAL, "machine_policy": "message", "machine_target": "payment_reminder"}) \
        .machine_target == "payment_reminder"
    assert validate_campaign({**MINIMAL, "machine_policy": "flow", "machine_target": "vm_flow"}).machine_policy \
        == "flow"
    for policy in ("message", "flow"):
        with pytest.raises(CampaignError, match="needs machine_target") as err:
            validate_campaign({**MINIMAL, "machine_policy": policy})
        assert err.value.field == "machine_target"
    with pytest.raises(CampaignError, match="only used with"):
        validate_campaign({**MINIMAL, "machine_target": "payment_reminder"})


def test_retry_rules_fill_in_defaults_per_disposition_and_key():
    rules = validate_retry_rules({"busy": {"max_tries": 5}, "machine": {"delay_seconds": 86_400, "max_tries": 1}})
    assert rules["busy"] == {"delay_seconds": 300, "max_tries": 5}
    assert rules["machine"] == {"delay_seconds": 86_400, "max_tries": 1}
    assert rules["no_answer"] == DEFAULT_RETRY_RULES["no_answer"]
    assert set(rules) == set(DISPOSITIONS)
    assert validate_retry_rules(None) == DEFAULT_RETRY_RULES


@pytest.mark.parametrize("rules, field", [
    ({"voicemail": {}}, "retry_rules.voicemail"),
    ({"busy": 5}, "retry_rules.busy"),
    ({"busy": {"delay": 60}}, "retry_rules.busy.delay"),
    ({"busy": {"delay_seconds": 0}}, "retry_rules.busy.delay_seconds"),
    ({"busy": {"delay_seconds": 59}}, "retry_rules.busy.delay_seconds"),
    ({"busy": {"delay_seconds": 8 * 86_400}}, "retry_rules.busy.delay_seconds"),
    ({"busy": {"delay_seconds": 60.5}}, "retry_rules.busy.delay_seconds"),
    ({"busy": {"delay_seconds": "60"}}, "retry_rules.busy.delay_seconds"),
    ({"dropped": {"max_tries": True}}, "retry_rules.dropped.max_tries"),
    ({"failed": {"max_tries": 0}}, "retry_rules.failed.max_tries"),
    ({"no_answer": {"max_tries": 21}}, "retry_rules.no_answer.max_tries"),
    ([1, 2], "retry_rules"),
])
def test_bad_retry_rules(rules, field):
    with pytest.raises(CampaignError) as err:
        validate_retry_rules(rules)
    assert err.value.field == field


@given(st.dictionaries(st.sampled_from(DISPOSITIONS),
                       st.fixed_dictionaries({}, optional={"delay_seconds": st.integers(-10, 10**6),
                                                           "max_tries": st.integers(-2, 30)})))
def test_retry_rules_are_total_and_in_range_or_refused(raw):
    try:
        rules = validate_retry_rules(raw)
    except CampaignError as exc:
        assert exc.field.startswith("retry_rules.")
        return
    assert set(rules) == set(DISPOSITIONS)
    for rule in rules.values():
        assert 60 <= rule["delay_seconds"] <= 7 * 86_400 and 1 <= rule["max_tries"] <= 20


def test_schedule_is_checked_and_normalised():
    schedule = validate_schedule({"start_date": "2026-03-01", "end_date": "2026-03-31",
                                  "windows": {"Mon-Fri": " 09:00-12:00, 14:00-20:00 ", "sat": "10:00-16:00"},
                                  "holidays": "cn", "time_zone": " Asia/Urumqi ", "auto_start": True})
    assert schedule == {"start_date": "2026-03-01", "end_date": "2026-03-31",
                        "windows": {"mon-fri": "09:00-12:00, 14:00-20:00", "sat": "10:00-16:00"},
                        "holidays": "CN", "time_zone": "Asia/Urumqi", "auto_start": True}


@pytest.mark.parametrize("schedule, field", [
    ({"start_date": "2026-03-31", "end_date": "2026-03-01"}, "schedule.end_date"),
    ({"start_date": "31/03/2026"}, "schedule.start_date"),
    ({"end_date": 20260301}, "schedule.end_date"),
    ({"windows": {}}, "schedule.windows"),
    ({"windows": {"mon-fri": "9-5"}}, "schedule.windows.mon-fri"),
    ({"windows": {"mon-fri": "20:00-09:00"}}, "schedule.windows.mon-fri"),
    ({"windows": {"weekdays": "09:00-20:00"}}, "schedule.windows.weekdays"),
    ({"windows": {"mon-fri": "09:00-20:00", "fri": "10:00-12:00"}}, "schedule.windows.fri"),
    ({"windows": {"mon": 9}}, "schedule.windows.mon"),
    ({"holidays": "Narnia"}, "schedule.holidays"),
    ({"timezone": "Asia/Shanghai"}, "schedule.timezone"),
    ({"time_zone": "Mars/Olympus"}, "schedule.time_zone"),
    ({"time_zone": "../../etc/passwd"}, "schedule.time_zone"),
    ({"auto_start": "yes"}, "schedule.auto_start"),
    ("always", "schedule"),
])
def test_bad_schedules(schedule, field):
    with pytest.raises(CampaignError) as err:
        validate_schedule(schedule)
    assert err.value.field == field
