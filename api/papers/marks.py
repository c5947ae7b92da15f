"""Marks and numbers: drum labels written as ranges where their serials run in sequence."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

_TRAILING_DIGITS = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True, slots=True)
class LabelRange:
    """Labels ``first`` to ``last`` (``count`` of them, serials without a gap)."""

    first: str
    last: str
    count: int

    def __str__(self) -> str:
        return self.first if self.count == 1 else f"{self.first} - {self.last}"


def label_ranges(labels: Iterable[str]) -> list[LabelRange]:
    """The labels as ranges of consecutive serials, in label order.

    A serial is the label's trailing digits; labels run in sequence only with the same
    text before the serial and the same number of digits (``-0099`` and ``-0100`` do,
    ``-99`` and ``-100`` are written apart, as they read). A label without a serial
    is a range of one.
    """
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    singles: list[str] = []
    for label in set(labels):
        m = _TRAILING_DIGITS.match(label)
        if m is None:
            singles.append(label)
        else:
            groups[(m.group(1), len(m.group(2)))].append(int(m.group(2)))
    out = [LabelRange(s, s, 1) for s in singles]
    for (prefix, width), serials in groups.items():
        serials.sort()
        start = prev = serials[0]
        for n in [*serials[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            out.append(
                LabelRange(
                    f"{prefix}{start:0{width}d}", f"{prefix}{prev:0{width}d}", prev - start + 1
                )
            )
            if n is not None:
                start = prev = n
    out.sort(key=lambda r: r.first)
    return out
