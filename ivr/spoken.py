"""Values -> the fragment prompts that speak them, for zh-CN and en-US.

Every function is pure: it returns prompt ids from the fragment block of
prompts/catalog.yaml, to be played one after another. A fragment id means
the same word in both languages, so one id list works for either voice:

- digits `n_0`..`n_9`, and the multiplier words `n_10` (十 / ten),
  `n_100` (百 / hundred), `n_1000` (千 / thousand), `n_10000` (万),
  `n_100000000` (亿), `n_million`, `n_billion`;
- English only: teens `n_11`..`n_19` and tens `n_20`..`n_90`;
- `cur_yuan`, `cur_jiao`, `cur_fen`; `month_1`..`month_12`; `ord_1`..`ord_31`
  (English day ordinals); `day_ri` (日); `word_minus`, `word_point`,
  `word_ending_in`.

Wording choices:

- Mandarin says 二, never 两 (二千, 二元): correct in formal announcements and
  it keeps one fragment per digit. Digit strings keep 一 (not 幺).
- Mandarin drops the 一 of a leading 十 (十五, 十万) but keeps it elsewhere
  (一百一十), and says 零 once for each gap of zeros (一万零五, 一亿零一千).
- English amounts are "<n> yuan <n> fen" (12.30 -> "twelve yuan thirty
  fen"), the usual English for CNY; jiao is a Mandarin-only unit. No "and"
  after hundred (US usage). Zero is "zero", also in digit strings.
- Dates are month and day only (三月五日, "March fifth"), as a statement or
  due date is always in the coming or past few weeks.
- Amounts go to fen (2 decimals); numbers and amounts are below 10^12
  (一万亿 / one trillion). Anything else is a ValueError, never a wrong reading.
"""
from __future__ import annotations

from datetime import date as Date
from decimal import Decimal
from typing import Any, Callable

ZH = "zh-CN"
EN = "en-US"
LANGUAGES = (ZH, EN)

LIMIT = 10**12  # numbers and amounts (in yuan) must be below this

ZERO = "n_0"
TEN, HUNDRED, THOUSAND = "n_10", "n_100", "n_1000"
WAN, YI = "n_10000", "n_100000000"
MILLION, BILLION = "n_million", "n_billion"
YUAN, JIAO, FEN = "cur_yuan", "cur_jiao", "cur_fen"
MINUS, POINT, ENDING_IN, DAY_RI = "word_minus", "word_point", "word_ending_in", "day_ri"


def _n(value: int) -> str:
    return f"n_{value}"


def number(n: int | Decimal, lang: str) -> list[str]:
    """A whole or decimal number: 12.5 -> 十二点五 / "twelve point five"."""
    value = _finite(n)
    whole, fraction = _split(abs(value))
    words = _sign(value) + _integer(whole, lang)
    if fraction:
        words += [POINT] + digits(fraction, lang)
    return words


def amount(value: Decimal, lang: str) -> list[str]:
    """Yuan and fen: 1234.56 -> 一千二百三十四元五角六分 / "... thirty four yuan fifty six fen"."""
    fen_total = _finite(value) * 100
    if fen_total != fen_total.to_integral_value():
        raise ValueError("an amount has at most 2 decimals (fen)")
    yuan, fen = divmod(abs(int(fen_total)), 100)
    _check_range(yuan)
    spell = _zh_amount if _language(lang) == ZH else _en_amount
    return _sign(fen_total) + spell(yuan, fen)


def digits(s: str, lang: str) -> list[str]:
    """Digit by digit: '1024' -> 一零二四 / "one zero two four"."""
    _language(lang)
    if not s.isascii() or not s.isdigit():
        raise ValueError("only the digits 0-9 can be said one by one")
    return [_n(int(ch)) for ch in s]


def date(d: Date, lang: str) -> list[str]:
    """Month and day: 三月五日 / "March fifth"."""
    month = f"month_{d.month}"
    if _language(lang) == ZH:
        return [month] + _zh_integer(d.day) + [DAY_RI]
    return [month, f"ord_{d.day}"]


def card_last4(s: str, lang: str) -> list[str]:
    """尾号1234 / "ending in 1 2 3 4"; `s` may be the whole card number."""
    if len(s) < 4:
        raise ValueError("a card number has at least 4 digits")
    return [ENDING_IN] + digits(s[-4:], lang)


# --- helpers --------------------------------------------------------------------


def _language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"no spoken numbers for language {lang!r}")
    return lang


def _finite(value: int | Decimal) -> Decimal:
    # Floats are refused: Decimal(0.1) is 0.1000000000000000055..., not what anyone meant.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError(f"expected an int or Decimal, got {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("not a finite number")
    return Decimal(value)


def _sign(value: Decimal) -> list[str]:
    return [MINUS] if value < 0 else []


