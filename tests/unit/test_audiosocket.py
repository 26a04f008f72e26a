"""AudioSocket framing: encode/decode, split reads, and garbage that must fail cleanly."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.speech import audiosocket
from ivr.speech.audiosocket import AUDIO_RATES, AudioSocketError, Frame, FrameParser, Kind


def test_frames_are_three_byte_headers_then_payload():
    stream_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert audiosocket.hangup() == b"\x00\x00\x00"
    assert audiosocket.uuid_frame(stream_id) == b"\x01\x00\x10" + stream_id.bytes
    assert audiosocket.dtmf("#") == b"\x03\x00\x01#"
    assert audiosocket.audio(b"\x01\x02" * 320, 16000)[:3] == b"\x12\x02\x80"  # 640 bytes, big-endian
    assert audiosocket.audio(b"\x01\x02", 8000)[:3] == b"\x10\x00\x02"


def test_parser_decodes_what_asterisk_sends_in_any_split():
    stream_id = uuid.uuid4()
    wire = (audiosocket.uuid_frame(stream_id) + audiosocket.audio(b"\x10\x00" * 320, 16000)
            + audiosocket.dtmf("5") + audiosocket.encode(Kind.ERROR, b"\x01") + audiosocket.hangup())
    for split in (1, 2, 3, 7, 640, len(wire)):
        parser, frames = FrameParser(), []
        for at in range(0, len(wire), split):
            frames += parser.feed(wire[at:at + split])
        assert parser.pending == 0
        assert [f.kind for f in frames] == [Kind.UUID, Kind.AUDIO_16K, Kind.DTMF, Kind.ERROR, Kind.HANGUP]
        assert frames[0].uuid == stream_id
        assert frames[1].rate == 16000 and frames[1].is_audio and len(frames[1].payload) == 640
        assert frames[2].key == "5"
        assert frames[3].describe_error() == "error 0x01 (calling party hung up)"


def test_every_audio_kind_names_its_rate():
    for kind, rate in AUDIO_RATES.items():
        (frame,) = FrameParser().feed(audiosocket.audio(b"\x00\x00", rate))
        assert frame.kind == kind and frame.rate == rate


@pytest.mark.parametrize("wire, message", [
    (b"\x42\x00\x00", "unknown AudioSocket kind 0x42"),
    (b"\x01\x00\x03abc", "UUID frame with 3 bytes"),
    (b"\x03\x00\x01x", "DTMF frame"),
    (b"\x03\x00\x00", "DTMF frame"),
    (b"\x12\x00\x03abc", "audio frame of 3 bytes"),
    (b"\x10\x00\x00", "audio frame of 0 bytes"),
])
def test_malformed_frames_are_named(wire, message):
    with pytest.raises(AudioSocketError, match=message):
        FrameParser().feed(wire)


def test_unknown_kind_fails_on_the_header_without_waiting_for_its_payload():
    with pytest.raises(AudioSocketError, match="0x7f"):
        FrameParser().feed(b"\x7f\xff\xff")  # would otherwise wait for 64 KiB


def test_encoding_refuses_what_cannot_be_framed():
    with pytest.raises(AudioSocketError, match="limit"):
        audiosocket.encode(Kind.AUDIO, b"\x00" * 65536)
    with pytest.raises(AudioSocketError, match="even"):
        audiosocket.audio(b"\x00", 16000)
    with pytest.raises(AudioSocketError, match="no audio kind"):
        audiosocket.audio(b"\x00\x00", 11025)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2048), st.integers(min_value=1, max_value=64))
def test_garbage_never_crashes_the_parser(data, split):
    parser = FrameParser()
    try:
        for at in range(0, len(data), split):
            for frame in parser.feed(data[at:at + split]):
                assert isinstance(frame, Frame)
    except AudioSocketError as exc:
        assert str(exc)  # a clear reason, and nothing but AudioSocketError escapes


_frames = st.one_of(
    st.builds(lambda b: (Kind.UUID, b), st.binary(min_size=16, max_size=16)),
    st.builds(lambda k: (Kind.DTMF, k.encode()), st.sampled_from(sorted(audiosocket.DTMF_KEYS))),
    st.builds(lambda kind, n: (kind, b"\x01\x80" * n), st.sampled_from(sorted(AUDIO_RATES)),
              st.integers(min_value=1, max_value=400)),
    st.builds(lambda b: (Kind.ERROR, b), st.binary(max_size=4)),
    st.just((Kind.HANGUP, b"")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_frames, max_size=12), st.integers(min_value=1, max_value=97))
def test_valid_streams_round_trip_in_any_split(frames, split):
    wire = b"".join(audiosocket.encode(kind, payload) for kind, payload in frames)
    parser, decoded = FrameParser(), []
    for at in range(0, len(wire), split):
        decoded += parser.feed(wire[at:at + split])
    assert [(f.kind, f.payload) for f in decoded] == [(int(k), p) for k, p in frames]
    assert parser.pending == 0
