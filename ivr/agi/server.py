"""The FastAGI server: panoramisk's route table, with a connection reader that
survives bad peers.

panoramisk's own `Application.handler` loops forever if a peer closes before
the blank line that ends the AGI environment, and passes a raw `Request`; we
keep its routing (`add_route`, one route per flow name) and read the
environment ourselves with limits and a timeout.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from panoramisk import fast_agi

from ivr.agi.protocol import MAX_LINE_BYTES, AgiProtocolError
from ivr.agi.session import AgiSession, read_env

log = logging.getLogger(__name__)

Route = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer(fast_agi.Application):
    def __init__(self) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self.server: asyncio.Server | None = None
        self.active: set[asyncio.Task] = set()

    def has_route(self, path: str) -> bool:
        return path in self._route

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        task = asyncio.current_task()
        self.active.add(task)
        try:
            try:
                env = await read_env(reader)
            except (AgiProtocolError, TimeoutError) as exc:
                log.warning("FastAGI connection from %s rejected: %s", peer, exc or "no environment in time")
                return
            script = env.get("agi_network_script", "")
            route = self._route.get(script)
            if route is None:
                log.error("FastAGI request from %s for unknown route %r", peer, script)
                return
            session = AgiSession(reader, writer, env)
            try:
                await route(session)
            except Exception:  # one broken call must never take the server down
                log.exception("FastAGI route %r failed", script)
        finally:
            self.active.discard(task)
            writer.close()

    async def start(self, host: str, port: int) -> asyncio.Server:
        self.server = await asyncio.start_server(self.handler, host, port, limit=MAX_LINE_BYTES)
        return self.server

    async def stop(self, grace_s: float = 5.0) -> None:
        if self.server is not None:
            self.server.close()
        if self.active:
            await asyncio.wait(self.active, timeout=grace_s)
        for task in list(self.active):
            task.cancel()
