"""dialer.phones: E.164, what a campaign may dial, and the callee's time zone."""
from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone

from dialer import phones
from dialer.phones import Phone, PhoneError, callee_time_zone, normalise, valid_time_zone, validate_region


@pytest.mark.parametrize("raw", [
    "13812345678", " 13812345678 ", "138 1234 5678", "138-1234-5678", "(138) 1234-5678", "+86 138 1234 5678",
    "+8613812345678", "008613812345678", "8613812345678", "１３８１２３４５６７８", "+86-138-1234-5678",
])
def test_china_mobile_numbers_in_any_layout(raw):
    assert normalise(raw) == Phone("+8613812345678", "mobile", "Asia/Shanghai")


def test_china_fixed_line_with_trunk_zero():
    assert normalise("010 6552 9988") == Phone("+861065529988", "fixed_line", "Asia/Shanghai")
    assert normalise("021-6888 8888").e164 == "+862168888888"


def test_international_numbers_keep_their_country():
    assert normalise("+1 212 555 0100") == Phone("+12125550100", "fixed_line_or_mobile", "America/New_York")
    assert normalise("+44 20 7946 0958").time_zone == "Europe/London"
    assert normalise("00852 2123 4567").e164 == "+85221234567"


def test_default_region_is_configurable():
    assert normalise("020 7946 0958", "GB") == Phone("+442079460958", "fixed_line", "Europe/London")
    with pytest.raises(PhoneError, match="not a valid CN phone number"):
        normalise("020 7946 095", "CN")


def test_a_number_spanning_zones_has_no_single_zone():
    # US toll-free numbers are not tied to a place.
    assert normalise("+1 800 555 0100").time_zone is None


@pytest.mark.parametrize("raw, reason", [
    ("", "missing phone number"),
    ("   ", "missing phone number"),
    ("abc", "not a phone number"),
    ("1-800-FLOWERS", "contains letters"),
    ("13812345678 ext 12", "extension"),
    ("1.38123E+10", "scientific notation"),
    ("1.3812345678e10", "scientific notation"),
    ("123", "not a valid CN phone number"),
    ("10086", "not a valid CN phone number"),
    ("1381234567", "not a valid CN phone number"),       # one digit short
    ("12012345678", "not a valid CN phone number"),      # 120 is not a mobile block
    ("+999 1234 5678", "not a phone number"),
    ("+1 900 555 0100", "premium-rate"),
    ("+44 9090 901234", "premium-rate"),
    ("16812345", "premium-rate"),                        # CN premium-rate service number
    ("138\n12345678", "line break"),
    ("1" * 41, "too long"),
])
def test_numbers_a_campaign_must_not_dial(raw, reason):
    with pytest.raises(PhoneError, match=reason):
        normalise(raw)


def test_reasons_never_repeat_the_number():
    for raw in ("12012345678", "+1 900 555 0100", "13812345678 ext 12", "1.38123E+10"):
        with pytest.raises(PhoneError) as err:
            normalise(raw)
        assert not any(ch.isdigit() for ch in str(err.value).replace("1.38E+10", "")), str(err.value)


def test_non_text_is_not_a_number():
    with pytest.raises(PhoneError):
        normalise(None)  # type: ignore[arg-type]


def test_validate_region():
    assert validate_region("cn") == "CN"
    assert validate_region(" GB ") == "GB"
    for bad in ("", "XX", "China", "ZZ"):
        with pytest.raises(PhoneError, match="unknown region"):
            validate_region(bad)


def test_valid_time_zone_is_canonical_and_case_insensitive():
    assert valid_time_zone("Asia/Shanghai") == "Asia/Shanghai"
    assert valid_time_zone(" asia/urumqi ") == "Asia/Urumqi"
    for bad in (None, "", "  ", "Asia/Shanghia", "+08:00", "北京时间", 8):
        assert valid_time_zone(bad) is None  # type: ignore[arg-type]


def test_an_explicit_valid_zone_wins_over_the_numbers_own():
    phone = normalise("13812345678")
    assert callee_time_zone(phone) == "Asia/Shanghai"
    assert callee_time_zone(phone, "Asia/Urumqi") == "Asia/Urumqi"
    assert callee_time_zone(phone, "asia/tokyo") == "Asia/Tokyo"
    assert callee_time_zone(phone, "Mars/Olympus") == "Asia/Shanghai"
    assert callee_time_zone(phone, "") == "Asia/Shanghai"
    assert callee_time_zone(normalise("+1 800 555 0100"), None) is None


