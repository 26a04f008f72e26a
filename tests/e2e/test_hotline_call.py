"""Real calls into the hotline: sipp -> Asterisk (PJSIP) -> FastAGI -> flow -> PostgreSQL.

Key times are computed from the prompt audio, so a changed prompt moves the
keys with it. A key pressed during an interruptible prompt barges in.
"""
from __future__ import annotations

import json
import socket
import time
import wave

import pytest

from common.config import PROJECT_ROOT
from examples.bank_backend import STATE
from tests.e2e.sip_caller import KeyPress, keys_typed, place_call, start_call

pytestmark = pytest.mark.e2e

IDENTIFY = ["identify_customer/not_yet_verified", "identify_customer/card_number", "identify_customer/id_last4",
            "identify_customer/verify"]


def prompt_ms(language: str, prompt_id: str) -> int:
    with wave.open(str(PROJECT_ROOT / "prompts" / language / f"{prompt_id}.wav")) as w:
        return int(1000 * w.getnframes() / w.getframerate())


def path_of(steps) -> list[str]:
    return [s["node"] for s in steps]


def detail(step) -> dict:
    value = step["detail"]
    return json.loads(value) if isinstance(value, str) else value


def assert_ok(result) -> None:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_english_then_invalid_key_twice_takes_the_retry_limit_path(service, tmp_path):
    caller = "13800000007"
    english = prompt_ms("en-US", "welcome") + 800  # during the language prompt: barge-in
    first = english + 1500  # during the (English) main menu prompt
    keys = [KeyPress("2", english), KeyPress("7", first), KeyPress("7", first + 2500)]
    assert_ok(place_call(service.sip_port, "4001", caller, keys, tmp_path))

    call, steps = service.wait_for_call(caller)
    assert path_of(steps) == ["greeting", "language_menu", "english", "main_menu", "too_many_tries", "goodbye", "end"]
    menu = steps[3]
    assert menu["input"] == "7,7" and menu["result"] == "failure"
    assert [t["result"] for t in detail(menu)["tries"]] == ["invalid", "invalid"]
    assert call["outcome"] == "completed" and call["language"] == "en-US" and call["dialed"] == "4001"
    assert call["channel"].startswith("PJSIP/") and call["ended_at"] > call["started_at"]
    # the greeting really played on the channel: its step lasted about as long as its audio
    greeting_ms = (steps[0]["ended_at"] - steps[0]["started_at"]).total_seconds() * 1000
    assert greeting_ms >= prompt_ms("en-US", "welcome") * 0.8
    assert caller not in service.log_text()  # stored for the bank, never logged in full


def test_identification_and_card_activation_by_keypad(service, bank_stub, tmp_path):
    caller = "13800000101"
    mandarin = prompt_ms("zh-CN", "welcome") + 800
    activate = mandarin + 1500
    card_at = activate + 1800  # during "please enter your card number"
    card = "6222021000012349"  # demo customer C1001, card not yet active
    id_at = card_at + 17 * 250 + 2500
    keys = [KeyPress("1", mandarin), KeyPress("1", activate), *keys_typed(card + "#", card_at),
            *keys_typed("1234", id_at)]
    assert_ok(place_call(service.sip_port, "4000", caller, keys, tmp_path))

    call, steps = service.wait_for_call(caller, timeout_s=60)
    assert path_of(steps) == ["greeting", "language_menu", "mandarin", "main_menu", "want_activation", "identify",
                              *IDENTIFY, "identify_customer/verified", "identify_customer/done", "identified",
                              "route_intent", "activation", "activate", "activated", "anything_else", "goodbye",
                              "end"]
    by_node = {s["node"]: s for s in steps}
    assert by_node["identify_customer/card_number"]["input"] == "************2349"  # masked at rest
    assert by_node["identify_customer/id_last4"]["input"] == "****"
    assert detail(by_node["identify_customer/verify"])["http_status"] == 200
    assert by_node["activate"]["result"] == "next"
    assert call["outcome"] == "completed"
    assert bank_stub.app[STATE].customers["C1001"].card_status == "active"  # the back-end really did it
    assert card not in service.log_text() and "************2349" not in json.dumps([dict(s) for s in steps],
                                                                                  default=str).replace(
        by_node["identify_customer/card_number"]["input"], "")


