"""One container's export papers as figures: reconciled once, rendered by every document.

``compose`` takes the drums stored in InfluxDB, the catalogue and the site's exporter (the
settings) and the container's shipment record (a supervisor's, in the live state), and
gives goods lines per SKU, totals, what each document still needs (``missing``) and where
each figure comes from (``sources``). The documents only print these figures.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from api.papers.marks import LabelRange, label_ranges
from api.queries import LoadedDrum
from gudang.barcodes import ContainerNo
from gudang.settings import ExporterSettings, Settings, SkuSettings
from gudang.wire import (
    FOB_AS_PRICED,
    PRICE_INCLUDES_FREIGHT,
    PRICE_INCLUDES_INSURANCE,
    ContainerStateV1,
    ContainerStatus,
    PartyV1,
    ShipmentV1,
)

# Money to the cent (the invoice's currency's minor unit for USD and CNY); weights to the
# gram as the scales give them; volume to the litre.
CENT = Decimal("0.01")
WEIGHT_DECIMALS = 3
VOLUME_DECIMALS = 3
# The HS code of a drum whose SKU is not (or no longer) in the catalogue: musical drums.
DEFAULT_HS_CODE = "9206.00"


class Doc(StrEnum):
    """The export papers, by the name their routes use."""

    INVOICE = "invoice"
    PACKING_LIST = "packing-list"
    PEB = "peb"
    FORM_E = "form-e"


ALL_DOCS = frozenset(Doc)


@dataclass(frozen=True, slots=True)
class Missing:
    """Something a document needs that is not known: where to fill it, in both languages."""

    where: str  # the setting or record field: shipment.buyer.name, floor.skus.JMB-L.volume_m3
    en: str
    id: str
    docs: frozenset[Doc]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a document's figures come from."""

    figures_en: str
    figures_id: str
    source_en: str
    source_id: str
    docs: frozenset[Doc]


@dataclass(frozen=True, slots=True)
class GoodsLine:
    """One SKU of the container: an item on every document."""

    item: int  # from 1, the same on every document
    sku: str
    description: str
    hs_code: str
    hs6: str  # the 6-digit heading (Form E): 9206.00
    origin_criterion: str
    package_kind: str
    package_code: str
    unit_code: str
    drums: int  # quantity and number of packages (one drum, one package)
    net_kg: float  # the sum of the scale weights
    packaging_kg_each: float
    gross_kg: float  # net + drums x packaging
    volume_m3: float | None  # drums x the packed drum's volume
    unit_price: Decimal | None
    amount: Decimal | None  # drums x unit price
    fob: Decimal | None  # the amount's share of the FOB value
    marks: list[LabelRange]


@dataclass(slots=True)
class Papers:
    """Everything the four documents print."""

    container_no: str
    container_no_formatted: str
    container_type: str
    container_size: str  # 20 or 40 (feet): the PEB's container size
    status: ContainerStatus
    seal_no: str | None
    site: str
    exporter: ExporterSettings
    shipment: ShipmentV1
    generated_at: datetime
    lines: list[GoodsLine]
    drums: list[LoadedDrum]  # the packing list's annex, in loading order
    total_drums: int
    total_net_kg: float
    total_gross_kg: float
    total_volume_m3: float | None
    total_amount: Decimal | None
    freight: Decimal | None
    insurance: Decimal | None
    total_fob: Decimal | None
    missing: list[Missing] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)

    @property
    def consignee(self) -> PartyV1:
        """Who receives the goods: the buyer unless the record names another."""
        return self.shipment.consignee or self.shipment.buyer

    @property
    def notify_party(self) -> PartyV1:
        """Who the carrier tells of the arrival: the consignee unless the record says."""
        return self.shipment.notify_party or self.consignee

    def missing_for(self, doc: Doc) -> list[Missing]:
        """What ``doc`` still needs before it prints as final."""
        return [m for m in self.missing if doc in m.docs]

    def sources_for(self, doc: Doc) -> list[Source]:
        """Where ``doc``'s figures come from."""
        return [s for s in self.sources if doc in s.docs]

    def is_missing(self, where: str) -> bool:
        """Whether the field at ``where`` is missing (the documents print it so)."""
        return any(m.where == where for m in self.missing)


def money(value: Decimal) -> Decimal:
    """An amount to the cent, halves up (as invoices round)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def hs6(code: str) -> str:
    """The 6-digit heading of an HS code, written 9206.00."""
    digits = "".join(c for c in code if c.isdigit())[:6]
    return f"{digits[:4]}.{digits[4:6]}" if len(digits) == 6 else code


def container_size(container_type: str) -> str:
    """The container's length in feet as the PEB declares it (20GP: 20; 40GP, 40HC: 40)."""
    return container_type[:2] if container_type[:2].isdigit() else container_type