# --- the fast path for China mobile-shaped numbers equals phonenumbers itself ---------------

def reference(raw: str, region: str = "CN") -> Phone | str:
    """What phonenumbers says, with its own public API and no shortcuts."""
    number = phonenumbers.parse(raw, region)
    if not phonenumbers.is_valid_number(number):
        return "invalid"
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.PREMIUM_RATE:
        return "premium"
    zones = pn_timezone.time_zones_for_number(number)
    zone = zones[0] if len(zones) == 1 and zones[0] != pn_timezone.UNKNOWN_TIMEZONE else None
    return Phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                 phones._TYPE_NAMES[kind], zone)


def ours(raw: str) -> Phone | str:
    try:
        return normalise(raw)
    except PhoneError as exc:
        return "premium" if "premium" in str(exc) else "invalid"


shapes = st.sampled_from(["{}", "+86{}", "0086{}", "86{}"])
mobile_shaped = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(national=mobile_shaped, sibling_tail=st.from_regex(r"[0-9]{4}", fullmatch=True), shape=shapes)
@example(national="17951234567", sibling_tail="0000", shape="{}")   # 179xx carrier prefix: slow path
@example(national="17400012345", sibling_tail="9999", shape="{}")   # 1740[0-5] satellite block edge
@example(national="17406012345", sibling_tail="0000", shape="+86{}")
def test_china_mobile_fast_path_agrees_with_phonenumbers(national, sibling_tail, shape):
    # Fill the block cache from a different number of the same 7-digit block first: the
    # fast path's claim is that every number of a block gets the same answer.
    phones._forget_cn_blocks()
    ours(national[:7] + sibling_tail)
    raw = shape.format(national)
    assert ours(raw) == reference(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 +-()", min_size=0, max_size=20))
def test_any_digit_text_is_either_rejected_or_agrees_with_phonenumbers(raw):
    try:
        got = normalise(raw)
    except PhoneError:
        return
    assert got == reference(raw.strip())
    assert normalise(got.e164) == got  # E.164 is a fixed point


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50))
def test_arbitrary_text_only_ever_raises_phone_error(raw):
    try:
        normalise(raw)
    except PhoneError:
        pass


# --- the quick classifier behind the fast path equals phonenumbers' own steps ---------------

def test_quick_classifier_agrees_with_phonenumbers_on_a_large_sample():
    """_classify_national re-does number_type() and the time-zone lookup with patterns
    compiled once; on 40,000 numbers of every length and leading digits it must give what
    the library gives, for CN (all of the fast path's answers) and other one-region codes."""
    import random

    rng = random.Random(20260301)
    checked = mobile = 0
    for country_code, count in ((86, 30_000), (33, 4000), (81, 3000), (49, 3000)):
        for _ in range(count):
            nsn = str(rng.randrange(1, 10)) + "".join(rng.choice("0123456789") for _ in range(rng.randrange(5, 12)))
            number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(nsn))
            assert phones._number_type(country_code, nsn) == phonenumbers.number_type(number), nsn
            assert phones._classify_national(country_code, nsn) == phones._classify(number), nsn
            checked += 1
            mobile += phones._classify_national(country_code, nsn) == ("mobile", "Asia/Shanghai")
    assert checked == 40_000 and mobile > 100  # the sample does reach valid CN mobiles


def test_quick_classifier_refuses_country_codes_shared_by_regions():
    with pytest.raises(ValueError):
        phones._number_type(44, "7524976173")  # GB, GG, IM and JE


def test_quick_classifier_on_one_number_of_every_10th_cn_mobile_block():
    """The fast path caches one answer per 7-digit block of 13x-19x: one number in each of
    70,000 blocks (every 10th) against the library."""
    import random

    rng = random.Random(7)
    for block in range(1_300_000, 2_000_000, 10):
        nsn = f"{block + rng.randrange(10)}{rng.randrange(10_000):04d}"
        number = phonenumbers.PhoneNumber(country_code=86, national_number=int(nsn))
        assert phones._classify_national(86, nsn) == phones._classify(number), nsn


def test_non_ascii_digits_never_reach_the_e164_form():
    # \d would let fullwidth digits past the fast path's pattern and into "+86…".
    assert normalise("13８12345678") == Phone("+8613812345678", "mobile", "Asia/Shanghai")
    assert normalise("+86 13８１2345678").e164.isascii()
