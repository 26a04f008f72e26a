"""A real SIP caller for end-to-end tests: sipp with generated RFC 4733 DTMF.

sipp ships DTMF captures, but every capture carries the same RTP timestamp,
and Asterisk ignores a DTMF end event whose timestamp is not newer than the
last one, so a second key (e.g. the same invalid key twice) would be lost.
We write our own small captures, one per key press, with rising timestamps.
"""
from __future__ import annotations

import socket
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
_SSRC = 0x5EED1234
_PAYLOAD_TYPE = 101  # telephone-event, as offered in our SDP


def dtmf_pcap(key: str, press_index: int) -> bytes:
    """A pcap holding one RFC 4733 key press (100 ms tone, 3 end packets)."""
    event = _EVENTS[key]
    timestamp = 8000 + press_index * 16000
    seq = 1 + press_index * 20
    packets = []
    for i in range(5):
        packets.append((i * 0.02, _rtp_event(seq + i, timestamp, event, 160 * (i + 1), end=False, marker=i == 0)))
    for j in range(3):
        packets.append((0.1 + j * 0.0001, _rtp_event(seq + 5 + j, timestamp, event, 800, end=True, marker=False)))
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet link type
    for at, payload in packets:
        frame = _ethernet_ipv4_udp(payload)
        out += struct.pack("<IIII", int(at), int((at % 1) * 1_000_000), len(frame), len(frame)) + frame
    return out


def _rtp_event(seq: int, timestamp: int, event: int, duration: int, end: bool, marker: bool) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | _PAYLOAD_TYPE, seq, timestamp, _SSRC)
    return header + struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)


def _ethernet_ipv4_udp(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 40000, 40000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("127.0.0.1"), socket.inet_aton("127.0.0.1"))
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


@dataclass(frozen=True)
class KeyPress:
    key: str
    at_ms: int  # milliseconds after the call is answered

    def capture(self, index: int) -> tuple[str, bytes]:
        """(file name, pcap) that makes sipp press this key as the caller's `index`-th event."""
        return f"key{index}_{_EVENTS[self.key]}.pcap", dtmf_pcap(self.key, index)


_SCENARIO_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="hotline caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
"""

_SCENARIO_WAIT_BYE = """  <recv request="BYE" timeout="{bye_timeout_ms}"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:{caller}@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
</scenario>
"""

_SCENARIO_SEND_BYE = """  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" optional="false"/>
</scenario>
"""


def scenario_xml(caller: str, events: list, folder: Path, hang_up_at_ms: int | None = None,
                 bye_timeout_ms: int = 60000) -> str:
    """A sipp UAC scenario: call, play each event's capture (a key press, speech) at its time,
    then wait for Asterisk's BYE (or hang up ourselves at `hang_up_at_ms`)."""
    body = _SCENARIO_HEAD.format(caller=caller)
    now = 0
    for index, event in enumerate(sorted(events, key=lambda e: e.at_ms)):
        name, data = event.capture(index)
        pcap = folder / name
        pcap.write_bytes(data)
        if event.at_ms > now:
            body += f'  <pause milliseconds="{event.at_ms - now}"/>\n'
            now = event.at_ms
        body += f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'
    if hang_up_at_ms is not None:
        if hang_up_at_ms > now:
            body += f'  <pause milliseconds="{hang_up_at_ms - now}"/>\n'
        return body + _SCENARIO_SEND_BYE.format(caller=caller)
    return body + _SCENARIO_WAIT_BYE.format(caller=caller, bye_timeout_ms=bye_timeout_ms)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def place_call(sip_port: int, extension: str, caller: str, keys: list[KeyPress], folder: Path,
               hang_up_at_ms: int | None = None, timeout_s: int = 90) -> subprocess.CompletedProcess:
    """Dial `extension` on Asterisk at 127.0.0.1:`sip_port` with sipp; returns when the call is over."""
    process = start_call(sip_port, extension, caller, keys, folder, hang_up_at_ms, timeout_s)
    stdout, stderr = process.communicate(timeout=timeout_s + 15)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def keys_typed(text: str, start_ms: int, gap_ms: int = 250) -> list[KeyPress]:
    """One KeyPress per character, `gap_ms` apart, like a caller typing a number."""
    return [KeyPress(key, start_ms + i * gap_ms) for i, key in enumerate(text)]


def start_call(sip_port: int, extension: str, caller: str, keys: list[KeyPress], folder: Path,
               hang_up_at_ms: int | None = None, timeout_s: int = 90) -> subprocess.Popen:
    """Start the sipp caller and return at once (for tests that watch the call while it runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "scenario.xml"
    scenario.write_text(scenario_xml(caller, keys, folder, hang_up_at_ms), encoding="utf-8")
    media_port = free_udp_port() & ~1
    cmd = ["sipp", f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-s", extension, "-m", "1", "-l", "1",
           "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mi", "127.0.0.1", "-mp", str(media_port),
           "-timeout", f"{timeout_s}s", "-timeout_error", "-nostdin", "-trace_err",
           "-error_file", str(folder / "sipp_errors.log")]
    return subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
