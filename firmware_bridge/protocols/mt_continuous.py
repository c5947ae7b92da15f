"""Mettler Toledo standard continuous output ("Toledo format"), streaming about 7 Hz.

Frame: STX, status words A B C, 6 weight digits, 6 tare digits, CR, optional checksum.
Source: Mettler Toledo indicator manuals (IND560/IND780 "Standard Continuous Output"),
Fairbanks and Rice Lake "Toledo data format" tables, as summarised in FIELD.md "Scales".
The splitter hands over whole frames, STX and CR included, because the checksum covers them.
"""

from __future__ import annotations

import re
from decimal import Decimal

from .base import (
    CR,
    MAX_BUFFER,
    STX,
    ParseError,
    ScaleProtocol,
    ScaleReading,
    ScaleStatus,
    StxSplitter,
)
from .fields import weight_reading

NAME = "mt-continuous"
LABEL = "MT continuous"
FRAME_LENGTH = 17  # STX + 3 status words + 6 weight + 6 tare + CR
CHECKSUM_LENGTH = FRAME_LENGTH + 1  # the optional checksum byte follows the CR
_WEIGHT = slice(4, 10)
_TARE = slice(10, 16)
_DIGITS = re.compile(rb" *[0-9]+")  # leading blanks are sent by some indicators

# Status word A, bits 0-2: where the decimal point sits in the 6 digits. Codes 0 and 1 are the
# "XXXX00" / "XXXXX0" formats: the trailing zeros are in the digits, so no point.
SWA_DECIMAL_MASK = 0x07
_DECIMALS_BY_CODE = {0: 0, 1: 0, 2: 0, 3: 1, 4: 2, 5: 3, 6: 4, 7: 5}
SWA_ALWAYS = 0x20  # bit 5 always 1
SWA_COUNT_BY_1 = 0x08  # bits 3-4 = 01: display increments of 1
# Status word B.
SWB_NET = 0x01  # bit 0: 0 gross, 1 net
SWB_NEGATIVE = 0x02  # bit 1
SWB_OUT_OF_RANGE = 0x04  # bit 2: over capacity or under zero
SWB_MOTION = 0x08  # bit 3
SWB_KG = 0x10  # bit 4: 1 kg, 0 lb
SWB_NOT_ZEROED = 0x40  # bit 6: powered up, zero not captured yet
SWB_ALWAYS = 0x20  # bit 5: 1 on Mettler Toledo, 0 on Fairbanks; never read
# Status word C, bits 0-2 (Mettler Toledo IND indicators; 0 on Fairbanks and Rice Lake):
# 0 = the lb/kg of status word B, 1 = g, 2 = metric t, 3 = oz; others are not mass units we use.
SWC_UNIT_MASK = 0x07
_SWC_UNITS = {1: "g", 2: "t", 3: "oz"}
SWC_ALWAYS = 0x20  # bit 5 always 1

NOT_ZEROED_DETAIL = f"{LABEL}: indicator powered up and not zeroed yet"
OVER_DIGITS = b"999999"  # what the simulator sends with the out-of-range bit


def checksum(data: bytes) -> int:
    """Two's complement of the low 7 bits of the byte sum (STX and CR included)."""
    return -sum(data) & 0x7F


class ContinuousSplitter(StxSplitter):
    """Finds STX-framed, fixed-length frames; whole frames out, STX, CR and checksum included.

    `with_checksum=None` detects the optional checksum byte: it is the byte after CR unless that
    byte starts the next frame. A checksum that happens to equal STX is told apart by the byte
    after it, because status word A always has bit 5 set and so is never STX. Detection costs
    the latency of one byte: a frame is handed over when the next byte arrives (or on flush).
    """

    def __init__(self, with_checksum: bool | None = None, max_buffer: int = MAX_BUFFER) -> None:
        super().__init__(FRAME_LENGTH, CR, max_buffer)
        self._with_checksum = with_checksum

    def _frame_length(self) -> int | None:
        """17 or 18 for the frame at the start of the buffer, None until that can be told."""
        if self._with_checksum is False:
            return FRAME_LENGTH
        if len(self._buffer) < CHECKSUM_LENGTH:
            return None
        if self._with_checksum or self._buffer[FRAME_LENGTH] != STX:
            return CHECKSUM_LENGTH  # a wrong checksum is the parser's to report
        if checksum(bytes(self._buffer[:FRAME_LENGTH])) != STX:
            return FRAME_LENGTH  # the STX starts the next frame
        if len(self._buffer) < CHECKSUM_LENGTH + 1:
            return None
        return CHECKSUM_LENGTH if self._buffer[CHECKSUM_LENGTH] == STX else FRAME_LENGTH

    def flush(self) -> bytes | None:
        """Hand back and forget the pending bytes (a last frame waiting for its next byte)."""
        return super().flush()


