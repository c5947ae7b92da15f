"""The shared pieces: ScaleReading invariants, the line splitter, the field helpers."""

from __future__ import annotations

import importlib
import math
import pkgutil
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import protocols
from firmware_bridge.protocols import SCALE_PROTOCOLS, fields
from firmware_bridge.protocols.base import (
    MAX_BUFFER,
    FrameSplitter,
    ParseError,
    ScaleReading,
    ScaleStatus,
)
from gudang.settings import SCALE_PROTOCOL_NAMES


def test_registry_has_every_protocol_under_its_name() -> None:
    # Every module of the package that defines a PROTOCOL, under the names settings accept.
    modules = [
        importlib.import_module(f"{protocols.__name__}.{module.name}")
        for module in pkgutil.iter_modules(protocols.__path__)
    ]
    defined = [module.PROTOCOL for module in modules if hasattr(module, "PROTOCOL")]
    assert sorted(p.name for p in defined) == sorted(p.name for p in SCALE_PROTOCOLS.values())
    assert tuple(SCALE_PROTOCOLS) == SCALE_PROTOCOL_NAMES
    assert len(SCALE_PROTOCOLS) == 8
    for name, protocol in SCALE_PROTOCOLS.items():
        assert protocol.name == name
        # Request/response protocols have a poll and a device-side reply; streaming ones neither.
        assert (protocol.poll_command is None) == protocol.streaming
        assert (protocol.respond is None) == protocol.streaming


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(ParseError, ValueError)


@pytest.mark.parametrize(
    ("status", "weight"),
    [
        (ScaleStatus.STABLE, None),
        (ScaleStatus.MOTION, None),
        (ScaleStatus.OVERLOAD, 1.0),
        (ScaleStatus.ERROR, 0.0),
        (ScaleStatus.BUSY, 2.0),
        (ScaleStatus.STABLE, math.nan),
        (ScaleStatus.STABLE, math.inf),
    ],
)
def test_reading_refuses_inconsistent_weight(status: ScaleStatus, weight: float | None) -> None:
    with pytest.raises(ValueError, match="weight"):
        ScaleReading(status, weight)


def test_reading_rounds_to_six_decimals_and_knows_stable() -> None:
    reading = ScaleReading(ScaleStatus.STABLE, 1.23456789)
    assert reading.weight_kg == 1.234568
    assert reading.stable
    assert not ScaleReading(ScaleStatus.MOTION, 1.0).stable
    assert not ScaleReading(ScaleStatus.BUSY, None).stable


@pytest.mark.parametrize(
    ("chunks", "frames"),
    [
        ([b"abc\r\n"], [b"abc"]),
        ([b"abc\r"], [b"abc"]),
        ([b"abc\n"], [b"abc"]),
        ([b"abc\r", b"\ndef\r\n"], [b"abc", b"def"]),  # CRLF cut in two
        ([b"a", b"b", b"c", b"\r\n"], [b"abc"]),
        ([b"\r\n\r\n\n\r"], []),  # empty frames are skipped
        ([b"abc\r\ndef"], [b"abc"]),  # the partial frame waits
    ],
)
def test_splitter_any_terminator(chunks: list[bytes], frames: list[bytes]) -> None:
    splitter = FrameSplitter()
    got = [frame for chunk in chunks for frame in splitter.feed(chunk)]
    assert got == frames


def test_splitter_fixed_terminator_keeps_lone_cr_and_lf() -> None:
    splitter = FrameSplitter(terminator=b"\r\n")
    assert splitter.feed(b"a\rb\nc\r") == []
    assert splitter.feed(b"\nnext") == [b"a\rb\nc"]
    assert splitter.flush() == b"next"


def test_splitter_flush_hands_back_the_partial_frame_once() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(b"done\rpart") == [b"done"]
    assert splitter.pending == 4
    assert splitter.flush() == b"part"
    assert splitter.flush() is None


def test_splitter_drops_and_counts_an_overflowing_buffer() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(b"x" * (MAX_BUFFER + 1)) == []
    assert splitter.dropped == 1
    assert splitter.pending == 0
    assert splitter.feed(b"good\r\n") == [b"good"]  # and carries on