def _split(value: Decimal) -> tuple[int, str]:
    """Non-negative `value` -> (whole part, fraction digits without trailing zeros)."""
    whole, _, fraction = format(value, "f").partition(".")
    return int(whole), fraction.rstrip("0")


def _check_range(whole: int) -> None:
    if whole >= LIMIT:
        raise ValueError("number too large to say (the limit is 10^12)")


def _integer(n: int, lang: str) -> list[str]:
    _check_range(n)
    return _zh_integer(n) if _language(lang) == ZH else _en_integer(n)


def _zh_integer(n: int) -> list[str]:
    """0 <= n < 10^12 in Mandarin: groups of 4 digits joined by 亿 and 万."""
    if n == 0:
        return [ZERO]
    words: list[str] = []
    zero_between = False  # an all-zero group lies between spoken groups
    for unit, group in ((YI, n // 10**8), (WAN, n // 10**4 % 10**4), (None, n % 10**4)):
        if group == 0:
            zero_between = bool(words)
            continue
        # 零 marks a gap: a skipped group, or leading zeros inside this one (一万零五).
        if words and (zero_between or group < 1000):
            words.append(ZERO)
        words += _zh_group(group, first=not words)
        if unit:
            words.append(unit)
        zero_between = False
    return words


def _zh_group(n: int, first: bool) -> list[str]:
    """1 <= n <= 9999; `first`: nothing was said before, so 十 needs no 一 (十五, not 一十五)."""
    words: list[str] = []
    zero_pending = False
    for place, unit in ((1000, THOUSAND), (100, HUNDRED), (10, TEN), (1, None)):
        digit = n // place % 10
        if digit == 0:
            zero_pending = bool(words)  # trailing zeros are never said
            continue
        if zero_pending:
            words.append(ZERO)
        if not (unit == TEN and digit == 1 and first and not words):
            words.append(_n(digit))
        if unit:
            words.append(unit)
        zero_pending = False
    return words


def _en_integer(n: int) -> list[str]:
    """0 <= n < 10^12 in English: groups of 3 digits joined by billion, million and thousand."""
    if n == 0:
        return [ZERO]
    words: list[str] = []
    for scale, unit in ((10**9, BILLION), (10**6, MILLION), (1000, THOUSAND), (1, None)):
        group = n // scale % 1000
        if group:
            words += _en_group(group) + ([unit] if unit else [])
    return words


def _en_group(n: int) -> list[str]:
    """1 <= n <= 999: "two hundred thirty four"."""
    hundreds, rest = divmod(n, 100)
    words = [_n(hundreds), HUNDRED] if hundreds else []
    if 0 < rest < 20:
        words.append(_n(rest))
    elif rest:
        tens, ones = divmod(rest, 10)
        words.append(_n(tens * 10))
        if ones:
            words.append(_n(ones))
    return words


def _zh_amount(yuan: int, fen: int) -> list[str]:
    jiao, fen = divmod(fen, 10)
    words = _zh_integer(yuan) + [YUAN] if yuan or not (jiao or fen) else []
    if jiao:
        words += [_n(jiao), JIAO]
    if fen:
        if words and not jiao:
            words.append(ZERO)  # 十二元零五分
        words += [_n(fen), FEN]
    return words


def _en_amount(yuan: int, fen: int) -> list[str]:
    words = _en_integer(yuan) + [YUAN] if yuan or not fen else []
    if fen:
        words += _en_integer(fen) + [FEN]
    return words


# --- what the `say` node needs ------------------------------------------------------

SAYERS: dict[str, Callable[[Any, str], list[str]]] = {
    "amount": amount,
    "number": number,
    "digits": digits,
    "date": date,
    "card_last4": card_last4,
}

_DIGIT_IDS = tuple(_n(d) for d in range(10))
_WHOLE_NUMBER_IDS = (
    _DIGIT_IDS
    + tuple(_n(v) for v in range(10, 20))
    + tuple(_n(v) for v in range(20, 100, 10))
    + (HUNDRED, THOUSAND, WAN, YI, MILLION, BILLION)
)

# Every fragment each kind can return in any language (flow loading checks the
# catalogue has them all; tests check the functions never return anything else).
FRAGMENTS: dict[str, tuple[str, ...]] = {
    "amount": (MINUS,) + _WHOLE_NUMBER_IDS + (YUAN, JIAO, FEN),
    "number": (MINUS, POINT) + _WHOLE_NUMBER_IDS,
    "digits": _DIGIT_IDS,
    "date": tuple(f"month_{m}" for m in range(1, 13)) + tuple(f"ord_{d}" for d in range(1, 32))
    + tuple(_n(v) for v in range(1, 11)) + (DAY_RI,),
    "card_last4": (ENDING_IN,) + _DIGIT_IDS,
}

ALL_FRAGMENTS: tuple[str, ...] = tuple(dict.fromkeys(f for ids in FRAGMENTS.values() for f in ids))
