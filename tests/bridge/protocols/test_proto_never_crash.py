"""Line noise into every splitter and parser: nothing escapes but ParseError."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.protocols import SCALE_PROTOCOLS, ScaleProtocol, ScaleReading
from firmware_bridge.protocols.base import MAX_BUFFER, ParseError, ScaleStatus
from firmware_bridge.protocols.scanner import ScanFrame, make_scan_splitter, parse_scan

PROTOCOLS = list(SCALE_PROTOCOLS.values())
# Bytes that matter to the framings, so the noise often looks almost right.
_STRUCTURE = st.sampled_from(
    [b"\r", b"\n", b"\r\n", b"\x02", b",", b" ", b"-", b".", b"?", b"S", b"ST,", b"GS,", b"kg"]
)
NOISE = st.lists(st.one_of(st.binary(max_size=24), _STRUCTURE), max_size=40).map(b"".join)
CHUNKS = st.lists(NOISE, max_size=8)
# A frame that is well formed for each protocol, to splice into noise.
GOOD = ScaleReading(ScaleStatus.STABLE, 12.5, net=True)


def _check(reading: ScaleReading) -> None:
    assert isinstance(reading, ScaleReading)
    assert isinstance(reading.status, ScaleStatus)


def _parse_all(protocol: ScaleProtocol, chunks: list[bytes]) -> list[ScaleReading]:
    splitter = protocol.make_splitter()
    frames = [frame for chunk in chunks for frame in splitter.feed(chunk)]
    pending = splitter.flush()
    if pending is not None:
        frames.append(pending)
    readings = []
    for frame in frames:
        try:
            reading = protocol.parse(frame)
        except ParseError:
            continue
        _check(reading)
        readings.append(reading)
    return readings


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200))
def test_parse_raw_bytes(protocol: ScaleProtocol, data: bytes) -> None:
    try:
        reading = protocol.parse(data)
    except ParseError:
        return
    _check(reading)


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=CHUNKS)
def test_splitter_and_parser_on_noise(protocol: ScaleProtocol, chunks: list[bytes]) -> None:
    _parse_all(protocol, chunks)
    assert protocol.make_splitter().dropped == 0


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(before=NOISE, after=NOISE)
def test_a_good_frame_survives_noise_that_ends_in_a_terminator(
    protocol: ScaleProtocol, before: bytes, after: bytes
) -> None:
    frame = protocol.encode(GOOD)
    # Noise, a terminator closing it, the good frame, then more noise.
    readings = _parse_all(protocol, [before + b"\r\n", frame, after])
    expected = protocol.parse(protocol.make_splitter().feed(frame + frame)[0])
    assert expected in readings


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.name)
@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(command=st.binary(max_size=20), grams=st.integers(-99_999, 99_999))
def test_respond_answers_any_command(protocol: ScaleProtocol, command: bytes, grams: int) -> None:
    if protocol.respond is None:
        return
    reply = protocol.respond(command, ScaleReading(ScaleStatus.MOTION, grams / 1000, net=True))
    assert isinstance(reply, bytes)


def test_oversized_garbage_is_dropped_and_counted() -> None:
    for protocol in PROTOCOLS:
        splitter = protocol.make_splitter()
        splitter.feed(b"A" * (MAX_BUFFER + 1))
        frames = splitter.feed(protocol.encode(GOOD) * 2)
        assert frames, protocol.name
        assert protocol.parse(frames[0]).weight_kg == 12.5, protocol.name


@settings(deadline=None, max_examples=500)
@given(chunks=CHUNKS)
def test_scanner_on_noise(chunks: list[bytes]) -> None:
    splitter = make_scan_splitter()
    frames = [frame for chunk in chunks for frame in splitter.feed(chunk)]
    pending = splitter.flush()
    if pending is not None:
        frames.append(pending)
    for frame in frames:
        try:
            scan = parse_scan(frame)
        except ParseError:
            continue
        assert isinstance(scan, ScanFrame)
        assert scan.text
