"""Checks for what a caller keys in, by the name a `collect` node uses in YAML.

Each validator is a pure function of the keys as pressed on the phone keypad
(digits, and `*` where a value needs a second symbol) and returns None when
the entry is acceptable, else a short reason that goes into the step record
as `invalid:<reason>`. Reasons are fixed words, never the caller's digits.

`*` stands for what the keypad lacks: the X of a Chinese resident ID and the
decimal point of an amount. `normalise` turns the keys into the stored value;
validators accept both spellings, so a normalised value validates the same.
"""
from __future__ import annotations

import re
from typing import Callable

Validator = Callable[[str], str | None]

_DIGITS = re.compile(r"[0-9]+")
_ID_LAST4 = re.compile(r"[0-9]{3}[0-9X]")
# Integer part, then optionally a point and a fractional part of any length
# (too many decimals gets its own reason).
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def luhn(keys: str) -> str | None:
    """A payment card number: 13-19 digits whose Luhn checksum is right."""
    if not _DIGITS.fullmatch(keys):
        return "not_digits"
    if not 13 <= len(keys) <= 19:
        return "length"
    return None if luhn_checksum(keys) == 0 else "checksum"


def luhn_checksum(number: str) -> int:
    """Luhn sum mod 10 of a digit string; 0 means the last digit checks the rest."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:  # every second digit from the right is doubled
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10


def luhn_check_digit(partial: str) -> str:
    """The digit that, appended to `partial`, makes a valid Luhn number."""
    return str((10 - luhn_checksum(partial + "0")) % 10)


def cn_id_last4(keys: str) -> str | None:
    """The last 4 of a resident ID: 3 digits, then a digit or the check character X (`*`).

    Only the format can be checked: the check character depends on all 17
    digits before it.
    """
    return None if _ID_LAST4.fullmatch(keys.replace("*", "X")) else "format"


def pin(keys: str) -> str | None:
    """4-6 digits that are not trivially guessable (one repeated digit or a straight run)."""
    if not _DIGITS.fullmatch(keys):
        return "not_digits"
    if not 4 <= len(keys) <= 6:
        return "length"
    if len(set(keys)) == 1:
        return "repeated"
    steps = {int(b) - int(a) for a, b in zip(keys, keys[1:])}
    # A run goes up or down by one each time (1234, 4321); 0 does not wrap to 9.
    if steps in ({1}, {-1}):
        return "sequence"
    return None


def amount(keys: str) -> str | None:
    """A money amount above zero, `*` as the decimal point, at most 2 decimals (fen)."""
    match = _AMOUNT.fullmatch(keys.replace("*", "."))
    if match is None:
        return "format"
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > 2:
        return "decimals"
    if int(whole + fraction) == 0:
        return "zero"
    return None


def digits(keys: str) -> str | None:
    """Any non-empty run of digits."""
    return None if _DIGITS.fullmatch(keys) else "not_digits"


VALIDATORS: dict[str, Validator] = {
    "luhn": luhn,
    "cn_id_last4": cn_id_last4,
    "pin": pin,
    "amount": amount,
    "digits": digits,
}

# Values that identify or authenticate a customer: kept out of step records by default.
SECRET_BY_DEFAULT = frozenset({"luhn", "cn_id_last4", "pin"})

# What `*` means on the keypad for validators that use it.
_STAR_MEANS = {"cn_id_last4": "X", "amount": "."}


def normalise(validator: str, keys: str) -> str:
    """The value to store for valid `keys` (e.g. '123*' -> '123X' for cn_id_last4)."""
    star = _STAR_MEANS.get(validator)
    return keys.replace("*", star) if star else keys


def uses_star(validator: str) -> bool:
    """Whether `*` is part of the value (so it cannot be the terminator)."""
    return validator in _STAR_MEANS


KEEP_LAST = 4
# The last 4 are shown only when at least this many characters stay hidden:
# enough to tell two card numbers apart, never most of a short secret such
# as a PIN or the last 4 of an ID, which are hidden entirely.
_MIN_HIDDEN = 8


def mask_secret(value: str) -> str:
    """`value` with every character but (for long values) the last 4 replaced by '*'."""
    keep = KEEP_LAST if len(value) - KEEP_LAST >= _MIN_HIDDEN else 0
    return "*" * (len(value) - keep) + value[len(value) - keep:]
