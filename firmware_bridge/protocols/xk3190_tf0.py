"""Yaohua XK3190 continuous format 0 (`tF = 0` on the A9+, A1+, A26 and DS1), streaming.

Source: Pro XK3190-A9+ manual p. 9 and XK3190-A26 manual p. 12, as summarised in FIELD.md
"Scales". 12 bytes: STX, `+` or `-`, 6 weight digits high first without a point, 1 digit of
decimal places (0-4), the XOR of bytes 2-9 as two ASCII hex digits, ETX. No line ends, no
gross/net, no stable flag: every weight is read as moving, and the bridge judges stability
from equal consecutive frames (firmware_bridge.protocols.stability).
"""

from __future__ import annotations

from decimal import Decimal

from .base import MAX_BUFFER, STX, ParseError, ScaleProtocol, ScaleReading, ScaleStatus, StxSplitter
from .fields import weight_reading
from .xk3190_a12 import checksum, hex_digits

NAME = "xk3190-tf0"
LABEL = "XK3190 tF0"
ETX = 0x03
LENGTH = 12
CHECKED = slice(1, 9)  # sign, 6 digits, decimals
MAX_DECIMALS = 4
DIGITS = 6


class StxEtxSplitter(StxSplitter):
    """Finds fixed-length STX ... ETX frames; whole frames out, STX and ETX included."""

    def __init__(self, max_buffer: int = MAX_BUFFER) -> None:
        super().__init__(LENGTH, ETX, max_buffer)


def parse(frame: bytes) -> ScaleReading:
    """Read one frame, STX to ETX."""
    if len(frame) != LENGTH:
        raise ParseError(f"{LABEL}: frame is {len(frame)} bytes, expected {LENGTH}: {frame!r}")
    if frame[0] != STX or frame[-1] != ETX:
        raise ParseError(f"{LABEL}: frame is not STX ... ETX: {frame!r}")
    expected = hex_digits(checksum(frame[CHECKED]))
    if frame[9:11] != expected:
        raise ParseError(f"{LABEL}: checksum {frame[9:11]!r}, expected {expected!r} in {frame!r}")
    sign, digits, places = frame[1:2], frame[2:8], frame[8:9]
    if sign not in (b"+", b"-"):
        raise ParseError(f"{LABEL}: sign {sign!r} is not + or - in {frame!r}")
    if not (digits.isdigit() and digits.isascii()):
        raise ParseError(f"{LABEL}: weight {digits!r} is not 6 digits in {frame!r}")
    if not (places.isdigit() and places.isascii()) or int(places) > MAX_DECIMALS:
        raise ParseError(f"{LABEL}: decimal places {places!r} are not 0-4 in {frame!r}")
    value = Decimal(int(digits)).scaleb(-int(places))
    if sign == b"-":
        value = -value
    return weight_reading(ScaleStatus.MOTION, value, "kg", None, LABEL)


def encode(reading: ScaleReading) -> bytes:
    """The frame an indicator sends for `reading`; it has no words for faults."""
    if reading.weight_kg is None:
        raise ValueError(f"{LABEL} has no way to say {reading.status}")
    value = abs(Decimal(repr(reading.weight_kg)))
    for places in range(MAX_DECIMALS + 1):
        scaled = value.scaleb(places)
        if scaled == scaled.to_integral_value() and scaled < 10**DIGITS:
            break
    else:
        raise ValueError(f"{reading.weight_kg!r} kg does not fit in 6 digits, 4 decimals")
    body = ("-" if reading.weight_kg < 0 else "+") + f"{int(scaled):06d}{places}"
    data = body.encode("ascii")
    return bytes([STX]) + data + hex_digits(checksum(data)) + bytes([ETX])


PROTOCOL = ScaleProtocol.streamed(
    NAME, parse=parse, encode=encode, make_splitter=StxEtxSplitter, flags_stability=False
)
