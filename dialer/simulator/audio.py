"""What simulated customers say when they answer, as RTP captures sipp can replay.

AMD() judges by sound energy and timing, so the audio must have the shape of
the real thing: a person says one short word ("Hello?") and waits; an answering
machine talks for seconds without a pause long enough to pass for a person.
The words are spoken by espeak-ng; without it, bursts of a vowel-like tone with
the same timing stand in (AMD cannot tell the difference, a listener could).

The captures are G.711 u-law RTP (payload type 0, 20 ms packets) in a pcap file,
which sipp's `play_pcap_audio` sends to whatever RTP port the call negotiated.
"""
from __future__ import annotations

import math
import shutil
import struct
import subprocess
import tempfile
import wave
from pathlib import Path

RATE = 8000
PACKET_SAMPLES = 160  # 20 ms at 8 kHz

HUMAN_WORDS = "Hello?"
MACHINE_WORDS = ("Hello, you have reached the voicemail of Li Wei. I cannot take your call right now. "
                 "Please leave your name and number after the tone, and I will call you back.")


def espeak_samples(text: str, voice: str = "en-us", speed: int = 160) -> list[int] | None:
    """16-bit samples at 8 kHz of `text` spoken by espeak-ng, or None when it is not installed."""
    if shutil.which("espeak-ng") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        result = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(out), text],
                                capture_output=True, timeout=60)
        if result.returncode != 0 or not out.exists():
            return None
        with wave.open(str(out), "rb") as w:
            rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    if width != 2:
        return None
    samples = list(struct.unpack(f"<{len(frames) // 2}h", frames))
    return _resample(samples, rate, RATE)


def _resample(samples: list[int], src: int, dst: int) -> list[int]:
    """Linear interpolation: plenty for an energy detector, and no dependency."""
    if src == dst or not samples:
        return samples
    n = int(len(samples) * dst / src)
    out = []
    for i in range(n):
        x = i * src / dst
        j = int(x)
        frac = x - j
        a = samples[j]
        b = samples[j + 1] if j + 1 < len(samples) else a
        out.append(int(a + (b - a) * frac))
    return out


def _trim(samples: list[int], threshold: int = 400) -> list[int]:
    """espeak pads its output with silence; the timing here must be ours."""
    loud = [i for i, s in enumerate(samples) if abs(s) > threshold]
    return samples[loud[0]:loud[-1] + 1] if loud else samples


def tone_syllables(seconds: float, syllable_s: float = 0.25, gap_s: float = 0.03) -> list[int]:
    """Stand-in speech: 220 Hz bursts with gaps shorter than AMD's between-words silence."""
    out: list[int] = []
    while len(out) < seconds * RATE:
        n = int(syllable_s * RATE)
        out += [int(9000 * math.sin(2 * math.pi * 220 * i / RATE) * math.sin(math.pi * i / n)) for i in range(n)]
        out += [0] * int(gap_s * RATE)
    return out[:int(seconds * RATE)]


def silence(seconds: float) -> list[int]:
    return [0] * int(seconds * RATE)


def beep(seconds: float = 0.4, hz: int = 1000) -> list[int]:
    return [int(8000 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(int(seconds * RATE))]


def human_greeting(tail_s: float = 3.0) -> list[int]:
    """A person picking up: a breath of silence, one word, then waiting for an answer."""
    word = espeak_samples(HUMAN_WORDS)
    word = _trim(word) if word else tone_syllables(0.45, syllable_s=0.45)
    return silence(0.3) + word + silence(tail_s)


def machine_greeting(min_speech_s: float = 5.0) -> list[int]:
    """An answering machine: seconds of continuous speech, the beep, then recording silence
    (long enough for the dialplan's WaitForSilence before it leaves a message)."""
    speech = espeak_samples(MACHINE_WORDS)
    speech = _trim(speech) if speech else tone_syllables(min_speech_s)
    while len(speech) < min_speech_s * RATE:
        speech += speech
    return silence(0.2) + speech + silence(0.3) + beep() + silence(3.0)


# --- G.711 u-law and pcap ------------------------------------------------------------------

def ulaw(sample: int) -> int:
    """One 16-bit linear sample to G.711 u-law (ITU-T G.711, as every PBX decodes it)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    if sample < 0:
        sample = -sample
    sample = min(sample, clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


_ULAW = bytes(ulaw(s - 32768) for s in range(65536))


def ulaw_bytes(samples: list[int]) -> bytes:
    return bytes(_ULAW[max(-32768, min(32767, s)) + 32768] for s in samples)


def rtp_pcap(samples: list[int], ssrc: int = 0x51A1A7ED) -> bytes:
    """The samples as 20 ms u-law RTP packets in a pcap, timed for real-time replay."""
    payload = ulaw_bytes(samples)
    payload += b"\xff" * (-len(payload) % PACKET_SAMPLES)  # pad the last packet with silence
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # Ethernet link type
    for index in range(len(payload) // PACKET_SAMPLES):
        chunk = payload[index * PACKET_SAMPLES:(index + 1) * PACKET_SAMPLES]
        header = struct.pack("!BBHII", 0x80, 0x80 if index == 0 else 0, index + 1, index * PACKET_SAMPLES, ssrc)
        frame = _ethernet_ipv4_udp(header + chunk)
        at_us = index * 20_000
        out += struct.pack("<IIII", at_us // 1_000_000, at_us % 1_000_000, len(frame), len(frame)) + frame
    return out


def _ethernet_ipv4_udp(payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 40000, 40000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def key_presses_pcap(key: str, presses: int = 20, gap_s: float = 2.5, ssrc: int = 0x51A1A7ED) -> bytes:
    """RFC 4733 presses of one key, every `gap_s` seconds, for a customer answering an IVR menu.

    The stream continues the greeting's (same SSRC, later timestamps and sequence numbers),
    and every press has its own timestamp: Asterisk ignores an end event that is not newer
    than the last one, so repeated presses of one key must differ.
    """
    event = int(key)
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for press in range(presses):
        at = 0.5 + press * gap_s
        timestamp = 200_000 + int(at * 8000)
        seq = 5_000 + press * 10
        packets = [(at + i * 0.02, seq + i, 160 * (i + 1), False, i == 0) for i in range(5)]
        packets += [(at + 0.1 + j * 0.0001, seq + 5 + j, 800, True, False) for j in range(3)]
        for when, number, duration, end, marker in packets:
            header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | TELEPHONE_EVENT, number, timestamp, ssrc)
            frame = _ethernet_ipv4_udp(header + struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration))
            us = int(round(when * 1_000_000))
            out += struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(frame), len(frame)) + frame
    return out


TELEPHONE_EVENT = 101  # the payload type our SDP answer gives RFC 4733 events (scenarios.py)


def write_greetings(folder: Path) -> dict[str, Path]:
    """human.pcap, machine.pcap and keys_<d>.pcap in `folder` (rebuilt each run: well under a second)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"human": folder / "human.pcap", "machine": folder / "machine.pcap", "keys": {}}
    paths["human"].write_bytes(rtp_pcap(human_greeting()))
    paths["machine"].write_bytes(rtp_pcap(machine_greeting()))
    for key in "0123456789":
        paths["keys"][key] = folder / f"keys_{key}.pcap"
        paths["keys"][key].write_bytes(key_presses_pcap(key))
    return paths
