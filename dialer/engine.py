"""The campaign loop: for every running campaign, keep agents busy without over-dialling.

    engine = DialerEngine(pool, ami, settings, prompts_dir=...)
    await engine.start()   # after the AMI client exists (it may still be connecting)
    ...
    await engine.stop()    # before the AMI client closes

One task per running campaign (CampaignRunner) does, every tick:
  1. keep its hopper of leased leads filled (dialer/hopper.py);
  2. under an advisory lock per agent queue (several dialer processes, and several
     campaigns sharing agents, pace as one): count the calls in flight for that queue
     (all dialers and campaigns, from the attempts table) and the queue's free agents
     (from AMI, dialer/agents.py), and ask the campaign's pacer how many calls to
     place (dialer/pacing.py);
  3. write those attempts (dialer/attempts.py) and commit, THEN send the Originates
     (dialer/originate.py): an attempt exists before its call does;
  4. when nothing is left to dial or to wait for, finish the campaign.
The engine task itself follows the campaigns' states, beats the heartbeat,
re-reads queue members and reconciles open attempts when AMI (re)connects, and
reconciles quiet calls periodically (dialer/reconcile.py).

Nothing is dialled while AMI is down or before the open attempts have been
reconciled. Stopping the engine leaves calls in progress to Asterisk: the next
start (or another dialer) picks them up by reconciliation.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Collection

import asyncpg

from dialer import attempts, campaigns, hopper
from dialer.agents import AgentDirectory
from dialer.compliance import store as compliance
from dialer.compliance.decision import decide
from dialer.compliance.model import CampaignFacts
from dialer.compliance.policy import PolicyError, shipped_packs
from dialer.facts import CallFacts
from dialer.originate import Originator, Route, ami_up, dial_string
from dialer.pacing import PacingInput, pacer_for
from dialer.reconcile import Reconciler, conclude
from dialer.pacing_feed import PacingFeed
from dialer.schedule import CampaignSchedule
from dialer.settings import DialerSettings

log = logging.getLogger(__name__)

_PACING_LOCK = 7_341_004  # pg_try_advisory_xact_lock(key, hashtext(queue)): one pacing decision per queue
MACHINE_PROMPT_LANGUAGE = "zh-CN"  # campaigns have no language yet; the bank's customers mostly speak Mandarin

POLICY_REFRESH_S = 30.0  # re-read stored policy packs this often (selections are read every tick)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class CampaignRunner:
    def __init__(self, engine: "DialerEngine", campaign: dict[str, Any]):
        self.engine = engine
        self.campaign = campaign
        s = engine.settings
        raw_schedule = campaign.get("schedule")
        self.schedule = CampaignSchedule.from_json(json.loads(raw_schedule) if isinstance(raw_schedule, str)
                                                   else raw_schedule)
        self.zones: list[str | None] = []  # the callee zones still to call (refreshed every minute)
        self._zones_read = 0.0
        # Only contacts inside the campaign's windows (callee time) are leased: the gate would
        # defer the others anyway, one stored refusal each (dialer/schedule.py, dialer/compliance).
        self.hopper = hopper.Hopper(engine.pool, s.dialer_id, campaign["id"], size=s.hopper_size, lease_s=s.lease_s,
                                    open_zones=self._open_zones, default_zone=self.schedule.time_zone)
        self.task: asyncio.Task | None = None
        self._finish_checked = 0.0
        # The campaign's abandonment budget as of the last tick (compliance.store.headroom):
        # {"headroom": max_rate - rate, "abandons_left": n, ...}; None until first computed.
        # It goes to the pacer as PacingInput.abandon_headroom (abandons_left).
        self.abandonment: dict[str, Any] | None = None

    @property
    def id(self) -> int:
        return self.campaign["id"]

    def _open_zones(self) -> list[str]:
        now = self.engine.clock()
        return [zone or self.schedule.time_zone for zone in self.schedule.open_zones(self.zones or [None], now)]

    async def _refresh_zones(self) -> None:
        if time.monotonic() - self._zones_read < 60 and self.zones:
            return
        from dialer.scheduler import campaign_zones

        async with self.engine.pool.acquire() as conn:
            self.zones = await campaign_zones(conn, self.id)
        self._zones_read = time.monotonic()

    def facts(self) -> CampaignFacts:
        c = self.campaign
        schedule = c.get("schedule")
        if isinstance(schedule, str):
            schedule = json.loads(schedule)
        return CampaignFacts(c["id"], c.get("kind") or "collection", c["dial_mode"],
                             self.engine.settings.ring_timeout_s, schedule)

    def route(self) -> Route:
        c, s = self.campaign, self.engine.settings
        human = "flow" if c["flow"] in self.engine.known_flows() else "queue"
        prompt = None
        if c["machine_policy"] == "message" and c["machine_target"]:
            prompt = f"{self.engine.prompts_dir}/{MACHINE_PROMPT_LANGUAGE}/{c['machine_target']}"
        # Every abandoned call hears who called and how to call back (dialplan: safe-harbor).
        safe_harbor = f"{self.engine.prompts_dir}/{MACHINE_PROMPT_LANGUAGE}/safe_harbor"
        return Route(campaign_id=c["id"], caller_id=c["caller_id"], queue=c["agent_queue"],
                     queue_timeout_s=s.queue_timeout_s, human_route=human, flow=c["flow"],
                     machine_policy=c["machine_policy"], machine_target=c["machine_target"], machine_prompt=prompt,
                     safe_harbor=safe_harbor)

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("campaign %s: %s; trying again", self.id, exc)
                    await asyncio.sleep(2)
                except Exception:  # a bug must not stop the campaign for good; it is logged in full
                    log.exception("campaign %s: dialling tick failed; trying again", self.id)
                    await asyncio.sleep(5)
                await asyncio.sleep(self.engine.settings.tick_s)
        finally:
            try:
                await asyncio.shield(self.hopper.release())
            except Exception as exc:  # the leases expire by themselves
                log.warning("campaign %s: could not release leads: %s", self.id, exc)

    async def tick(self) -> None:
        engine = self.engine
        await self._refresh_zones()
        await self.hopper.refill()
        if not engine.ready():
            return
        if not len(self.hopper):
            await self._maybe_finish()
            return
        c = self.campaign
        board = engine.agents.board
        pacer = pacer_for(c["dial_mode"], power_ratio=engine.settings.power_ratio,
                          preview_seconds=engine.settings.preview_s)
        taken: list = []     # leads out of the hopper this tick
        spare: list = []     # allowed by the gate but beyond what the pacer asked for
        started: list = []
        refused = 0
        try:
            async with engine.pool.acquire() as conn, conn.transaction():
                if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, hashtext($2))", _PACING_LOCK,
                                           c["agent_queue"]):
                    return  # another dialer (or campaign) is pacing calls for these agents right now
                flying, connected = await attempts.in_flight(conn, c["agent_queue"])
                lines = engine.settings.max_lines
                if self.route().human_route == "flow":
                    # People who answer hear an IVR flow, not an agent: the lines are the only limit,
                    # so every free line counts as a free "agent" (progressive: fill the lines).
                    pacing = dict(agents_available=lines, agents_logged_in=lines, calls_in_flight=flying,
                                  calls_connected=connected, max_lines=lines)
                else:
                    pacing = dict(agents_available=board.available(c["agent_queue"]),
                                  agents_logged_in=board.logged_in(c["agent_queue"]), calls_in_flight=flying,
                                  calls_connected=connected, max_lines=lines)
                headroom = float(self.abandonment["abandons_left"]) if self.abandonment is not None else None
                if c["dial_mode"] == "predictive" and self.route().human_route == "queue":
                    # the queue's learned model, its calls in flight by age, agents in wrap-up
                    # (dialer/pacing_feed.py); no model yet -> the pacer falls back to progressive
                    state = await engine.pacing_feed.input(conn, c["agent_queue"], board, time.time(), lines,
                                                           headroom)
                else:
                    # abandoned calls the campaign's budget still allows, as of the last tick's gate query
                    state = PacingInput(**pacing, abandon_headroom=headroom)
                decision = pacer.decide(state)
                if decision.calls <= 0:
                    return
                if decision.delay_s:
                    await asyncio.sleep(decision.delay_s)  # preview: the agent reads the contact first
                # The compliance gate, for every lead in the hopper at once (one history query):
                # refused ones leave the hopper (excluded, or back to retry at their time) with the
                # decision stored; allowed ones are dialled up to the pacer's count.
                taken = self.hopper.take(len(self.hopper))
                now = engine.clock()
                campaign_facts = self.facts()
                pack = await compliance.pack_for(conn, engine.policies, c["id"], campaign_facts.kind)
                gathered = await compliance.gather(conn, taken, campaign_facts, pack, now)
                allowed: list = []
                for lead in taken:
                    contact, history = gathered[lead.contact_id]
                    verdict = decide(contact, campaign_facts, pack, history, now)
                    if self.abandonment is None or history.abandonment is not None:
                        self.abandonment = compliance.headroom(pack, history.abandonment)
                    if verdict.verdict != "allow":
                        refused += await compliance.refuse(conn, contact, verdict, owner=engine.settings.dialer_id)
                    elif len(allowed) < decision.calls:
                        allowed.append((lead, verdict))
                    else:
                        spare.append(lead)
                route = self.route()
                for lead, verdict in allowed:
                    explanation = {"pacing": decision.explanation, "compliance": verdict.as_json(),
                                   "abandonment": self.abandonment,
                                   "route": {"human": route.human_route, "queue": route.queue,
                                             "machine": route.machine_policy}}
                    attempt = await attempts.start(conn, lead, owner=engine.settings.dialer_id,
                                                   dial_mode=c["dial_mode"],
                                                   dial_string=dial_string(c["trunk"], lead.phone),
                                                   decision=explanation)
                    if attempt is not None:
                        engine.originator.pending.add(attempt.id)
                        started.append(attempt)
        except BaseException:
            self.hopper.put_back(taken)  # rolled back: the leads are still leased to us
            engine.originator.pending.difference_update(a.id for a in started)
            raise
        self.hopper.put_back(spare)
        if refused:
            log.info("campaign %s: compliance gate held back %d contact(s) (see compliance_decisions)", c["id"],
                     refused)
        # Committed: each attempt is on record before its call is placed.
        for attempt in started:
            engine.originator.originate(attempt, route, engine.settings.ring_timeout_s)
        if started:
            log.info("campaign %s: placed %d call(s) (%s: %d free agents, %d in flight)", c["id"], len(started),
                     c["dial_mode"], decision.explanation.get("agents_available", state.agents_available), flying)

    async def _maybe_finish(self) -> None:
        now = time.monotonic()
        if now - self._finish_checked < 2.0:
            return
        self._finish_checked = now
        left = await hopper.remaining(self.engine.pool, self.id)
        if left:
            return
        try:
            await campaigns.apply_action(self.engine.pool, self.id, "finish",
                                         by=f"dialer:{self.engine.settings.dialer_id}")
            log.info("campaign %s: every contact is done or out of tries; finished", self.id)
        except campaigns.IllegalTransition:
            pass  # paused or finished meanwhile


class DialerEngine:
    def __init__(self, pool: asyncpg.Pool, ami, settings: DialerSettings, *, prompts_dir: str,
                 known_flows: Callable[[], Collection[str]] = lambda: (),
                 clock: Callable[[], datetime] = utc_now):
        self.pool, self.ami, self.settings = pool, ami, settings
        self.clock = clock  # the compliance gate's "now" (tests drive it across windows and DST changes)
        self.policies = compliance.PolicyBook({})
        self.prompts_dir = prompts_dir.rstrip("/")
        self.known_flows = known_flows
        self.originator = Originator(ami, save=self._save, finish=self._finish, settle_s=settings.settle_s)
        self.agents = AgentDirectory(ami, time.time)
        self.pacing_feed = PacingFeed()  # what the predictive pacer has learned, per agent queue
        self.reconciler = Reconciler(pool, ami, self.originator, settings.dialer_id,
                                     stale_after_s=settings.stale_after_s)
        self.runners: dict[int, CampaignRunner] = {}
        self.synced = False  # queue members read and open attempts reconciled since AMI (re)connected
        self._task: asyncio.Task | None = None

    def ready(self) -> bool:
        return self.synced and self._ami_up()

    def _ami_up(self) -> bool:
        return ami_up(self.ami)

    async def start(self) -> None:
        self.originator.install()
        self.agents.install()
        self.ami.register_event("FullyBooted", self._on_connected)  # sent by Asterisk after every login
        await attempts.heartbeat(self.pool, self.settings.dialer_id, starting=True)
        await self.load_policies()
        self._task = asyncio.create_task(self._run(), name="dialer-engine")
        log.info("dialer %s started", self.settings.dialer_id)

    async def load_policies(self) -> None:
        """Store the shipped packs (new versions only) and read every stored version."""
        try:
            added = await compliance.sync_packs(self.pool, shipped_packs(), by=f"dialer:{self.settings.dialer_id}")
            if added:
                log.info("compliance: stored policy pack(s) %s", ", ".join(added))
        except PolicyError as exc:  # the stored versions still apply; a campaign without one dials nothing
            log.error("compliance: %s", exc)
        self.policies = await compliance.PolicyBook.load(self.pool)
        self._policies_at = time.monotonic()

    def _on_connected(self, manager, event) -> None:
        self.synced = False  # events may have been missed while disconnected

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        runners = list(self.runners.values())
        self.runners.clear()
        for runner in runners:
            if runner.task is not None:
                runner.task.cancel()
        await asyncio.gather(*(r.task for r in runners if r.task is not None), return_exceptions=True)
        await self.originator.drain()
        try:
            await hopper.release(self.pool, self.settings.dialer_id)
        except Exception as exc:
            log.warning("could not release leads: %s", exc)
        if self.originator.active:
            log.info("dialer stopping with %d call(s) up: they continue in Asterisk and are reconciled at the "
                     "next start", self.originator.active)

    async def _run(self) -> None:
        last_beat = last_reconcile = 0.0
        while True:
            try:
                now = time.monotonic()
                if now - last_beat >= self.settings.heartbeat_s:
                    await attempts.heartbeat(self.pool, self.settings.dialer_id)
                    last_beat = now
                if self._ami_up() and not self.synced:
                    await self.agents.refresh()
                    await self.reconciler.run(everything=True)
                    self.synced, last_reconcile = True, now
                elif self.ready() and now - last_reconcile >= self.settings.reconcile_every_s:
                    await self.reconciler.run()
                    last_reconcile = now
                if now - getattr(self, "_policies_at", 0.0) >= POLICY_REFRESH_S:
                    await self.load_policies()
                await self._follow_campaigns()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dialer loop: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(2)
            await asyncio.sleep(max(self.settings.tick_s, 0.5))

    async def _follow_campaigns(self) -> None:
        rows = await self.pool.fetch(
            "SELECT id, kind, name, caller_id, trunk, dial_mode, agent_queue, flow_name AS flow, machine_policy,"
            " machine_target, retry_rules, schedule, state FROM campaigns WHERE state = 'running' ORDER BY id")
        running = {r["id"]: dict(r) for r in rows}
        for campaign_id in list(self.runners):
            if campaign_id not in running:
                runner = self.runners.pop(campaign_id)
                if runner.task is not None:
                    runner.task.cancel()
                log.info("campaign %s is no longer running: dialling stopped, leads released", campaign_id)
        for campaign_id, campaign in running.items():
            runner = self.runners.get(campaign_id)
            if runner is None:
                runner = self.runners[campaign_id] = CampaignRunner(self, campaign)
                runner.task = asyncio.create_task(runner.run(), name=f"dialer-campaign-{campaign_id}")
                log.info("campaign %s (%s, %s) is running: dialling", campaign_id, campaign["name"],
                         campaign["dial_mode"])
            else:
                runner.campaign = campaign

    # --- the Originator's callbacks ---------------------------------------------------------

    async def _save(self, attempt_id: int, facts: CallFacts) -> None:
        await attempts.progress(self.pool, attempt_id, facts)

    async def _finish(self, attempt_id: int, facts: CallFacts) -> None:
        verdict, closed_by = conclude(facts)
        for delay in (0.5, 1, 2, 4, 8):
            try:
                step = await attempts.close(self.pool, attempt_id, facts, verdict, closed_by=closed_by)
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("attempt %s: could not close (%s); retrying", attempt_id, exc)
                await asyncio.sleep(delay)
        else:
            log.error("attempt %s left open: reconciliation will close it", attempt_id)
            return
        if step is not None:
            log.info("attempt %s: %s (%s), hung up by %s; contact %s", attempt_id, verdict.disposition, verdict.reason,
                     verdict.hangup_by or "-", step.reason)
