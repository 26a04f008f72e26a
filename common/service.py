"""The whole service in one process: database, Asterisk, FastAGI, AMI and HTTP.

Start-up order follows dependencies (flows are validated first so a broken
flow refuses to start before anything else is touched); shutdown runs in
reverse. Asterisk being unreachable over AMI is not fatal: /health says so
and the client keeps retrying.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web

from common import db
from common.asterisk import AsteriskError, AsteriskInstance, find_install
from common.config import Settings
from common.http_app import HealthSources, build_app
from common.postgres import embedded_database_url
from dialer.ami import AmiClient
from dialer.engine import DialerEngine
from ivr.backend import BackendClient, BackendConfig, BackendConfigError
from ivr.call import Services
from ivr.call_log import PgCallLog
from ivr.nodes import FlowError
from ivr.service import IvrService, default_flow_registry
from ivr.speech.recognizer import ModelConfigError
from ivr.speech.service import SpeechService

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    pass


@dataclass
class Service:
    settings: Settings
    pool: asyncpg.Pool | None = None
    asterisk: AsteriskInstance | None = None
    ivr: IvrService | None = None
    ami: AmiClient | None = None
    http: web.AppRunner | None = None
    backend: BackendClient | None = None
    bank_stub: Any = None  # examples.bank_backend.RunningStub when the demo stub runs
    speech: SpeechService | None = None
    dialer: DialerEngine | None = None
    dialer_demo: Any = None  # dialer.demo.Demo when BANKCC_DIALER_DEMO=1
    scheduler: Any = None  # dialer.scheduler.CampaignScheduler: campaign schedules (APScheduler)
    queue_waits: Any = None  # ivr.queue_events.QueueWaitRecorder
    listening: dict[str, str] = field(default_factory=dict)

    async def start(self) -> None:
        s = self.settings
        flows = default_flow_registry(s.flows_dir, s.prompts_dir)  # FlowError: refuse to start

        dsn = s.database_url or await asyncio.to_thread(embedded_database_url, s.run_dir / "pgdata")
        self.pool = await db.create_pool(dsn)
        applied = await db.migrate(self.pool)
        self.listening["database"] = "external (DATABASE_URL)" if s.database_url else f"embedded, {s.run_dir / 'pgdata'}"
        if applied:
            log.info("migrations applied: %s", ", ".join(applied))

        if s.asterisk_mode == "managed":
            install = find_install(s)
            if install is None:
                raise StartupError("no Asterisk found: run `make asterisk` (or set ASTERISK_BIN / ASTERISK_ROOT)")
            self.asterisk = AsteriskInstance(install, s)
            await asyncio.to_thread(self.asterisk.start)
            prompts_for_asterisk = self.asterisk.prompts_dir
            self.listening["asterisk"] = (f"SIP udp 127.0.0.1:{s.sip_port} (hotline 4000 zh-CN, 4001 en-US), "
                                          f"logs {self.asterisk.log_file}")
        else:
            prompts_for_asterisk = s.asterisk_prompts_dir or str(s.prompts_dir)
            self.listening["asterisk"] = f"external, AMI {s.ami_host}:{s.ami_port}"

        self.backend = BackendClient(await self._backend_config())
        from dialer.compliance.store import OptOutRecorder

        services = Services(http=self.backend, opt_out=OptOutRecorder(self.pool))  # opt_out nodes: DNC at once
        self.speech = SpeechService.create(dict(s.vosk_models), s.prompts_dir, s.run_dir / "speech-prompts")
        await self.speech.start(s.speech_host, s.speech_port, s.speech_dial_host)  # models load in the background
        self.listening["speech"] = self.speech.describe()
        self.ivr = IvrService(flows, PgCallLog(self.pool), prompts_for_asterisk, services, pool=self.pool,
                              speech=self.speech)
        await self.ivr.start(s.agi_host, s.agi_port)
        self.listening["fastagi"] = f"agi://{s.agi_host}:{s.agi_port}/ (flows: {', '.join(sorted(flows.flows))})"

        self.ami = AmiClient(s.ami_host, s.ami_port, s.ami_username, s.ami_secret)
        self.ami.connect()
        self.listening["ami"] = f"client of {s.ami_host}:{s.ami_port}"

        if s.dialer.enabled:  # after AMI: it dials through it (and waits while AMI connects)
            self.dialer = DialerEngine(self.pool, self.ami, s.dialer, prompts_dir=prompts_for_asterisk,
                                       known_flows=lambda: self.ivr.flows.flows.keys())
            await self.dialer.start()
            self.listening["dialer"] = f"campaign engine {s.dialer.dialer_id}"
            from dialer.scheduler import CampaignScheduler

            self.scheduler = CampaignScheduler(self.pool)
            await self.scheduler.start()
            if s.dialer.demo:
                from dialer.demo import Demo

                self.dialer_demo = Demo.start(self)
                self.listening["demo"] = self.dialer_demo.describe()

        from common.users import bootstrap_admin
        from ivr.queue_events import QueueWaitRecorder

        self.queue_waits = QueueWaitRecorder(self.pool, self.ami)  # queue waits for IVR analytics
        self.queue_waits.start()
        where = await bootstrap_admin(self.pool, token=os.environ.get("BANKCC_ADMIN_TOKEN"),
                                      token_file=s.run_dir / "admin-token")
        if where:
            self.listening["admin"] = f"log in as admin with the token in {where}"
        board = self.dialer.agents.board if self.dialer else None
        agents_of = (lambda queue: (board.logged_in(queue), board.available(queue))) if board else None
        self.http = web.AppRunner(build_app(self.pool, self._health_sources(), flows=self.ivr.flows,
                                            agents_of=agents_of))
        await self.http.setup()
        await web.TCPSite(self.http, s.http_host, s.http_port).start()
        self.listening["http"] = (f"http://{s.http_host}:{s.http_port}/ (pages; /health, /version, /api/v1/, "
                                  f"/api/v1/openapi.json)")

    async def _backend_config(self) -> BackendConfig:
        """Named back-ends for `http` nodes; without BANK_API_URL, the demo bank stub stands in."""
        s = self.settings
        env = dict(os.environ)
        if s.bank_api_url is None:
            from examples.bank_backend import create_app, serve

            self.bank_stub = await serve(create_app(), "127.0.0.1", s.bank_stub_port)
            env["BANK_API_URL"] = self.bank_stub.url
            self.listening["bank-stub"] = f"{env['BANK_API_URL']} (demo back-end: examples/bank_backend.py)"
        return BackendConfig.load(s.backends_file, env=env)

    async def stop(self) -> None:
        if self.dialer_demo:
            await self.dialer_demo.stop()
        if self.scheduler:
            await self.scheduler.stop()
        if self.queue_waits:
            await self.queue_waits.stop()
        if self.dialer:  # first: no new calls while the rest goes down
            await self.dialer.stop()
        if self.http:
            await self.http.cleanup()
        if self.ami:
            self.ami.close()
        if self.ivr:
            await self.ivr.stop()
        if self.speech:  # after the IVR: its calls were listening through it
            await self.speech.stop()
        if self.backend:  # after the IVR: calls still finishing may need it
            await self.backend.close()
        if self.bank_stub:
            await self.bank_stub.close()
        if self.asterisk:
            await asyncio.to_thread(self.asterisk.stop)
        if self.pool:
            await self.pool.close()

    def _health_sources(self) -> HealthSources:
        async def database() -> dict[str, Any]:
            try:
                await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
                return {"ok": True}
            except Exception as exc:
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

        def ivr() -> dict[str, Any]:
            flows = self.ivr.flows
            return {"ok": self.ivr.server is not None and self.ivr.server.server.is_serving(),
                    "flows": {name: f.version for name, f in flows.flows.items()},
                    "flow_errors": dict(flows.errors), "calls_in_progress": self.ivr.calls_in_progress}

        def asterisk() -> dict[str, Any]:
            if self.asterisk is None:
                return {"mode": "external"}
            proc = self.asterisk.process
            return {"mode": "managed", "running": proc is not None and proc.poll() is None}

        return HealthSources(database, lambda: self.ami.status().as_dict(), ivr, asterisk,
                             lambda: self.speech.status() if self.speech else {})


async def serve(settings: Settings) -> int:
    service = Service(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except (StartupError, AsteriskError, FlowError, BackendConfigError, ModelConfigError, OSError) as exc:
        log.error("cannot start: %s", exc)
        await service.stop()
        return 1
    except BaseException:
        await service.stop()
        raise
    print("\nStar River Bank contact centre is up:", flush=True)
    for part, where in service.listening.items():
        print(f"  {part:<9} {where}", flush=True)
    print("Ctrl-C stops everything.\n", flush=True)
    await stop.wait()
    log.info("stopping")
    await service.stop()
    return 0
