"""Ohaus: right-justified weight lines, `?` while unstable, `ES`, device replies."""

from __future__ import annotations

import pytest

from firmware_bridge.protocols import ohaus
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from tests.bridge.protocol_kit import MOTION, STABLE, PolledProtocolTables, readings


class TestTables(PolledProtocolTables):
    protocol = ohaus.PROTOCOL
    poll_command = b"IP\r\n"
    parses = (
        (b"     192.21 g", ScaleReading(STABLE, 0.19221)),
        (b"       0.01 g ?", ScaleReading(MOTION, 0.00001)),
        (b"    -192.21 g", ScaleReading(STABLE, -0.19221)),
        (b"-     192.21 g", ScaleReading(STABLE, -0.19221)),  # sign at the left edge
        (b"     12.345 kg", ScaleReading(STABLE, 12.345)),
        (b"     12.345 kg NET", ScaleReading(STABLE, 12.345, net=True)),
        (b"     12.345 kg ? N", ScaleReading(MOTION, 12.345, net=True)),
        (b"      1.000 lb G", ScaleReading(STABLE, 0.453592, net=False)),
        (b"     16.000 oz", ScaleReading(STABLE, 0.453592)),
        (b"ES", ScaleReading(ScaleStatus.ERROR, None, detail=ohaus.ERROR_DETAIL)),
        (
            b"      5.000 ct",
            ScaleReading(
                ScaleStatus.ERROR, None, None, "Ohaus: unit 'ct' is not a supported mass unit"
            ),
        ),
    )
    rejects = (
        (b"", "not a weight line"),
        (b"     192.21", "not a weight line"),
        (b"     192.21 g !", "not a weight line"),
        (b"     192.21 g XYZ", "unknown legend 'XYZ'"),
        (b"     19.2.21 g", "weight '19.2.21' is not a number"),
        (b"     192.21 g\x1b", "byte 0x1b at 13"),
    )
    encodes = (
        (ScaleReading(STABLE, 0.19221), b"    0.19221 kg\r\n"),
        (ScaleReading(MOTION, 12.5), b"     12.500 kg ?\r\n"),
        (ScaleReading(STABLE, -1.0, net=True), b"     -1.000 kg NET\r\n"),
        (ScaleReading(STABLE, 1.0, net=False), b"      1.000 kg G\r\n"),
        (ScaleReading(ScaleStatus.ERROR, None, detail=ohaus.ERROR_DETAIL), b"ES\r\n"),
    )
    responds = (
        (b"IP\r\n", ScaleReading(MOTION, 1.5), b"      1.500 kg ?\r\n"),
        (b"P\r\n", ScaleReading(STABLE, 1.5), b"      1.500 kg\r\n"),
        (b"SP\r\n", ScaleReading(MOTION, 1.5), b""),  # prints once stable
        (b"SP\r\n", ScaleReading(STABLE, 1.5), b"      1.500 kg\r\n"),
        (b"Z\r\n", ScaleReading(STABLE, 1.5), b""),
        (b"XYZ\r\n", ScaleReading(STABLE, 1.5), b"ES\r\n"),
    )
    without_weight = (ScaleReading(ScaleStatus.ERROR, None, detail=ohaus.ERROR_DETAIL),)
    stream = (
        (b"     19", ()),
        (
            b"2.21 g\r\n\x7f\x7f\r\n       0.01 g ?\r\n",
            (
                (b"     192.21 g", ScaleReading(STABLE, 0.19221)),
                (b"\x7f\x7f", None),
                (b"       0.01 g ?", ScaleReading(MOTION, 0.00001)),
            ),
        ),
    )
    weights = readings(99_999_999, nets=[None, True, False])


@pytest.mark.parametrize("status", [ScaleStatus.OVERLOAD, ScaleStatus.UNDERLOAD, ScaleStatus.BUSY])
def test_encode_refuses_what_ohaus_cannot_say(status: ScaleStatus) -> None:
    with pytest.raises(ValueError, match="no printout"):
        ohaus.encode(ScaleReading(status, None))
