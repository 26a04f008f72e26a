"""Real calls into the hotline: sipp -> Asterisk (PJSIP) -> FastAGI -> flow -> PostgreSQL."""
from __future__ import annotations

import socket
import time
import wave

import pytest

from common.config import PROJECT_ROOT
from tests.e2e.sip_caller import KeyPress, place_call

pytestmark = pytest.mark.e2e


def prompt_ms(language: str, prompt_id: str) -> int:
    with wave.open(str(PROJECT_ROOT / "prompts" / language / f"{prompt_id}.wav")) as w:
        return int(1000 * w.getnframes() / w.getframerate())


def path_of(steps) -> list[str]:
    return [s["node"] for s in steps]


def test_key_2_walks_greeting_menu_account_goodbye(service, tmp_path):
    caller = "13800000002"
    press_at = prompt_ms("zh-CN", "welcome") + 1500  # during the menu prompt: barge-in
    result = place_call(service.sip_port, "4000", caller, [KeyPress("2", press_at)], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    call, steps = service.wait_for_call(caller)
    assert path_of(steps) == ["greeting", "main_menu", "account_services", "goodbye", "end"]
    menu = steps[1]
    assert (menu["input"], menu["result"]) == ("2", "2")
    assert [s["result"] for s in steps] == ["next", "2", "next", "next", "end"]
    assert call["outcome"] == "completed" and call["last_node"] == "end"
    assert call["language"] == "zh-CN" and call["dialed"] == "4000"
    assert call["ended_at"] > call["started_at"]
    assert call["channel"].startswith("PJSIP/")
    # the greeting really played on the channel: its step lasted about as long as the audio
    greeting_ms = (steps[0]["ended_at"] - steps[0]["started_at"]).total_seconds() * 1000
    assert greeting_ms >= prompt_ms("zh-CN", "welcome") * 0.8
    # the caller's number is stored for the bank, but never written to the log in full
    assert caller not in service.log_text()


def test_invalid_key_twice_takes_the_retry_limit_path(service, tmp_path):
    caller = "13800000007"
    first = prompt_ms("en-US", "welcome") + 1000
    keys = [KeyPress("7", first), KeyPress("7", first + 2500)]  # same wrong key twice
    result = place_call(service.sip_port, "4001", caller, keys, tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    call, steps = service.wait_for_call(caller)
    assert path_of(steps) == ["greeting", "main_menu", "too_many_tries", "goodbye", "end"]
    menu = steps[1]
    assert menu["input"] == "7,7" and menu["result"] == "failure"
    assert [t["result"] for t in _json(menu["detail"])["tries"]] == ["invalid", "invalid"]
    assert call["outcome"] == "completed" and call["language"] == "en-US"


def test_caller_hanging_up_mid_menu_closes_the_call(service, tmp_path):
    caller = "13800000099"
    hang_up_at = prompt_ms("zh-CN", "welcome") + 1500
    result = place_call(service.sip_port, "4000", caller, [], tmp_path, hang_up_at_ms=hang_up_at)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    call, steps = service.wait_for_call(caller)
    assert call["outcome"] == "caller_hangup"
    assert call["last_node"] == "main_menu"
    assert path_of(steps) == ["greeting", "main_menu"]
    assert steps[-1]["result"] == "caller_hangup"
    assert "Traceback" not in service.log_text()


def test_garbled_agi_connections_do_not_harm_the_server(service, tmp_path):
    agi_port = int(service.env["BANKCC_AGI_PORT"])
    for junk in (b"agi_network_script: hotline\nnot an agi line\n\n", b"agi_netw", b"\xff\xfe\x00garbage\n\n"):
        with socket.create_connection(("127.0.0.1", agi_port), timeout=5) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)
            assert s.recv(100) == b""  # the server closes without sending a command
    time.sleep(0.3)
    assert "rejected" in service.log_text()
    # and a real call still works afterwards
    caller = "13800000011"
    result = place_call(service.sip_port, "4001", caller, [KeyPress("1", prompt_ms("en-US", "welcome") + 1000)],
                        tmp_path)
    assert result.returncode == 0
    _, steps = service.wait_for_call(caller)
    assert path_of(steps) == ["greeting", "main_menu", "card_services", "goodbye", "end"]


def test_health_reports_every_part(service):
    health = service.health()
    assert health["status"] == "ok"
    assert health["database"]["ok"] is True
    assert health["ami"]["state"] == "connected"
    assert health["asterisk"] == {"mode": "managed", "running": True}
    assert "hotline" in health["ivr"]["flows"]


def _json(value):
    import json
    return json.loads(value) if isinstance(value, str) else value
