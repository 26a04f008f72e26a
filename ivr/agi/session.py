"""One FastAGI connection: read the environment, send commands, read responses.

Every way the connection can die (EOF, reset, `HANGUP`, 511 on a dead
channel) becomes `CallerHangup`, so the flow runner has one thing to handle.
"""
from __future__ import annotations

import asyncio
import logging

from ivr.agi.protocol import (MAX_ENV_LINES, MAX_LINE_BYTES, AgiProtocolError, AgiResponse, parse_env_line,
                              parse_response)
from ivr.channel import CallerHangup

log = logging.getLogger(__name__)

ENV_TIMEOUT_S = 5.0


async def read_env(reader: asyncio.StreamReader, timeout_s: float = ENV_TIMEOUT_S) -> dict[str, str]:
    """Read the `agi_*` header block that opens a FastAGI connection."""
    env: dict[str, str] = {}
    async with asyncio.timeout(timeout_s):
        for line_no in range(1, MAX_ENV_LINES + 1):
            raw = await _readline(reader)
            if raw is None or not raw.endswith(b"\n"):
                raise AgiProtocolError(f"connection closed after {line_no - 1} complete environment lines")
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line == "":
                return env
            key, value = parse_env_line(line, line_no)
            env[key] = value
    raise AgiProtocolError(f"more than {MAX_ENV_LINES} environment lines")


async def _readline(reader: asyncio.StreamReader) -> bytes | None:
    """One line, or None at EOF; over-long lines are a protocol error."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial or None
    except asyncio.LimitOverrunError:
        raise AgiProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes") from None
    except (ConnectionError, OSError):
        return None
    return raw


class AgiSession:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, env: dict[str, str]):
        self.reader = reader
        self.writer = writer
        self.env = env
        self.hung_up = False

    async def command(self, command: str, timeout_s: float = 120.0) -> AgiResponse:
        """Send one command and return its response; CallerHangup if the channel is gone."""
        if self.hung_up and self.writer.is_closing():
            raise CallerHangup()
        try:
            self.writer.write(command.encode("utf-8") + b"\n")
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.hung_up = True
            raise CallerHangup() from None
        try:
            async with asyncio.timeout(timeout_s):
                return await self._read_response()
        except TimeoutError:
            raise AgiProtocolError(f"no AGI response to {command.split(' ')[0]!r} within {timeout_s:g} s") from None

    async def _read_response(self) -> AgiResponse:
        while True:
            raw = await _readline(self.reader)
            if raw is None:
                self.hung_up = True
                raise CallerHangup()
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line == "HANGUP":  # caller hung up; the command's own response follows
                self.hung_up = True
                continue
            response = parse_response(line)
            if response.code == 100:  # "Trying...": the real answer follows
                continue
            if response.code == 520 and line[3:4] == "-":
                await self._skip_usage_text()
            if response.code == 511:  # command not permitted on a dead channel
                self.hung_up = True
                raise CallerHangup()
            return response

    async def _skip_usage_text(self) -> None:
        while True:
            raw = await _readline(self.reader)
            if raw is None or raw.startswith(b"520 "):
                return

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
