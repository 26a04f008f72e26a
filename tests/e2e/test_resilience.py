"""What the service does when parts are missing or wrong: AMI down, broken flows, hot reload."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from common.asterisk import AsteriskInstance, find_install
from common.config import PROJECT_ROOT, Settings
from tests.e2e.conftest import query, service_ports, start_service, stop_service
from tests.e2e.sip_caller import KeyPress, place_call
from tests.e2e.test_hotline_call import prompt_ms

pytestmark = pytest.mark.e2e


def test_ami_unreachable_is_reported_and_reconnects_with_backoff(asterisk_available, own_database_url, tmp_path):
    ports = service_ports(f"e2e-ami-{os.getpid()}")
    secret = "e2e-ami-secret"
    env = {**ports, "ASTERISK_MODE": "external", "BANKCC_AMI_SECRET": secret}
    service = start_service(env, tmp_path / "service.log", own_database_url, PROJECT_ROOT / "flows",
                            lambda h: h.get("ami", {}).get("failures", 0) >= 3)
    asterisk = None
    try:
        health = service.health()
        assert health["status"] == "degraded"  # inbound IVR still works without AMI
        assert health["ami"]["state"] == "down" and "Connect" in health["ami"]["last_error"]
        assert health["ami"]["next_retry_s"] >= 1.0  # backing off, not hammering
        assert health["database"]["ok"] and health["ivr"]["ok"]

        # Now a real Asterisk appears on that AMI port: the client must find it by itself.
        settings = Settings.from_env({**os.environ, **env})
        asterisk = AsteriskInstance(find_install(settings), settings)
        asterisk.start()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and service.health()["ami"]["state"] != "connected":
            time.sleep(0.5)
        health = service.health()
        assert health["ami"]["state"] == "connected", health
        assert health["ami"]["failures"] == 0 and health["status"] == "ok"
    finally:
        stop_service(service)
        if asterisk:
            asterisk.stop()


def test_broken_flow_refuses_to_start_naming_file_line_and_node(tmp_path):
    shutil.copytree(PROJECT_ROOT / "flows", tmp_path, dirs_exist_ok=True)
    (tmp_path / "hotline.yaml").write_text(
        (PROJECT_ROOT / "flows" / "hotline.yaml").read_text().replace("next: goodbye\n", "next: good_bye\n", 1))
    env = {**os.environ, "BANKCC_FLOWS_DIR": str(tmp_path), "ASTERISK_MODE": "external",
           "BANKCC_AMI_SECRET": "unused", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = subprocess.run([sys.executable, "-m", "common.cli", "run"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    line = next(i for i, text in enumerate((tmp_path / "hotline.yaml").read_text().splitlines(), 1)
                if "good_bye" in text)
    assert f"hotline.yaml:{line}:" in result.stderr
    assert "node 'after_hours'" in result.stderr and "missing node 'good_bye'" in result.stderr


def test_flow_hot_reload_keeps_the_good_version_and_serves_the_new_one(service, tmp_path):
    flow_file = service.flows_dir / "hotline.yaml"
    original = flow_file.read_text()
    old_version = service.health()["ivr"]["flows"]["hotline"]
    try:
        flow_file.write_text(original.replace("type: menu", "type: menuu"))
        health = _wait(service, lambda h: h["ivr"]["flow_errors"])
        error = next(iter(health["ivr"]["flow_errors"].values()))
        assert "hotline.yaml:" in error and "node 'language_menu'" in error and "menuu" in error
        assert health["ivr"]["flows"]["hotline"] == old_version  # the good version stays live

        # A valid change goes live for new calls: key 1 now chooses English.
        assert "choices: {1: mandarin, 2: english}" in original
        flow_file.write_text(original.replace("choices: {1: mandarin, 2: english}", "choices: {1: english, 2: mandarin}"))
        health = _wait(service, lambda h: h["ivr"]["flows"]["hotline"] != old_version)
        new_version = health["ivr"]["flows"]["hotline"]
        assert not health["ivr"]["flow_errors"]

        caller = "13800000022"
        result = place_call(service.sip_port, "4000", caller, [KeyPress("1", prompt_ms("zh-CN", "welcome") + 800)],
                            tmp_path, hang_up_at_ms=9000)
        assert result.returncode == 0
        call, steps = service.wait_for_call(caller)
        assert call["flow_version"] == new_version
        assert [s["node"] for s in steps][:3] == ["greeting", "language_menu", "english"]

        # Every version and the rejected change are in the database, with who deployed them.
        history = query(service.database_url, "SELECT version, action, deployed_by, detail FROM flow_deployments"
                                              " WHERE flow_name = 'hotline' ORDER BY id")
        assert [r["action"] for r in history] == ["deploy", "rejected", "deploy"]
        assert history[0]["version"] == old_version and history[2]["version"] == new_version
        assert "menuu" in history[1]["detail"] and history[2]["deployed_by"].startswith("file-watcher:")

        # One command rolls back; the service makes the previous version live again.
        rollback = subprocess.run([sys.executable, "-m", "ivr.cli", "flow", "rollback", "hotline", "--by", "e2e-test"],
                                  cwd=PROJECT_ROOT, env=service.env, capture_output=True, text=True, timeout=60)
        assert rollback.returncode == 0, rollback.stderr
        assert f"rolled back to version {old_version}" in rollback.stdout
        _wait(service, lambda h: h["ivr"]["flows"]["hotline"] == old_version)
        history = query(service.database_url, "SELECT version, action, deployed_by FROM flow_deployments"
                                              " WHERE flow_name = 'hotline' ORDER BY id")
        assert (history[-1]["action"], history[-1]["version"], history[-1]["deployed_by"]) == (
            "rollback", old_version, "e2e-test")
        assert flow_file.read_text() == original
    finally:
        flow_file.write_text(original)
        _wait(service, lambda h: h["ivr"]["flows"]["hotline"] == old_version and not h["ivr"]["flow_errors"])


def _wait(service, condition, timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        health = service.health()
        if condition(health):
            return health
        time.sleep(0.2)
    raise AssertionError(f"condition not reached; last health: {health}")