def packaging_kg(spec: SkuSettings | None, default: float) -> float:
    """One drum's packaging weight: its SKU's, else api.packaging_kg_per_drum."""
    if spec is not None and spec.packaging_kg is not None:
        return spec.packaging_kg
    return default


def _allocate(amounts: list[Decimal], total: Decimal) -> list[Decimal]:
    """``total`` shared in proportion to ``amounts``, to the cent, adding up exactly.

    Largest remainders: each share rounded down to the cent, the cents left over go to the
    shares that lost most by it (never a negative share, whatever the number of items).
    """
    base = sum(amounts, Decimal(0))
    exact = [total * a / base for a in amounts]
    shares = [e.quantize(CENT, rounding=ROUND_FLOOR) for e in exact]
    left = int((total - sum(shares, Decimal(0))) / CENT)
    by_loss = sorted(range(len(exact)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_loss[:left]:
        shares[i] += CENT
    return shares


class _Needs:
    """Collects missing fields, each once, with the documents that need it."""

    def __init__(self) -> None:
        self.items: dict[str, Missing] = {}

    def add(self, where: str, en: str, id_: str, docs: frozenset[Doc] = ALL_DOCS) -> None:
        old = self.items.get(where)
        self.items[where] = Missing(where, en, id_, docs | old.docs if old else docs)

    def text(self, value: str, where: str, en: str, id_: str, docs: frozenset[Doc]) -> None:
        if not value.strip():
            self.add(where, en, id_, docs)


# Who needs which of the shipment record's fields (PRODUCT.md, "Export papers").
_TRANSPORT = frozenset({Doc.INVOICE, Doc.PACKING_LIST, Doc.PEB, Doc.FORM_E})
_VALUE_DOCS = frozenset({Doc.INVOICE, Doc.PEB, Doc.FORM_E})
_FOB_DOCS = frozenset({Doc.PEB, Doc.FORM_E})


def _shipment_needs(n: _Needs, s: ShipmentV1) -> None:
    for part, en, id_ in (
        ("name", "name", "nama"),
        ("address", "address", "alamat"),
        ("country", "country", "negara"),
    ):
        n.text(
            getattr(s.buyer, part),
            f"shipment.buyer.{part}",
            f"buyer's {en} (shipment record)",
            f"{id_} pembeli (data pengapalan)",
            ALL_DOCS,
        )
    fields = (
        ("invoice_no", "invoice number", "nomor invoice", ALL_DOCS),
        ("port_of_loading", "port of loading", "pelabuhan muat", _TRANSPORT),
        ("port_of_discharge", "port of discharge", "pelabuhan bongkar", _TRANSPORT),
        ("vessel", "vessel", "nama kapal", _TRANSPORT),
        ("voyage", "voyage", "nomor voyage", _TRANSPORT),
        ("incoterm", "Incoterm", "Incoterm", _VALUE_DOCS),
        ("currency", "currency", "mata uang", _VALUE_DOCS),
    )
    for name, en, id_, docs in fields:
        n.text(
            getattr(s, name),
            f"shipment.{name}",
            f"{en} (shipment record)",
            f"{id_} (data pengapalan)",
            docs,
        )
    if s.invoice_date is None:
        n.add(
            "shipment.invoice_date",
            "invoice date (shipment record)",
            "tanggal invoice (data pengapalan)",
        )
    if s.departure_date is None:
        n.add(
            "shipment.departure_date",
            "departure date (shipment record)",
            "tanggal keberangkatan (data pengapalan)",
            _FOB_DOCS,
        )
    term = s.incoterm
    if term in PRICE_INCLUDES_FREIGHT and s.freight is None:
        n.add(
            "shipment.freight",
            f"freight ({term} prices include it; shipment record)",
            f"biaya angkut (harga {term} termasuk; data pengapalan)",
            _FOB_DOCS,
        )
    if term in PRICE_INCLUDES_INSURANCE and s.insurance is None:
        n.add(
            "shipment.insurance",
            f"insurance ({term} prices include it; shipment record)",
            f"asuransi (harga {term} termasuk; data pengapalan)",
            _FOB_DOCS,
        )
    if term and term not in FOB_AS_PRICED | PRICE_INCLUDES_FREIGHT:
        n.add(
            "shipment.incoterm",
            f"an FOB value: {term} prices do not give it (use FOB, FCA, FAS, CFR, CPT, CIF or CIP)",
            f"nilai FOB: harga {term} tidak memberikannya (pakai FOB, FCA, FAS, CFR, CPT, CIF "
            "atau CIP)",
            _FOB_DOCS,
        )


def _exporter_needs(n: _Needs, e: ExporterSettings) -> None:
    n.text(
        e.name,
        "site.exporter.name",
        "exporter's name (site settings)",
        "nama eksportir (pengaturan situs)",
        ALL_DOCS,
    )
    n.text(
        e.address,
        "site.exporter.address",
        "exporter's address (site settings)",
        "alamat eksportir (pengaturan situs)",
        ALL_DOCS,
    )
    n.text(
        e.npwp,
        "site.exporter.npwp",
        "exporter's NPWP (site settings)",
        "NPWP eksportir (pengaturan situs)",
        frozenset({Doc.INVOICE, Doc.PEB}),
    )
    n.text(
        e.nib,
        "site.exporter.nib",
        "exporter's NIB (site settings)",
        "NIB eksportir (pengaturan situs)",
        frozenset({Doc.PEB}),
    )


def _line(
    item: int,
    sku: str,
    drums: list[LoadedDrum],
    spec: SkuSettings | None,
    currency: str,
    default_packaging: float,
    n: _Needs,
) -> GoodsLine:
    where = f"floor.skus.{sku}"
    if spec is None:
        n.add(
            where,
            f"SKU {sku} in the catalogue (description, HS code, price)",
            f"SKU {sku} di katalog (uraian, kode HS, harga)",
        )
    net = round(sum(d.weight_kg for d in drums), WEIGHT_DECIMALS)
    packaging = packaging_kg(spec, default_packaging)
    volume = spec.volume_m3 if spec is not None else None
    if spec is not None and volume is None:
        n.add(
            f"{where}.volume_m3",
            f"volume of a packed {sku} (catalogue)",
            f"volume satu {sku} terkemas (katalog)",
            frozenset({Doc.PACKING_LIST}),
        )
    price = spec.unit_prices.get(currency) if spec is not None and currency else None
    if spec is not None and currency and price is None:
        n.add(
            f"{where}.unit_prices.{currency}",
            f"unit price of {sku} in {currency} (catalogue)",
            f"harga satuan {sku} dalam {currency} (katalog)",
            _VALUE_DOCS,
        )
    criterion = spec.origin_criterion.strip() if spec is not None else ""
    if spec is not None and not criterion:
        n.add(
            f"{where}.origin_criterion",
            f"origin criterion of {sku} (catalogue)",
            f"kriteria asal {sku} (katalog)",
            frozenset({Doc.FORM_E}),
        )
    hs = spec.hs_code if spec is not None else DEFAULT_HS_CODE
    return GoodsLine(
        item=item,
        sku=sku,
        description=spec.name if spec is not None else sku,
        hs_code=hs,
        hs6=hs6(hs),
        origin_criterion=criterion,
        package_kind=spec.package_kind if spec is not None else "package",
        package_code=spec.package_code if spec is not None else "PK",
        unit_code=spec.unit_code if spec is not None else "PCE",
        drums=len(drums),
        net_kg=net,
        packaging_kg_each=packaging,
        gross_kg=round(net + len(drums) * packaging, WEIGHT_DECIMALS),
        volume_m3=round(len(drums) * volume, VOLUME_DECIMALS) if volume is not None else None,
        unit_price=price,
        amount=money(price * len(drums)) if price is not None else None,
        fob=None,
        marks=label_ranges(d.drum for d in drums),
    )


def _fob(
    s: ShipmentV1, total: Decimal | None, n: _Needs
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(freight, insurance, FOB value) of the invoice total under the shipment's Incoterm."""
    term = s.incoterm
    if total is None or not term:
        return None, None, None
    if term in FOB_AS_PRICED:
        return None, None, total
    if term not in PRICE_INCLUDES_FREIGHT or s.freight is None:
        return s.freight, s.insurance, None
    insurance = s.insurance if term in PRICE_INCLUDES_INSURANCE else None
    if term in PRICE_INCLUDES_INSURANCE and insurance is None:
        return s.freight, None, None
    fob = total - s.freight - (insurance or Decimal(0))
    if fob <= 0:
        n.add(
            "shipment.freight",
            f"freight and insurance below the invoice total ({total})",
            f"biaya angkut dan asuransi di bawah jumlah invoice ({total})",
            _FOB_DOCS,
        )
        return s.freight, insurance, None
    return s.freight, insurance, money(fob)


def _sources(drums: list[LoadedDrum], c: ContainerStateV1, s: ShipmentV1, tz: str) -> list[Source]:
    zone = ZoneInfo(tz)

    def when(at: datetime) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    span = f"{when(drums[0].loaded_at)} - {when(drums[-1].loaded_at)}" if drums else "-"
    stations = ", ".join(sorted({d.station for d in drums})) or "-"
    record = f"{s.set_by}, {when(s.set_at)}" if s.set_at is not None else "-"
    return [
        Source(
            "quantities, packages, marks and numbers, net weights",
            "jumlah, kemasan, merek dan nomor, berat bersih",
            f"{len(drums)} loading scans stored in InfluxDB (stations {stations}; {span}), "
            "each weight from the station's scale",
            f"{len(drums)} pindaian muat tersimpan di InfluxDB (stasiun {stations}; {span}), "
            "tiap berat dari timbangan stasiun",
            ALL_DOCS,
        ),
        Source(
            "container number, type and seal",
            "nomor, tipe dan segel kontainer",
            f"the container's events (opened, sealed {c.seal_no or '-'})",
            f"peristiwa kontainer (dibuka, disegel {c.seal_no or '-'})",
            ALL_DOCS,
        ),
        Source(
            "descriptions, HS codes, unit prices, packaging weights, volumes, origin criteria",
            "uraian, kode HS, harga satuan, berat kemasan, volume, kriteria asal",
            "the SKU catalogue (settings floor.skus)",
            "katalog SKU (pengaturan floor.skus)",
            ALL_DOCS,
        ),
        Source(
            "gross weights",
            "berat kotor",
            "net weight from the scales plus each SKU's packaging weight from the catalogue",
            "berat bersih dari timbangan ditambah berat kemasan tiap SKU dari katalog",
            frozenset({Doc.PACKING_LIST, Doc.PEB, Doc.FORM_E}),
        ),
        Source(
            "buyer, consignee, ports, vessel, Incoterm, currency, freight, invoice number and date",
            "pembeli, penerima, pelabuhan, kapal, Incoterm, mata uang, biaya angkut, nomor dan "
            "tanggal invoice",
            f"the shipment record (set by {record})",
            f"data pengapalan (diisi oleh {record})",
            ALL_DOCS,
        ),
        Source(
            "exporter: name, address, NPWP, NIB",
            "eksportir: nama, alamat, NPWP, NIB",
            "the site settings (site.exporter)",
            "pengaturan situs (site.exporter)",
            ALL_DOCS,
        ),
    ]


def compose(
    container: ContainerStateV1,
    drums: list[LoadedDrum],
    settings: Settings,
    now: datetime | None = None,
) -> Papers:
    """The container's export papers from its drums, the settings and its shipment record."""
    shipment = container.shipment or ShipmentV1()
    needs = _Needs()
    if not container.seal_no:
        needs.add(
            "container.seal_no",
            "seal number (seal the container first)",
            "nomor segel (segel kontainer dahulu)",
        )
    if not drums:
        needs.add("container.drums", "drums: none is loaded", "drum: belum ada yang dimuat")
    _exporter_needs(needs, settings.site.exporter)
    _shipment_needs(needs, shipment)
    by_sku: dict[str, list[LoadedDrum]] = defaultdict(list)
    for d in drums:
        by_sku[d.sku].append(d)
    skus = settings.floor.skus
    lines = [
        _line(
            i,
            sku,
            by_sku[sku],
            skus.get(sku),
            shipment.currency,
            settings.api.packaging_kg_per_drum,
            needs,
        )
        for i, sku in enumerate(sorted(by_sku), start=1)
    ]
    priced = all(ln.amount is not None for ln in lines) and bool(lines)
    total = sum((ln.amount for ln in lines if ln.amount is not None), Decimal(0))
    total_amount = money(total) if priced else None
    freight, insurance, fob = _fob(shipment, total_amount, needs)
    if fob is not None:
        shares = _allocate([ln.amount or Decimal(0) for ln in lines], fob)
        lines = [_with_fob(ln, share) for ln, share in zip(lines, shares, strict=True)]
    volumes = [ln.volume_m3 for ln in lines]
    return Papers(
        container_no=container.container_no,
        container_no_formatted=ContainerNo.parse(container.container_no).formatted,
        container_type=container.container_type,
        container_size=container_size(container.container_type),
        status=container.status,
        seal_no=container.seal_no,
        site=settings.site.name,
        exporter=settings.site.exporter,
        shipment=shipment,
        generated_at=now or datetime.now(UTC),
        lines=lines,
        drums=drums,
        total_drums=len(drums),
        total_net_kg=round(sum(d.weight_kg for d in drums), WEIGHT_DECIMALS),
        total_gross_kg=round(sum(ln.gross_kg for ln in lines), WEIGHT_DECIMALS),
        total_volume_m3=(
            round(sum(v for v in volumes if v is not None), VOLUME_DECIMALS)
            if all(v is not None for v in volumes) and lines
            else None
        ),
        total_amount=total_amount,
        freight=freight,
        insurance=insurance,
        total_fob=fob,
        missing=list(needs.items.values()),
        sources=_sources(drums, container, shipment, settings.site.timezone),
    )


def _with_fob(ln: GoodsLine, fob: Decimal) -> GoodsLine:
    return replace(ln, fob=fob)
