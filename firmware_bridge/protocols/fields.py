"""The ASCII fields of scale frames: printable text, numbers, mass units, fixed-width weights.

Pure like the rest of `protocols`: a protocol's `parse` reads its fields with these and its
`encode` writes them, so every scale refuses a bad number or unit with the same words.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

from .base import WEIGHT_DECIMALS, ParseError, ScaleReading, ScaleStatus

# Exact factors to kilograms: the pound is 0.45359237 kg by definition (international
# yard and pound agreement, 1959) and the avoirdupois ounce is 1/16 of it.
UNIT_TO_KG: dict[str, Decimal] = {
    "mg": Decimal("0.000001"),
    "g": Decimal("0.001"),
    "kg": Decimal("1"),
    "t": Decimal("1000"),
    "lb": Decimal("0.45359237"),
    "oz": Decimal("0.028349523125"),
}

_KG_QUANTUM = Decimal(1).scaleb(-WEIGHT_DECIMALS)
# A weight as scales print it: optional sign, at most 10 integer digits, a point. Checked with
# a strict pattern because float() and Decimal() also accept "nan", "1e9" and "1_000".
_NUMBER = re.compile(r"([+-]?) *((?:[0-9]{1,10}(?:\.[0-9]{0,7})?)|(?:\.[0-9]{1,7}))", re.ASCII)


def decode_ascii(frame: bytes, protocol: str, *, within: bytes | None = None, at: int = 0) -> str:
    """Decode printable ASCII, else raise ParseError; `within`/`at` place a slice in its frame."""
    for index, byte in enumerate(frame):
        if not 0x20 <= byte <= 0x7E:
            whole = frame if within is None else within
            raise ParseError(
                f"{protocol}: byte 0x{byte:02x} at {at + index} is not printable ASCII in {whole!r}"
            )
    return frame.decode("ascii")


def parse_number(text: str) -> Decimal | None:
    """The decimal in `text` (sign, digits, point; spaces around), or None if it is not one."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    sign, digits = match.groups()
    return Decimal(sign + digits)


def to_kg(value: Decimal, unit: str) -> float | None:
    """`value` in `unit` converted to kilograms and rounded, or None for an unknown unit."""
    factor = UNIT_TO_KG.get(unit.lower())
    if factor is None:
        return None
    return float((value * factor).quantize(_KG_QUANTUM, rounding=ROUND_HALF_EVEN))


def weight_reading(
    status: ScaleStatus, value: Decimal, unit: str, net: bool | None, protocol: str
) -> ScaleReading:
    """A stable or moving reading, or an error reading when the unit is not a mass we know."""
    weight = to_kg(value, unit)
    if weight is None:
        return ScaleReading(
            ScaleStatus.ERROR, None, net, f"{protocol}: unit {unit!r} is not a supported mass unit"
        )
    return ScaleReading(status, weight, net)


def read_weight(
    status: ScaleStatus,
    number: str,
    unit: str | None,
    net: bool | None,
    protocol: str,
    frame: bytes,
) -> ScaleReading:
    """`number` in `unit` as a reading (see weight_reading); ParseError if either is missing."""
    value = parse_number(number)
    if value is None:
        raise ParseError(f"{protocol}: weight {number!r} is not a number in {frame!r}")
    if not unit:
        raise ParseError(f"{protocol}: no unit after the weight in {frame!r}")
    return weight_reading(status, value, unit, net, protocol)


def format_number(
    weight_kg: float,
    width: int,
    *,
    min_decimals: int,
    max_decimals: int = WEIGHT_DECIMALS,
    zero_pad: bool = False,
    plus_sign: bool = False,
) -> str:
    """Format a weight the way a fixed-width scale field shows it; ValueError if it cannot."""
    value = Decimal(repr(weight_kg))
    exponent = value.as_tuple().exponent
    needed = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    decimals = max(min_decimals, needed)
    if decimals > max_decimals:
        raise ValueError(f"{weight_kg!r} kg needs {decimals} decimals, the field {max_decimals}")
    digits = f"{abs(value):.{decimals}f}"
    sign = "-" if weight_kg < 0 else ("+" if plus_sign else "")
    text = sign + digits.rjust(width - len(sign), "0") if zero_pad else (sign + digits).rjust(width)
    if len(text) > width:
        raise ValueError(f"{weight_kg!r} kg does not fit in {width} characters")
    return text


def format_zero_padded(
    weight_kg: float, width: int, *, min_decimals: int, plus_sign: bool = False
) -> str:
    """A weight in a zero-padded field, "+0012.34": as many decimals as the width has room for."""
    return format_number(
        weight_kg,
        width,
        min_decimals=min_decimals,
        max_decimals=width - 3,  # the field keeps the sign, the point and one integer digit
        zero_pad=True,
        plus_sign=plus_sign,
    )
