"""Mettler Toledo MT-SICS (level 0): the S and SI weight replies, request/response.

Source: MT-SICS reference manual, commands S (stable weight) and SI (weight immediately),
as summarised in FIELD.md "Scales". Every command and reply ends in CR LF; replies are split on
whitespace.
"""

from __future__ import annotations

from .base import ParseError, ScaleProtocol, ScaleReading, ScaleStatus
from .fields import decode_ascii, format_number, read_weight

NAME = "mt-sics"
LABEL = "MT-SICS"
TERMINATOR = b"\r\n"  # MT-SICS: every command and reply ends in CR LF
STABLE_COMMAND = b"S" + TERMINATOR  # S: send the stable weight (waits for stability)
IMMEDIATE_COMMAND = b"SI" + TERMINATOR  # SI: send the weight now, stable or not
# The bridge polls with SI and judges stability from each reply's S/D flag: S would block
# the line for the balance's own timeout, longer than a pairing window.
POLL_COMMAND = IMMEDIATE_COMMAND
WEIGHT_WIDTH = 10  # MT-SICS right-aligns the weight value in 10 characters
ENCODE_DECIMALS = 3  # a 1 g resolution kg scale, as simulated

# MT-SICS general error replies, sent instead of any reply.
ERRORS = {
    "ES": "syntax error",  # command not recognised
    "ET": "transmission error",  # parity, framing, too long
    "EL": "logical error",  # understood but cannot be executed
}
# Second field of an S / SI reply that carries no weight.
_NO_WEIGHT = {
    "I": ScaleStatus.BUSY,  # command understood, but no stable weight in time (or busy)
    "+": ScaleStatus.OVERLOAD,
    "-": ScaleStatus.UNDERLOAD,
}
# Second field of an S / SI reply that carries a weight.
_WITH_WEIGHT = {
    "S": ScaleStatus.STABLE,
    "D": ScaleStatus.MOTION,  # SI only: dynamic, the weight is still moving
}


def error_detail(code: str) -> str:
    """The ScaleReading.detail for an MT-SICS error reply such as "ES"."""
    return f"{LABEL} error {code}: {ERRORS[code]}"


_CODE_BY_DETAIL = {error_detail(code): code for code in ERRORS}


def parse(frame: bytes) -> ScaleReading:
    """Read an S or SI reply (or an error reply), terminator removed."""
    tokens = decode_ascii(frame, LABEL).split()
    if len(tokens) == 1 and tokens[0] in ERRORS:
        return ScaleReading(ScaleStatus.ERROR, None, detail=error_detail(tokens[0]))
    if len(tokens) < 2 or tokens[0] != "S":
        raise ParseError(f"{LABEL}: not a weight reply {frame!r}")
    kind = tokens[1]
    if kind in _NO_WEIGHT:
        if len(tokens) != 2:
            raise ParseError(f"{LABEL}: 'S {kind}' reply carries extra fields {frame!r}")
        return ScaleReading(_NO_WEIGHT[kind], None)
    if kind not in _WITH_WEIGHT:
        raise ParseError(f"{LABEL}: unknown reply status {kind!r} in {frame!r}")
    if len(tokens) != 4:
        raise ParseError(f"{LABEL}: expected 'S {kind} <weight> <unit>', got {frame!r}")
    return read_weight(_WITH_WEIGHT[kind], tokens[2], tokens[3], None, LABEL, frame)


def encode(reading: ScaleReading) -> bytes:
    """The reply a balance sends for `reading` to SI (S never sends 'S D'), with CR LF."""
    match reading.status:
        case ScaleStatus.STABLE | ScaleStatus.MOTION:
            assert reading.weight_kg is not None  # ScaleReading guarantees it
            kind = "S" if reading.status is ScaleStatus.STABLE else "D"
            number = format_number(reading.weight_kg, WEIGHT_WIDTH, min_decimals=ENCODE_DECIMALS)
            text = f"S {kind} {number} kg"
        case ScaleStatus.BUSY:
            text = "S I"
        case ScaleStatus.OVERLOAD:
            text = "S +"
        case ScaleStatus.UNDERLOAD:
            text = "S -"
        case ScaleStatus.ERROR:
            text = _CODE_BY_DETAIL.get(reading.detail, "EL")  # logical: it cannot weigh
    return text.encode("ascii") + TERMINATOR


def respond(command: bytes, reading: ScaleReading) -> bytes:
    """The balance's reply to `command` while it shows `reading`."""
    name = command.strip(b"\r\n ")
    if reading.status is ScaleStatus.ERROR:
        return encode(reading)
    if name == b"S":
        # S waits for stability; a simulator that stays in motion has run out of time.
        if reading.status is ScaleStatus.MOTION:
            return b"S I" + TERMINATOR
        return encode(reading)
    if name == b"SI":
        return encode(reading)
    return b"ES" + TERMINATOR


# MT-SICS replies end at CR LF (a lone CR or LF is accepted too): the default splitter.
PROTOCOL = ScaleProtocol.polled(NAME, POLL_COMMAND, parse=parse, encode=encode, respond=respond)
