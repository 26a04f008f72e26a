"""Phone numbers for dialing: E.164, the kinds a bank may call, the callee's time zone.

Pure. `normalise("138 1234 5678", "CN")` gives `Phone("+8613812345678", "mobile",
"Asia/Shanghai")`; anything a dialer must not call raises `PhoneError` with a
reason an operator can act on. Reasons never repeat the number itself, so they
can go to logs and error reports as they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberDesc, PhoneNumberType
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

DEFAULT_REGION = "CN"

_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
# Kinds a campaign never dials: the callee does not pay for them, the bank would.
REJECTED_TYPES = {PhoneNumberType.PREMIUM_RATE: "premium-rate number"}

_MAX_INPUT = 40  # longer cells are not phone numbers (phonenumbers itself stops at 250)
_SCIENTIFIC = re.compile(r"^\s*\d+(?:\.\d+)?[eE]\+?\d+\s*$")
_LETTER = re.compile(r"[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PhoneError(ValueError):
    """A value that cannot be dialled; `str(err)` is the operator-facing reason."""


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    kind: str              # mobile | fixed_line | fixed_line_or_mobile | toll_free | ...
    time_zone: str | None  # the number's one IANA zone; None if it spans several or none is known


def validate_region(region: str) -> str:
    """'cn' -> 'CN'; PhoneError for a region phonenumbers does not know."""
    code = (region or "").strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise PhoneError(f"unknown region {region!r} (use a two-letter country code such as CN)")
    return code


def normalise(raw: str, region: str = DEFAULT_REGION) -> Phone:
    """Parse `raw` as written in `region` (numbers with +CC or 00CC keep their own country)."""
    text = raw.strip() if isinstance(raw, str) else ""
    if region == "CN":
        quick = cn_mobile(text)
        if quick is not None:
            return Phone(*quick)
    return _normalise(text, region)


def cn_mobile(text: str) -> tuple[str, str, str | None] | None:
    """normalise(text, "CN") as (e164, kind, time zone) for a stripped mobile-shaped number, quickly.

    None for any other shape (normalise() handles those); PhoneError as normalise() raises it.
    """
    m = _CN_MOBILE_SHAPE.fullmatch(text)
    if m is None:
        return None
    national = m.group(1)
    if national.startswith("179"):
        return None
    block = int(national[:7]) - _CN_FIRST_BLOCK
    code = _CN_BLOCK_CODES[block]
    if code:
        known = _CN_ANSWERS[code - 1]
    else:
        known = _classify_national(86, national)
        if known not in _CN_ANSWERS and len(_CN_ANSWERS) < 255:
            _CN_ANSWERS.append(known)
        if known in _CN_ANSWERS:
            _CN_BLOCK_CODES[block] = _CN_ANSWERS.index(known) + 1
    if isinstance(known, str):
        raise PhoneError(known)
    return "+86" + national, known[0], known[1]


# Fast path for the bulk of a Chinese bank's lists: 11 digits starting 13-19, as is or
# after +86 / 0086 / 86. For these, phonenumbers.parse(text, "CN") always gives country
# code 86 and the 11 digits unchanged as the national number: CN's prefix-for-parsing
# (1[12]xx | 179xx | 0) only matches such a number when it starts with 179, excluded
# here. And the answer (valid or not, kind, time zone) depends only on the number's
# first 7 digits, the block (号段/H-code) China's numbering plan allocates in: of CN's
# patterns only the mobile one admits 11 digits starting with 1, and time zones are
# looked up by at most 9 digits of the E.164 form (86 + 7). So each block is classified
# once, without re-parsing, and the answer reused. tests/unit/test_phones.py checks the
# fast path against phonenumbers on random numbers of every accepted shape.
# ASCII digits only: [0-9], not \d, which also matches fullwidth and other scripts' digits
# (phonenumbers turns those into ASCII; the slow path does).
_CN_MOBILE_SHAPE = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
# One byte per block of 13x-19x (700,000 blocks, 700 KB, whatever the list's size):
# 0 = not classified yet, else 1 + the index of the block's answer in _CN_ANSWERS.
_CN_FIRST_BLOCK = 1_300_000
_CN_BLOCK_CODES = bytearray(2_000_000 - _CN_FIRST_BLOCK)
_CN_ANSWERS: list[tuple[str, str | None] | str] = []  # (kind, zone), or a PhoneError reason; a handful


# What _classify(PhoneNumber(country_code, int(nsn))) answers, from the national number's
# digits, without phonenumbers' per-call overhead (a PhoneNumber, region lookups, regexes
# looked up in its cache and matched twice). A list of a million numbers spread over a
# few hundred thousand blocks pays this once per block: at phonenumbers' ~50 us that
# alone was the upload's largest cost. The steps are phonenumbers' own, in its order:
# number_type() is _number_type_helper() (the same descriptions, possible lengths and
# patterns, compiled once here), time zones for geographical kinds are the longest
# prefix of the E.164 digits in its TIMEZONE_DATA; anything else goes through the
# library. tests/unit/test_phones.py compares this with phonenumbers on large samples.
_SPECIAL_TYPES = (("premium_rate", PhoneNumberType.PREMIUM_RATE), ("toll_free", PhoneNumberType.TOLL_FREE),
                  ("shared_cost", PhoneNumberType.SHARED_COST), ("voip", PhoneNumberType.VOIP),
                  ("personal_number", PhoneNumberType.PERSONAL_NUMBER), ("pager", PhoneNumberType.PAGER),
                  ("uan", PhoneNumberType.UAN), ("voicemail", PhoneNumberType.VOICEMAIL))
_NEVER = re.compile(r"(?!)").fullmatch


def _desc_for_length(desc: PhoneNumberDesc | None, length: int) -> Callable[[str], Any]:
    """phonenumbers' _is_number_matching_desc(nsn, desc) for numbers of `length` digits, as a fullmatch."""
    if desc is None or not desc.national_number_pattern:
        return _NEVER
    if desc.possible_length and length not in desc.possible_length:
        return _NEVER
    return re.compile(desc.national_number_pattern).fullmatch


