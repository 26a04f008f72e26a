"""The dialer's settings, read from the environment with the rest (common/config.py).

  BANKCC_DIALER                 on (default) | off: run the campaign engine in the service
  BANKCC_DIALER_ID              this process's name in dialer_nodes and attempts (default host/instance;
                                keep it stable across restarts so open attempts are reconciled by it)
  BANKCC_DIALER_RING_TIMEOUT_S  how long a call may ring before it is a no-answer (default 30)
  BANKCC_DIALER_QUEUE_TIMEOUT_S how long an answered person waits for an agent before the call is
                                dropped (default 30)
  BANKCC_DIALER_MAX_LINES       simultaneous calls per agent queue (default 30)
  BANKCC_DIALER_POWER_RATIO     calls per free agent in power mode (default 1.5)
  BANKCC_DIALER_PREVIEW_S       an agent's preview time in preview mode (default 5)
  BANKCC_DIALER_TICK_S          pacing interval (default 0.5)
  BANKCC_DIALER_DEMO            1: the service also runs a small campaign against the simulator
                                (dialer/demo.py; `dialer demo` sets it)
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Mapping


class DialerSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class DialerSettings:
    enabled: bool = True
    dialer_id: str = "dialer"
    ring_timeout_s: float = 30.0
    queue_timeout_s: int = 30
    max_lines: int = 30
    power_ratio: float = 1.5
    preview_s: float = 5.0
    tick_s: float = 0.5
    hopper_size: int = 20           # leads held per campaign
    lease_s: float = 120.0          # a held lead goes back after this unless renewed
    heartbeat_s: float = 5.0
    stale_after_s: float = 30.0     # a dialer silent this long has its open attempts reconciled by others
    reconcile_every_s: float = 30.0
    settle_s: float = 0.5           # after the Hangup, wait for trailing events (AgentComplete)
    demo: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], instance: str) -> "DialerSettings":
        def number(name: str, default: float, low: float, high: float) -> float:
            raw = env.get(name)
            if raw in (None, ""):
                return default
            try:
                value = float(raw)
            except ValueError:
                raise DialerSettingsError(f"{name} must be a number, not {raw!r}") from None
            if not low <= value <= high:
                raise DialerSettingsError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
            return value

        switch = env.get("BANKCC_DIALER", "on").strip().lower()
        if switch not in ("on", "off", "1", "0", "yes", "no", "true", "false"):
            raise DialerSettingsError(f"BANKCC_DIALER must be on or off, not {switch!r}")
        return cls(
            enabled=switch in ("on", "1", "yes", "true"),
            dialer_id=(env.get("BANKCC_DIALER_ID") or f"{socket.gethostname()}/{instance}")[:120],
            ring_timeout_s=number("BANKCC_DIALER_RING_TIMEOUT_S", 30, 3, 300),
            queue_timeout_s=int(number("BANKCC_DIALER_QUEUE_TIMEOUT_S", 30, 1, 3600)),
            max_lines=int(number("BANKCC_DIALER_MAX_LINES", 30, 1, 10_000)),
            power_ratio=number("BANKCC_DIALER_POWER_RATIO", 1.5, 1, 5),
            preview_s=number("BANKCC_DIALER_PREVIEW_S", 5, 0, 600),
            tick_s=number("BANKCC_DIALER_TICK_S", 0.5, 0.05, 60),
            demo=env.get("BANKCC_DIALER_DEMO", "").strip().lower() in ("1", "on", "yes", "true"),
        )
