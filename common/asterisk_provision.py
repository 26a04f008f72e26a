"""Get a real Asterisk onto this machine if there is none.

Order: an Asterisk already found (ASTERISK_BIN, our chroot, one on PATH) is
used as is; else the distro package where the distro has one (Ubuntu);
else a Debian-sid root made with debootstrap (Debian 12 has no asterisk
package), built in a side folder and renamed into place only when complete.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time

from common.asterisk import AsteriskError, AsteriskInstall, find_install
from common.config import Settings

SID_PACKAGES = "asterisk,asterisk-modules,asterisk-core-sounds-en-gsm"


def _run(cmd: list[str]) -> None:
    print("+ " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd)
    if result.returncode != 0:
        raise AsteriskError(f"{' '.join(cmd)} failed with exit code {result.returncode}")


def _apt_candidate(package: str) -> bool:
    out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True)
    return "Candidate:" in out.stdout and "Candidate: (none)" not in out.stdout


def _apt_ready() -> None:
    """Make sure package lists exist (a fresh machine may have none)."""
    if not _apt_candidate("debootstrap"):
        _run(["apt-get", "update", "-qq"])


def provision(settings: Settings) -> AsteriskInstall:
    found = find_install(settings)
    if found is not None:
        return found
    if shutil.which("apt-get") is None:
        raise AsteriskError("no Asterisk and no apt-get: install Asterisk and set ASTERISK_BIN")
    _apt_ready()
    if _apt_candidate("asterisk"):
        _run(["apt-get", "install", "-y", "-qq", "asterisk"])
    else:
        if shutil.which("debootstrap") is None:
            _run(["apt-get", "install", "-y", "-qq", "debootstrap"])
        root = settings.asterisk_root
        partial = root.with_name(root.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)
        partial.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        _run(["debootstrap", "--variant=minbase", f"--include={SID_PACKAGES}", "sid", str(partial)])
        partial.rename(root)
        print(f"Asterisk root ready in {root} ({time.monotonic() - started:.0f} s)", flush=True)
    found = find_install(settings)
    if found is None:
        raise AsteriskError("Asterisk was installed but cannot be found")
    return found


def main() -> int:
    settings = Settings.from_env()
    try:
        install = provision(settings)
    except AsteriskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = f"chroot {install.root}" if install.root else install.binary
    print(f"Asterisk: {install.version()} ({where})", flush=True)
    return 0
