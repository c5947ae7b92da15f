"""Mettler Toledo continuous output: status bits, checksum, the STX-framing splitter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.protocols import mt_continuous
from firmware_bridge.protocols.base import ParseError, ScaleReading, ScaleStatus
from firmware_bridge.protocols.mt_continuous import ContinuousSplitter, checksum
from tests.bridge.protocol_kit import MOTION, STABLE

# SWA "," = 0x2C: bit 5, count by 1, decimal code 4 (XXXX.XX). SWB "0" = 0x30: bit 5, kg.
GOOD = b"\x02,0 001234000000\r"  # 12.34 kg gross, stable
GOOD_CHK = GOOD + b"+"  # 0x2B: 128 - (725 & 0x7F)
NET_MOTION_CHK = b"\x02,9 001234000100\r!"  # SWB "9": net, motion, kg; 1.00 kg tare
CHECKSUM_IS_STX = b"\x02,0 699999000000\r"  # this frame's checksum is 0x02 itself


def test_checksum_literal() -> None:
    assert checksum(GOOD) == 0x2B
    assert checksum(CHECKSUM_IS_STX) == 0x02


@pytest.mark.parametrize(
    ("frame", "reading"),
    [
        (GOOD, ScaleReading(STABLE, 12.34, net=False)),
        (GOOD_CHK, ScaleReading(STABLE, 12.34, net=False)),
        (NET_MOTION_CHK, ScaleReading(MOTION, 12.34, net=True)),
        (b"\x02,2 001234000000\r", ScaleReading(STABLE, -12.34, net=False)),  # SWB bit 1
        (b"\x02*  001000000000\r", ScaleReading(STABLE, 453.59237, net=False)),  # lb, code 2
        (b"\x02*0!001234000000\r", ScaleReading(STABLE, 1.234, net=False)),  # SWC 1: grams
        (b'\x02*0"000012000000\r', ScaleReading(STABLE, 12000.0, net=False)),  # SWC 2: t
        (b"\x02*\x10 001234000000\r", ScaleReading(STABLE, 1234.0, net=False)),  # SWB bit 5 = 0
        (b"\x02(0 012300000000\r", ScaleReading(STABLE, 12300.0, net=False)),  # XXXX00
        (b"\x02/0 123456000000\r", ScaleReading(STABLE, 1.23456, net=False)),  # X.XXXXX
        (b"\x02-0    123000000\r", ScaleReading(STABLE, 0.123, net=False)),  # leading blanks
        (b"\x02,4 999999000000\r", ScaleReading(ScaleStatus.OVERLOAD, None, net=False)),
        (b"\x02,6 999999000000\r", ScaleReading(ScaleStatus.UNDERLOAD, None, net=False)),
        (
            b"\x02,p 000000000000\r",
            ScaleReading(ScaleStatus.ERROR, None, False, mt_continuous.NOT_ZEROED_DETAIL),
        ),
        (
            b"\x02*0'000012000000\r",  # SWC 7: custom unit
            ScaleReading(
                ScaleStatus.ERROR,
                None,
                False,
                "MT continuous: unit 'status word C unit code 7' is not a supported mass unit",
            ),
        ),
    ],
)
def test_parse(frame: bytes, reading: ScaleReading) -> None:
    assert mt_continuous.parse(frame) == reading


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (GOOD + b"*", r"checksum 0x2a, expected 0x2b"),
        (GOOD[:-1], "frame is 16 bytes"),
        (b"\x03" + GOOD[1:], "does not start with STX"),
        (GOOD[:-1] + b"\n", "no CR after the tare digits"),
        (b"\x02,0 0012a4000000\r", r"weight b'0012a4' is not 6 digits"),
        (b"\x02,0 00-234000000\r", r"weight b'00-234' is not 6 digits"),
        (b"\x02,0 001234 00 00\r", r"tare b' 00 00' is not 6 digits"),
    ],
)
def test_parse_rejects(frame: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as raised:
        mt_continuous.parse(frame)
    assert repr(frame) in str(raised.value)


def test_checksum_ignores_a_parity_bit_on_the_checksum_byte() -> None:
    assert mt_continuous.parse(GOOD + b"\xab") == ScaleReading(STABLE, 12.34, net=False)


def test_splitter_without_checksums_waits_for_the_next_stx() -> None:
    splitter = mt_continuous.PROTOCOL.make_splitter()
    assert splitter.feed(GOOD) == []  # could still be followed by a checksum
    assert splitter.feed(GOOD) == [GOOD]
    assert splitter.flush() == GOOD


def test_splitter_with_checksums() -> None:
    splitter = mt_continuous.PROTOCOL.make_splitter()
    assert splitter.feed(GOOD_CHK + NET_MOTION_CHK) == [GOOD_CHK, NET_MOTION_CHK]


def test_splitter_told_apart_a_checksum_equal_to_stx() -> None:
    with_chk = CHECKSUM_IS_STX + b"\x02"
    splitter = mt_continuous.PROTOCOL.make_splitter()
    assert splitter.feed(with_chk + GOOD_CHK) == [with_chk, GOOD_CHK]
    splitter = mt_continuous.PROTOCOL.make_splitter()
    assert splitter.feed(CHECKSUM_IS_STX + GOOD + GOOD) == [CHECKSUM_IS_STX, GOOD]
    assert mt_continuous.parse(with_chk) == mt_continuous.parse(CHECKSUM_IS_STX)


@pytest.mark.parametrize(
    ("with_checksum", "stream", "frames"),
    [
        (False, GOOD + GOOD, [GOOD, GOOD]),
        (True, GOOD_CHK + GOOD_CHK[:-1], [GOOD_CHK]),
    ],
)
def test_splitter_configured_checksum(
    with_checksum: bool, stream: bytes, frames: list[bytes]
) -> None:
    assert ContinuousSplitter(with_checksum=with_checksum).feed(stream) == frames


def test_splitter_skips_noise_and_stray_stx_then_reads_a_good_frame() -> None:
    splitter = mt_continuous.PROTOCOL.make_splitter()
    noise = b"\xff\x00garbage\x02\x02short\r"
    frames = splitter.feed(noise + GOOD_CHK[:5])
    assert frames == []
    frames = splitter.feed(GOOD_CHK[5:] + GOOD_CHK)
    assert frames == [GOOD_CHK, GOOD_CHK]
    assert splitter.skipped == len(noise)
    assert mt_continuous.parse(frames[0]) == ScaleReading(STABLE, 12.34, net=False)


def test_splitter_passes_a_bad_checksum_on_for_the_parser_to_report() -> None:
    splitter = mt_continuous.PROTOCOL.make_splitter()
    bad = GOOD + b"*"
    frames = splitter.feed(bad + GOOD_CHK)
    assert frames == [bad, GOOD_CHK]
    with pytest.raises(ParseError, match="checksum"):
        mt_continuous.parse(frames[0])


def test_splitter_overflow_is_counted() -> None:
    splitter = ContinuousSplitter(max_buffer=10)
    splitter.feed(b"\x02" + b"x" * 5)
    assert splitter.dropped == 0
    splitter.feed(b"y" * 5)  # 11 bytes held, none of them a CR at 16 yet
    assert splitter.dropped == 1


@pytest.mark.parametrize(
    ("reading", "frame"),
    [
        (ScaleReading(STABLE, 12.34, net=False), b"\x02,0 001234000000\r+"),
        (ScaleReading(MOTION, 12.34, net=True), b'\x02,9 001234000000\r"'),
        (ScaleReading(STABLE, 7.0, net=False), b"\x02*0 000007000000\r0"),  # 720 & 0x7F = 80
        (ScaleReading(ScaleStatus.OVERLOAD, None, net=False), b"\x02*4 999999000000\r\x7d"),
    ],
)
def test_encode(reading: ScaleReading, frame: bytes) -> None:
    assert mt_continuous.encode(reading) == frame
    assert mt_continuous.encode_frame(reading, with_checksum=False) == frame[:-1]


def test_encode_refuses_busy_and_too_many_digits() -> None:
    with pytest.raises(ValueError, match="busy"):
        mt_continuous.encode(ScaleReading(ScaleStatus.BUSY, None))
    with pytest.raises(ValueError, match="6 digits"):
        mt_continuous.encode(ScaleReading(STABLE, 1234567.0))


@pytest.mark.parametrize(
    "reading",
    [
        ScaleReading(ScaleStatus.OVERLOAD, None, net=True),
        ScaleReading(ScaleStatus.UNDERLOAD, None, net=False),
        ScaleReading(ScaleStatus.ERROR, None, False, mt_continuous.NOT_ZEROED_DETAIL),
    ],
)
def test_round_trip_without_weight(reading: ScaleReading) -> None:
    assert mt_continuous.parse(mt_continuous.encode(reading)) == reading


@settings(deadline=None)
@given(
    digits=st.integers(min_value=-999_999, max_value=999_999),
    decimals=st.integers(min_value=0, max_value=5),
    status=st.sampled_from([STABLE, MOTION]),
    net=st.booleans(),
    with_checksum=st.booleans(),
)
def test_round_trip_through_the_splitter(
    digits: int, decimals: int, status: ScaleStatus, net: bool, with_checksum: bool
) -> None:
    reading = ScaleReading(status, digits / 10**decimals, net)
    frame = mt_continuous.encode_frame(reading, with_checksum=with_checksum)
    splitter = mt_continuous.PROTOCOL.make_splitter()
    frames = splitter.feed(frame * 3)
    pending = splitter.flush()  # without checksums the last frame waits for a next byte
    if pending is not None:
        frames.append(pending)
    assert frames == [frame] * 3
    assert mt_continuous.parse(frame) == reading


def test_protocol_is_streaming() -> None:
    assert mt_continuous.PROTOCOL.streaming
    assert mt_continuous.PROTOCOL.poll_command is None
