"""A SIP caller that talks: sipp streaming G.711 µ-law RTP made from synthetic speech.

sipp's `play_pcap_audio` sends a capture's RTP packets to Asterisk at their
recorded times, so a pcap of 20 ms µ-law packets is a caller saying the
words in real time. Between clips sipp sends no RTP at all — as a phone
with silence suppression would — and the recogniser must cope with that.
Calls are placed with `sip_caller.place_call`; keys are its RFC 4733 `KeyPress`es.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from tests.e2e.sip_caller import _ethernet_ipv4_udp

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

    def capture(self, index: int) -> tuple[str, bytes]:
        # Sequence numbers and timestamps rise from clip to clip, as one RTP stream's would.
        return f"say{index}.pcap", ulaw_pcap(self.ulaw, first_seq=1000 + index * 2000,
                                            first_timestamp=160000 + self.at_ms * 8)
