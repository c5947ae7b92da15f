"""A&D balances and indicators: `ST,+00012.34 kg` and `ST,NT,+0012.34kg`, request/response.

Source: A&D instruction manuals (GX/GF, FX-i, HC-i "Data format" and "Error codes"), as
summarised in FIELD.md "Scales". Balances send a header, a 9-character data field with sign
and point, and a 3-character right-aligned unit; indicators add a gross/net header and send
an 8-character field and a 2-character unit. Out of range, the number may be blanked.
"""

from __future__ import annotations

import re

from .base import ParseError, ScaleProtocol, ScaleReading, ScaleStatus
from .fields import decode_ascii, format_zero_padded, read_weight

NAME = "and"
LABEL = "A&D"
TERMINATOR = b"\r\n"  # A&D: CR LF or CR alone, chosen in the function table
POLL_COMMAND = b"Q" + TERMINATOR  # Q: send the weight now, stable or not
STABLE_COMMAND = b"S" + TERMINATOR  # S: send the weight once it is stable
BALANCE_DATA_WIDTH = 9  # sign, digits and point
BALANCE_UNIT_WIDTH = 3  # right-aligned: " kg", "  g"
INDICATOR_DATA_WIDTH = 8
ENCODE_DECIMALS = 2  # as in "ST,+00012.34 kg"

_HEADERS = {
    "ST": ScaleStatus.STABLE,
    "US": ScaleStatus.MOTION,
    "OL": ScaleStatus.OVERLOAD,  # "E" on the display; with a minus sign "-E", i.e. underload
    "QT": ScaleStatus.ERROR,  # counting mode: pieces, not a weight
}
_GROSS_NET = {"GS": False, "NT": True}
# Data field then unit, blanks allowed: the number itself is checked by parse_number.
_FIELD = re.compile(r"(?P<number>[-+ 0-9.]*?) *(?P<unit>[A-Za-z%]{0,3}) *", re.ASCII)
_ERROR_CODE = re.compile(r"E([0-9]{1,2})", re.ASCII)

# "EC,Exx" error replies; older models send one digit ("E1"), newer two ("E01").
ERRORS = {
    0: "communication error",
    1: "undefined command",
    2: "not ready",
    4: "too many characters",
    5: "no such ID",
    6: "format error",
    7: "setting value out of range",
    11: "weight unstable",
}
COUNTING_DETAIL = f"{LABEL}: counting mode (QT) reports pieces, not a weight"
BLANKED_DETAIL = f"{LABEL}: the weight field is blanked"
OVER_NUMBER = "9999.999"  # what "OL" frames carry in the simulator, as in A&D's examples


def error_detail(code: int) -> str:
    """The ScaleReading.detail for an `EC,Exx` error reply."""
    return f"{LABEL} error E{code:02d}: {ERRORS.get(code, 'unknown error')}"


_CODE_BY_DETAIL = {error_detail(code): code for code in ERRORS}


def parse(frame: bytes) -> ScaleReading:
    """Read a balance or indicator data frame, or an `EC,Exx` error, terminator removed."""
    fields = decode_ascii(frame, LABEL).split(",")
    header = fields[0]
    if header == "EC":
        code = _ERROR_CODE.fullmatch(fields[1].strip()) if len(fields) == 2 else None
        if code is None:
            raise ParseError(f"{LABEL}: malformed error reply {frame!r}")
        return ScaleReading(ScaleStatus.ERROR, None, detail=error_detail(int(code.group(1))))
    if header not in _HEADERS:
        raise ParseError(f"{LABEL}: unknown header {header!r} in {frame!r}")
    net: bool | None = None
    if len(fields) == 3:
        if fields[1] not in _GROSS_NET:
            raise ParseError(f"{LABEL}: second header {fields[1]!r} is not GS or NT in {frame!r}")
        net = _GROSS_NET[fields[1]]
    elif len(fields) != 2:
        raise ParseError(f"{LABEL}: expected 2 or 3 comma-separated fields in {frame!r}")
    field = _FIELD.fullmatch(fields[-1])
    if field is None:
        raise ParseError(f"{LABEL}: data field {fields[-1]!r} is not a number and unit {frame!r}")
    number, unit = field.group("number").strip(), field.group("unit")
    status = _HEADERS[header]
    if status is ScaleStatus.ERROR:
        return ScaleReading(status, None, net, COUNTING_DETAIL)
    if status is ScaleStatus.OVERLOAD:
        status = ScaleStatus.UNDERLOAD if number.startswith("-") else ScaleStatus.OVERLOAD
        return ScaleReading(status, None, net)
    if number in ("", "+", "-"):
        return ScaleReading(ScaleStatus.ERROR, None, net, BLANKED_DETAIL)
    return read_weight(status, number, unit, net, LABEL, frame)


def _frame(header: str, number: str, net: bool | None, unit: str = "kg") -> bytes:
    if net is None:  # balance: 9-character data, 3-character unit
        text = f"{header},{number:>{BALANCE_DATA_WIDTH}}{unit:>{BALANCE_UNIT_WIDTH}}"
    else:  # indicator: gross/net header, 8-character data, 2-character unit
        text = f"{header},{'NT' if net else 'GS'},{number:>{INDICATOR_DATA_WIDTH}}{unit}"
    return text.encode("ascii") + TERMINATOR


def encode(reading: ScaleReading) -> bytes:
    """The frame a balance (net None) or an indicator (net known) set to kg sends."""
    width = BALANCE_DATA_WIDTH if reading.net is None else INDICATOR_DATA_WIDTH
    match reading.status:
        case ScaleStatus.STABLE | ScaleStatus.MOTION:
            assert reading.weight_kg is not None  # ScaleReading guarantees it
            number = format_zero_padded(
                reading.weight_kg, width, min_decimals=ENCODE_DECIMALS, plus_sign=True
            )
            return _frame("ST" if reading.stable else "US", number, reading.net)
        case ScaleStatus.OVERLOAD:
            return _frame("OL", "+" + OVER_NUMBER, reading.net)
        case ScaleStatus.UNDERLOAD:
            return _frame("OL", "-" + OVER_NUMBER, reading.net)
        case ScaleStatus.ERROR:
            if reading.detail == COUNTING_DETAIL:
                return _frame("QT", "+" + "0" * (width - 1), reading.net, unit="PC")
            if reading.detail == BLANKED_DETAIL:
                return _frame("ST", "", reading.net)
            code = _CODE_BY_DETAIL.get(reading.detail, 2)  # not ready: it cannot weigh
            return f"EC,E{code:02d}".encode("ascii") + TERMINATOR
        case ScaleStatus.BUSY:
            raise ValueError(f"{LABEL} has no busy reply: S simply waits for stability")


def respond(command: bytes, reading: ScaleReading) -> bytes:
    """The balance's reply to `command` while it shows `reading`."""
    name = command.strip(b"\r\n ")
    if name == b"Q":
        return encode(reading)
    if name == b"S":
        # S answers once the weight is stable; while it moves there is nothing yet.
        return b"" if reading.status is ScaleStatus.MOTION else encode(reading)
    return b"EC,E01" + TERMINATOR  # undefined command


# A&D frames end at CR LF or CR: the default splitter.
PROTOCOL = ScaleProtocol.polled(NAME, POLL_COMMAND, parse=parse, encode=encode, respond=respond)
