"""AGI session and channel over a real loopback TCP connection (and hand-fed readers for the env).

The test plays Asterisk: it connects to an IVR-side server socket, writes the
lines Asterisk would send and reads the commands the IVR wrote. Responses are
written before the command is sent; TCP buffers them, so nothing sleeps.
"""
import asyncio
import time
from dataclasses import dataclass

import pytest

from ivr.agi.channel import AgiChannel
from ivr.agi.protocol import MAX_ENV_LINES, MAX_LINE_BYTES, AgiProtocolError
from ivr.agi.session import AgiSession, read_env
from ivr.channel import ALL_KEYS, CallerHangup, ChannelFailure, PromptUnavailable

GUARD_S = 2.0  # no test may hang: every await on the code under test is bounded by this

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: hotline\n"
    b"agi_request: agi://127.0.0.1/hotline\n"
    b"agi_channel: PJSIP/caller-00000001\n"
    b"agi_language: en\n"
    b"agi_uniqueid: 1700000000.1\n"
    b"agi_callerid: 13812345678\n"
    b"agi_dnid: 4000\n"
    b"agi_arg_1: en-US\n"
    b"\n"
)


@dataclass
class Link:
    """Both ends of one FastAGI connection."""

    ivr_reader: asyncio.StreamReader
    ivr_writer: asyncio.StreamWriter
    ast_reader: asyncio.StreamReader
    ast_writer: asyncio.StreamWriter

    def send(self, data: bytes) -> None:
        """Asterisk writes `data` to the IVR."""
        self.ast_writer.write(data)

    async def received_lines(self) -> list[str]:
        """Everything the IVR wrote so far (closes the IVR's side to get EOF)."""
        self.ivr_writer.close()
        data = await asyncio.wait_for(self.ast_reader.read(), GUARD_S)
        return data.decode("utf-8").splitlines()

    async def next_command(self) -> bytes:
        return await asyncio.wait_for(self.ast_reader.readline(), GUARD_S)

    def session(self, env: dict[str, str] | None = None) -> AgiSession:
        return AgiSession(self.ivr_reader, self.ivr_writer, env or {})

    def channel(self) -> AgiChannel:
        return AgiChannel(self.session())


@pytest.fixture
async def link():
    accepted: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_connect(reader, writer):
        accepted.set_result((reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, limit=MAX_LINE_BYTES)
    port = server.sockets[0].getsockname()[1]
    ast_reader, ast_writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), GUARD_S)
    ivr_reader, ivr_writer = await asyncio.wait_for(accepted, GUARD_S)
    yield Link(ivr_reader, ivr_writer, ast_reader, ast_writer)
    for writer in (ivr_writer, ast_writer):
        writer.close()
    server.close()
    await asyncio.wait_for(server.wait_closed(), GUARD_S)


def fed_reader(data: bytes, eof: bool = True, limit: int = 2 ** 16) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def bounded(coro):
    return asyncio.wait_for(coro, GUARD_S)


# --- read_env ------------------------------------------------------------------------


async def test_env_is_parsed_over_tcp(link):
    link.send(ENV + b"200 result=0\n")
    env = await bounded(read_env(link.ivr_reader, timeout_s=1))
    assert env["agi_network_script"] == "hotline"
    assert env["agi_callerid"] == "13812345678"
    assert env["agi_arg_1"] == "en-US"
    assert env["agi_dnid"] == "4000"
    assert len(env) == 9
    # The blank line ends the env: the next line is left for the first command.
    assert await bounded(link.ivr_reader.readline()) == b"200 result=0\n"


async def test_env_with_crlf_and_empty_values():
    env = await bounded(read_env(fed_reader(b"agi_request: agi://h/x\r\nagi_rdnis: unknown\r\nagi_dnid:\r\n\r\n")))
    assert env == {"agi_request": "agi://h/x", "agi_rdnis": "unknown", "agi_dnid": ""}


