"""A small campaign against the simulator, inside the running service (BANKCC_DIALER_DEMO=1).

    BANKCC_DIALER_DEMO=1 make run        or        .venv/bin/dialer demo

Once AMI is up: the simulator starts (dialer/simulator, parameters in
dialer/simulator/simulator.yaml or BANKCC_DIALER_DEMO_CONFIG), a progressive
campaign is created with BANKCC_DIALER_DEMO_CONTACTS (default 20) made-up
numbers uploaded as a CSV, and started. Progress is logged every few seconds
and a summary when the campaign finishes; everything is in the database
(attempts, contacts) and on the API (GET /api/v1/campaigns/{id}).
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from dialer import campaigns
from dialer.lists import loader
from dialer.simulator.plan import demo_numbers, load_config
from dialer.simulator.run import DEFAULT_CONFIG, TRUNK, Simulator

log = logging.getLogger(__name__)

DEMO_RETRY_SECONDS = 60  # the shortest delay campaigns allow


class Demo:
    def __init__(self, service) -> None:
        self.service = service
        self.config_path = Path(os.environ.get("BANKCC_DIALER_DEMO_CONFIG") or DEFAULT_CONFIG)
        self.contacts = int(os.environ.get("BANKCC_DIALER_DEMO_CONTACTS") or 20)
        self.simulator: Simulator | None = None
        self.campaign_id: int | None = None
        self.task: asyncio.Task | None = None

    @classmethod
    def start(cls, service) -> "Demo":
        demo = cls(service)
        demo.task = asyncio.create_task(demo._run(), name="dialer-demo")
        return demo

    def describe(self) -> str:
        return (f"{self.contacts} simulated customers, parameters {self.config_path}; "
                f"progress in this log, GET /api/v1/campaigns")

    async def _run(self) -> None:
        service = self.service
        try:
            config = load_config(self.config_path)
            while not getattr(service.ami, "authenticated", False):
                await asyncio.sleep(0.5)
            await self._pause_earlier_demos()
            workdir = service.settings.run_dir / "dialer-demo"
            numbers = demo_numbers(self.contacts, int(time.time()))
            self.simulator = Simulator(config, workdir, sip_port=service.settings.sip_port, ami=service.ami)
            await self.simulator.start(numbers)
            pool = service.pool
            spec = campaigns.validate_campaign({
                "kind": "collection", "name": f"Simulator demo {time.strftime('%Y-%m-%d %H:%M')}",
                "caller_id": "95588", "trunk": TRUNK, "dial_mode": "progressive",
                "agent_queue": config.agents.queue, "flow": "collection_outbound",
                "retry_rules": {d: {"delay_seconds": DEMO_RETRY_SECONDS, "max_tries": 2}
                                for d in campaigns.DISPOSITIONS},
                "schedule": {"windows": {"mon-sun": "00:00-24:00"}}})
            campaign = await campaigns.create_campaign(pool, spec, by="dialer-demo")
            self.campaign_id = campaign["id"]
            csv = workdir / "contacts.csv"
            csv.write_text("phone,name\n" + "".join(f"{n},Demo customer {i + 1}\n" for i, n in enumerate(numbers)),
                           encoding="utf-8")
            await loader.upload_list(pool, self.campaign_id, csv, filename=csv.name, by="dialer-demo")
            await campaigns.apply_action(pool, self.campaign_id, "start", by="dialer-demo")
            log.info("demo campaign %s started: %d contacts (%s), %d agents in queue %s", self.campaign_id,
                     len(numbers), ", ".join(f"{n} {k}" for k, n in sorted(self.simulator.counts().items())),
                     config.agents.count, config.agents.queue)
            await self._follow(pool)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the dialer demo failed")

    async def _pause_earlier_demos(self) -> None:
        """A demo campaign left running by an earlier run would dial numbers today's simulator
        does not know (they would all be "not in service"): pause it."""
        rows = await self.service.pool.fetch("SELECT id FROM campaigns WHERE state = 'running' AND trunk = $1"
                                             " AND created_by = 'dialer-demo'", TRUNK)
        for row in rows:
            await campaigns.apply_action(self.service.pool, row["id"], "pause", by="dialer-demo")
            log.info("paused demo campaign %s from an earlier run", row["id"])

    async def _follow(self, pool) -> None:
        while True:
            await asyncio.sleep(5)
            state = await pool.fetchval("SELECT state FROM campaigns WHERE id = $1", self.campaign_id)
            log.info("demo campaign %s: %s; contacts %s; attempts %s", self.campaign_id, state,
                     await _counts(pool, "SELECT status, count(*) FROM contacts WHERE campaign_id = $1"
                                         " GROUP BY 1 ORDER BY 1", self.campaign_id),
                     await _counts(pool, "SELECT coalesce(disposition, 'in progress'), count(*) FROM attempts"
                                         " WHERE campaign_id = $1 GROUP BY 1 ORDER BY 1", self.campaign_id))
            if state != "running":
                log.info("demo campaign %s is %s; the simulator stays up until the service stops", self.campaign_id,
                         state)
                return

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.simulator is not None:
            await self.simulator.stop()


async def _counts(pool, sql: str, *args: Any) -> dict[str, int]:
    return {r[0]: r[1] for r in await pool.fetch(sql, *args)}
