"""MT-SICS: S / SI replies and error replies as byte literals, round trip, device replies."""

from __future__ import annotations

from firmware_bridge.protocols import mt_sics
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from tests.bridge.protocol_kit import MOTION, STABLE, PolledProtocolTables, readings


class TestTables(PolledProtocolTables):
    protocol = mt_sics.PROTOCOL
    poll_command = b"SI\r\n"
    parses = (
        (b"S S      12.34 kg", ScaleReading(STABLE, 12.34)),
        (b"S D      12.31 kg", ScaleReading(MOTION, 12.31)),
        (b"S S     192.21 g", ScaleReading(STABLE, 0.19221)),
        (b"S S      10.00 lb", ScaleReading(STABLE, 4.535924)),
        (b"S S      -0.35 kg", ScaleReading(STABLE, -0.35)),
        (b"S S       0.00 kg", ScaleReading(STABLE, 0.0)),
        (b"S I", ScaleReading(ScaleStatus.BUSY, None)),
        (b"S +", ScaleReading(ScaleStatus.OVERLOAD, None)),
        (b"S -", ScaleReading(ScaleStatus.UNDERLOAD, None)),
        (b"ES", ScaleReading(ScaleStatus.ERROR, None, detail="MT-SICS error ES: syntax error")),
        (
            b"ET",
            ScaleReading(ScaleStatus.ERROR, None, detail="MT-SICS error ET: transmission error"),
        ),
        (b"EL", ScaleReading(ScaleStatus.ERROR, None, detail="MT-SICS error EL: logical error")),
        (
            b"S S       3.00 PCS",
            ScaleReading(
                ScaleStatus.ERROR, None, detail="MT-SICS: unit 'PCS' is not a supported mass unit"
            ),
        ),
    )
    rejects = (
        (b"", "not a weight reply"),
        (b"Z A", "not a weight reply"),  # a zero reply is not a weight
        (b"S X      12.34 kg", "unknown reply status 'X'"),
        (b"S S      12.34", "expected 'S S <weight> <unit>'"),
        (b"S S      12,34 kg", "weight '12,34' is not a number"),
        (b"S S        nan kg", "weight 'nan' is not a number"),
        (b"S I 12", "extra fields"),
        (b"S S \xb512.34 kg", "byte 0xb5 at 4"),
    )
    encodes = (
        (ScaleReading(STABLE, 12.34), b"S S     12.340 kg\r\n"),
        (ScaleReading(MOTION, -0.5), b"S D     -0.500 kg\r\n"),
        (ScaleReading(ScaleStatus.BUSY, None), b"S I\r\n"),
        (ScaleReading(ScaleStatus.OVERLOAD, None), b"S +\r\n"),
        (ScaleReading(ScaleStatus.UNDERLOAD, None), b"S -\r\n"),
        (ScaleReading(ScaleStatus.ERROR, None, detail=mt_sics.error_detail("ET")), b"ET\r\n"),
        (ScaleReading(ScaleStatus.ERROR, None, detail="anything else"), b"EL\r\n"),
    )
    without_weight = (
        ScaleReading(ScaleStatus.BUSY, None),
        ScaleReading(ScaleStatus.OVERLOAD, None),
        ScaleReading(ScaleStatus.UNDERLOAD, None),
        *(
            ScaleReading(ScaleStatus.ERROR, None, detail=mt_sics.error_detail(c))
            for c in mt_sics.ERRORS
        ),
    )
    responds = (
        (b"S\r\n", ScaleReading(STABLE, 1.5), b"S S      1.500 kg\r\n"),
        (b"S\r\n", ScaleReading(MOTION, 1.5), b"S I\r\n"),  # no stable weight in time
        (b"SI\r\n", ScaleReading(MOTION, 1.5), b"S D      1.500 kg\r\n"),
        (b"S\r\n", ScaleReading(ScaleStatus.OVERLOAD, None), b"S +\r\n"),
        (b"XYZ\r\n", ScaleReading(STABLE, 1.5), b"ES\r\n"),
        (
            b"S\r\n",
            ScaleReading(ScaleStatus.ERROR, None, detail=mt_sics.error_detail("ET")),
            b"ET\r\n",
        ),
    )
    stream = (
        (b"S S      1", ()),
        (b"2.34 kg\r", ((b"S S      12.34 kg", ScaleReading(STABLE, 12.34)),)),
        (
            b"\n\x00\xff#\r\nS D       1.00 kg\r\n",
            ((b"\x00\xff#", None), (b"S D       1.00 kg", ScaleReading(MOTION, 1.0))),
        ),
    )
    weights = readings(9_999_999, nets=[None])
