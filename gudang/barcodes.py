"""Domain values read from labels: container numbers (ISO 6346) and drum labels.

Both validate themselves when built and say exactly what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from biip import ParseConfig
from biip import ParseError as BiipParseError
from biip import parse as biip_parse
from biip.gs1_messages import GS1Message
from stdnum import iso6346
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength

GS = "\x1d"  # GS1 group separator ending variable-length fields
# AIM identifiers of symbologies that carry GS1 element strings.
GS1_SYMBOLOGIES = frozenset({"]C1", "]d2", "]Q3", "]e0"})


class BarcodeError(ValueError):
    """A label that cannot be what it claims to be."""


@dataclass(frozen=True, slots=True)
class ContainerNo:
    """An ISO 6346 container number in compact form, e.g. ``CSQU3054383``."""

    value: str

    def __post_init__(self) -> None:
        try:
            iso6346.validate(self.value)
        except InvalidChecksum as exc:
            raise BarcodeError(f"container number {self.value!r}: wrong check digit") from exc
        except (InvalidLength, InvalidFormat) as exc:
            raise BarcodeError(
                f"container number {self.value!r}: not 4 letters (owner + U/J/Z/R) and 7 digits"
            ) from exc
        if self.value != self.value.upper().replace(" ", ""):
            raise BarcodeError(f"container number {self.value!r}: use the compact form")

    @classmethod
    def parse(cls, text: str) -> ContainerNo:
        """Build from a label as printed: spaces and hyphens allowed, any case."""
        if cls is ContainerNo:
            return _parse_container_no(text)
        return cls(_compact(text))

    @property
    def formatted(self) -> str:
        """The printed form, ``CSQU 305438 3`` (as stdnum's ``iso6346.format``)."""
        v = self.value  # validated: 4 letters, 6 digits, the check digit
        return f"{v[:4]} {v[4:10]} {v[10:]}"

    def __str__(self) -> str:
        return self.value


def _compact(text: str) -> str:
    return text.strip().upper().replace(" ", "").replace("-", "")


@lru_cache(maxsize=4096)
def _parse_container_no(text: str) -> ContainerNo:
    # Every API request on a container and every container-label scan parses a number;
    # stdnum's check takes ~9 µs. Valid numbers are cached (a refusal raises, uncached).
    return ContainerNo(_compact(text))


def is_container_label(text: str) -> bool:
    """True when the text is a valid ISO 6346 container number."""
    try:
        ContainerNo.parse(text)
    except BarcodeError:
        return False
    return True


# Cards kept at a receiving station and scanned like labels (docs/bridge.md, "Station cards").
SUPPLIER_CARD_PREFIX = "SUP:"
QC_CARD_PREFIX = "QC:"
QC_CARD_RESULTS = ("pass", "reject", "rework")  # gudang.wire.QcResult's values
_SUPPLIER_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._&/-]{0,63}$")


@dataclass(frozen=True, slots=True)
class StationCard:
    """A supplier card (``SUP:CV-JAYA``) or a QC card (``QC:REJECT``), read off a scan."""

    supplier: str | None = None
    qc: str | None = None  # one of QC_CARD_RESULTS

    @classmethod
    def parse(cls, text: str) -> StationCard | None:
        """The card this text is; None when it is no card; BarcodeError for a broken one."""
        upper = text[: len(SUPPLIER_CARD_PREFIX)].upper()
        if upper == SUPPLIER_CARD_PREFIX:
            code = text[len(SUPPLIER_CARD_PREFIX) :].strip()
            if not _SUPPLIER_CODE.match(code):
                raise BarcodeError(
                    f"supplier card {text!r}: after {SUPPLIER_CARD_PREFIX} comes the supplier's "
                    "code, 1-64 letters, digits, spaces or . _ & / -"
                )
            return cls(supplier=code)
        if text[: len(QC_CARD_PREFIX)].upper() == QC_CARD_PREFIX:
            result = text[len(QC_CARD_PREFIX) :].strip().lower()
            if result not in QC_CARD_RESULTS:
                raise BarcodeError(
                    f"QC card {text!r}: expected {QC_CARD_PREFIX}PASS, {QC_CARD_PREFIX}REJECT "
                    f"or {QC_CARD_PREFIX}REWORK"
                )
            return cls(qc=result)
        return None


# The default internal drum code: CB-JMB-L-000123 -> SKU "JMB-L". Configurable.
DEFAULT_DRUM_PATTERN = r"^CB-(?P<sku>[A-Z0-9]+-[A-Z0-9]+)-(?P<serial>\d{4,10})$"


@dataclass(frozen=True, slots=True)
class DrumLabel:
    """A drum's unique label: its identity, and what it says of the SKU.

    ``key`` identifies the drum for exactly-once counting: ``gtin:serial`` for GS1
    labels, the code itself for internal labels.
    """

    key: str
    sku: str | None
    gtin: str | None = None
    serial: str | None = None


def parse_drum_label(
    text: str, symbology: str | None = None, pattern: str = DEFAULT_DRUM_PATTERN
) -> DrumLabel:
    """Read a drum label: GS1 (01)+(21) element strings, or the internal pattern."""
    text = text.strip()
    if not text:
        raise BarcodeError("empty label")
    internal = re.match(pattern, text)
    if internal and symbology not in GS1_SYMBOLOGIES:
        sku = internal.groupdict().get("sku")
        return DrumLabel(key=text, sku=sku)
    looks_gs1 = symbology in GS1_SYMBOLOGIES or text.startswith(("01", "(01)")) or GS in text
    if not looks_gs1:
        raise BarcodeError(f"label {text!r} is neither GS1 (01)+(21) nor an internal drum code")
    msg: GS1Message | None
    try:
        if text.startswith("("):
            msg = GS1Message.parse_hri(text)  # human-readable form, typed by hand
        else:
            result = biip_parse(text, config=ParseConfig(separator_chars=(GS,)))
            msg = result.gs1_message
            if msg is None:
                raise BarcodeError(f"GS1 label {text!r}: {result.gs1_message_error or 'not GS1'}")
    except BiipParseError as exc:
        raise BarcodeError(f"GS1 label {text!r}: {exc}") from exc
    gtin_es = msg.element_strings.get(ai="01")
    serial_es = msg.element_strings.get(ai="21")
    if gtin_es is None or serial_es is None:
        raise BarcodeError(f"GS1 label {text!r}: needs (01) GTIN and (21) serial")
    return DrumLabel(
        key=f"{gtin_es.value}:{serial_es.value}",
        sku=None,
        gtin=gtin_es.value,
        serial=serial_es.value,
    )
