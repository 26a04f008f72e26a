"""AudioSocket framing (Asterisk's res_audiosocket): pure, no I/O.

Every message is a 3-byte header — kind (1 byte), payload length (2 bytes,
big-endian) — then the payload. Kinds as Asterisk 22.10 sends and accepts them
(res/res_audiosocket.c, include/asterisk/res_audiosocket.h):

  0x00 hangup     either side; Asterisk hangs the AudioSocket channel up
  0x01 UUID       first message from Asterisk: the 16-byte id of the stream
  0x03 DTMF       one ASCII key, Asterisk -> us (channel driver, 22.x)
  0x10..0x18      signed 16-bit little-endian mono PCM; the kind names the rate:
                  0x10 8 kHz, 0x11 12, 0x12 16, 0x13 24, 0x14 32, 0x15 44.1,
                  0x16 48, 0x17 96, 0x18 192 kHz (the rate kinds arrived in 22.x)
  0xff error      Asterisk-side error; payload is an optional error code

`FrameParser` is incremental (bytes arrive in any split) and raises
`AudioSocketError` — never anything else — on input that cannot be a frame
stream, so one bad peer cannot take the server down.
"""
from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum

HEADER = struct.Struct("!BH")
MAX_PAYLOAD = 0xFFFF  # the length field is 16 bits


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10  # 8 kHz slin
    AUDIO_12K = 0x11
    AUDIO_16K = 0x12
    AUDIO_24K = 0x13
    AUDIO_32K = 0x14
    AUDIO_44K = 0x15
    AUDIO_48K = 0x16
    AUDIO_96K = 0x17
    AUDIO_192K = 0x18
    ERROR = 0xFF


AUDIO_RATES: dict[int, int] = {Kind.AUDIO: 8000, Kind.AUDIO_12K: 12000, Kind.AUDIO_16K: 16000,
                               Kind.AUDIO_24K: 24000, Kind.AUDIO_32K: 32000, Kind.AUDIO_44K: 44100,
                               Kind.AUDIO_48K: 48000, Kind.AUDIO_96K: 96000, Kind.AUDIO_192K: 192000}
_KIND_FOR_RATE = {rate: kind for kind, rate in AUDIO_RATES.items()}

# Error codes Asterisk puts in an 0xff payload.
ERROR_CODES = {0x00: "none", 0x01: "calling party hung up", 0x02: "frame forwarding error", 0x04: "memory error"}
DTMF_KEYS = frozenset("0123456789*#ABCD")
_KNOWN_KINDS = frozenset(int(k) for k in Kind)


class AudioSocketError(ValueError):
    """The byte stream is not valid AudioSocket: the connection must be dropped."""


@dataclass(frozen=True)
class Frame:
    kind: int
    payload: bytes = b""

    @property
    def is_audio(self) -> bool:
        return self.kind in AUDIO_RATES

    @property
    def rate(self) -> int:
        """Sample rate of an audio frame."""
        return AUDIO_RATES[self.kind]

    @property
    def key(self) -> str:
        return self.payload.decode("ascii")

    @property
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)

    def describe_error(self) -> str:
        if not self.payload:
            return "error (no code)"
        code = self.payload[0]
        return f"error 0x{code:02x} ({ERROR_CODES.get(code, 'application-specific')})"


def encode(kind: int, payload: bytes = b"") -> bytes:
    if not 0 <= kind <= 0xFF:
        raise AudioSocketError(f"kind {kind} does not fit in one byte")
    if len(payload) > MAX_PAYLOAD:
        raise AudioSocketError(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD}-byte limit")
    return HEADER.pack(kind, len(payload)) + payload


def audio(pcm: bytes, rate: int = 16000) -> bytes:
    """One audio frame of signed 16-bit little-endian PCM at `rate`."""
    kind = _KIND_FOR_RATE.get(rate)
    if kind is None:
        raise AudioSocketError(f"AudioSocket has no audio kind for {rate} Hz")
    if len(pcm) % 2:
        raise AudioSocketError("16-bit PCM must have an even number of bytes")
    return encode(kind, pcm)


def hangup() -> bytes:
    return encode(Kind.HANGUP)


def uuid_frame(value: uuid.UUID) -> bytes:
    return encode(Kind.UUID, value.bytes)


def dtmf(key: str) -> bytes:
    return encode(Kind.DTMF, key.encode("ascii"))


def validate(frame: Frame) -> Frame:
    """Check one decoded frame against its kind; AudioSocketError names what is wrong."""
    kind, payload = frame.kind, frame.payload
    if kind == Kind.UUID:
        if len(payload) != 16:
            raise AudioSocketError(f"UUID frame with {len(payload)} bytes (must be 16)")
    elif kind == Kind.DTMF:
        if len(payload) != 1 or chr(payload[0]) not in DTMF_KEYS:
            raise AudioSocketError(f"DTMF frame with payload {payload[:8]!r} (must be one key of 0-9*#A-D)")
    elif kind in AUDIO_RATES:
        if not payload or len(payload) % 2:
            raise AudioSocketError(f"audio frame of {len(payload)} bytes (must be a non-zero even count)")
    elif kind == Kind.HANGUP:
        pass  # any payload is ignored: the peer is going away
    elif kind != Kind.ERROR:
        raise AudioSocketError(f"unknown AudioSocket kind 0x{kind:02x}")
    return frame


class FrameParser:
    """Bytes in, whole validated frames out; keeps a partial frame between feeds."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER.size:
            kind, length = HEADER.unpack_from(self._buffer)
            if kind not in _KNOWN_KINDS:
                # Fail on the header, before waiting for up to 64 KiB of a payload we cannot use.
                raise AudioSocketError(f"unknown AudioSocket kind 0x{kind:02x}")
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[HEADER.size:end])
            del self._buffer[:end]
            frames.append(validate(Frame(kind, payload)))
        return frames
