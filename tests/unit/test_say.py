"""Spoken values (ivr.spoken) in both languages, the shipped fragment prompts, and the `say` node."""
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr import spoken
from ivr.call import CallContext
from ivr.call_log import CallStart, MemoryCallLog
from ivr.fake_channel import ScriptedChannel
from ivr.flow import parse_flow
from ivr.nodes import FlowError
from ivr.nodes.say import SayNode
from ivr.prompts import PromptCatalog
from ivr.runner import FlowRunner

ROOT = Path(__file__).resolve().parents[2]
CATALOG = PromptCatalog.load(ROOT / "prompts" / "catalog.yaml")
ZH, EN = "zh-CN", "en-US"


def heard(ids: list[str], lang: str) -> str:
    """What a caller hears, from the catalogue texts: Mandarin run together, English spaced."""
    return ("" if lang == ZH else " ").join(CATALOG.text(i, lang) for i in ids)


# --- numbers ----------------------------------------------------------------------------

NUMBERS = [
    (0, "零", "zero"),
    (5, "五", "five"),
    (10, "十", "ten"),
    (11, "十一", "eleven"),
    (15, "十五", "fifteen"),
    (20, "二十", "twenty"),
    (21, "二十一", "twenty one"),
    (99, "九十九", "ninety nine"),
    (101, "一百零一", "one hundred one"),
    (110, "一百一十", "one hundred ten"),
    (115, "一百一十五", "one hundred fifteen"),
    (1000, "一千", "one thousand"),
    (1005, "一千零五", "one thousand five"),
    (1010, "一千零一十", "one thousand ten"),
    (1100, "一千一百", "one thousand one hundred"),
    (10000, "一万", "ten thousand"),
    (10005, "一万零五", "ten thousand five"),
    (10050, "一万零五十", "ten thousand fifty"),
    (12000, "一万二千", "twelve thousand"),
    (100000, "十万", "one hundred thousand"),
    (100010, "十万零一十", "one hundred thousand ten"),
    (110000, "十一万", "one hundred ten thousand"),
    (1000000, "一百万", "one million"),
    (10000100, "一千万零一百", "ten million one hundred"),
    (100000000, "一亿", "one hundred million"),
    (100000001, "一亿零一", "one hundred million one"),
    (100001000, "一亿零一千", "one hundred million one thousand"),
    (100010000, "一亿零一万", "one hundred million ten thousand"),
    (1000000000, "十亿", "one billion"),
    (123456789012, "一千二百三十四亿五千六百七十八万九千零一十二",
     "one hundred twenty three billion four hundred fifty six million seven hundred eighty nine thousand twelve"),
    (999999999999, "九千九百九十九亿九千九百九十九万九千九百九十九",
     "nine hundred ninety nine billion nine hundred ninety nine million nine hundred ninety nine thousand "
     "nine hundred ninety nine"),
]


@pytest.mark.parametrize(("n", "zh", "en"), NUMBERS)
def test_whole_numbers(n, zh, en):
    assert heard(spoken.number(n, ZH), ZH) == zh
    assert heard(spoken.number(n, EN), EN) == en


def test_number_ids_for_one_case():
    assert spoken.number(10005, ZH) == ["n_1", "n_10000", "n_0", "n_5"]
    assert spoken.number(10005, EN) == ["n_10", "n_1000", "n_5"]


@pytest.mark.parametrize(("n", "zh", "en"), [
    (Decimal("12.5"), "十二点五", "twelve point five"),
    (Decimal("12.50"), "十二点五", "twelve point five"),   # the value, not the trailing zero
    (Decimal("0.05"), "零点零五", "zero point zero five"),
    (Decimal("3.0"), "三", "three"),
    (Decimal("1E+3"), "一千", "one thousand"),
    (-7, "负七", "minus seven"),
    (Decimal("-0.5"), "负零点五", "minus zero point five"),
])
def test_decimal_and_negative_numbers(n, zh, en):
    assert heard(spoken.number(n, ZH), ZH) == zh
    assert heard(spoken.number(n, EN), EN) == en


# --- amounts ------------------------------------------------------------------------------

