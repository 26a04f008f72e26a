"""End-to-end fixtures: the real service (subprocess), a real Asterisk, a real PostgreSQL.

Nothing here is mocked. The service runs exactly as `make run` runs it, on
free ports and its own Asterisk instance so it can live beside a demo.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import threading
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from common.asterisk import find_install
from common.config import PROJECT_ROOT, Settings
from common.db import create_database, drop_database
from common.postgres import embedded_database_url

pytestmark = pytest.mark.e2e


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(dsn: str, sql: str, *args):
    async def run():
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()
    return asyncio.run(run())


def http_json(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="session")
def asterisk_available() -> None:
    if find_install(Settings.from_env()) is None:
        pytest.fail("no Asterisk on this machine: run `make asterisk` (the e2e tests need a real one)")
    if shutil.which("sipp") is None:
        pytest.fail("sipp is missing: apt-get install sip-tester (or `make system-deps`)")


def _fresh_database():
    """Create a database on DATABASE_URL's server (or an embedded one); yield its URL; drop it."""
    server = os.environ.get("DATABASE_URL") or embedded_database_url(PROJECT_ROOT / ".run" / "test-pgdata")
    url = asyncio.run(create_database(server, "bankcc_test"))
    yield url
    asyncio.run(drop_database(server, url))


@pytest.fixture(scope="session")
def database_url() -> str:
    """The session service's database."""
    yield from _fresh_database()


@pytest.fixture
def own_database_url() -> str:
    """A database of this test's own, for a second service whose history must not mix in."""
    yield from _fresh_database()


@dataclass
class RunningService:
    process: subprocess.Popen
    env: dict[str, str]
    database_url: str
    flows_dir: Path
    log_path: Path

    @property
    def sip_port(self) -> int:
        return int(self.env["BANKCC_SIP_PORT"])

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.env['BANKCC_HTTP_PORT']}"

    def health(self) -> dict:
        return http_json(self.http + "/health")[1]

    def asterisk_cli(self, command: str) -> str:
        """Run an Asterisk CLI command on this service's Asterisk."""
        from common.asterisk import AsteriskInstance, find_install

        settings = Settings.from_env(self.env)
        return AsteriskInstance(find_install(settings), settings).cli(command).stdout

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_call(self, caller: str, timeout_s: float = 30.0) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
        """The finished call from `caller`, and its steps in order."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rows = query(self.database_url, "SELECT * FROM calls WHERE caller_id = $1 ORDER BY id DESC LIMIT 1", caller)
            if rows and rows[0]["outcome"] is not None:
                steps = query(self.database_url, "SELECT * FROM call_steps WHERE call_id = $1 ORDER BY seq",
                              rows[0]["id"])
                return rows[0], steps
            time.sleep(0.2)
        raise AssertionError(f"no finished call from {caller} within {timeout_s} s; service log:\n{self.log_text()[-3000:]}")


def start_service(env_overrides: dict[str, str], log_path: Path, database_url: str, flows_dir: Path,
                  wait_for: callable, timeout_s: float = 90.0) -> RunningService:
    env = {**os.environ, "DATABASE_URL": database_url, "BANKCC_FLOWS_DIR": str(flows_dir), **env_overrides}
    log_file = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "common.cli", "run"], cwd=PROJECT_ROOT, env=env,
                               stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    service = RunningService(process, env, database_url, flows_dir, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"service exited with {process.returncode}:\n{service.log_text()[-4000:]}")
        try:
            if wait_for(service.health()):
                return service
        except OSError:
            pass
        time.sleep(0.3)
    stop_service(service)
    raise AssertionError(f"service not ready within {timeout_s} s:\n{service.log_text()[-4000:]}")


def stop_service(service: RunningService) -> None:
    if service.process.poll() is None:
        service.process.send_signal(signal.SIGINT)
        try:
            service.process.wait(30)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait(5)


# The API token of user `admin` in end-to-end services (BANKCC_ADMIN_TOKEN: see common/users.py).
ADMIN_TOKEN = "bcc_" + "e2e-admin-token-for-tests-only-".ljust(43, "x")
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def service_ports(instance: str) -> dict[str, str]:
    rtp = 20000 + (os.getpid() % 200) * 100  # a private RTP range per test run
    return {"BANKCC_INSTANCE": instance, "BANKCC_ADMIN_TOKEN": ADMIN_TOKEN, "BANKCC_SIP_PORT": str(free_udp_port()),
            "BANKCC_BANK_STUB_PORT": str(free_tcp_port()),
            "BANKCC_AMI_PORT": str(free_tcp_port()), "BANKCC_AGI_PORT": str(free_tcp_port()),
            "BANKCC_HTTP_PORT": str(free_tcp_port()), "BANKCC_SPEECH_PORT": str(free_tcp_port()),
            "BANKCC_RTP_START": str(rtp),
            "BANKCC_RTP_END": str(rtp + 99)}


class BankStub:
    """The bank back-end stub, served from a thread of the test process so tests can switch faults."""

    def __init__(self) -> None:
        from examples.bank_backend import create_app

        self.port = free_tcp_port()
        self.app = create_app()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("bank stub did not start")

    def _serve(self, ready: threading.Event) -> None:
        from examples.bank_backend import serve

        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(serve(self.app, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_fault(self, fault: str | None) -> None:
        from examples.bank_backend import STATE

        self.app[STATE].fault = fault

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="session")
def bank_stub() -> BankStub:
    stub = BankStub()
    yield stub
    stub.stop()


@pytest.fixture(scope="session")
def service(asterisk_available, database_url, bank_stub, tmp_path_factory) -> RunningService:
    """The whole service with a managed Asterisk, on a private copy of flows/ (tests edit it)."""
    flows_dir = tmp_path_factory.mktemp("flows")
    shutil.copytree(PROJECT_ROOT / "flows", flows_dir, dirs_exist_ok=True)
    # Agents are "always in" for these tests, so transfers do not depend on the time CI runs.
    hotline = flows_dir / "hotline.yaml"
    text = hotline.read_text()
    assert 'schedule: {mon-sun: "08:00-20:00"}' in text
    hotline.write_text(text.replace('schedule: {mon-sun: "08:00-20:00"}', 'schedule: {mon-sun: "00:00-24:00"}'))
    env = {**service_ports(f"e2e-{os.getpid()}"), "BANK_API_URL": bank_stub.url, "BANKCC_AMI_SECRET": "e2e-secret",
           "BANKCC_BACKENDS_FILE": str(flows_dir / "backends" / "backends.yaml")}
    running = start_service(env, tmp_path_factory.mktemp("service") / "service.log", database_url, flows_dir,
                            lambda h: h.get("status") == "ok")
    yield running
    stop_service(running)
