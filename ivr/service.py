"""The IVR controller: answers each FastAGI call with the flow its route names."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg

from common.masking import mask_digits
from ivr.agi.channel import AgiChannel
from ivr.agi.server import FastAgiServer
from ivr.agi.session import AgiSession
from ivr import flow_store
from ivr.call import CallContext, Services
from ivr.call_log import CallLog, CallStart, MemoryCallLog
from ivr.channel import CallerHangup, ChannelFailure
from ivr.flow_registry import FlowRegistry
from ivr.call import utc_now
from ivr.outbound import load_outbound_variables, parse_attempt_id
from ivr.runner import CallOutcome, FlowRunner

log = logging.getLogger(__name__)


class IvrService:
    def __init__(self, flows: FlowRegistry, call_log: CallLog, asterisk_prompts_dir: str,
                 services: Services | None = None, pool: asyncpg.Pool | None = None, speech=None):
        self.flows = flows
        self.call_log = call_log
        self.asterisk_prompts_dir = asterisk_prompts_dir.rstrip("/")
        self.services = services or Services()
        self.pool = pool  # where flow versions are recorded (None: not recorded)
        self.speech = speech  # ivr.speech.service.SpeechService; None: `ask` nodes use keys
        self.server: FastAgiServer | None = None
        self.calls_in_progress = 0
        self._watcher: asyncio.Task | None = None

    def resolve_prompt(self, prompt_id: str, language: str) -> str:
        return f"{self.asterisk_prompts_dir}/{language}/{prompt_id}"

    async def start(self, host: str, port: int, watch_interval_s: float = 1.0) -> None:
        self.server = FastAgiServer()
        self._add_routes()
        for flow in self.flows.flows.values():
            await self._record(flow_store.record_live, flow)
        await self.server.start(host, port)
        self._watcher = asyncio.create_task(self._watch(watch_interval_s))

    async def stop(self) -> None:
        if self._watcher:
            self._watcher.cancel()
        if self.server:
            await self.server.stop()

    async def _watch(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                report = self.flows.reload_changed()
            except OSError as exc:  # a file vanished mid-read: try again next round
                log.warning("flow reload: %s", exc)
                continue
            self._add_routes()
            for flow in report.live:
                await self._record(flow_store.record_live, flow)
            for rejected in report.rejected:
                await self._record(flow_store.record_rejected, rejected.flow_name, rejected.version, rejected.error)

    async def _record(self, store_function, *args) -> None:
        """Write to the flow history; a database hiccup must not stop hot reload."""
        if self.pool is None:
            return
        try:
            await store_function(self.pool, *args, by=self.deployer)
        except Exception:
            log.exception("could not record flow history")

    @property
    def deployer(self) -> str:
        return f"file-watcher:{flow_store.default_actor()}"

    def _add_routes(self) -> None:
        for name in self.flows.flows:
            if not self.server.has_route(name):
                self.server.add_route(name, self.handle_call)

    async def handle_call(self, session: AgiSession) -> None:
        env = session.env
        flow = self.flows.get(env.get("agi_network_script", ""))
        if flow is None:  # the route exists but the flow was removed: nothing to run
            log.error("no live flow for route %r", env.get("agi_network_script"))
            return
        language = env.get("agi_arg_1") or flow.default_language
        if language not in flow.languages:
            log.warning("flow %s has no language %r; using %s", flow.name, language, flow.default_language)
            language = flow.default_language
        caller = env.get("agi_callerid", "")
        caller = caller if caller != "unknown" else ""
        outbound = await self._outbound_variables(flow, env.get("agi_arg_2"))
        start = CallStart(channel=env.get("agi_channel", ""), unique_id=env.get("agi_uniqueid", ""),
                          caller_id=caller, dialed=env.get("agi_extension", ""),
                          flow_name=flow.name, flow_version=flow.version, language=language, started_at=utc_now(),
                          attempt_id=outbound["attempt_id"] if outbound else None)
        call_log = self.call_log
        try:
            call_id = await call_log.call_started(start)
        except Exception:  # serve the caller even when the database is down
            log.exception("could not record the start of a call; it runs unrecorded")
            call_log = MemoryCallLog()
            call_id = await call_log.call_started(start)
        log.info("call %s from %s to %s: flow %s@%s (%s)", call_id, mask_digits(start.caller_id), start.dialed,
                 flow.name, flow.version, language)
        self.calls_in_progress += 1
        outcome = CallOutcome("error", None, 0)
        try:
            channel = AgiChannel(session, self.speech)
            await channel.answer()
            variables = {"caller": caller, "dialed": start.dialed, "channel": start.channel,
                         "unique_id": start.unique_id, "language": language, "call_id": call_id, **(outbound or {})}
            context = CallContext(channel, language, self.resolve_prompt, variables, self.services,
                                  results_sink=self._results_sink(call_log, call_id))
            channel.language = lambda: context.language  # recognise in the language the call is in now
            runner = FlowRunner(flow, context, call_log, call_id, clock=self.services.clock,
                                flows=self.flows.snapshot())
            outcome = await runner.run()
        except CallerHangup:
            outcome = CallOutcome("caller_hangup", None, 0)
        except ChannelFailure as exc:
            log.error("call %s: AGI failure: %s", call_id, exc)
            outcome = CallOutcome("channel_error", None, 0)
        finally:
            self.calls_in_progress -= 1
            try:
                await call_log.call_ended(call_id, outcome.outcome, outcome.last_node, utc_now())
            except Exception:
                log.exception("call %s: could not record the end of the call", call_id)
            log.info("call %s ended: %s after %d steps", call_id, outcome.outcome, outcome.steps)


    async def _outbound_variables(self, flow, attempt_arg: str | None) -> dict | None:
        """The contact an outbound flow talks to; None for inbound calls (or when it cannot be read)."""
        attempt_id = parse_attempt_id(attempt_arg)
        if attempt_id is None or self.pool is None:
            if flow.direction == "outbound":
                log.warning("outbound flow %s started without a dialer attempt: no contact data", flow.name)
            return None
        try:
            found = await load_outbound_variables(self.pool, attempt_id)
        except Exception:  # the customer is on the line: run the flow, its nodes take their error exits
            log.exception("attempt %s: could not read the contact for flow %s", attempt_id, flow.name)
            return None
        if found is None:
            log.warning("attempt %s not found for flow %s", attempt_id, flow.name)
        return found

    @staticmethod
    def _results_sink(call_log: CallLog, call_id: int):
        async def write(values: dict) -> None:
            try:
                await call_log.results(call_id, values)
            except Exception:  # the caller's decision is still in the step record of the result node
                log.exception("call %s: could not record results %s", call_id, sorted(values))
        return write


def default_flow_registry(flows_dir: Path, prompts_dir: Path) -> FlowRegistry:
    from ivr.prompts import PromptCatalog

    registry = FlowRegistry(flows_dir, PromptCatalog.load(prompts_dir / "catalog.yaml"))
    registry.load_all()
    return registry