AMOUNTS = [
    ("0", "零元", "zero yuan"),
    ("0.05", "五分", "five fen"),
    ("0.5", "五角", "fifty fen"),
    ("0.56", "五角六分", "fifty six fen"),
    ("1", "一元", "one yuan"),
    ("10", "十元", "ten yuan"),
    ("12.05", "十二元零五分", "twelve yuan five fen"),
    ("12.30", "十二元三角", "twelve yuan thirty fen"),
    ("1234.56", "一千二百三十四元五角六分", "one thousand two hundred thirty four yuan fifty six fen"),
    ("10005", "一万零五元", "ten thousand five yuan"),
    ("12345.67", "一万二千三百四十五元六角七分", "twelve thousand three hundred forty five yuan sixty seven fen"),
    ("100000000.01", "一亿元零一分", "one hundred million yuan one fen"),
    ("-88.8", "负八十八元八角", "minus eighty eight yuan eighty fen"),
]


@pytest.mark.parametrize(("value", "zh", "en"), AMOUNTS)
def test_amounts(value, zh, en):
    assert heard(spoken.amount(Decimal(value), ZH), ZH) == zh
    assert heard(spoken.amount(Decimal(value), EN), EN) == en


def test_amount_ids_for_one_case():
    assert spoken.amount(Decimal("1234.56"), ZH) == [
        "n_1", "n_1000", "n_2", "n_100", "n_3", "n_10", "n_4", "cur_yuan", "n_5", "cur_jiao", "n_6", "cur_fen"]
    assert spoken.amount(Decimal("1234.56"), EN) == [
        "n_1", "n_1000", "n_2", "n_100", "n_30", "n_4", "cur_yuan", "n_50", "n_6", "cur_fen"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: spoken.amount(Decimal("1.005"), ZH), "at most 2 decimals"),
    (lambda: spoken.amount(Decimal("1E+12"), EN), "too large"),
    (lambda: spoken.amount(Decimal("NaN"), ZH), "finite"),
    (lambda: spoken.amount(1.5, ZH), "float"),
    (lambda: spoken.number(10**12, ZH), "too large"),
    (lambda: spoken.number(True, EN), "bool"),
    (lambda: spoken.number(5, "fr-FR"), "fr-FR"),
    (lambda: spoken.digits("12a4", EN), "digits"),
    (lambda: spoken.digits("٤", EN), "digits"),
    (lambda: spoken.card_last4("123", ZH), "at least 4"),
])
def test_values_that_cannot_be_said_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- digits, card numbers, dates -----------------------------------------------------------------


def test_digits_one_by_one():
    assert spoken.digits("10086", ZH) == ["n_1", "n_0", "n_0", "n_8", "n_6"]
    assert heard(spoken.digits("10086", ZH), ZH) == "一零零八六"  # 一, not 幺
    assert heard(spoken.digits("10086", EN), EN) == "one zero zero eight six"


def test_card_last4_says_the_last_four_digits():
    assert heard(spoken.card_last4("6225880212345678", ZH), ZH) == "尾号五六七八"
    assert heard(spoken.card_last4("0042", EN), EN) == "ending in zero zero four two"


DATES = [
    (date(2024, 1, 1), "1月一日", "January first"),
    (date(2024, 3, 2), "3月二日", "March second"),
    (date(2024, 3, 3), "3月三日", "March third"),
    (date(2024, 3, 5), "3月五日", "March fifth"),
    (date(2024, 10, 10), "10月十日", "October tenth"),
    (date(2024, 11, 11), "11月十一日", "November eleventh"),
    (date(2024, 6, 12), "6月十二日", "June twelfth"),
    (date(2024, 6, 20), "6月二十日", "June twentieth"),
    (date(2024, 7, 21), "7月二十一日", "July twenty-first"),
    (date(2024, 8, 22), "8月二十二日", "August twenty-second"),
    (date(2024, 9, 23), "9月二十三日", "September twenty-third"),
    (date(2024, 4, 30), "4月三十日", "April thirtieth"),
    (date(2024, 12, 31), "12月三十一日", "December thirty-first"),
]


@pytest.mark.parametrize(("d", "zh", "en"), DATES)
def test_dates(d, zh, en):
    assert heard(spoken.date(d, ZH), ZH) == zh
    assert heard(spoken.date(d, EN), EN) == en


def test_date_ids():
    assert spoken.date(date(2024, 3, 21), ZH) == ["month_3", "n_2", "n_10", "n_1", "day_ri"]
    assert spoken.date(date(2024, 3, 21), EN) == ["month_3", "ord_21"]


# --- the fragment lists are exact, and shipped -----------------------------------------------------


def _said(kind: str, values) -> set[str]:
    return {f for v in values for lang in (ZH, EN) for f in spoken.SAYERS[kind](v, lang)}


