"""Ohaus balances and indicators (Scout, Navigator, Defender, Ranger), request/response.

Source: Ohaus instruction manuals, "Commands" and "Printout" sections, as summarised in
FIELD.md "Scales". Commands end in CR LF; an unknown command gets `ES`. The weight is printed
right-justified, then the unit, then `?` while unstable, e.g. `     192.21 g` and
`       0.01 g ?`. A trailing G / N (or GROSS / NET) legend is accepted when present.
"""

from __future__ import annotations

import re

from .base import ParseError, ScaleProtocol, ScaleReading, ScaleStatus
from .fields import decode_ascii, format_number, read_weight

NAME = "ohaus"
LABEL = "Ohaus"
TERMINATOR = b"\r\n"
# IP prints the weight at once, stable or not: P may be held back by the "print stable only"
# menu setting and SP says nothing until the weight settles, so neither suits a poll.
POLL_COMMAND = b"IP" + TERMINATOR
UNKNOWN_COMMAND_REPLY = b"ES" + TERMINATOR
WEIGHT_WIDTH = 11  # as in "     192.21"
ENCODE_DECIMALS = 3
UNSTABLE_MARK = "?"
ERROR_DETAIL = f"{LABEL} error ES: unknown command"
_PRINT_COMMANDS = frozenset({b"P", b"IP", b"CP"})
_STABLE_PRINT_COMMAND = b"SP"
_SILENT_COMMANDS = frozenset({b"Z", b"T"})  # act on the balance, print nothing
_LEGENDS = {"G": False, "GROSS": False, "N": True, "NET": True}
_FRAME = re.compile(
    r" *(?P<number>-? *[0-9.]+) *(?P<unit>[A-Za-z]{1,5})"
    r"(?: +(?P<unstable>\?))?(?: +(?P<legend>[A-Z]{1,5}))? *",
    re.ASCII,
)


def parse(frame: bytes) -> ScaleReading:
    """Read a printed weight line or an `ES` reply, terminator removed."""
    text = decode_ascii(frame, LABEL)
    if text.strip() == "ES":
        return ScaleReading(ScaleStatus.ERROR, None, detail=ERROR_DETAIL)
    match = _FRAME.fullmatch(text)
    if match is None:
        raise ParseError(f"{LABEL}: not a weight line {frame!r}")
    legend = match.group("legend")
    if legend is not None and legend not in _LEGENDS:
        raise ParseError(f"{LABEL}: unknown legend {legend!r} in {frame!r}")
    status = ScaleStatus.MOTION if match.group("unstable") else ScaleStatus.STABLE
    net = None if legend is None else _LEGENDS[legend]
    return read_weight(status, match.group("number"), match.group("unit"), net, LABEL, frame)


def encode(reading: ScaleReading) -> bytes:
    """The line a balance set to kg prints for `reading`."""
    if reading.status is ScaleStatus.ERROR:
        return UNKNOWN_COMMAND_REPLY
    if reading.weight_kg is None:
        raise ValueError(f"{LABEL} has no printout for a {reading.status} reading")
    text = format_number(reading.weight_kg, WEIGHT_WIDTH, min_decimals=ENCODE_DECIMALS) + " kg"
    if not reading.stable:
        text += " " + UNSTABLE_MARK
    if reading.net is not None:
        text += " NET" if reading.net else " G"
    return text.encode("ascii") + TERMINATOR


def respond(command: bytes, reading: ScaleReading) -> bytes:
    """The balance's reply to `command` while it shows `reading`."""
    name = command.strip(b"\r\n ").upper()
    if name in _PRINT_COMMANDS:
        return encode(reading)
    if name == _STABLE_PRINT_COMMAND:
        return b"" if reading.status is ScaleStatus.MOTION else encode(reading)
    if name in _SILENT_COMMANDS:
        return b""
    return UNKNOWN_COMMAND_REPLY


# Ohaus lines end at CR LF, or a lone CR or LF: the default splitter.
PROTOCOL = ScaleProtocol.polled(NAME, POLL_COMMAND, parse=parse, encode=encode, respond=respond)
