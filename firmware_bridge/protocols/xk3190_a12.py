"""Yaohua XK3190-A12(E) indicators, streaming 15-byte `WG004.139kg3D` frames.

Source: Yaohua XK3190-A12E manual p. 13, as summarised in FIELD.md "Scales". Frame: `W`, `G`
(gross) or `N` (net), 7 bytes of weight with its point (the first `-` when negative, the last a
space when there is no point), `kg`, the XOR of bytes 1-11 as two ASCII hex digits, CR LF.
Overload and "below -20 d" send 9 spaces and `OL` or `LO` instead of the weight.
The frame carries no stable flag: every weight is read as moving, and the bridge judges
stability from equal consecutive frames (firmware_bridge.protocols.stability).
"""

from __future__ import annotations

import re
from decimal import Decimal

from .base import ParseError, ScaleProtocol, ScaleReading, ScaleStatus
from .fields import decode_ascii, weight_reading

NAME = "xk3190-a12"
LABEL = "XK3190-A12"
LENGTH = 13  # the 15-byte frame without CR LF
CHECKED = 11  # bytes covered by the checksum
WEIGHT_WIDTH = 7
ENCODE_DECIMALS = 3  # as in the manual's "004.139"
_WEIGHT = re.compile(r" *-?[0-9]*\.?[0-9]* ?", re.ASCII)  # leading blanks: some rebadges
_OUT_OF_RANGE = {"OL": ScaleStatus.OVERLOAD, "LO": ScaleStatus.UNDERLOAD}
BLANK = " " * 9


def checksum(data: bytes) -> int:
    """XOR of the bytes (the 11 before the checksum digits)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def hex_digits(value: int) -> bytes:
    """A byte as the indicator writes it: high and low nibble, each 0-9 or A-F in ASCII."""
    return bytes(nibble + (0x30 if nibble <= 9 else 0x37) for nibble in (value >> 4, value & 15))


def parse(frame: bytes) -> ScaleReading:
    """Read one frame, CR LF removed (tolerated if still there)."""
    if frame.endswith(b"\r\n"):
        frame = frame[:-2]
    if len(frame) != LENGTH:
        raise ParseError(f"{LABEL}: frame is {len(frame)} bytes, expected {LENGTH}: {frame!r}")
    text = decode_ascii(frame, LABEL)
    expected = hex_digits(checksum(frame[:CHECKED]))
    if frame[CHECKED:] != expected:
        raise ParseError(
            f"{LABEL}: checksum {frame[CHECKED:]!r}, expected {expected!r} in {frame!r}"
        )
    if text[:9] == BLANK and text[9:11] in _OUT_OF_RANGE:
        return ScaleReading(_OUT_OF_RANGE[text[9:11]], None)
    if text[0] != "W" or text[1] not in "GN":
        raise ParseError(f"{LABEL}: frame does not start with WG or WN: {frame!r}")
    net = text[1] == "N"
    field = text[2 : 2 + WEIGHT_WIDTH]
    if _WEIGHT.fullmatch(field) is None or not any(c.isdigit() for c in field):
        raise ParseError(f"{LABEL}: weight {field!r} is not a number in {frame!r}")
    unit = text[9:11]
    value = Decimal(field.strip())
    return weight_reading(ScaleStatus.MOTION, value, unit, net, LABEL)


def encode(reading: ScaleReading) -> bytes:
    """The frame an indicator set to kg sends for `reading` (stable or not: no flag)."""
    match reading.status:
        case ScaleStatus.STABLE | ScaleStatus.MOTION:
            assert reading.weight_kg is not None  # ScaleReading guarantees it
            digits = f"{abs(reading.weight_kg):.{ENCODE_DECIMALS}f}"
            if reading.weight_kg < 0:
                digits = "-" + digits.rjust(WEIGHT_WIDTH - 1, "0")
            else:
                digits = digits.rjust(WEIGHT_WIDTH, "0")
            if len(digits) > WEIGHT_WIDTH or round(reading.weight_kg, ENCODE_DECIMALS) != (
                reading.weight_kg
            ):
                raise ValueError(f"{reading.weight_kg!r} kg does not fit in {digits!r}")
            body = ("WN" if reading.net else "WG") + digits + "kg"
        case ScaleStatus.OVERLOAD:
            body = BLANK + "OL"
        case ScaleStatus.UNDERLOAD:
            body = BLANK + "LO"
        case _:
            raise ValueError(f"{LABEL} has no way to say {reading.status}")
    data = body.encode("ascii")
    return data + hex_digits(checksum(data)) + b"\r\n"


# The default splitter serves: the checksum digits are never CR or LF.
PROTOCOL = ScaleProtocol.streamed(NAME, parse=parse, encode=encode, flags_stability=False)
