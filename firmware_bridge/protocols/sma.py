"""SMA (Scale Manufacturers Association) standard, level 1, request/response.

Source: SMA SCP-0499 "Scale Serial Communication Protocol", section 5.1 (standard scale
response message) and 5.2 (unrecognised command), as reproduced in Sartorius, Fairbanks and
Cardinal indicator manuals and summarised in FIELD.md "Scales".

Reply: LF, status s, range r, gross/net n, motion m, future f, 10-character weight, 3-character
unit, CR. For the E, I and T errors the weight is dashes. The unrecognised-command reply
`LF ? CR` is a well-formed reply, so it is read as an ERROR reading (detail
`UNKNOWN_COMMAND_DETAIL`), not a ParseError: it means the bridge sent a command this scale
lacks, which an operator must hear about, not line noise to count.
"""

from __future__ import annotations

import re

from .base import ParseError, ScaleProtocol, ScaleReading, ScaleStatus
from .fields import decode_ascii, format_number, read_weight

NAME = "sma"
LABEL = "SMA"
POLL_COMMAND = b"\nW\r"  # 4.1 W: the displayed weight, at once, motion flag included
STABLE_COMMAND = b"\nP\r"  # 4.3 P: the weight after stability; dashes on timeout
UNKNOWN_COMMAND_REPLY = b"\n?\r"  # 5.2
WEIGHT_WIDTH = 10  # 5.1: the weight field is fixed at 10 characters
UNIT_WIDTH = 3  # 5.1: "lb ", "kg ", "g  "
ENCODE_DECIMALS = 3  # as in "     5.025"
HEADER_LENGTH = 5  # s, r, n, m, f

# 5.1 <s>, the scale status.
STATUS_NONE = " "
STATUS_ZERO = "Z"  # centre of zero; the weight is 0.000 and valid
STATUS_OVER = "O"  # over capacity
STATUS_UNDER = "U"  # under capacity
ERRORS = {
    "E": "zero error",
    "I": "initial zero error",
    "T": "tare error",
    "e": "weight not displayed",  # Cardinal extension
}
# 5.1 <n>: G gross, N net, lower case the same in high resolution (H command).
_GROSS_NET = {"G": False, "N": True, "g": False, "n": True}
TARE_VALUE = "T"  # the tare weight, in reply to M: not a weight on the platter
_MOTION = {" ": ScaleStatus.STABLE, "M": ScaleStatus.MOTION}
_BODY = re.compile(r" *(?P<weight>-+|[-+ 0-9.]+?) *(?P<unit>[A-Za-z]{1,3})? *", re.ASCII)

UNKNOWN_COMMAND_DETAIL = f"{LABEL}: the scale did not recognise the command (?)"
TARE_DETAIL = f"{LABEL}: the scale reports its tare value, not a weight"
DASHES = "-" * WEIGHT_WIDTH
MIN_DASHES = 3  # a bare reply of fewer dashes is line noise, not a timeout


def error_detail(status: str) -> str:
    """The ScaleReading.detail for an error status character such as "E"."""
    return f"{LABEL} error {status}: {ERRORS[status]}"


_STATUS_BY_DETAIL = {error_detail(status): status for status in ERRORS}


