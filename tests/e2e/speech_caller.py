"""A SIP caller that talks: sipp streaming G.711 µ-law RTP made from synthetic speech.

sipp's `play_pcap_audio` sends a capture's RTP packets to Asterisk at their
recorded times, so a pcap of 20 ms µ-law packets is a caller saying the
words in real time. Between clips sipp sends no RTP at all — as a phone
with silence suppression would — and the recogniser must cope with that.
Keys are RFC 4733 events from `sip_caller`.
"""
from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.sip_caller import (_EVENTS, _SCENARIO_HEAD, _SCENARIO_SEND_BYE, _SCENARIO_WAIT_BYE,
                                  _ethernet_ipv4_udp, dtmf_pcap, free_udp_port)

_SSRC = 0x5EED5A1D
_PCMU = 0  # RTP payload type of G.711 µ-law, as offered in the scenario's SDP
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz


def ulaw_pcap(ulaw: bytes, first_seq: int = 1000, first_timestamp: int = 160000) -> bytes:
    """A pcap of RTP packets carrying `ulaw` (8 kHz µ-law bytes), one packet every 20 ms."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for index, at in enumerate(range(0, len(ulaw), SAMPLES_PER_PACKET)):
        chunk = ulaw[at:at + SAMPLES_PER_PACKET].ljust(SAMPLES_PER_PACKET, b"\xff")  # 0xff: µ-law silence
        header = struct.pack("!BBHII", 0x80, (0x80 if index == 0 else 0) | _PCMU, (first_seq + index) & 0xFFFF,
                             (first_timestamp + at) & 0xFFFFFFFF, _SSRC)
        frame = _ethernet_ipv4_udp(header + chunk)
        seconds = index * 0.02
        out += struct.pack("<IIII", int(seconds), int(round((seconds % 1) * 1_000_000)), len(frame), len(frame))
        out += frame
    return out


@dataclass(frozen=True)
class Say:
    ulaw: bytes  # 8 kHz µ-law
    at_ms: int  # after the call is answered


@dataclass(frozen=True)
class Press:
    key: str
    at_ms: int


def scenario_xml(caller: str, events: list, folder: Path, hang_up_at_ms: int | None = None) -> str:
    body = _SCENARIO_HEAD.format(caller=caller)
    now = 0
    for index, event in enumerate(sorted(events, key=lambda e: e.at_ms)):
        if isinstance(event, Say):
            pcap = folder / f"say{index}.pcap"
            # Sequence numbers and timestamps rise from clip to clip, as one RTP stream's would.
            pcap.write_bytes(ulaw_pcap(event.ulaw, first_seq=1000 + index * 2000,
                                       first_timestamp=160000 + event.at_ms * 8))
        else:
            pcap = folder / f"key{index}_{_EVENTS[event.key]}.pcap"
            pcap.write_bytes(dtmf_pcap(event.key, index))
        if event.at_ms > now:
            body += f'  <pause milliseconds="{event.at_ms - now}"/>\n'
            now = event.at_ms
        body += f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
    if hang_up_at_ms is not None:
        if hang_up_at_ms > now:
            body += f'  <pause milliseconds="{hang_up_at_ms - now}"/>\n'
        return body + _SCENARIO_SEND_BYE.format(caller=caller)
    return body + _SCENARIO_WAIT_BYE.format(caller=caller, bye_timeout_ms=60000)


def place_call(sip_port: int, extension: str, caller: str, events: list, folder: Path,
               hang_up_at_ms: int | None = None, timeout_s: int = 90) -> subprocess.CompletedProcess:
    """Dial `extension`, say and press `events` at their times, wait for Asterisk's BYE."""
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "scenario.xml"
    scenario.write_text(scenario_xml(caller, events, folder, hang_up_at_ms), encoding="utf-8")
    cmd = ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-s", extension, "-m", "1", "-l", "1",
           "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mi", "127.0.0.1", "-mp", str(free_udp_port() & ~1),
           "-timeout", f"{timeout_s}s", "-timeout_error", "-nostdin", "-trace_err",
           "-error_file", str(folder / "sipp_errors.log")]
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=timeout_s + 15)