def test_transfer_lands_in_the_queue_with_screen_pop_variables(service, tmp_path):
    caller = "13800000202"
    english = prompt_ms("en-US", "welcome") + 800
    agent = english + 1500
    hang_up = agent + prompt_ms("en-US", "transferring") + 6000
    call_process = start_call(service.sip_port, "4001", caller, [KeyPress("2", english), KeyPress("0", agent)],
                              tmp_path, hang_up_at_ms=hang_up)
    try:
        deadline = time.monotonic() + hang_up / 1000
        queue = ""
        while time.monotonic() < deadline and "PJSIP/" not in queue:
            queue = service.asterisk_cli("queue show cards")
            time.sleep(0.3)
        assert "PJSIP/" in queue, queue  # the caller is waiting in the cards queue
        channel = next(word for word in queue.split() if word.startswith("PJSIP/"))
        variables = service.asterisk_cli(f"core show channel {channel}")
        assert "BANKCC_REASON=hotline" in variables
        assert f"BANKCC_CALLER={caller}" in variables
        assert "BANKCC_PATH=greeting>language_menu>english>main_menu>agent_hours>transferring>to_agent" in variables
    finally:
        stdout, stderr = call_process.communicate(timeout=60)
    assert call_process.returncode == 0, stdout[-2000:] + stderr[-2000:]

    call, steps = service.wait_for_call(caller)
    assert call["outcome"] == "transferred" and call["last_node"] == "to_agent"
    assert detail(steps[-1])["target"] == "queue:cards"


def test_backend_timeout_takes_the_error_exit_within_its_timeout(service, bank_stub, tmp_path):
    caller = "13800000303"
    mandarin = prompt_ms("zh-CN", "welcome") + 800
    bill = mandarin + 1500
    card_at = bill + 1800
    id_at = card_at + 17 * 250 + 2500
    keys = [KeyPress("1", mandarin), KeyPress("3", bill), *keys_typed("6258070000088087#", card_at),
            *keys_typed("8808", id_at)]
    bank_stub.set_fault("hang")
    try:
        process = start_call(service.sip_port, "4000", caller, keys, tmp_path, hang_up_at_ms=id_at + 18000)
        stdout, stderr = process.communicate(timeout=90)
    finally:
        bank_stub.set_fault(None)
    assert process.returncode == 0, stdout[-2000:] + stderr[-2000:]

    call, steps = service.wait_for_call(caller)
    by_node = {s["node"]: s for s in steps}
    verify = by_node["identify_customer/verify"]
    assert verify["result"] == "timeout"
    assert detail(verify)["attempts"] == 2  # retries: 1
    assert verify["duration_ms"] < 2 * 3000 + 200 + 1500  # timeout x attempts + back-off, never stuck
    assert path_of(steps)[path_of(steps).index("identify_customer/verify") + 1:][:3] == [
        "identify_customer/done", "identified", "agent_hours"]  # not verified: on to a person


def test_caller_hanging_up_mid_menu_closes_the_call(service, tmp_path):
    caller = "13800000099"
    hang_up_at = prompt_ms("zh-CN", "welcome") + 1000
    assert_ok(place_call(service.sip_port, "4000", caller, [], tmp_path, hang_up_at_ms=hang_up_at))

    call, steps = service.wait_for_call(caller)
    assert call["outcome"] == "caller_hangup"
    assert call["last_node"] == "language_menu"
    assert path_of(steps) == ["greeting", "language_menu"]
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
    caller = "13800000011"  # and a real call still works afterwards
    keys = [KeyPress("2", prompt_ms("en-US", "welcome") + 800)]
    assert_ok(place_call(service.sip_port, "4001", caller, keys, tmp_path, hang_up_at_ms=9000))
    _, steps = service.wait_for_call(caller)
    assert path_of(steps)[:4] == ["greeting", "language_menu", "english", "main_menu"]


def test_health_reports_every_part(service):
    health = service.health()
    assert health["status"] == "ok"
    assert health["database"]["ok"] is True
    assert health["ami"]["state"] == "connected"
    assert health["asterisk"] == {"mode": "managed", "running": True}
    assert health["speech"]["audiosocket"].startswith("127.0.0.1:")
    assert health["speech"]["languages"] == {}  # no vosk model configured: ask nodes use keys
    assert {"hotline", "identify_customer"} <= set(health["ivr"]["flows"])
