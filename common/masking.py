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
_CANDIDATE = re.compile(r"\+?\d+(?:[ -]\d{3,})*")


def _is_sensitive(text: str) -> bool:
    """7+ digits in one run (any phone or card number), or 10+ when written in groups.

    Grouped numbers need more digits so log fragments such as an HTTP status
    followed by a byte count ("200 1413") stay readable; every real phone or
    card number written in groups has at least 10 digits.
    """
    digits = sum(ch.isdigit() for ch in text)
    grouped = " " in text or "-" in text
    return digits >= (10 if grouped else 7)


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

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return True