def parse(frame: bytes) -> ScaleReading:
    """Read a standard scale response (LF and CR optional), `?` or a bare dashes reply."""
    text = decode_ascii(frame.removeprefix(b"\n").removesuffix(b"\r"), LABEL)
    if text == "?":
        return ScaleReading(ScaleStatus.ERROR, None, detail=UNKNOWN_COMMAND_DETAIL)
    if len(text) >= MIN_DASHES and text.strip("-") == "":
        return ScaleReading(ScaleStatus.BUSY, None)
    if len(text) <= HEADER_LENGTH:
        raise ParseError(f"{LABEL}: reply too short for the standard format: {frame!r}")
    status, weight_range, gross_net, motion = text[0], text[1], text[2], text[3]
    body = _BODY.fullmatch(text[HEADER_LENGTH:])
    if body is None:
        raise ParseError(f"{LABEL}: weight and unit unreadable in {frame!r}")
    weight, unit = body.group("weight").strip(), body.group("unit")
    if not weight_range.isascii() or not weight_range.isdigit():
        raise ParseError(f"{LABEL}: range {weight_range!r} is not a digit in {frame!r}")
    if gross_net not in _GROSS_NET and gross_net != TARE_VALUE:
        raise ParseError(f"{LABEL}: gross/net field {gross_net!r} unknown in {frame!r}")
    if motion not in _MOTION:
        raise ParseError(f"{LABEL}: motion field {motion!r} is not 'M' or blank in {frame!r}")
    net = _GROSS_NET.get(gross_net)
    if status in ERRORS:
        return ScaleReading(ScaleStatus.ERROR, None, net, error_detail(status))
    if status == STATUS_OVER:
        return ScaleReading(ScaleStatus.OVERLOAD, None, net)
    if status == STATUS_UNDER:
        return ScaleReading(ScaleStatus.UNDERLOAD, None, net)
    if status not in (STATUS_NONE, STATUS_ZERO):
        raise ParseError(f"{LABEL}: unknown scale status {status!r} in {frame!r}")
    if weight.strip("-") == "":
        return ScaleReading(ScaleStatus.BUSY, None, net)  # P timed out waiting for stability
    if gross_net == TARE_VALUE:
        return ScaleReading(ScaleStatus.ERROR, None, None, TARE_DETAIL)
    return read_weight(_MOTION[motion], weight, unit, net, LABEL, frame)


def _message(status: str, gross_net: str, motion: str, weight: str) -> bytes:
    text = f"{status}1{gross_net}{motion} {weight:>{WEIGHT_WIDTH}}{'kg':<{UNIT_WIDTH}}"
    return b"\n" + text.encode("ascii") + b"\r"


def encode(reading: ScaleReading) -> bytes:
    """The reply to W a scale set to kg sends for `reading` (net None is sent as gross)."""
    gross_net = "N" if reading.net else "G"
    match reading.status:
        case ScaleStatus.STABLE | ScaleStatus.MOTION:
            assert reading.weight_kg is not None  # ScaleReading guarantees it
            status = STATUS_ZERO if reading.weight_kg == 0 else STATUS_NONE
            motion = " " if reading.stable else "M"
            weight = format_number(reading.weight_kg, WEIGHT_WIDTH, min_decimals=ENCODE_DECIMALS)
            return _message(status, gross_net, motion, weight)
        case ScaleStatus.OVERLOAD:
            return _message(STATUS_OVER, gross_net, " ", DASHES)
        case ScaleStatus.UNDERLOAD:
            return _message(STATUS_UNDER, gross_net, " ", DASHES)
        case ScaleStatus.BUSY:
            return _message(STATUS_NONE, gross_net, "M", DASHES)
        case ScaleStatus.ERROR:
            if reading.detail == UNKNOWN_COMMAND_DETAIL:
                return UNKNOWN_COMMAND_REPLY
            if reading.detail == TARE_DETAIL:
                return _message(STATUS_NONE, TARE_VALUE, " ", "0.000")
            status = _STATUS_BY_DETAIL.get(reading.detail, "E")
            return _message(status, gross_net, " ", DASHES)


def respond(command: bytes, reading: ScaleReading) -> bytes:
    """The scale's reply to `command` while it shows `reading`."""
    name = command.strip(b"\r\n")
    if name == b"W":
        return encode(reading)
    if name == b"P":
        # P waits for stability; a simulator that stays in motion has run out of time.
        if reading.status is ScaleStatus.MOTION:
            return encode(ScaleReading(ScaleStatus.BUSY, None, reading.net))
        return encode(reading)
    return UNKNOWN_COMMAND_REPLY


# SMA replies: LF starts one, CR ends it, both dropped: the default splitter.
PROTOCOL = ScaleProtocol.polled(NAME, POLL_COMMAND, parse=parse, encode=encode, respond=respond)
