"""The AMI connection: panoramisk's Manager with back-off and a status for /health.

panoramisk retries a lost connection every `reconnect_timeout` seconds
forever; a PBX that is down for maintenance should not be hammered, so the
delay doubles on each failed attempt up to a cap and resets once connected.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from panoramisk import Manager

log = logging.getLogger(__name__)


def backoff_delay(failures: int, base_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Seconds to wait before the next attempt after `failures` failed ones in a row."""
    if failures <= 0:
        return base_s
    return min(cap_s, base_s * 2 ** (failures - 1))


@dataclass(frozen=True)
class AmiStatus:
    state: str  # connecting | connected | down | login_failed
    failures: int
    last_error: str | None
    since: float  # time.time() of the last state change
    next_retry_s: float | None

    def as_dict(self) -> dict:
        return {"state": self.state, "failures": self.failures, "last_error": self.last_error,
                "since": self.since, "next_retry_s": self.next_retry_s}


class AmiClient(Manager):
    def __init__(self, host: str, port: int, username: str, secret: str, **config):
        super().__init__(host=host, port=port, username=username, secret=secret,
                         ping_delay=10, ping_interval=10, **config)
        self.reconnect_timeout = backoff_delay(0)  # panoramisk int()s the config value
        self.failures = 0
        self.state = "connecting"
        self.last_error: str | None = None
        self.since = time.time()

    def status(self) -> AmiStatus:
        retry = self.reconnect_timeout if self.state in ("down", "login_failed") else None
        return AmiStatus(self.state, self.failures, self.last_error, self.since, retry)

    def _set_state(self, state: str, error: str | None = None) -> None:
        if state != self.state:
            self.since = time.time()
        self.state, self.last_error = state, error

    def connection_made(self, f):  # panoramisk callback when a connect attempt ends
        exc = f.exception() if not f.cancelled() else None
        if exc is not None:
            self.failures += 1
            self.reconnect_timeout = backoff_delay(self.failures)
            self._set_state("down", f"{type(exc).__name__}: {exc}")
            log.warning("AMI %s:%s unreachable (%s); retrying in %.1f s", self.config["host"], self.config["port"],
                        exc, self.reconnect_timeout)
        super().connection_made(f)

    def login(self, future):
        ok = super().login(future)
        if ok:
            self.failures = 0
            self.reconnect_timeout = backoff_delay(0)
            self._set_state("connected")
            log.info("AMI connected to %s:%s", self.config["host"], self.config["port"])
        else:
            self._set_state("login_failed", "AMI login refused (check username and secret)")
            log.error("AMI login refused by %s:%s", self.config["host"], self.config["port"])
        return ok

    def connection_lost(self, exc):
        self.failures += 1
        self.reconnect_timeout = backoff_delay(self.failures)
        self._set_state("down", "connection lost")
        super().connection_lost(exc)
