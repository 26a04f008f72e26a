"""Masking of phone and card numbers before anything reaches a log.

Bank rules: a log line may show enough of a number to tell calls apart, never
enough to dial it or charge it. Phone numbers keep their last 4 digits, card
numbers (13-19 digits) keep their last 4 as PCI DSS allows.
"""
from __future__ import annotations

import logging
import re

# A digit run, optionally with a leading + and groups of 3+ digits joined by a
# single space or dash ("138 1234 5678", "4111-1111-1111-1111"). Dates and
# times fail the 3-digit group rule; `_is_sensitive` decides the rest.
# Digits that belong to a decimal such as Asterisk's unique id "1700000000.12"
# are left alone: they identify calls, not people.
_CANDIDATE = re.compile(r"(?<![\d.])\+?\d+(?:[ -]\d{3,})*(?!\d|\.\d)")


def _is_sensitive(text: str) -> bool:
    """7+ digits in one run (any phone or card number), or 8+ when written in groups.

    Grouped numbers need one more digit so log fragments such as an HTTP
    status followed by a byte count ("200 1413") stay readable; the shortest
    dialable numbers written in groups (local landlines, "8888-9999") have 8.
    """
    digits = sum(ch.isdigit() for ch in text)
    grouped = " " in text or "-" in text
    return digits >= (8 if grouped else 7)


def mask_digits(value: str, keep_last: int = 4) -> str:
    """Replace every digit except the last `keep_last` with '*', keeping layout."""
    total = sum(ch.isdigit() for ch in value)
    hide = max(total - keep_last, 0)
    out = []
    for ch in value:
        if ch.isdigit() and hide > 0:
            out.append("*")
            hide -= 1
        else:
            out.append(ch)
    return "".join(out)


def mask_numbers(text: str) -> str:
    """Mask every phone- or card-like digit run inside free text."""
    return _CANDIDATE.sub(lambda m: mask_digits(m.group(0)) if _is_sensitive(m.group(0)) else m.group(0), text)


class MaskingFilter(logging.Filter):
    """Logging filter that masks numbers in the fully formatted message.

    It rewrites the record in place so every handler downstream sees only the
    masked text, whatever argument types the caller used.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad format args: let logging report it as it always does
            return True
        masked = mask_numbers(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        # Tracebacks are formatted after filters run; format and mask them now
        # (formatters reuse a record's exc_text instead of formatting again).
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_numbers(self._formatter.formatException(record.exc_info))
        return True