def _digits(frame: bytes, field: slice, name: str) -> int:
    raw = frame[field]
    if _DIGITS.fullmatch(raw) is None:
        raise ParseError(f"{LABEL}: {name} {raw!r} is not 6 digits in {frame!r}")
    return int(raw)


def parse(frame: bytes) -> ScaleReading:
    """Read one frame, STX to CR, with or without its checksum byte."""
    if len(frame) not in (FRAME_LENGTH, CHECKSUM_LENGTH):
        raise ParseError(
            f"{LABEL}: frame is {len(frame)} bytes, expected {FRAME_LENGTH} or "
            f"{CHECKSUM_LENGTH}: {frame!r}"
        )
    if frame[0] != STX:
        raise ParseError(f"{LABEL}: frame does not start with STX: {frame!r}")
    if frame[FRAME_LENGTH - 1] != CR:
        raise ParseError(f"{LABEL}: no CR after the tare digits: {frame!r}")
    if len(frame) == CHECKSUM_LENGTH:
        expected = checksum(frame[:FRAME_LENGTH])
        if frame[FRAME_LENGTH] & 0x7F != expected:
            raise ParseError(
                f"{LABEL}: checksum 0x{frame[FRAME_LENGTH]:02x}, expected 0x{expected:02x} "
                f"in {frame!r}"
            )
    swa, swb, swc = frame[1], frame[2], frame[3]
    weight = _digits(frame, _WEIGHT, "weight")
    _digits(frame, _TARE, "tare")  # not reported, but a garbled tare means a garbled frame
    net = bool(swb & SWB_NET)
    if swb & SWB_NOT_ZEROED:
        return ScaleReading(ScaleStatus.ERROR, None, net, NOT_ZEROED_DETAIL)
    if swb & SWB_OUT_OF_RANGE:
        status = ScaleStatus.UNDERLOAD if swb & SWB_NEGATIVE else ScaleStatus.OVERLOAD
        return ScaleReading(status, None, net)
    value = Decimal(weight).scaleb(-_DECIMALS_BY_CODE[swa & SWA_DECIMAL_MASK])
    if swb & SWB_NEGATIVE:
        value = -value
    unit_code = swc & SWC_UNIT_MASK
    if unit_code:
        unit = _SWC_UNITS.get(unit_code, f"status word C unit code {unit_code}")
    else:
        unit = "kg" if swb & SWB_KG else "lb"
    status = ScaleStatus.MOTION if swb & SWB_MOTION else ScaleStatus.STABLE
    return weight_reading(status, value, unit, net, LABEL)


def _scaled(weight_kg: float) -> tuple[int, int]:
    """(decimal point code, 6-digit integer) that show `weight_kg` exactly."""
    value = abs(Decimal(repr(weight_kg)))
    for decimals in range(6):
        scaled = value.scaleb(decimals)
        if scaled == scaled.to_integral_value() and scaled < 10**6:
            return decimals + 2, int(scaled)
    raise ValueError(f"{weight_kg!r} kg does not fit in 6 digits with at most 5 decimals")


def encode_frame(reading: ScaleReading, *, with_checksum: bool = True) -> bytes:
    """The frame an indicator set to kg streams for `reading`."""
    swb = SWB_ALWAYS | SWB_KG | (SWB_NET if reading.net else 0)
    code, digits = 2, 0
    match reading.status:
        case ScaleStatus.STABLE | ScaleStatus.MOTION:
            assert reading.weight_kg is not None  # ScaleReading guarantees it
            code, digits = _scaled(reading.weight_kg)
            if reading.weight_kg < 0:
                swb |= SWB_NEGATIVE
            if reading.status is ScaleStatus.MOTION:
                swb |= SWB_MOTION
        case ScaleStatus.OVERLOAD:
            swb |= SWB_OUT_OF_RANGE
            digits = int(OVER_DIGITS)
        case ScaleStatus.UNDERLOAD:
            swb |= SWB_OUT_OF_RANGE | SWB_NEGATIVE
            digits = int(OVER_DIGITS)
        case ScaleStatus.ERROR:
            swb |= SWB_NOT_ZEROED
        case ScaleStatus.BUSY:
            raise ValueError(f"{LABEL} has no way to say busy: it streams, nobody asks")
    swa = SWA_ALWAYS | SWA_COUNT_BY_1 | code
    frame = bytes([STX, swa, swb, SWC_ALWAYS]) + f"{digits:06d}000000".encode("ascii") + b"\r"
    return frame + bytes([checksum(frame)]) if with_checksum else frame


def encode(reading: ScaleReading) -> bytes:
    """The frame, checksum included, an indicator set to kg streams for `reading`."""
    return encode_frame(reading)


PROTOCOL = ScaleProtocol.streamed(
    NAME,
    parse=parse,
    encode=encode,
    make_splitter=ContinuousSplitter,  # detects whether the indicator sends checksums
)
