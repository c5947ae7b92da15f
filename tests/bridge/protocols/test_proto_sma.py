"""SMA standard: response messages, status characters, dashes, `?`, device replies."""

from __future__ import annotations

from firmware_bridge.protocols import sma
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from tests.bridge.protocol_kit import ERROR, MOTION, STABLE, PolledProtocolTables, readings


class TestTables(PolledProtocolTables):
    protocol = sma.PROTOCOL
    poll_command = b"\nW\r"
    parses = (
        # FIELD.md's example (a 9-character weight field, as printed in the standard)
        (b"\n 1G      5.025lb \r", ScaleReading(STABLE, 2.279302, net=False)),
        (b" 1G       5.025lb ", ScaleReading(STABLE, 2.279302, net=False)),  # LF, CR removed
        (b" 1N     100000lb ", ScaleReading(STABLE, 45359.237, net=True)),
        (b" 1gM     5.0025kg ", ScaleReading(MOTION, 5.0025, net=False)),  # high resolution
        (b"Z1G       0.000kg ", ScaleReading(STABLE, 0.0, net=False)),  # centre of zero
        (b" 1G      -1.250kg ", ScaleReading(STABLE, -1.25, net=False)),
        (b" 1G     250.000g  ", ScaleReading(STABLE, 0.25, net=False)),
        (b" 2N      16.000oz ", ScaleReading(STABLE, 0.453592, net=True)),
        (b"O1G     999.999kg ", ScaleReading(ScaleStatus.OVERLOAD, None, net=False)),
        (b"U1G      -9.999kg ", ScaleReading(ScaleStatus.UNDERLOAD, None, net=False)),
        (b"E1G  ----------kg ", ScaleReading(ERROR, None, False, "SMA error E: zero error")),
        (
            b"I1G  ----------kg ",
            ScaleReading(ERROR, None, False, "SMA error I: initial zero error"),
        ),
        (b"T1N  ----------kg ", ScaleReading(ERROR, None, True, "SMA error T: tare error")),
        (b" 1GM ----------kg ", ScaleReading(ScaleStatus.BUSY, None, net=False)),  # P timeout
        (b"----------", ScaleReading(ScaleStatus.BUSY, None)),  # bare dashes
        (b"\n?\r", ScaleReading(ERROR, None, detail=sma.UNKNOWN_COMMAND_DETAIL)),
        (b"?", ScaleReading(ERROR, None, detail=sma.UNKNOWN_COMMAND_DETAIL)),
        (b" 1T       2.000kg ", ScaleReading(ERROR, None, None, sma.TARE_DETAIL)),
        (
            b" 1G       5.000tn ",
            ScaleReading(ERROR, None, False, "SMA: unit 'tn' is not a supported mass unit"),
        ),
    )
    rejects = (
        (b"", "reply too short"),
        (b"--", "reply too short"),  # too few dashes to be a timeout
        (b" 1G ", "reply too short"),
        (b"X1G       5.025lb ", "unknown scale status 'X'"),
        (b" AG       5.025lb ", "range 'A' is not a digit"),
        (b" 1Q       5.025lb ", "gross/net field 'Q' unknown"),
        (b" 1GX      5.025lb ", "motion field 'X'"),
        (b" 1G       5.0.5lb ", "weight '5.0.5' is not a number"),
        (b" 1G       5.025   ", "no unit after the weight"),
        (b" 1G       5.025lb5", "weight and unit unreadable"),
        (b" 1G \t     5.025lb ", "byte 0x09 at 4"),
    )
    encodes = (
        (ScaleReading(STABLE, 5.025, net=False), b"\n 1G       5.025kg \r"),
        (ScaleReading(MOTION, 7.65, net=True), b"\n 1NM      7.650kg \r"),
        (ScaleReading(STABLE, 0.0, net=False), b"\nZ1G       0.000kg \r"),
        (ScaleReading(ScaleStatus.OVERLOAD, None, net=False), b"\nO1G  ----------kg \r"),
        (ScaleReading(ScaleStatus.BUSY, None, net=False), b"\n 1GM ----------kg \r"),
        (ScaleReading(ERROR, None, False, sma.error_detail("T")), b"\nT1G  ----------kg \r"),
        (ScaleReading(ERROR, None, detail=sma.UNKNOWN_COMMAND_DETAIL), b"\n?\r"),
    )
    without_weight = (
        ScaleReading(ScaleStatus.OVERLOAD, None, net=False),
        ScaleReading(ScaleStatus.UNDERLOAD, None, net=True),
        ScaleReading(ScaleStatus.BUSY, None, net=False),
        ScaleReading(ERROR, None, detail=sma.UNKNOWN_COMMAND_DETAIL),
        ScaleReading(ERROR, None, None, sma.TARE_DETAIL),
        *(ScaleReading(ERROR, None, True, sma.error_detail(s)) for s in sma.ERRORS),
    )
    responds = (
        (b"\nW\r", ScaleReading(MOTION, 1.5, net=False), b"\n 1GM      1.500kg \r"),
        (b"\nP\r", ScaleReading(STABLE, 1.5, net=False), b"\n 1G       1.500kg \r"),
        (b"\nP\r", ScaleReading(MOTION, 1.5, net=False), b"\n 1GM ----------kg \r"),
        (b"\nX\r", ScaleReading(STABLE, 1.5, net=False), b"\n?\r"),
    )
    stream = (  # LF starts a reply, CR ends it
        (b"\n 1G    ", ()),
        (b"   5.025lb \r", ((b" 1G       5.025lb ", ScaleReading(STABLE, 2.279302, net=False)),)),
        (
            b"\x00\x80junk\n 1GM      1.000kg \r",
            (
                (b"\x00\x80junk", None),
                (b" 1GM      1.000kg ", ScaleReading(MOTION, 1.0, net=False)),
            ),
        ),
    )
    weights = readings(9_999_999, nets=[True, False])