@lru_cache(maxsize=None)
def _type_patterns(country_code: int, length: int) -> tuple:
    """(region, general, [(special, kind)], fixed line, mobile, same pattern) for nsns of `length` digits."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1:  # e.g. +44 (GB, GG, IM, JE): which region's patterns apply depends on the number
        raise ValueError(f"country code {country_code} is not one region's")
    region = regions[0]
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    specials = tuple((_desc_for_length(getattr(metadata, name), length), kind) for name, kind in _SPECIAL_TYPES)
    return (region, _desc_for_length(metadata.general_desc, length),
            tuple((match, kind) for match, kind in specials if match is not _NEVER),
            _desc_for_length(metadata.fixed_line, length), _desc_for_length(metadata.mobile, length),
            metadata.same_mobile_and_fixed_line_pattern)


def _number_type(country_code: int, nsn: str) -> int:
    """phonenumbers.number_type() of a number of a single-region country code."""
    _, general, specials, fixed_line, mobile, same_pattern = _type_patterns(country_code, len(nsn))
    if general(nsn) is None:
        return PhoneNumberType.UNKNOWN
    for match, kind in specials:
        if match(nsn) is not None:
            return kind
    if fixed_line(nsn) is not None:
        if same_pattern or mobile(nsn) is not None:
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return PhoneNumberType.FIXED_LINE
    if not same_pattern and mobile(nsn) is not None:
        return PhoneNumberType.MOBILE
    return PhoneNumberType.UNKNOWN


@lru_cache(maxsize=None)
def _zone_prefix_lengths(country_code: int) -> tuple[int, ...]:
    """Lengths of TIMEZONE_DATA's prefixes for this country code, longest first: the only ones to try."""
    cc = str(country_code)
    lengths = {len(prefix) for prefix in TIMEZONE_DATA if prefix.startswith(cc) or cc.startswith(prefix)}
    return tuple(sorted((n for n in lengths if n <= TIMEZONE_LONGEST_PREFIX), reverse=True))


