"""Running the simulated customers and agents against a real Asterisk.

    sim = Simulator(load_config(path), workdir, sip_port=5060, ami=manager)
    await sim.start(numbers)      # the campaign's phone numbers
    ...                           # dial PJSIP/<number>@bankcc-sim; agents answer queue calls
    sim.expected(number)          # what that customer does (a plan.Behaviour)
    await sim.stop()

Customers: one sipp UAS process is the "carrier". It registers as the PJSIP
endpoint bankcc-sim (so campaigns use trunk PJSIP/bankcc-sim) and answers every
call as the number's row in the plan table says (dialer/simulator/scenarios.py).

Agents: a second sipp UAS process is every agent's phone. agent1..agentN register
to it (each is a PJSIP endpoint with its own contact), are logged into the queue
with AMI QueueAdd, auto-answer, talk, and hang up or are hung up on. After each
call (AMI AgentComplete) an agent pauses itself in the queue for its wrap-up time,
as an agent doing after-call work would.

Why sipp rather than pyVoIP phones: one sipp process handles any number of calls
at once without a Python thread per call, it is already the e2e tests' SIP
client, and it copes with either side hanging up first (pyVoIP raises
InvalidStateError when the far end hangs up first).
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from dialer.agents import add_member, pause_member, remove_member
from dialer.simulator import audio, scenarios
from dialer.simulator.plan import Behaviour, SimConfig, make_plan, table_text
from dialer.simulator.register import Registration, register

log = logging.getLogger(__name__)

TRUNK_ENDPOINT = "bankcc-sim"
TRUNK = f"PJSIP/{TRUNK_ENDPOINT}"  # what a campaign against the simulator uses as its trunk
DEFAULT_CONFIG = Path(__file__).with_name("simulator.yaml")
REGISTER_EXPIRES_S = 3600


class SimulatorError(RuntimeError):
    pass


def free_udp_port(pair: bool = False) -> int:
    """A free UDP port (an even one with the next one free too, for RTP/RTCP, when `pair`)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair:
            return port
        port &= ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise SimulatorError("no free UDP port pair")


class Simulator:
    def __init__(self, config: SimConfig, workdir: Path, *, sip_port: int, ami, password: str | None = None,
                 host: str = "127.0.0.1"):
        self.config, self.workdir, self.sip_port, self.ami, self.host = config, workdir, sip_port, ami, host
        # The demo endpoints' password (asterisk/conf/pjsip.conf, as common/asterisk.py fills it in).
        self.password = password or os.environ.get("BANKCC_SOFTPHONE_PASSWORD", "softphone-demo")
        self.plan: dict[str, Behaviour] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.agents = [f"agent{i}" for i in range(1, config.agents.count + 1)]
        self._rng = random.Random(config.seed)
        self._tasks: set[asyncio.Task] = set()
        self._registered: list[Registration] = []
        self._stopping = False

    def expected(self, number: str) -> Behaviour:
        return self.plan[number]

    async def start(self, numbers: list[str], overrides: dict[str, Behaviour] | None = None) -> None:
        if shutil.which("sipp") is None:
            raise SimulatorError("sipp is missing: apt-get install sip-tester (or `make system-deps`)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.plan = make_plan(numbers, self.config, overrides)
        table = self.workdir / "plan.csv"
        table.write_text(table_text(self.plan), encoding="utf-8")
        pcaps = await asyncio.to_thread(audio.write_greetings, self.workdir)
        a = self.config.agents
        (self.workdir / "customers.xml").write_text(
            scenarios.customer_scenario(table, pcaps["human"], pcaps["machine"], pcaps["keys"]), encoding="utf-8")
        (self.workdir / "agents.xml").write_text(scenarios.agent_scenario(
            table, answer_ms=(int(a.answer_seconds[0] * 1000), int(a.answer_seconds[1] * 1000)),
            default_talk_ms=(3000, 8000)), encoding="utf-8")
        try:
            for role in ("customers", "agents"):
                self._spawn_sipp(role, table)
            await asyncio.sleep(0.5)
            for role, process in self.processes.items():
                if process.poll() is not None:
                    raise SimulatorError(f"sipp ({role}) exited with {process.returncode}; see "
                                         f"{self.workdir / (role + '_errors.log')}")
            await self._register_all(REGISTER_EXPIRES_S)
            for agent in self.agents:
                await add_member(self.ami, a.queue, f"PJSIP/{agent}", agent)
            self.ami.register_event("AgentComplete", self._on_agent_complete)
        except BaseException:
            await self.stop()
            raise
        self._spawn(self._keep_registered())
        log.info("simulator up: %d customers (%s) on udp %d, %d agents in queue %s on udp %d", len(numbers),
                 ", ".join(f"{k} {v}" for k, v in sorted(self.counts().items())), self.ports["customers"],
                 len(self.agents), a.queue, self.ports["agents"])

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in self.plan.values():
            out[b.kind] = out.get(b.kind, 0) + 1
        return out

    def _spawn_sipp(self, role: str, table: Path) -> None:
        port, media = free_udp_port(), free_udp_port(pair=True)
        self.ports[role] = port
        cmd = ["sipp", "-sf", str(self.workdir / f"{role}.xml"), "-inf", str(table), "-infindex", table.name, "0",
               "-i", self.host, "-p", str(port), "-mi", self.host, "-mp", str(media), "-aa", "-nostdin",
               "-trace_err", "-error_file", str(self.workdir / f"{role}_errors.log"),
               "-trace_logs", "-log_file", str(self.workdir / f"{role}_calls.log")]
        out = open(self.workdir / f"{role}.out", "wb")
        self.processes[role] = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    async def _register_all(self, expires_s: int) -> None:
        regs = [Registration(TRUNK_ENDPOINT, self.password, self.ports["customers"], expires_s)]
        regs += [Registration(agent, self.password, self.ports["agents"], expires_s) for agent in self.agents]
        for reg in regs:
            await register(self.sip_port, reg, host=self.host)
        self._registered = regs

    async def _keep_registered(self) -> None:
        while True:
            await asyncio.sleep(REGISTER_EXPIRES_S / 2)
            try:
                await self._register_all(REGISTER_EXPIRES_S)
            except Exception as exc:
                log.warning("simulator: re-registration failed: %s", exc)

    def _on_agent_complete(self, manager, event) -> None:
        name = event.get("MemberName")
        if name in self.agents and event.get("Queue") == self.config.agents.queue and not self._stopping:
            self._spawn(self._wrap_up(name))

    async def _wrap_up(self, agent: str) -> None:
        """After-call work: the agent is paused in the queue, then ready again."""
        low, high = self.config.agents.wrapup_seconds
        if high <= 0:
            return
        queue, interface = self.config.agents.queue, f"PJSIP/{agent}"
        await pause_member(self.ami, queue, interface, True, "wrap-up")
        await asyncio.sleep(self._rng.uniform(low, high))
        if not self._stopping:
            await pause_member(self.ami, queue, interface, False)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if getattr(self.ami, "protocol", None) is not None:
            for agent in self.agents:
                try:
                    await asyncio.wait_for(remove_member(self.ami, self.config.agents.queue, f"PJSIP/{agent}"), 5)
                except Exception:
                    pass
        for reg in self._registered:
            try:
                await register(self.sip_port, Registration(reg.username, reg.password, reg.contact_port, 0),
                               host=self.host, timeout_s=2)
            except Exception:
                pass
        self._registered = []
        for role, process in self.processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(process.wait, 5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    await asyncio.to_thread(process.wait, 5)
        self.processes.clear()
