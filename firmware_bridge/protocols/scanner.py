"""Barcode scanners in serial (or USB-CDC) mode: one scan per frame.

Source: FIELD.md "Barcode scanners" and ISO/IEC 15424 (AIM symbology identifiers). The suffix
may be CR, LF, CRLF or nothing; with nothing, the transport calls `flush()` after an idle gap.
GS1 fields are ended by GS (0x1D), which is kept; everything else below 0x20 is garbage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .base import FrameSplitter, ParseError

MAX_SCAN_BYTES = 512  # longer than any label we print (a GS1 DataMatrix tops out near 100)
GS = "\x1d"  # GS1 group separator
RS = "\x1e"  # ISO/IEC 15434 record separator ("[)>" envelopes on DataMatrix part labels)
EOT = "\x04"  # ISO/IEC 15434 end of transmission
ALLOWED_CONTROLS = frozenset({GS, RS, EOT})
SUFFIXES = (b"", b"\r", b"\n", b"\r\n")
# ISO/IEC 15424: "]", a symbology code character, a modifier character.
AIM_IDENTIFIER = re.compile(r"\][A-Za-z][0-9A-Za-z]", re.ASCII)
AIM_LENGTH = 3


@dataclass(frozen=True, slots=True)
class ScanFrame:
    """One scan: the data, and the AIM symbology identifier (e.g. "]C1") when one was sent."""

    text: str
    symbology: str | None = None

    def __post_init__(self) -> None:
        if not self.text:
            raise ValueError("a scan carries data; text is empty")
        if self.symbology is not None and not AIM_IDENTIFIER.fullmatch(self.symbology):
            raise ValueError(f"symbology {self.symbology!r} is not an AIM identifier like ']C1'")


def _is_garbage(char: str) -> bool:
    """True for C0/C1 controls and DEL, except the separators GS1 and ISO 15434 use."""
    code = ord(char)
    return (code < 0x20 or 0x7F <= code < 0xA0) and char not in ALLOWED_CONTROLS


def parse_scan(frame: bytes) -> ScanFrame:
    """Read one scan, suffix already removed (a trailing CR or LF is tolerated)."""
    frame = frame.rstrip(b"\r\n")
    if not frame:
        raise ParseError("scanner: empty frame")
    if len(frame) > MAX_SCAN_BYTES:
        raise ParseError(
            f"scanner: frame of {len(frame)} bytes is over {MAX_SCAN_BYTES}: {frame[:32]!r}..."
        )
    text = frame.decode("latin-1")  # every byte maps; scanners send ASCII or ISO 8859-1
    for index, char in enumerate(text):
        if _is_garbage(char):
            raise ParseError(f"scanner: control byte 0x{ord(char):02x} at {index} in {frame!r}")
    if not text.strip(" " + GS + RS + EOT):
        raise ParseError(f"scanner: frame holds no data: {frame!r}")
    symbology = None
    if AIM_IDENTIFIER.match(text):
        symbology, text = text[:AIM_LENGTH], text[AIM_LENGTH:]
        if not text:
            raise ParseError(f"scanner: AIM identifier {symbology!r} with no data: {frame!r}")
    return ScanFrame(text, symbology)


def encode_scan(text: str, symbology: str | None = None, suffix: bytes = b"\r\n") -> bytes:
    """The bytes a scanner sends for `text`, for simulators; ValueError if it could not."""
    if suffix not in SUFFIXES:
        raise ValueError(f"suffix {suffix!r} is not one of {SUFFIXES!r}")
    scan = ScanFrame(text, symbology)  # checks the text and the identifier
    try:
        data = ((scan.symbology or "") + scan.text).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"scan {text!r} is not ISO 8859-1 text") from exc
    return data + suffix


def make_scan_splitter() -> FrameSplitter:
    """A splitter for CR, LF or CRLF suffixes; call `flush()` on idle for no suffix."""
    return FrameSplitter()
