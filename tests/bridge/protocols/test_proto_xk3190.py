"""Yaohua XK3190: A12(E) 15-byte frames, continuous format 0, the checksums, stability."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.protocols import xk3190_a12, xk3190_tf0
from firmware_bridge.protocols.base import ParseError, ScaleReading, ScaleStatus
from firmware_bridge.protocols.stability import StabilityJudge
from tests.bridge.protocol_kit import MOTION, STABLE

# The A12E manual's own example, 4.139 kg gross (p. 13), byte for byte.
A12_EXAMPLE = bytes.fromhex("57 47 30 30 34 2E 31 33 39 6B 67 33 44 0D 0A")
# Format 0 of the A9+ / A26 manuals for +4.139 kg: XOR of bytes 2-9 is 0x17.
TF0_EXAMPLE = bytes.fromhex("02 2B 30 30 34 31 33 39 33 31 37 03")


def _a12(body: bytes) -> bytes:
    return body + xk3190_a12.hex_digits(xk3190_a12.checksum(body)) + b"\r\n"


def _tf0(body: bytes) -> bytes:
    return b"\x02" + body + xk3190_a12.hex_digits(xk3190_a12.checksum(body)) + b"\x03"


def test_the_manuals_examples() -> None:
    assert A12_EXAMPLE == b"WG004.139kg3D\r\n"
    assert xk3190_a12.checksum(A12_EXAMPLE[:11]) == 0x3D
    assert xk3190_a12.parse(A12_EXAMPLE[:-2]) == ScaleReading(MOTION, 4.139, net=False)
    assert xk3190_tf0.parse(TF0_EXAMPLE) == ScaleReading(MOTION, 4.139, net=None)


def test_hex_digits_use_capitals_after_nine() -> None:
    assert xk3190_a12.hex_digits(0x3D) == b"3D"
    assert xk3190_a12.hex_digits(0x09) == b"09"
    assert xk3190_a12.hex_digits(0xAF) == b"AF"


@pytest.mark.parametrize(
    ("body", "reading"),
    [
        (b"WN004.139kg", ScaleReading(MOTION, 4.139, net=True)),
        (b"WG-04.139kg", ScaleReading(MOTION, -4.139, net=False)),
        (b"WG004139 kg", ScaleReading(MOTION, 4139.0, net=False)),  # no point: byte 9 blank
        (b"WG0012.50kg", ScaleReading(MOTION, 12.5, net=False)),
        (b"WG  12.50kg", ScaleReading(MOTION, 12.5, net=False)),  # blanked leading zeros
        (b"         OL", ScaleReading(ScaleStatus.OVERLOAD, None)),
        (b"         LO", ScaleReading(ScaleStatus.UNDERLOAD, None)),
    ],
)
def test_a12_frames(body: bytes, reading: ScaleReading) -> None:
    frame = _a12(body)
    assert xk3190_a12.parse(frame[:-2]) == reading
    assert xk3190_a12.parse(frame) == reading  # the terminator is tolerated


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"WG004.139kg3E", "checksum b'3E', expected b'3D'"),
        (b"WG004.139kg3d", "checksum"),  # the indicator writes capitals
        (b"WG004.139kg", "frame is 11 bytes"),
        (_a12(b"XG004.139kg")[:-2], "does not start with WG or WN"),
        (_a12(b"WG00-.139kg")[:-2], "is not a number"),
        (_a12(b"WG0.4.139kg")[:-2], "is not a number"),
        (_a12(b"WG       kg")[:-2], "is not a number"),
        (_a12(b"         XX")[:-2], "does not start with WG"),
        (b"WG004.1\x009kg3D", "not printable"),
    ],
)
def test_a12_bad_frames(frame: bytes, error: str) -> None:
    with pytest.raises(ParseError, match="XK3190-A12") as exc:
        xk3190_a12.parse(frame)
    assert error in str(exc.value)


def test_a12_unit_other_than_kg_is_an_error_reading() -> None:
    reading = xk3190_a12.parse(_a12(b"WG004.139lx")[:-2])
    assert reading.status is ScaleStatus.ERROR
    assert "'lx'" in reading.detail


@pytest.mark.parametrize(
    ("body", "reading"),
    [
        (b"-0041393", ScaleReading(MOTION, -4.139)),
        (b"+0125000", ScaleReading(MOTION, 12500.0)),  # no decimal places
        (b"+1234564", ScaleReading(MOTION, 12.3456)),
        (b"+0000000", ScaleReading(MOTION, 0.0)),
    ],
)
def test_tf0_frames(body: bytes, reading: ScaleReading) -> None:
    assert xk3190_tf0.parse(_tf0(body)) == reading


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (TF0_EXAMPLE[:9] + b"18" + b"\x03", "checksum b'18', expected b'17'"),
        (TF0_EXAMPLE[:-1], "frame is 11 bytes"),
        (TF0_EXAMPLE[:-1] + b"\r", "not STX ... ETX"),
        (_tf0(b" 0041393"), "sign"),
        (_tf0(b"+00 1393"), "is not 6 digits"),
        (_tf0(b"+0041395"), "decimal places b'5'"),
    ],
)
def test_tf0_bad_frames(frame: bytes, error: str) -> None:
    with pytest.raises(ParseError, match="XK3190 tF0") as exc:
        xk3190_tf0.parse(frame)
    assert error in str(exc.value)


def test_tf0_splitter_finds_frames_in_noise_and_split_reads() -> None:
    splitter = xk3190_tf0.PROTOCOL.make_splitter()
    stream = b"\x02\x02junk" + TF0_EXAMPLE + b"\x03\x02+00" + TF0_EXAMPLE
    frames = [f for i in range(0, len(stream), 5) for f in splitter.feed(stream[i : i + 5])]
    assert frames == [TF0_EXAMPLE, TF0_EXAMPLE]
    assert splitter.skipped > 0


def test_a12_splitter_on_a_stream() -> None:
    splitter = xk3190_a12.PROTOCOL.make_splitter()
    frames = splitter.feed(A12_EXAMPLE * 2 + b"WG00")
    assert frames == [A12_EXAMPLE[:-2]] * 2
    assert splitter.feed(b"4.139kg3D\r\n") == [A12_EXAMPLE[:-2]]


def test_encoders_write_the_manuals_frames() -> None:
    assert xk3190_a12.encode(ScaleReading(STABLE, 4.139, net=False)) == A12_EXAMPLE
    assert xk3190_tf0.encode(ScaleReading(STABLE, 4.139)) == TF0_EXAMPLE
    assert xk3190_a12.encode(ScaleReading(ScaleStatus.OVERLOAD, None)) == _a12(b"         OL")
    with pytest.raises(ValueError, match="no way"):
        xk3190_tf0.encode(ScaleReading(ScaleStatus.OVERLOAD, None))
    with pytest.raises(ValueError, match="no way"):
        xk3190_a12.encode(ScaleReading(ScaleStatus.ERROR, None))


@settings(deadline=None, max_examples=300)
@given(grams=st.integers(-99_999, 999_999), net=st.booleans())
def test_round_trip(grams: int, net: bool) -> None:
    weight = grams / 1000
    a12 = xk3190_a12.encode(ScaleReading(STABLE, weight, net=net))
    assert xk3190_a12.parse(a12) == ScaleReading(MOTION, weight, net=net)
    tf0 = xk3190_tf0.encode(ScaleReading(STABLE, weight))
    assert xk3190_tf0.parse(tf0) == ScaleReading(MOTION, weight)


def _judged(judge: StabilityJudge, weights: list[float | None]) -> list[ScaleStatus]:
    out = []
    for weight in weights:
        if weight is None:
            reading = ScaleReading(ScaleStatus.OVERLOAD, None)
        else:
            reading = ScaleReading(MOTION, weight, net=False)
        out.append(judge.judge(reading).status)
    return out


def test_stable_after_n_frames_within_the_tolerance() -> None:
    judge = StabilityJudge(frames=3, tolerance_kg=0.02)
    got = _judged(judge, [1.0, 5.0, 5.01, 5.0, 5.02, 5.05, 5.05, 5.05])
    # 5.0, 5.01, 5.0 is a run; 5.02 still within 0.02 of all; 5.05 starts again.
    assert got == [MOTION, MOTION, MOTION, STABLE, STABLE, MOTION, MOTION, STABLE]


def test_a_slow_drift_is_never_stable() -> None:
    judge = StabilityJudge(frames=4, tolerance_kg=0.02)
    # Each step is within the tolerance of the last, the run is not.
    assert STABLE not in _judged(judge, [5.0 + 0.015 * i for i in range(20)])


def test_overload_and_reset_break_the_run() -> None:
    judge = StabilityJudge(frames=3, tolerance_kg=0.0)
    got = _judged(judge, [5.0, 5.0, None, 5.0, 5.0, 5.0])
    assert got == [MOTION, MOTION, ScaleStatus.OVERLOAD, MOTION, MOTION, STABLE]
    judge.reset()
    assert _judged(judge, [5.0]) == [MOTION]


def test_gross_to_net_starts_a_new_run() -> None:
    judge = StabilityJudge(frames=2, tolerance_kg=0.0)
    assert judge.judge(ScaleReading(MOTION, 5.0, net=False)).status is MOTION
    assert judge.judge(ScaleReading(MOTION, 5.0, net=True)).status is MOTION
    assert judge.judge(ScaleReading(MOTION, 5.0, net=True)).status is STABLE


def test_judge_keeps_the_weight_and_refuses_bad_settings() -> None:
    judge = StabilityJudge(frames=1)
    assert judge.judge(ScaleReading(MOTION, 7.25, net=True)) == ScaleReading(STABLE, 7.25, True)
    with pytest.raises(ValueError, match="frames"):
        StabilityJudge(frames=0)
    with pytest.raises(ValueError, match="tolerance"):
        StabilityJudge(tolerance_kg=-1)
