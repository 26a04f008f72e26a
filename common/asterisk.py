"""Running a real Asterisk for the service: find it, render its config, start and stop it.

Two kinds of install are supported:
- host: an `asterisk` binary on this machine (Ubuntu's package, or ASTERISK_BIN);
- chroot: a Debian-sid root made by `common.asterisk_provision` (Debian 12 has
  no asterisk package). The chroot shares the host's network, so Asterisk on
  127.0.0.1 reaches our FastAGI server and SIP peers on 127.0.0.1.

Each instance (demo, tests) gets its own directory for config, control
socket, logs and a copy of the prompts, so several can run side by side.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from common.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

TEMPLATE_DIR = PROJECT_ROOT / "asterisk" / "conf"
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


class AsteriskError(RuntimeError):
    pass


def render_template(text: str, values: dict[str, str], name: str) -> str:
    """Fill `{{NAME}}` placeholders; a missing value is an error naming the file."""
    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise AsteriskError(f"{name}: no value for placeholder {{{{{key}}}}}")
        return values[key]
    return _PLACEHOLDER.sub(fill, text)


def render_configs(template_dir: Path, values: dict[str, str]) -> dict[str, str]:
    """Every `*.conf` template rendered: file name -> text. Pure apart from reading templates."""
    return {p.name: render_template(p.read_text(encoding="utf-8"), values, p.name)
            for p in sorted(template_dir.glob("*.conf"))}


@dataclass(frozen=True)
class AsteriskInstall:
    binary: str  # path as seen inside `root`
    root: Path | None  # chroot directory, or None for a host install

    def host_path(self, inside: str) -> Path:
        """Where a path Asterisk sees lives on this machine."""
        return Path(inside) if self.root is None else self.root / inside.lstrip("/")

    def command(self, *args: str) -> list[str]:
        base = [self.binary, *args]
        return base if self.root is None else ["chroot", str(self.root), *base]

    def version(self) -> str:
        out = subprocess.run(self.command("-V"), capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or out.stderr.strip()


def find_install(settings: Settings) -> AsteriskInstall | None:
    """The Asterisk to run: ASTERISK_BIN, else our chroot, else one on PATH."""
    if settings.asterisk_bin:
        if not Path(settings.asterisk_bin).is_file():
            raise AsteriskError(f"ASTERISK_BIN={settings.asterisk_bin} does not exist")
        return AsteriskInstall(settings.asterisk_bin, None)
    if (settings.asterisk_root / "usr/sbin/asterisk").is_file():
        return AsteriskInstall("/usr/sbin/asterisk", settings.asterisk_root)
    on_path = shutil.which("asterisk")
    if on_path:
        return AsteriskInstall(on_path, None)
    return None


class AsteriskInstance:
    """One running Asterisk with its own config directory, owned by this process."""

    def __init__(self, install: AsteriskInstall, settings: Settings):
        self.install = install
        self.settings = settings
        if install.root is None:
            self.base = str(settings.run_dir / "asterisk" / settings.instance)
        else:
            self.base = f"/srv/bankcc/{settings.instance}"
        self.process: subprocess.Popen | None = None

    # Paths as Asterisk sees them.
    @property
    def etc_dir(self) -> str:
        return f"{self.base}/etc"

    @property
    def prompts_dir(self) -> str:
        return f"{self.base}/prompts"

    @property
    def config_file(self) -> str:
        return f"{self.etc_dir}/asterisk.conf"

    @property
    def log_file(self) -> Path:
        return self.install.host_path(f"{self.base}/log/messages.log")

    def template_values(self) -> dict[str, str]:
        s = self.settings
        return {
            "ETC_DIR": self.etc_dir, "RUN_DIR": f"{self.base}/run", "LOG_DIR": f"{self.base}/log",
            "SPOOL_DIR": f"{self.base}/spool", "DB_DIR": f"{self.base}/db",
            "SIP_BIND": "127.0.0.1", "SIP_PORT": str(s.sip_port),
            "RTP_START": str(s.rtp_start), "RTP_END": str(s.rtp_end),
            "AMI_BIND": "127.0.0.1", "AMI_PORT": str(s.ami_port), "AMI_PERMIT": "127.0.0.1/255.255.255.255",
            "AMI_USER": s.ami_username, "AMI_SECRET": s.ami_secret,
            "AGI_HOST": s.agi_host, "AGI_PORT": str(s.agi_port),
            "SOFTPHONE_PASSWORD": os.environ.get("BANKCC_SOFTPHONE_PASSWORD", "softphone-demo"),
        }

    def prepare(self) -> None:
        """Write the rendered config and copy the prompts where Asterisk can read them."""
        for sub in ("etc", "run", "log", "spool", "db"):
            self.install.host_path(f"{self.base}/{sub}").mkdir(parents=True, exist_ok=True)
        for name, text in render_configs(TEMPLATE_DIR, self.template_values()).items():
            target = self.install.host_path(f"{self.etc_dir}/{name}")
            target.write_text(text, encoding="utf-8")
            if name == "manager.conf":
                target.chmod(0o600)
        self.sync_prompts()

    def sync_prompts(self) -> None:
        """Copy prompts/ audio (8 kHz .wav, 16 kHz .sln16) into the instance; a chrooted Asterisk cannot see the project."""
        target = self.install.host_path(self.prompts_dir)
        source = self.settings.prompts_dir
        for wav in (*source.glob("*/*.wav"), *source.glob("*/*.sln16")):
            dest = target / wav.parent.name / wav.name
            if not dest.exists() or dest.stat().st_mtime < wav.stat().st_mtime:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(wav, dest)

    def start(self, timeout_s: float = 60.0) -> None:
        self.prepare()
        if self.cli("core show version", check=False).returncode == 0:
            raise AsteriskError(f"an Asterisk is already running for instance {self.settings.instance!r}; "
                                f"stop it first (asterisk -C {self.config_file} -rx 'core stop now')")
        out_path = self.install.host_path(f"{self.base}/log/console.out")
        with open(out_path, "ab") as out:
            # -f: stay in the foreground so we own the process; no -U: as root it
            # would drop capabilities and fail to read its own files.
            self.process = subprocess.Popen(
                self._start_command(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AsteriskError(f"Asterisk exited with code {self.process.returncode} at start; "
                                    f"see {out_path} and {self.log_file}")
            if self.cli("core waitfullybooted", check=False, timeout=10).returncode == 0:
                log.info("Asterisk fully booted (instance %s)", self.settings.instance)
                return
            time.sleep(0.2)
        self.stop()
        raise AsteriskError(f"Asterisk did not boot within {timeout_s:.0f} s; see {self.log_file}")

    def _start_command(self) -> list[str]:
        asterisk = self.install.command("-C", self.config_file, "-f", "-n")
        if self.install.root is None:
            return asterisk
        # Asterisk needs /proc inside its chroot. Mounting it in a private mount
        # namespace keeps it out of the host's mount table: it vanishes with the
        # process, so no stale mount outlives a crash and `rm -rf .run` stays safe.
        proc = shlex.quote(str(self.install.root / "proc"))
        script = f"mount -t proc proc {proc} && exec {shlex.join(asterisk)}"
        return ["unshare", "--mount", "--propagation", "private", "--kill-child", "sh", "-c", script]

    def cli(self, command: str, check: bool = True, timeout: float = 15.0) -> subprocess.CompletedProcess:
        result = subprocess.run(self.install.command("-C", self.config_file, "-rx", command),
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AsteriskError(f"asterisk -rx {command!r} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.cli("core stop now", check=False, timeout=timeout_s)
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("Asterisk did not stop in %.0f s; killing it", timeout_s)
            self.process.kill()
            self.process.wait(5)
