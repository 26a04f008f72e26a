"""Pure parsing of the AGI protocol (what Asterisk sends us).

Asterisk opens a FastAGI connection with `agi_*: value` lines ending in a
blank line, then answers each command with one line such as
`200 result=49 endpos=1234`. It may also send a lone `HANGUP` line at any
time (AGISIGHUP) when the caller hangs up.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.channel import ChannelFailure

MAX_ENV_LINES = 200
MAX_LINE_BYTES = 8192

_RESPONSE = re.compile(r"^(?P<code>\d{3})(?P<sep>[ -])(?P<rest>.*)$")
_RESULT = re.compile(r"^result=(?P<result>-?\d*)(?:\s+\((?P<data>[^)]*)\))?(?P<extra>.*)$")
_ENV_LINE = re.compile(r"^(agi_[a-z0-9_]+): ?(.*)$")


class AgiProtocolError(ChannelFailure):
    """Asterisk (or whatever is connected) sent something that is not AGI."""


@dataclass(frozen=True)
class AgiResponse:
    code: int
    result: str  # e.g. '0', '49', '-1'; '' when the code carries no result
    data: str  # text in parentheses, e.g. 'timeout' or 'dtmf'
    extra: str  # trailing key=value pairs such as 'endpos=1234'
    line: str

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int:
        try:
            return int(self.result)
        except ValueError:
            raise AgiProtocolError(f"result is not a number in AGI response {self.line!r}") from None


def parse_response(line: str) -> AgiResponse:
    """Parse one AGI response line (without the newline)."""
    m = _RESPONSE.match(line)
    if not m:
        raise AgiProtocolError(f"not an AGI response line: {line[:80]!r}")
    code, rest = int(m.group("code")), m.group("rest")
    if code == 200:
        r = _RESULT.match(rest)
        if not r:
            raise AgiProtocolError(f"200 response without result=: {line[:80]!r}")
        return AgiResponse(code, r.group("result"), r.group("data") or "", r.group("extra").strip(), line)
    return AgiResponse(code, "", "", rest, line)


def parse_env_line(line: str, line_no: int) -> tuple[str, str]:
    m = _ENV_LINE.match(line)
    if not m:
        raise AgiProtocolError(f"AGI environment line {line_no} is not 'agi_name: value': {line[:80]!r}")
    return m.group(1), m.group(2)


def quote_arg(value: str) -> str:
    """Quote one AGI command argument (file names, variable values)."""
    if any(c in value for c in '\n\r'):
        raise ValueError("AGI arguments cannot contain newlines")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def key_from_result(result: int) -> str | None:
    """STREAM FILE / WAIT FOR DIGIT return the pressed key as its ASCII code, 0 for none."""
    if result == 0:
        return None
    if not 0 < result < 128:
        raise AgiProtocolError(f"AGI returned {result}, which is not a phone key")
    key = chr(result)
    if key not in "0123456789*#ABCD":
        raise AgiProtocolError(f"AGI returned {result}, which is not a phone key")
    return key