def _classify_national(country_code: int, nsn: str) -> tuple[str, str | None] | str:
    """_classify() of +country_code nsn, for a country code with one region (86: CN)."""
    kind = _number_type(country_code, nsn)
    if kind == PhoneNumberType.UNKNOWN:
        return f"not a valid {_type_patterns(country_code, len(nsn))[0]} phone number"
    if kind in REJECTED_TYPES:
        return REJECTED_TYPES[kind]
    if not phonenumbers.is_number_type_geographical(kind, country_code):
        return _classify(phonenumbers.PhoneNumber(country_code=country_code, national_number=int(nsn)))
    digits = f"{country_code}{nsn}"
    zones: tuple[str, ...] = (pn_timezone.UNKNOWN_TIMEZONE,)
    for length in _zone_prefix_lengths(country_code):
        found = TIMEZONE_DATA.get(digits[:length])
        if found is not None:
            zones = found
            break
    zone = zones[0] if len(zones) == 1 and zones[0] != pn_timezone.UNKNOWN_TIMEZONE else None
    return _TYPE_NAMES.get(kind, "other"), zone


def _forget_cn_blocks() -> None:
    """Tests: classify every block afresh."""
    _CN_BLOCK_CODES[:] = bytes(len(_CN_BLOCK_CODES))
    _CN_ANSWERS.clear()


def _classify(number: phonenumbers.PhoneNumber) -> tuple[str, str | None] | str:
    """(kind, time zone) of a parsed number, or why it cannot be dialled."""
    # number_type() is UNKNOWN exactly when is_valid_number() is False (both look up the
    # number's region and match the same patterns); one call instead of two.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        where = phonenumbers.region_code_for_country_code(number.country_code)
        if where in (None, "ZZ"):
            return "not a valid phone number (unknown country code)"
        return f"not a valid {where} phone number"
    if kind in REJECTED_TYPES:
        return REJECTED_TYPES[kind]
    return _TYPE_NAMES.get(kind, "other"), _time_zone(number, kind)


def _normalise(text: str, region: str) -> Phone:
    if not text:
        raise PhoneError("missing phone number")
    if len(text) > _MAX_INPUT:
        raise PhoneError("not a phone number (too long)")
    if _CONTROL.search(text):
        raise PhoneError("not a phone number (contains a line break or control character)")
    if _SCIENTIFIC.match(text):
        raise PhoneError("number was turned into scientific notation (like 1.38E+10) by a spreadsheet; "
                         "format the column as text and export again")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        raise PhoneError("not a phone number") from None
    if number.extension:
        raise PhoneError("has an extension, which cannot be dialled automatically")
    if _LETTER.search(text):  # phonenumbers reads 1-800-FLOWERS as digits; a bank list never means that
        raise PhoneError("contains letters")
    known = _classify(number)
    if isinstance(known, str):
        raise PhoneError(known)
    return Phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), *known)


def _time_zone(number: phonenumbers.PhoneNumber, kind: int) -> str | None:
    # What phonenumbers.timezone.time_zones_for_number() does, without its second
    # validity check: geographic kinds by prefix, the others by country code.
    if phonenumbers.is_number_type_geographical(kind, number.country_code):
        zones = pn_timezone.time_zones_for_geographical_number(number)
    else:
        zones = pn_timezone.time_zones_for_number(number)
    if len(zones) == 1 and zones[0] != pn_timezone.UNKNOWN_TIMEZONE:
        return zones[0]
    return None


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    import zoneinfo

    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def valid_time_zone(name: str | None) -> str | None:
    """The canonical IANA name for `name` ('asia/shanghai' -> 'Asia/Shanghai'), or None."""
    if not isinstance(name, str) or not name.strip():
        return None
    return _zones().get(name.strip().casefold())


def callee_time_zone(phone: Phone, explicit: str | None = None) -> str | None:
    """The zone to schedule calls in: an explicit, valid one wins over the number's own."""
    return valid_time_zone(explicit) or phone.time_zone
