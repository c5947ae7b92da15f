"""CAS indicators and scales, streaming: 22-byte `ST,GS,<id><lamp>,000013.5 kg` frames.

Source: CAS CI-series indicator manuals, as summarised in FIELD.md "Scales". Also read: the
18-byte `ST,GS,000013.5kg` variant (sent with 7 data bits and parity: open the port 7E1).
The device id and the lamp byte are binary and may be any byte value, so frames end only at
CR LF, never at a lone CR or LF.
"""

from __future__ import annotations

import re
from functools import partial

from .base import FrameSplitter, ParseError, ScaleProtocol, ScaleReading, ScaleStatus
from .fields import decode_ascii, format_zero_padded, read_weight

NAME = "cas"
LABEL = "CAS"
TERMINATOR = b"\r\n"
LONG_LENGTH = 20  # the 22-byte frame without CR LF
SHORT_LENGTH = 16  # the 18-byte frame without CR LF
DATA_WIDTH = 8  # "000013.5", sign in the first place when negative
LONG_UNIT_WIDTH = 3  # " kg"
ENCODE_DECIMALS = 1  # as in "000013.5 kg"
DEVICE_ID = 0x01  # the simulator's device id byte

# Lamp byte bits.
LAMP_STABLE = 0x40  # bit 6
LAMP_GROSS = 0x04  # bit 2
LAMP_TARE = 0x02  # bit 1
LAMP_ZERO = 0x01  # bit 0

_HEADERS = {
    "ST": ScaleStatus.STABLE,
    "US": ScaleStatus.MOTION,
    "OL": ScaleStatus.OVERLOAD,
}
_GROSS_NET = {"GS": False, "NT": True}
_FIELD = re.compile(r"(?P<number>[-+ 0-9.]*?) *(?P<unit>[A-Za-z]{1,3}) *", re.ASCII)
OVER_NUMBER = "999999.9"  # what "OL" frames carry in the simulator
LAMP_DETAIL = f"{LABEL}: header says stable, the stable lamp is off"


def parse(frame: bytes) -> ScaleReading:
    """Read a 22-byte or 18-byte frame, CR LF removed."""
    if frame.endswith(TERMINATOR):
        frame = frame[: -len(TERMINATOR)]
    lamp: int | None = None
    if len(frame) == LONG_LENGTH:
        if frame[8:9] != b",":
            raise ParseError(f"{LABEL}: no ',' after the id and lamp bytes in {frame!r}")
        lamp = frame[7]
        head, data = frame[:6], frame[9:]
    elif len(frame) == SHORT_LENGTH:
        head, data = frame[:6], frame[6:]
    else:
        raise ParseError(
            f"{LABEL}: frame is {len(frame)} bytes, expected {LONG_LENGTH} or {SHORT_LENGTH} "
            f"before CR LF: {frame!r}"
        )
    header = decode_ascii(head[0:2], LABEL, within=frame)
    gross_net = decode_ascii(head[3:5], LABEL, within=frame, at=3)
    if header not in _HEADERS or gross_net not in _GROSS_NET or head[2::3] != b",,":
        raise ParseError(f"{LABEL}: headers {head!r} are not ST/US/OL,GS/NT, in {frame!r}")
    net = _GROSS_NET[gross_net]
    field = _FIELD.fullmatch(decode_ascii(data, LABEL, within=frame, at=len(frame) - len(data)))
    if field is None:
        raise ParseError(f"{LABEL}: data field {data!r} is not a number and unit in {frame!r}")
    number, unit = field.group("number").strip(), field.group("unit")
    status = _HEADERS[header]
    if status is ScaleStatus.OVERLOAD:
        status = ScaleStatus.UNDERLOAD if number.startswith("-") else ScaleStatus.OVERLOAD
        return ScaleReading(status, None, net)
    reading = read_weight(status, number, unit, net, LABEL, frame)
    if reading.stable and lamp is not None and not lamp & LAMP_STABLE:
        # Two stability flags that disagree: trust the more cautious one.
        return ScaleReading(ScaleStatus.MOTION, reading.weight_kg, net, LAMP_DETAIL)
    return reading


def _lamp(reading: ScaleReading) -> int:
    lamp = LAMP_TARE if reading.net else LAMP_GROSS
    if reading.stable:
        lamp |= LAMP_STABLE
    if reading.weight_kg == 0:
        lamp |= LAMP_ZERO
    return lamp


def _parts(reading: ScaleReading) -> tuple[str, str]:
    """(headers, number) for `reading`."""
    gross_net = "NT" if reading.net else "GS"
    match reading.status:
        case ScaleStatus.STABLE | ScaleStatus.MOTION:
            assert reading.weight_kg is not None  # ScaleReading guarantees it
            number = format_zero_padded(reading.weight_kg, DATA_WIDTH, min_decimals=ENCODE_DECIMALS)
            return f"{'ST' if reading.stable else 'US'},{gross_net}", number
        case ScaleStatus.OVERLOAD:
            return f"OL,{gross_net}", OVER_NUMBER
        case ScaleStatus.UNDERLOAD:
            return f"OL,{gross_net}", "-" + OVER_NUMBER[1:]
        case _:
            raise ValueError(f"{LABEL} has no frame for a {reading.status} reading")


def encode(reading: ScaleReading) -> bytes:
    """The 22-byte frame a CAS indicator set to kg streams for `reading`."""
    headers, number = _parts(reading)
    head = f"{headers},".encode("ascii") + bytes([DEVICE_ID, _lamp(reading)])
    return head + f",{number:>{DATA_WIDTH}}{'kg':>{LONG_UNIT_WIDTH}}".encode("ascii") + TERMINATOR


def encode_short(reading: ScaleReading) -> bytes:
    """The 18-byte frame (no id, no lamp, 2-character unit) for `reading`."""
    headers, number = _parts(reading)
    return f"{headers},{number:>{DATA_WIDTH}}kg".encode("ascii") + TERMINATOR


# Frames end at CR LF only: the id and lamp bytes may be CR or LF.
PROTOCOL = ScaleProtocol.streamed(
    NAME, parse=parse, encode=encode, make_splitter=partial(FrameSplitter, terminator=TERMINATOR)
)
