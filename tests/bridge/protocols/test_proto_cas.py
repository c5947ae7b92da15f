"""CAS: 22-byte and 18-byte frames, the lamp byte, the CR LF-only splitter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from firmware_bridge.protocols import cas
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from tests.bridge.protocol_kit import MOTION, STABLE, ProtocolTables, readings

# Lamp "D" = 0x44: stable + gross. "B" = 0x42: stable + tare.
LONG = b"ST,GS,\x01D,000013.5 kg\r\n"
LAMP_CR = b"ST,GS,\x01\r,000013.5 kg\r\n"  # a lamp byte that is CR
NO_WEIGHT = (
    ScaleReading(ScaleStatus.OVERLOAD, None, net=True),
    ScaleReading(ScaleStatus.UNDERLOAD, None, net=False),
)


def test_long_frame_is_22_bytes_and_short_18() -> None:
    assert len(LONG) == 22
    assert len(b"ST,GS,000013.5kg\r\n") == 18


class TestTables(ProtocolTables):
    protocol = cas.PROTOCOL
    parses = (
        (LONG[:-2], ScaleReading(STABLE, 13.5, net=False)),
        (LONG, ScaleReading(STABLE, 13.5, net=False)),  # terminator tolerated
        (b"ST,NT,\x01B,0012.345 kg", ScaleReading(STABLE, 12.345, net=True)),
        (b"US,GS,\x01\x04,000013.5 kg", ScaleReading(MOTION, 13.5, net=False)),
        (b"ST,GS,\x01D,-00013.5 kg", ScaleReading(STABLE, -13.5, net=False)),
        (b"ST,GS,\x01D,013500.0  g", ScaleReading(STABLE, 13.5, net=False)),
        (b"ST,GS,\x01D,000029.8 lb", ScaleReading(STABLE, 13.517053, net=False)),
        (b"ST,GS,000013.5kg", ScaleReading(STABLE, 13.5, net=False)),
        (b"US,NT,000013.5kg", ScaleReading(MOTION, 13.5, net=True)),
        (b"OL,GS,\x01\x04,999999.9 kg", ScaleReading(ScaleStatus.OVERLOAD, None, net=False)),
        (b"OL,GS,-99999.9kg", ScaleReading(ScaleStatus.UNDERLOAD, None, net=False)),
        # The id and lamp bytes are binary: a CR and an LF there are data.
        (b"ST,GS,\r\x4d,000013.5 kg", ScaleReading(STABLE, 13.5, net=False)),
        # Header stable, stable lamp off: the cautious flag wins.
        (b"ST,GS,\x01\x04,000013.5 kg", ScaleReading(MOTION, 13.5, False, cas.LAMP_DETAIL)),
        (
            b"ST,GS,\x01D,000013.5 PC",
            ScaleReading(
                ScaleStatus.ERROR, None, False, "CAS: unit 'PC' is not a supported mass unit"
            ),
        ),
    )
    rejects = (
        (b"ST,GS,13.5kg", "frame is 12 bytes"),
        (b"ST,GS,\x01D;000013.5 kg", "no ',' after the id and lamp bytes"),
        (b"XX,GS,000013.5kg", "headers b'XX,GS,' are not"),
        (b"ST,XX,000013.5kg", "headers b'ST,XX,' are not"),
        (b"ST;GS;000013.5kg", "headers b'ST;GS;' are not"),
        (b"ST,GS,0000x3.5kg", "data field b'0000x3.5kg' is not a number and unit"),
        (b"ST,GS,00.013.5kg", "weight '00.013.5' is not a number"),
        (b"ST,GS,\x01D,000013.5 k\xe7", "byte 0xe7 at 19"),
    )
    encodes = (
        (ScaleReading(STABLE, 13.5, net=False), b"ST,GS,\x01D,000013.5 kg\r\n"),
        (ScaleReading(MOTION, 0.0, net=True), b"US,NT,\x01\x03,000000.0 kg\r\n"),
        (ScaleReading(ScaleStatus.OVERLOAD, None, net=False), b"OL,GS,\x01\x04,999999.9 kg\r\n"),
    )
    without_weight = NO_WEIGHT
    stream = (  # frames end at CR LF only: a lamp byte may be a CR
        (LAMP_CR[:8], ()),
        (
            LAMP_CR[8:] + b"\xff\x00noise\r\n" + LONG[:5],
            (
                (LAMP_CR[:-2], ScaleReading(MOTION, 13.5, False, cas.LAMP_DETAIL)),
                (b"\xff\x00noise", None),
            ),
        ),
        (LONG[5:], ((LONG[:-2], ScaleReading(STABLE, 13.5, net=False)),)),
    )
    weights = readings(999_999, nets=[True, False])


def test_encode_short() -> None:
    reading = ScaleReading(STABLE, -2.25, net=True)
    assert cas.encode_short(reading) == b"ST,NT,-0002.25kg\r\n"
    assert cas.parse(cas.encode_short(reading)[:-2]) == reading


@pytest.mark.parametrize("status", [ScaleStatus.ERROR, ScaleStatus.BUSY])
def test_encode_refuses_what_cas_cannot_say(status: ScaleStatus) -> None:
    with pytest.raises(ValueError, match="no frame"):
        cas.encode(ScaleReading(status, None))


@pytest.mark.parametrize("reading", NO_WEIGHT)
def test_short_frames_round_trip_without_weight(reading: ScaleReading) -> None:
    assert cas.parse(cas.encode(reading)) == reading  # CR LF still on: tolerated
    assert cas.parse(cas.encode_short(reading)) == reading


@settings(deadline=None)
@given(readings(999_999, nets=[True, False]))
def test_long_and_short_frames_through_the_splitter(reading: ScaleReading) -> None:
    stream = cas.encode(reading) + cas.encode_short(reading)
    frames = cas.PROTOCOL.make_splitter().feed(stream)
    assert [cas.parse(frame) for frame in frames] == [reading, reading]
