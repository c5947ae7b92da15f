"""A&D: balance and indicator frames, blanked numbers, EC error replies, device replies."""

from __future__ import annotations

import pytest

from firmware_bridge.protocols import and_
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from tests.bridge.protocol_kit import ERROR, MOTION, STABLE, PolledProtocolTables, readings


class TestTables(PolledProtocolTables):
    protocol = and_.PROTOCOL
    poll_command = b"Q\r\n"
    parses = (
        (b"ST,+00012.34 kg", ScaleReading(STABLE, 12.34)),
        (b"US,+00012.31 kg", ScaleReading(MOTION, 12.31)),
        (b"ST,-00000.50 kg", ScaleReading(STABLE, -0.5)),
        (b"ST,+00192.21  g", ScaleReading(STABLE, 0.19221)),
        (b"ST,+001.2346 lb", ScaleReading(STABLE, 0.560005)),
        (b"ST,+0016.000 oz", ScaleReading(STABLE, 0.453592)),
        (b"OL,+999999.9  g", ScaleReading(ScaleStatus.OVERLOAD, None)),
        (b"OL,-9999.999 lb", ScaleReading(ScaleStatus.UNDERLOAD, None)),  # "-E" on the display
        (b"ST,NT,+0012.34kg", ScaleReading(STABLE, 12.34, net=True)),
        (b"US,GS,-0001.50kg", ScaleReading(MOTION, -1.5, net=False)),
        (b"OL,GS,        kg", ScaleReading(ScaleStatus.OVERLOAD, None, net=False)),  # blanked
        (b"ST,GS,        kg", ScaleReading(ERROR, None, False, and_.BLANKED_DETAIL)),
        (b"QT,+00001234 PC", ScaleReading(ERROR, None, None, and_.COUNTING_DETAIL)),
        (b"EC,E1", ScaleReading(ERROR, None, detail="A&D error E01: undefined command")),
        (b"EC,E01", ScaleReading(ERROR, None, detail="A&D error E01: undefined command")),
        (b"EC,E11", ScaleReading(ERROR, None, detail="A&D error E11: weight unstable")),
        (b"EC,E09", ScaleReading(ERROR, None, detail="A&D error E09: unknown error")),
        (
            b"ST,+00012.34 ct",
            ScaleReading(ERROR, None, None, "A&D: unit 'ct' is not a supported mass unit"),
        ),
    )
    rejects = (
        (b"", "unknown header ''"),
        (b"XX,+00012.34 kg", "unknown header 'XX'"),
        (b"ST", "expected 2 or 3 comma-separated fields"),
        (b"ST,NT,GS,+1kg", "expected 2 or 3 comma-separated fields"),
        (b"ST,TR,+0012.34kg", "second header 'TR' is not GS or NT"),
        (b"ST,+000.12.34 kg", "weight '\\+000.12.34' is not a number"),
        (b"ST,+00012.34", "no unit after the weight"),
        (b"ST,+00012.34 k g", "is not a number and unit"),
        (b"EC,X1", "malformed error reply"),
        (b"ST,+00012.34 kg\x00", "byte 0x00 at 15"),
    )
    encodes = (
        (ScaleReading(STABLE, 12.34), b"ST,+00012.34 kg\r\n"),
        (ScaleReading(MOTION, -0.125), b"US,-0000.125 kg\r\n"),
        (ScaleReading(STABLE, 12.34, net=True), b"ST,NT,+0012.34kg\r\n"),
        (ScaleReading(ScaleStatus.OVERLOAD, None), b"OL,+9999.999 kg\r\n"),
        (ScaleReading(ScaleStatus.UNDERLOAD, None, net=False), b"OL,GS,-9999.999kg\r\n"),
        (ScaleReading(ERROR, None, detail=and_.error_detail(6)), b"EC,E06\r\n"),
        (ScaleReading(ERROR, None, detail="something else"), b"EC,E02\r\n"),
    )
    without_weight = (
        ScaleReading(ScaleStatus.OVERLOAD, None),
        ScaleReading(ScaleStatus.UNDERLOAD, None, net=True),
        ScaleReading(ERROR, None, None, and_.COUNTING_DETAIL),
        ScaleReading(ERROR, None, True, and_.BLANKED_DETAIL),
        *(ScaleReading(ERROR, None, detail=and_.error_detail(code)) for code in and_.ERRORS),
    )
    responds = (
        (b"Q\r\n", ScaleReading(MOTION, 1.5), b"US,+00001.50 kg\r\n"),
        (b"S\r\n", ScaleReading(STABLE, 1.5), b"ST,+00001.50 kg\r\n"),
        (b"S\r\n", ScaleReading(MOTION, 1.5), b""),  # S waits for stability
        (b"XYZ\r\n", ScaleReading(STABLE, 1.5), b"EC,E01\r\n"),
    )
    stream = (
        (b"ST,+0001", ()),
        (b"2.34 kg\r", ((b"ST,+00012.34 kg", ScaleReading(STABLE, 12.34)),)),  # CR only
        (
            b"\xfe\xfe\r\nUS,+00001.00 kg\r\n",
            ((b"\xfe\xfe", None), (b"US,+00001.00 kg", ScaleReading(MOTION, 1.0))),
        ),
    )
    weights = readings(999_999, nets=[None, True, False])


def test_encode_refuses_busy() -> None:
    with pytest.raises(ValueError, match="busy"):
        and_.encode(ScaleReading(ScaleStatus.BUSY, None))