async def test_env_eof_before_the_blank_line():
    with pytest.raises(AgiProtocolError, match=r"connection closed after 2\b"):
        await bounded(read_env(fed_reader(b"agi_network: yes\nagi_request: agi://h/x\n"), timeout_s=1))


async def test_env_eof_with_nothing_sent():
    with pytest.raises(AgiProtocolError, match=r"connection closed after 0\b"):
        await bounded(read_env(fed_reader(b""), timeout_s=1))


async def test_env_eof_over_tcp(link):
    link.send(b"agi_network: yes\n")
    link.ast_writer.close()
    with pytest.raises(AgiProtocolError, match=r"connection closed after 1\b"):
        await bounded(read_env(link.ivr_reader, timeout_s=1))


async def test_env_eof_in_the_middle_of_a_line():
    # The half line is not taken as a complete one.
    reader = fed_reader(b"agi_network: yes\nagi_request: agi://h/x")
    with pytest.raises(AgiProtocolError, match=r"connection closed after 1\b"):
        await bounded(read_env(reader, timeout_s=1))


async def test_garbled_env_line_names_its_line_number():
    reader = fed_reader(b"agi_network: yes\nagi_request: agi://h/x\nGET / HTTP/1.1\n\n")
    with pytest.raises(AgiProtocolError) as excinfo:
        await bounded(read_env(reader, timeout_s=1))
    assert "line 3" in str(excinfo.value)
    assert "GET / HTTP/1.1" in str(excinfo.value)


async def test_env_timeout_when_nothing_is_sent():
    reader = fed_reader(b"", eof=False)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await bounded(read_env(reader, timeout_s=0.05))
    assert time.monotonic() - started < 1.0


async def test_env_timeout_when_the_blank_line_never_comes(link):
    link.send(b"agi_network: yes\n")
    with pytest.raises(TimeoutError):
        await bounded(read_env(link.ivr_reader, timeout_s=0.05))


async def test_too_many_env_lines():
    data = b"".join(b"agi_x%d: v\n" % i for i in range(MAX_ENV_LINES + 1)) + b"\n"
    with pytest.raises(AgiProtocolError, match=f"more than {MAX_ENV_LINES} environment lines"):
        await bounded(read_env(fed_reader(data), timeout_s=1))


async def test_over_long_env_line_is_a_protocol_error():
    reader = fed_reader(b"agi_x: " + b"a" * (MAX_LINE_BYTES * 2) + b"\n\n", limit=MAX_LINE_BYTES)
    with pytest.raises(AgiProtocolError, match="longer than"):
        await bounded(read_env(reader, timeout_s=1))


# --- AgiSession.command -----------------------------------------------------------------


async def test_command_response_is_parsed(link):
    session = link.session()
    link.send(b"200 result=1 (speech) endpos=42\n")
    response = await bounded(session.command("ANSWER"))
    assert (response.code, response.result, response.data, response.extra) == (200, "1", "speech", "endpos=42")
    assert await link.next_command() == b"ANSWER\n"
    assert session.hung_up is False


async def test_100_trying_is_skipped(link):
    link.send(b"100 result=0 Trying...\n200 result=0\n")
    response = await bounded(link.session().command("EXEC Dial PJSIP/agent"))
    assert (response.code, response.result) == (200, "0")


async def test_520_usage_text_is_skipped(link):
    session = link.session()
    link.send(b"520-Invalid command syntax.  Proper usage follows:\n"
              b"Usage: STREAM FILE <filename> <escape digits> [sample offset]\n"
              b"520 End of proper usage.\n"
              b"200 result=0\n")
    first = await bounded(session.command("STREAM FILE"))
    assert first.code == 520
    # The usage lines were consumed: the next command gets its own answer.
    second = await bounded(session.command("WAIT FOR DIGIT 10"))
    assert (second.code, second.result) == (200, "0")


async def test_510_is_returned(link):
    response = await bounded(_send_and_command(link, b"510 Invalid or unknown command\n", "FOO"))
    assert response.code == 510
    assert not response.ok