def test_fragment_lists_are_exactly_what_can_be_said():
    every_day = [date(2024, 1, 1) + timedelta(days=i) for i in range(366)]
    whole = list(range(1000)) + [10**4, 10**6, 10**8, 10**9]
    assert _said("date", every_day) == set(spoken.FRAGMENTS["date"])
    assert _said("number", whole + [-1, Decimal("0.5")]) == set(spoken.FRAGMENTS["number"])
    assert _said("amount", [Decimal(n) for n in whole] + [Decimal("-0.15")]) == set(spoken.FRAGMENTS["amount"])
    assert _said("digits", ["0123456789"]) == set(spoken.FRAGMENTS["digits"])
    assert _said("card_last4", ["0123", "4567", "8901"]) == set(spoken.FRAGMENTS["card_last4"])


@given(st.decimals(min_value=-(10**12) + 1, max_value=10**12 - 1, places=2, allow_nan=False),
       st.sampled_from([ZH, EN]))
def test_any_amount_uses_only_listed_fragments(value, lang):
    assert set(spoken.amount(value, lang)) <= set(spoken.FRAGMENTS["amount"])


@given(st.integers(min_value=-(10**12) + 1, max_value=10**12 - 1), st.sampled_from([ZH, EN]))
def test_any_number_uses_only_listed_fragments(n, lang):
    assert set(spoken.number(n, lang)) <= set(spoken.FRAGMENTS["number"])


@given(st.integers(min_value=1, max_value=10**12 - 1))
def test_zh_never_says_two_zeros_in_a_row_nor_ends_with_zero(n):
    words = spoken.number(n, ZH)
    assert words[-1] != "n_0"
    assert all(not (a == b == "n_0") for a, b in zip(words, words[1:]))


def test_every_fragment_is_in_the_shipped_catalogue_with_audio():
    for prompt_id in spoken.ALL_FRAGMENTS:
        for lang in (ZH, EN):
            assert CATALOG.has_text(prompt_id, lang), (prompt_id, lang)
            assert CATALOG.audio_file(prompt_id, lang).is_file(), (prompt_id, lang)


# --- the say node -------------------------------------------------------------------------------------

SAY_FLOW = """\
flow: say
languages: [zh-CN, en-US]
start: say_it
nodes:
  say_it:
    type: say
    variable: balance
    as: {kind}
    before: welcome
    after: goodbye
    next: end
    on_error: sorry
  sorry:
    type: play
    prompt: invalid
    next: end
  end:
    type: hangup
"""


def say_flow(kind: str = "amount", text: str = SAY_FLOW, catalogue=CATALOG):
    return parse_flow(text.replace("{kind}", kind), "flows/t.yaml", catalogue)


async def run_say(flow, variables: dict, lang: str = ZH, keys=None):
    channel = ScriptedChannel(keys=list(keys or []))
    log = MemoryCallLog()
    call_id = await log.call_started(CallStart("SIP/1-0001", "1.1", "13800000000", "4000", flow.name, flow.version,
                                               lang, datetime(2024, 5, 1)))
    call = CallContext(channel=channel, language=lang, resolve_prompt=lambda pid, language: f"{language}/{pid}",
                       variables=dict(variables))
    outcome = await FlowRunner(flow, call, log, call_id).run()
    return outcome, log.steps[call_id], channel, call


@pytest.mark.parametrize("kind", sorted(spoken.SAYERS))
def test_say_flow_loads_against_the_shipped_catalogue(kind):
    node = say_flow(kind).node("say_it")
    assert isinstance(node, SayNode)
    assert node.prompt_ids() == ("welcome",) + spoken.FRAGMENTS[kind] + ("goodbye",)


def test_loading_fails_when_the_catalogue_lacks_a_fragment():
    class WithoutFen:
        def has_text(self, prompt_id, language):
            return prompt_id != "cur_fen" and CATALOG.has_text(prompt_id, language)

    with pytest.raises(FlowError, match="prompt 'cur_fen' has no zh-CN text"):
        say_flow("amount", catalogue=WithoutFen())
    say_flow("date", catalogue=WithoutFen())  # a date never says fen


@pytest.mark.parametrize(("yaml_line", "message"), [
    ("    as: currency\n", "'as' must be one of amount, card_last4, date, digits, number"),
    ("    as: amount\n    promt: x\n", "unknown key 'promt'"),
])
def test_bad_say_nodes_are_flow_errors(yaml_line, message):
    with pytest.raises(FlowError, match=message):
        say_flow(text=SAY_FLOW.replace("    as: {kind}\n", yaml_line), catalogue=None)


