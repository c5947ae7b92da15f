"""Scanner frames: AIM identifiers, GS kept, garbage refused, every suffix, idle flush."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.protocols.base import ParseError
from firmware_bridge.protocols.scanner import (
    MAX_SCAN_BYTES,
    ScanFrame,
    encode_scan,
    make_scan_splitter,
    parse_scan,
)

GS1_DATAMATRIX = b"]d2010950110153000310ABC123\x1d21SN0001\x1d17261231"


@pytest.mark.parametrize(
    ("frame", "scan"),
    [
        (GS1_DATAMATRIX, ScanFrame("010950110153000310ABC123\x1d21SN0001\x1d17261231", "]d2")),
        (b"]C1" + b"00012345678901234567", ScanFrame("00012345678901234567", "]C1")),
        (b"]E09501101530003", ScanFrame("9501101530003", "]E0")),
        (b"CSQU3054383", ScanFrame("CSQU3054383", None)),
        (b"]X", ScanFrame("]X", None)),  # too short to be an identifier: data
        (b"]1AB", ScanFrame("]1AB", None)),  # "]" + digit is not an identifier
        (b"DRUM 0042", ScanFrame("DRUM 0042", None)),
        (b"Gr\xfc\xdfe", ScanFrame("Grüße", None)),  # ISO 8859-1
        (b"[)>\x1e06\x1dP12345\x1e\x04", ScanFrame("[)>\x1e06\x1dP12345\x1e\x04", None)),
        (b"ABC\r\n", ScanFrame("ABC", None)),  # a suffix left on is tolerated
    ],
)
def test_parse_scan(frame: bytes, scan: ScanFrame) -> None:
    assert parse_scan(frame) == scan


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"", "empty frame"),
        (b"\r\n", "empty frame"),
        (b"   ", "holds no data"),
        (b"\x1d\x1d", "holds no data"),
        (b"]C1", "AIM identifier ']C1' with no data"),
        (b"AB\x00C", "control byte 0x00 at 2"),
        (b"AB\x1bC", "control byte 0x1b at 2"),
        (b"AB\tC", "control byte 0x09 at 2"),
        (b"AB\x7fC", "control byte 0x7f at 2"),
        (b"AB\x85C", "control byte 0x85 at 2"),
        (b"A" * (MAX_SCAN_BYTES + 1), f"frame of {MAX_SCAN_BYTES + 1} bytes is over"),
    ],
)
def test_parse_scan_rejects(frame: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_scan(frame)


def test_largest_scan_is_accepted() -> None:
    assert parse_scan(b"A" * MAX_SCAN_BYTES).text == "A" * MAX_SCAN_BYTES


@pytest.mark.parametrize(
    ("text", "symbology"), [("", None), ("A", "C1"), ("A", "]1A"), ("A", "]C12")]
)
def test_scan_frame_checks_itself(text: str, symbology: str | None) -> None:
    with pytest.raises(ValueError, match=r"empty|AIM"):
        ScanFrame(text, symbology)


@pytest.mark.parametrize(
    ("args", "data"),
    [
        (("ABC",), b"ABC\r\n"),
        (("ABC", "]C0"), b"]C0ABC\r\n"),
        (("ABC", None, b"\r"), b"ABC\r"),
        (("ABC", None, b"\n"), b"ABC\n"),
        (("ABC", None, b""), b"ABC"),
        (("Grüße",), b"Gr\xfc\xdfe\r\n"),
    ],
)
def test_encode_scan(args: tuple[str, str | None, bytes], data: bytes) -> None:
    assert encode_scan(*args) == data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ABC", None, b"\t"), "suffix"),
        (("ABC", "C0"), "AIM"),
        (("snow ☃",), "ISO 8859-1"),
        (("",), "empty"),
    ],
)
def test_encode_scan_refuses(args: tuple[str, str | None, bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_scan(*args)


@pytest.mark.parametrize("suffix", [b"\r", b"\n", b"\r\n"])
def test_splitter_every_suffix_partial_frames_and_noise(suffix: bytes) -> None:
    splitter = make_scan_splitter()
    assert splitter.feed(b"]C0AB") == []
    assert splitter.feed(b"C" + suffix + b"\x00\x01" + suffix + b"DEF" + suffix) == [
        b"]C0ABC",
        b"\x00\x01",
        b"DEF",
    ]
    assert parse_scan(b"]C0ABC") == ScanFrame("ABC", "]C0")
    with pytest.raises(ParseError):
        parse_scan(b"\x00\x01")


def test_splitter_no_suffix_is_flushed_on_idle() -> None:
    splitter = make_scan_splitter()
    assert splitter.feed(b"]E0950110") == []
    assert splitter.feed(b"1530003") == []
    frame = splitter.flush()  # the transport's idle timeout fired
    assert frame == b"]E09501101530003"
    assert parse_scan(frame) == ScanFrame("9501101530003", "]E0")
    assert splitter.flush() is None


_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0xFF).filter(
    lambda c: not 0x7F <= ord(c) < 0xA0
)


@settings(deadline=None)
@given(
    text=st.text(alphabet=st.one_of(_PRINTABLE, st.just("\x1d")), min_size=1, max_size=100).filter(
        lambda t: t.strip(" \x1d") != ""
    ),
    symbology=st.one_of(st.none(), st.sampled_from(["]C1", "]C0", "]E0", "]E4", "]d2", "]Q3"])),
    suffix=st.sampled_from([b"\r", b"\n", b"\r\n"]),
)
def test_round_trip_through_the_splitter(text: str, symbology: str | None, suffix: bytes) -> None:
    # A text that itself starts like an identifier is read as one when none is sent.
    expected = parse_scan(encode_scan(text, symbology, b""))
    frames = make_scan_splitter().feed(encode_scan(text, symbology, suffix))
    assert frames == [encode_scan(text, symbology, b"")]
    assert parse_scan(frames[0]) == expected
    if symbology is not None:
        assert expected == ScanFrame(text, symbology)