def test_splitter_refuses_an_empty_terminator() -> None:
    with pytest.raises(ValueError, match="terminator"):
        FrameSplitter(terminator=b"")


@settings(deadline=None)
@given(
    frames=st.lists(
        st.binary(min_size=1, max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b),
        max_size=10,
    ),
    terminator=st.sampled_from([b"\r", b"\n", b"\r\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=10),
)
def test_splitter_is_indifferent_to_how_bytes_arrive(
    frames: list[bytes], terminator: bytes, cuts: list[int]
) -> None:
    stream = b"".join(frame + terminator for frame in frames)
    splitter = FrameSplitter()
    got: list[bytes] = []
    start = 0
    for cut in sorted(cuts):
        got += splitter.feed(stream[start:cut])
        start = max(start, cut)
    got += splitter.feed(stream[start:])
    assert got == frames
    assert splitter.flush() is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12.34", Decimal("12.34")),
        ("  -0012.5 ", Decimal("-12.5")),
        ("+ 7", Decimal("7")),
        (".5", Decimal("0.5")),
        ("3.", Decimal("3")),
        ("nan", None),
        ("1e5", None),
        ("1_000", None),
        ("١٢", None),  # Arabic-Indic digits pass str.isdigit(), not here
        ("", None),
        ("-", None),
        ("1.2.3", None),
    ],
)
def test_parse_number_accepts_only_plain_decimals(text: str, value: Decimal | None) -> None:
    assert fields.parse_number(text) == value


@pytest.mark.parametrize(
    ("value", "unit", "kg"),
    [
        (Decimal("12.34"), "kg", 12.34),
        (Decimal("192.21"), "g", 0.19221),
        (Decimal("1"), "lb", 0.453592),
        (Decimal("16"), "oz", 0.453592),
        (Decimal("1.5"), "t", 1500.0),
        (Decimal("250"), "mg", 0.00025),
        (Decimal("1"), "KG", 1.0),
        (Decimal("1"), "ct", None),
    ],
)
def test_to_kg(value: Decimal, unit: str, kg: float | None) -> None:
    assert fields.to_kg(value, unit) == kg


def test_weight_reading_turns_an_unknown_unit_into_an_error_reading() -> None:
    reading = fields.weight_reading(ScaleStatus.STABLE, Decimal(5), "PC", True, "X")
    assert reading == ScaleReading(
        ScaleStatus.ERROR, None, True, "X: unit 'PC' is not a supported mass unit"
    )


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        (
            {
                "weight_kg": 12.34,
                "width": 9,
                "min_decimals": 2,
                "zero_pad": True,
                "plus_sign": True,
            },
            "+00012.34",
        ),
        ({"weight_kg": -12.34, "width": 9, "min_decimals": 2, "zero_pad": True}, "-00012.34"),
        ({"weight_kg": 5.025, "width": 10, "min_decimals": 3}, "     5.025"),
        ({"weight_kg": 5.0, "width": 10, "min_decimals": 1}, "       5.0"),
        ({"weight_kg": 0.000125, "width": 10, "min_decimals": 1}, "  0.000125"),
    ],
)
def test_format_number(kwargs: dict[str, object], text: str) -> None:
    assert fields.format_number(**kwargs) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(("weight", "width", "max_decimals"), [(123456.0, 5, 6), (0.0001, 9, 3)])
def test_format_number_refuses_what_does_not_fit(
    weight: float, width: int, max_decimals: int
) -> None:
    with pytest.raises(ValueError, match="kg"):
        fields.format_number(weight, width, min_decimals=0, max_decimals=max_decimals)


def test_decode_ascii_names_the_bad_byte() -> None:
    with pytest.raises(ParseError, match=r"byte 0x07 at 2 .* in b'ab\\x07'"):
        fields.decode_ascii(b"ab\x07", "X")


@pytest.mark.parametrize(
    ("number", "unit", "message"),
    [("1.2.3", "kg", "X: weight '1.2.3' is not a number in b'F'"), ("1.5", "", "no unit after")],
)
def test_read_weight_refuses_a_bad_number_or_no_unit(number: str, unit: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        fields.read_weight(ScaleStatus.STABLE, number, unit, None, "X", b"F")
