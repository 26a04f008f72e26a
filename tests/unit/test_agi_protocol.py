"""Pure AGI protocol parsing: response lines, keys, argument quoting, environment lines."""
import pytest

from ivr.agi.protocol import (AgiProtocolError, AgiResponse, key_from_result, parse_env_line, parse_response,
                              quote_arg)

# --- parse_response -------------------------------------------------------------


def test_result_zero():
    r = parse_response("200 result=0")
    assert r == AgiResponse(200, "0", "", "", "200 result=0")
    assert r.ok
    assert r.result_int == 0


def test_result_with_endpos():
    r = parse_response("200 result=49 endpos=1234")
    assert (r.code, r.result, r.data, r.extra) == (200, "49", "", "endpos=1234")
    assert r.result_int == 49
    assert r.line == "200 result=49 endpos=1234"


def test_empty_result_with_timeout_data():
    r = parse_response("200 result= (timeout)")
    assert (r.code, r.result, r.data, r.extra) == (200, "", "timeout", "")
    assert r.ok
    with pytest.raises(AgiProtocolError, match=r"result is not a number.*200 result= \(timeout\)"):
        r.result_int


def test_result_zero_with_timeout_data():
    r = parse_response("200 result=0 (timeout)")
    assert (r.result, r.data, r.result_int) == ("0", "timeout", 0)


def test_result_with_data_and_extra():
    r = parse_response("200 result=1 (dtmf) endpos=5600")
    assert (r.result, r.data, r.extra) == ("1", "dtmf", "endpos=5600")


def test_result_minus_one():
    r = parse_response("200 result=-1")
    assert r.result == "-1"
    assert r.result_int == -1


def test_result_minus_one_with_endpos():
    r = parse_response("200 result=-1 endpos=0")
    assert (r.result_int, r.extra) == (-1, "endpos=0")


def test_510_invalid_command():
    r = parse_response("510 Invalid or unknown command")
    assert (r.code, r.result, r.data, r.extra) == (510, "", "", "Invalid or unknown command")
    assert not r.ok
    with pytest.raises(AgiProtocolError):
        r.result_int


def test_511_dead_channel():
    r = parse_response("511 Command Not Permitted on a dead channel or intercept routine")
    assert r.code == 511
    assert r.extra == "Command Not Permitted on a dead channel or intercept routine"
    assert not r.ok


def test_520_multiline_start():
    r = parse_response("520-Invalid command syntax.")
    assert r.code == 520
    assert r.extra == "Invalid command syntax."
    assert r.line[3] == "-"
    assert not r.ok


def test_100_trying():
    r = parse_response("100 result=0 Trying...")
    assert r.code == 100
    assert not r.ok


@pytest.mark.parametrize("line", [
    "",
    "hello",
    "HANGUP",
    "20 result=0",
    "2000 result=0",
    "200result=0",
    "abc result=0",
    "agi_request: agi://x",
])
def test_garbage_lines_raise_naming_the_line(line):
    with pytest.raises(AgiProtocolError) as excinfo:
        parse_response(line)
    assert repr(line) in str(excinfo.value)


@pytest.mark.parametrize("line", ["200 OK", "200 endpos=1", "200 Result=1"])
def test_200_without_result_raises(line):
    with pytest.raises(AgiProtocolError) as excinfo:
        parse_response(line)
    assert "without result=" in str(excinfo.value)
    assert repr(line) in str(excinfo.value)


def test_long_garbage_line_is_shortened_in_the_error():
    line = "x" * 500
    with pytest.raises(AgiProtocolError) as excinfo:
        parse_response(line)
    message = str(excinfo.value)
    assert repr("x" * 80) in message
    assert "x" * 81 not in message


# --- key_from_result ------------------------------------------------------------


@pytest.mark.parametrize(("result", "key"), [
    (0, None),
    (48, "0"),
    (49, "1"),
    (57, "9"),
    (35, "#"),
    (42, "*"),
    (65, "A"),
    (68, "D"),
])
def test_key_from_result(result, key):
    assert key_from_result(result) == key


@pytest.mark.parametrize("result", [1, 32, 47, 58, 69, 97, 120, 0x4E00])
def test_key_from_result_rejects_non_keys(result):
    with pytest.raises(AgiProtocolError, match=str(result)):
        key_from_result(result)


@pytest.mark.parametrize("result", [-1, -2, 0x110000])
def test_key_from_result_out_of_chr_range_is_a_protocol_error(result):
    with pytest.raises(AgiProtocolError):
        key_from_result(result)


# --- quote_arg ------------------------------------------------------------------


@pytest.mark.parametrize(("value", "quoted"), [
    ("/var/lib/prompts/zh-CN/welcome", '"/var/lib/prompts/zh-CN/welcome"'),
    ("", '""'),
    ("0123456789*#", '"0123456789*#"'),
    ("with space", '"with space"'),
    ('say "hi"', r'"say \"hi\""'),
    ("back\\slash", r'"back\\slash"'),
    ('\\"', r'"\\\""'),
    ("欢迎", '"欢迎"'),
])
def test_quote_arg(value, quoted):
    assert quote_arg(value) == quoted


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "\n", "line\r\nSTREAM FILE x"])
def test_quote_arg_rejects_newlines(value):
    with pytest.raises(ValueError, match="newlines"):
        quote_arg(value)


# --- parse_env_line -------------------------------------------------------------


@pytest.mark.parametrize(("line", "pair"), [
    ("agi_request: agi://10.0.0.5/hotline", ("agi_request", "agi://10.0.0.5/hotline")),
    ("agi_network_script: hotline", ("agi_network_script", "hotline")),
    ("agi_arg_1: en-US", ("agi_arg_1", "en-US")),
    ("agi_callerid: 13812345678", ("agi_callerid", "13812345678")),
    ("agi_calleridname: Zhang San: VIP", ("agi_calleridname", "Zhang San: VIP")),
    ("agi_dnid: ", ("agi_dnid", "")),
    ("agi_dnid:", ("agi_dnid", "")),
    ("agi_uniqueid:1700000000.1", ("agi_uniqueid", "1700000000.1")),
])
def test_parse_env_line(line, pair):
    assert parse_env_line(line, 1) == pair


@pytest.mark.parametrize("line", ["hello", "request: x", "AGI_REQUEST: x", "agi_: x", "agi_request x", ""])
def test_parse_env_line_rejects_garbage_naming_the_line_number(line):
    with pytest.raises(AgiProtocolError) as excinfo:
        parse_env_line(line, 7)
    assert "line 7" in str(excinfo.value)
    assert repr(line) in str(excinfo.value)