def test_say_without_before_and_after():
    text = SAY_FLOW.replace("    before: welcome\n    after: goodbye\n", "    after: null\n")
    assert say_flow("digits", text=text).node("say_it").prompt_ids() == spoken.FRAGMENTS["digits"]


@pytest.mark.parametrize(("lang", "value"), [(ZH, "1234.56"), (EN, "1234.56"), (ZH, Decimal("1234.56")),
                                             (EN, 1234.56)])
async def test_say_amount_plays_before_fragments_after(lang, value):
    outcome, steps, channel, _ = await run_say(say_flow("amount"), {"balance": value}, lang)
    expected = ["welcome"] + spoken.amount(Decimal("1234.56"), lang) + ["goodbye"]
    assert channel.heard == [f"{lang}/{p}" for p in expected]
    assert [s.result for s in steps] == ["next", "end"]
    assert steps[0].input is None and steps[0].detail == {}
    assert outcome.outcome == "completed"


@pytest.mark.parametrize(("kind", "value", "fragments"), [
    ("number", 42, ["n_4", "n_10", "n_2"]),
    ("number", "-3", ["word_minus", "n_3"]),
    ("digits", "0571", ["n_0", "n_5", "n_7", "n_1"]),
    ("digits", 95588, ["n_9", "n_5", "n_5", "n_8", "n_8"]),
    ("date", "2024-03-05", ["month_3", "n_5", "day_ri"]),
    ("date", date(2024, 12, 31), ["month_12", "n_3", "n_10", "n_1", "day_ri"]),
    ("card_last4", "6225880212345678", ["word_ending_in", "n_5", "n_6", "n_7", "n_8"]),
])
async def test_say_each_kind(kind, value, fragments):
    _, _, channel, _ = await run_say(say_flow(kind), {"balance": value})
    assert channel.heard == [f"zh-CN/{p}" for p in ["welcome", *fragments, "goodbye"]]


async def test_say_is_not_interruptible_by_default():
    _, _, channel, call = await run_say(say_flow("digits"), {"balance": "123"}, keys=["9"])
    assert len(channel.heard) == 5
    assert call.pending_keys == ""


async def test_interruptible_say_stops_and_keeps_the_key():
    text = SAY_FLOW.replace("    next: end\n    on_error", "    interruptible: true\n    next: end\n    on_error", 1)
    _, steps, channel, call = await run_say(say_flow("digits", text=text), {"balance": "123"}, keys=[None, None, "9"])
    assert channel.heard == ["zh-CN/welcome", "zh-CN/n_1", "zh-CN/n_2"]
    assert steps[0].input == "9"
    assert steps[0].detail == {"interrupted_by_key": True}  # not which digit: that would tell the value
    assert call.pending_keys == "9"


@pytest.mark.parametrize(("kind", "variables", "error"), [
    ("amount", {}, "variable 'balance' is not set"),
    ("amount", {"balance": "12,50"}, "cannot be said as amount: expected a number, got text in another form"),
    ("amount", {"balance": True}, "expected a number, got bool"),
    ("amount", {"balance": None}, "expected a number, got NoneType"),
    ("amount", {"balance": "1.005"}, "at most 2 decimals"),
    ("number", {"balance": [1]}, "got list"),
    ("digits", {"balance": -5}, "got int"),
    ("digits", {"balance": "12 34"}, "only the digits 0-9"),
    ("date", {"balance": "2024-02-30"}, "a real date"),
    ("date", {"balance": "05/03/2024"}, "expected a date or a yyyy-mm-dd string"),
    ("card_last4", {"balance": 6225880212345678}, "expected a digit string, got int"),
])
async def test_missing_or_ill_typed_variable_takes_on_error(kind, variables, error):
    outcome, steps, channel, _ = await run_say(say_flow(kind), variables)
    assert [s.node for s in steps] == ["say_it", "sorry", "end"]
    assert steps[0].result == "error"
    assert steps[0].detail["error"].startswith("ValueError: ")
    assert error in steps[0].detail["error"]
    assert channel.heard == ["zh-CN/invalid"]  # nothing of the value was played
    assert outcome.outcome == "completed"


async def test_error_never_shows_the_value():
    secret = "62258802123456789999"  # too long for any card, but it must not leak
    _, steps, _, _ = await run_say(say_flow("amount"), {"balance": secret + "x"})
    assert secret not in repr(steps)