async def _send_and_command(link, data, command):
    link.send(data)
    return await link.session().command(command)


async def test_511_is_caller_hangup(link):
    session = link.session()
    link.send(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    with pytest.raises(CallerHangup):
        await bounded(session.command("STREAM FILE \"x\" \"\""))
    assert session.hung_up is True


async def test_eof_during_a_command_is_caller_hangup(link):
    session = link.session()
    link.ast_writer.write_eof()  # Asterisk closes its side without answering
    with pytest.raises(CallerHangup):
        await bounded(session.command("WAIT FOR DIGIT 5000"))
    assert session.hung_up is True
    assert await link.next_command() == b"WAIT FOR DIGIT 5000\n"


async def test_hangup_line_then_response(link):
    session = link.session()
    link.send(b"HANGUP\n200 result=0\n")
    response = await bounded(session.command("WAIT FOR DIGIT 5000"))
    assert response.result == "0"
    assert session.hung_up is True


async def test_garbage_response_is_a_protocol_error(link):
    link.send(b"this is not agi\n")
    with pytest.raises(AgiProtocolError, match="this is not agi"):
        await bounded(link.session().command("ANSWER"))


async def test_command_timeout_is_a_protocol_error(link):
    started = time.monotonic()
    with pytest.raises(AgiProtocolError, match="no AGI response to 'WAIT'"):
        await bounded(link.session().command("WAIT FOR DIGIT 5000", timeout_s=0.05))
    assert time.monotonic() - started < 1.0


async def test_protocol_errors_are_channel_failures():
    assert issubclass(AgiProtocolError, ChannelFailure)


async def test_response_without_newline_before_eof_is_still_read(link):
    link.send(b"200 result=49")
    link.ast_writer.write_eof()
    assert await bounded(link.channel().play("/p/x", ALL_KEYS)) == "1"


# --- AgiChannel -------------------------------------------------------------------------


async def test_play_sends_stream_file_and_returns_the_key(link):
    link.send(b"200 result=49 endpos=1234\n")
    key = await bounded(link.channel().play("/p/x", ALL_KEYS))
    assert key == "1"
    assert await link.next_command() == b'STREAM FILE "/p/x" "0123456789*#"\n'


async def test_play_without_escape_keys(link):
    link.send(b"200 result=0 endpos=8000\n")
    assert await bounded(link.channel().play("/p/welcome")) is None
    assert await link.next_command() == b'STREAM FILE "/p/welcome" ""\n'


@pytest.mark.parametrize(("result", "key"), [(b"35", "#"), (b"42", "*"), (b"48", "0")])
async def test_play_returns_star_hash_and_zero(link, result, key):
    link.send(b"200 result=" + result + b" endpos=10\n")
    assert await bounded(link.channel().play("/p/x", ALL_KEYS)) == key


async def test_play_hangup_line_before_minus_one_is_caller_hangup(link):
    link.send(b"HANGUP\n200 result=-1 endpos=0\n")
    with pytest.raises(CallerHangup):
        await bounded(link.channel().play("/p/x", ALL_KEYS))
    # Already known to be gone: no CHANNEL STATUS was asked.
    assert await link.received_lines() == ['STREAM FILE "/p/x" "0123456789*#"']


async def test_play_eof_is_caller_hangup(link):
    link.ast_writer.write_eof()
    with pytest.raises(CallerHangup):
        await bounded(link.channel().play("/p/x", ALL_KEYS))


async def test_play_511_is_caller_hangup(link):
    link.send(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    with pytest.raises(CallerHangup):
        await bounded(link.channel().play("/p/x", ALL_KEYS))


async def test_play_minus_one_on_a_live_channel_is_prompt_unavailable(link):
    link.send(b"200 result=-1 endpos=0\n200 result=6\n")
    with pytest.raises(PromptUnavailable, match="/p/missing"):
        await bounded(link.channel().play("/p/missing", ALL_KEYS))
    assert await link.received_lines() == ['STREAM FILE "/p/missing" "0123456789*#"', "CHANNEL STATUS"]


async def test_play_minus_one_then_channel_status_511_is_caller_hangup(link):
    link.send(b"200 result=-1 endpos=0\n511 Command Not Permitted on a dead channel or intercept routine\n")
    with pytest.raises(CallerHangup):
        await bounded(link.channel().play("/p/x", ALL_KEYS))


async def test_play_minus_one_then_channel_status_hangup_line_is_caller_hangup(link):
    link.send(b"200 result=-1 endpos=0\nHANGUP\n200 result=6\n")
    with pytest.raises(CallerHangup):
        await bounded(link.channel().play("/p/x", ALL_KEYS))


async def test_play_quotes_the_prompt_path(link):
    link.send(b"200 result=0\n")
    await bounded(link.channel().play('/p/a "b"\\c'))
    assert await link.next_command() == b'STREAM FILE "/p/a \\"b\\"\\\\c" ""\n'


async def test_wait_key_timeout_returns_none(link):
    link.send(b"200 result=0 (timeout)\n")
    assert await bounded(link.channel().wait_key(5)) is None
    assert await link.next_command() == b"WAIT FOR DIGIT 5000\n"


async def test_wait_key_returns_the_key(link):
    link.send(b"200 result=50\n")
    assert await bounded(link.channel().wait_key(2.5)) == "2"
    assert await link.next_command() == b"WAIT FOR DIGIT 2500\n"


async def test_wait_key_minus_one_on_a_live_channel_is_a_protocol_error(link):
    link.send(b"200 result=-1\n200 result=6\n")
    with pytest.raises(AgiProtocolError):
        await bounded(link.channel().wait_key(5))


async def test_wait_key_minus_one_after_hangup_is_caller_hangup(link):
    link.send(b"HANGUP\n200 result=-1\n")
    with pytest.raises(CallerHangup):
        await bounded(link.channel().wait_key(5))


async def test_answer(link):
    link.send(b"200 result=0\n")
    await bounded(link.channel().answer())
    assert await link.next_command() == b"ANSWER\n"


async def test_answer_minus_one_is_caller_hangup(link):
    link.send(b"200 result=-1\n")
    with pytest.raises(CallerHangup):
        await bounded(link.channel().answer())


async def test_set_variable(link):
    link.send(b"200 result=1\n")
    await bounded(link.channel().set_variable("IVR_OUTCOME", 'said "hi"'))
    assert await link.next_command() == b'SET VARIABLE IVR_OUTCOME "said \\"hi\\""\n'


async def test_hangup_sends_hangup(link):
    link.send(b"200 result=1\n")
    await bounded(link.channel().hangup())
    assert await link.next_command() == b"HANGUP\n"


async def test_hangup_on_a_dead_channel_is_quiet(link):
    link.send(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    await bounded(link.channel().hangup())  # no exception


async def test_hangup_after_caller_hangup_sends_nothing(link):
    channel = link.channel()
    channel.session.hung_up = True
    await bounded(channel.hangup())
    assert await link.received_lines() == []


async def test_session_close_closes_the_writer(link):
    session = link.session()
    session.close()
    assert link.ivr_writer.is_closing()
    session.close()  # twice is fine
    assert await bounded(link.ast_reader.read()) == b""


async def test_a_whole_exchange_env_then_commands(link):
    link.send(ENV + b"200 result=0\n200 result=50 endpos=100\n200 result=0 (timeout)\n")
    env = await bounded(read_env(link.ivr_reader, timeout_s=1))
    channel = AgiChannel(AgiSession(link.ivr_reader, link.ivr_writer, env))
    assert channel.session.env["agi_arg_1"] == "en-US"
    await bounded(channel.answer())
    assert await bounded(channel.play("/p/menu", ALL_KEYS)) == "2"
    assert await bounded(channel.wait_key(1)) is None
    assert await link.received_lines() == ["ANSWER", 'STREAM FILE "/p/menu" "0123456789*#"', "WAIT FOR DIGIT 1000"]
