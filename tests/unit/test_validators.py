"""Keypad validators: card numbers (Luhn), ID last 4, PINs, amounts, digits; normalising and masking."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.validators import (SECRET_BY_DEFAULT, VALIDATORS, amount, cn_id_last4, digits, luhn, luhn_check_digit,
                            mask_secret, normalise, pin, uses_star)

# --- luhn --------------------------------------------------------------------------

# Published test numbers of the card schemes (13-19 digits).
VALID_CARDS = [
    "4111111111111111",      # Visa
    "4012888888881881",      # Visa
    "4222222222222",         # Visa, 13 digits
    "5555555555554444",      # Mastercard
    "5105105105105100",      # Mastercard
    "2223003122003222",      # Mastercard 2-series
    "378282246310005",       # American Express, 15 digits
    "6011111111111117",      # Discover
    "3530111333300000",      # JCB
    "6200000000000005",      # UnionPay
    "6250941006528599",      # UnionPay
    "6011000990139424",      # Discover
    "4000056655665556",      # Visa debit
    "6759649826438453",      # Maestro
    "6304000000000000000",   # 19 digits
]


@pytest.mark.parametrize("number", VALID_CARDS)
def test_known_card_numbers_pass(number):
    assert luhn(number) is None


@pytest.mark.parametrize(("number", "reason"), [
    ("4111111111111112", "checksum"),     # last digit off by one
    ("4111111111111121", "checksum"),     # two neighbouring digits swapped
    ("5555555555554440", "checksum"),
    ("378282246310006", "checksum"),
    ("411111111111", "length"),           # 12 digits, checksum would pass
    ("41111111111111111111", "length"),   # 20 digits
    ("", "not_digits"),
    ("4111 1111 1111 1111", "not_digits"),
    ("411111111111111*", "not_digits"),
    ("4111111111111111#", "not_digits"),
    ("٤١١١١١١١١١١١١١١١", "not_digits"),  # Arabic-Indic digits are not keypad digits
])
def test_bad_card_numbers_fail_with_a_reason(number, reason):
    assert luhn(number) == reason


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_appending_the_check_digit_always_validates(partial):
    assert luhn(partial + luhn_check_digit(partial)) is None


@given(st.text(alphabet="0123456789", min_size=12, max_size=18), st.integers(min_value=1, max_value=9))
def test_any_other_check_digit_fails(partial, offset):
    wrong = str((int(luhn_check_digit(partial)) + offset) % 10)
    assert luhn(partial + wrong) == "checksum"


@given(st.text(alphabet="0123456789", min_size=13, max_size=19), st.data())
def test_changing_one_digit_breaks_a_valid_number(partial, data):
    number = partial[:-1] + luhn_check_digit(partial[:-1])
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    new_digit = data.draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    changed = number[:position] + new_digit + number[position + 1:]
    assert luhn(changed) == "checksum"


# --- cn_id_last4 ----------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["1234", "0000", "9999", "123X", "123*", "0010"])
def test_id_last4_accepts_four_digits_or_x_last(keys):
    assert cn_id_last4(keys) is None


@pytest.mark.parametrize("keys", ["123", "12345", "12X4", "X123", "*123", "12**", "123#", "", "123x", "abcd"])
def test_id_last4_rejects_other_shapes(keys):
    assert cn_id_last4(keys) == "format"


def test_id_last4_star_is_stored_as_x():
    assert normalise("cn_id_last4", "123*") == "123X"
    assert normalise("cn_id_last4", "1234") == "1234"


# --- pin ---------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", ["1357", "2580", "7890", "0987", "1122", "123457", "9021", "135790", "1235"])
def test_pins_that_are_not_trivial_pass(keys):
    assert pin(keys) is None


@pytest.mark.parametrize(("keys", "reason"), [
    ("123", "length"),
    ("1234567", "length"),
    ("", "not_digits"),
    ("12*4", "not_digits"),
    ("0000", "repeated"),
    ("777777", "repeated"),
    ("1234", "sequence"),
    ("4321", "sequence"),
    ("0123", "sequence"),
    ("23456", "sequence"),
    ("987654", "sequence"),
    ("6543", "sequence"),
])
def test_trivial_or_malformed_pins_fail(keys, reason):
    assert pin(keys) == reason


# --- amount --------------------------------------------------------------------------------


@pytest.mark.parametrize(("keys", "stored"), [
    ("1", "1"),
    ("100", "100"),
    ("12*5", "12.5"),
    ("12*50", "12.50"),
    ("0*01", "0.01"),
    ("0*5", "0.5"),
    ("007", "007"),
])
def test_amounts_pass_and_star_becomes_the_point(keys, stored):
    assert amount(keys) is None
    assert normalise("amount", keys) == stored
    assert amount(stored) is None


@pytest.mark.parametrize(("keys", "reason"), [
    ("", "format"),
    ("*5", "format"),      # no whole part: ambiguous on a keypad, asked again
    ("12*", "format"),
    ("1*2*3", "format"),
    ("12#", "format"),
    ("12*345", "decimals"),
    ("0", "zero"),
    ("0*00", "zero"),
    ("000", "zero"),
])
def test_bad_amounts_fail(keys, reason):
    assert amount(keys) == reason


# --- digits and the registry -------------------------------------------------------------------


def test_digits_accepts_any_digit_string():
    assert digits("0") is None
    assert digits("0123456789" * 3) is None
    assert digits("") == "not_digits"
    assert digits("12*") == "not_digits"


def test_registry_names():
    assert set(VALIDATORS) == {"luhn", "cn_id_last4", "pin", "amount", "digits"}
    assert SECRET_BY_DEFAULT == {"luhn", "cn_id_last4", "pin"}
    assert [name for name in VALIDATORS if uses_star(name)] == ["cn_id_last4", "amount"]


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_reasons_are_short_words_without_digits(name):
    for keys in ["", "1", "12*3*", "4111111111111112", "99999999999999999999", "0000", "1234", "123#"]:
        reason = VALIDATORS[name](keys)
        assert reason is None or (reason.isidentifier() and not any(ch.isdigit() for ch in reason))


@given(st.sampled_from(sorted(VALIDATORS)), st.text(alphabet="0123456789*", max_size=20))
def test_normalising_never_changes_validity(name, keys):
    assert VALIDATORS[name](normalise(name, keys)) == VALIDATORS[name](keys)


@given(st.sampled_from(sorted(VALIDATORS)), st.text(alphabet="0123456789*#", max_size=25))
def test_validators_never_raise(name, keys):
    VALIDATORS[name](keys)


# --- masking ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "masked"), [
    ("4111111111111111", "************1111"),
    ("4222222222222", "*********2222"),
    ("6304000000000000000", "***************0000"),
    ("123456789012", "********9012"),  # 8 hidden: the shortest value that shows its last 4
    ("12345678901", "***********"),
    ("1234", "****"),                  # a PIN
    ("123456", "******"),
    ("123X", "****"),                  # ID last 4: showing the last 4 would show it all
    ("", ""),
])
def test_mask_secret(value, masked):
    assert mask_secret(value) == masked


@given(st.text(alphabet="0123456789X.", max_size=25))
def test_mask_keeps_length_and_hides_most(value):
    masked = mask_secret(value)
    assert len(masked) == len(value)
    shown = len(masked.lstrip("*"))
    assert shown == 0 or (shown == 4 and len(value) - shown >= 8)
