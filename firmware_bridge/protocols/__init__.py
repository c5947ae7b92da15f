"""Pure device protocols: scales and barcode scanners, bytes in, typed values out."""

from __future__ import annotations

from . import and_, cas, mt_continuous, mt_sics, ohaus, sma, xk3190_a12, xk3190_tf0
from .base import (
    MAX_BUFFER,
    FrameSplitter,
    ParseError,
    ScaleProtocol,
    ScaleReading,
    ScaleStatus,
    Splitter,
)
from .scanner import ScanFrame, encode_scan, make_scan_splitter, parse_scan

# Keyed by the name a station's settings use to pick its scale.
SCALE_PROTOCOLS: dict[str, ScaleProtocol] = {
    protocol.name: protocol
    for protocol in (
        mt_sics.PROTOCOL,
        mt_continuous.PROTOCOL,
        and_.PROTOCOL,
        cas.PROTOCOL,
        sma.PROTOCOL,
        ohaus.PROTOCOL,
        xk3190_a12.PROTOCOL,
        xk3190_tf0.PROTOCOL,
    )
}

__all__ = [
    "MAX_BUFFER",
    "SCALE_PROTOCOLS",
    "FrameSplitter",
    "ParseError",
    "ScaleProtocol",
    "ScaleReading",
    "ScaleStatus",
    "ScanFrame",
    "Splitter",
    "encode_scan",
    "make_scan_splitter",
    "parse_scan",
]
