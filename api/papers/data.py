"""The papers as data: PEB goods data (CSV, JSON), the packing list's and Form E's CSV.

Field names are documented in docs/papers.md. CSVs are flat, one row per goods item with
the declaration's header fields repeated, so a broker's import takes each row whole. A
missing value is written ``MISSING:<where>`` and the row's ``status`` is ``draft``.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from api import csvsafe
from api.papers.model import Doc, GoodsLine, Papers
from api.papers.render import amount, day, kg

DRAFT = "draft"
FINAL = "final"


def _get(p: Papers, value: str, where: str) -> str:
    return value if value.strip() else f"MISSING:{where}"


def _money(value: Decimal | None, where: str) -> str:
    return amount(value) if value is not None else f"MISSING:{where}"


def peb_header(p: Papers) -> dict[str, str]:
    """The declaration's header fields (exporter, buyer, transport, container, value)."""
    s, e = p.shipment, p.exporter
    return {
        "status": FINAL if not p.missing_for(Doc.PEB) else DRAFT,
        "exporter_name": _get(p, e.name, "site.exporter.name"),
        "exporter_address": _get(p, e.address, "site.exporter.address"),
        "exporter_npwp": _get(p, e.npwp, "site.exporter.npwp"),
        "exporter_nib": _get(p, e.nib, "site.exporter.nib"),
        "buyer_name": _get(p, s.buyer.name, "shipment.buyer.name"),
        "buyer_address": _get(p, s.buyer.address, "shipment.buyer.address"),
        "buyer_country": _get(p, s.buyer.country, "shipment.buyer.country"),
        "consignee_name": p.consignee.name,
        "consignee_country": p.consignee.country,
        "port_of_loading": _get(p, s.port_of_loading, "shipment.port_of_loading"),
        "port_of_discharge": _get(p, s.port_of_discharge, "shipment.port_of_discharge"),
        "vessel": _get(p, s.vessel, "shipment.vessel"),
        "voyage": _get(p, s.voyage, "shipment.voyage"),
        "departure_date": _get(p, day(s.departure_date), "shipment.departure_date"),
        "invoice_no": _get(p, s.invoice_no, "shipment.invoice_no"),
        "invoice_date": _get(p, day(s.invoice_date), "shipment.invoice_date"),
        "incoterm": _get(p, s.incoterm, "shipment.incoterm"),
        "currency": _get(p, s.currency, "shipment.currency"),
        "freight": amount(p.freight),
        "insurance": amount(p.insurance),
        "fob_total": _money(p.total_fob, "fob"),
        "container_no": p.container_no,
        "container_size": p.container_size,
        "container_type": p.container_type,
        "seal_no": _get(p, p.seal_no or "", "container.seal_no"),
        "packages_total": str(p.total_drums),
        "net_kg_total": kg(p.total_net_kg),
        "gross_kg_total": kg(p.total_gross_kg),
        "origin_country": p.exporter.country,
    }


def peb_item(p: Papers, ln: GoodsLine) -> dict[str, str]:
    """One goods item of the declaration."""
    cur = p.shipment.currency
    return {
        "item_no": str(ln.item),
        "hs_code": ln.hs_code,
        "description": ln.description,
        "sku": ln.sku,
        "quantity": str(ln.drums),
        "unit_code": ln.unit_code,
        "packages": str(ln.drums),
        "package_code": ln.package_code,
        "package_kind": ln.package_kind,
        "net_kg": kg(ln.net_kg),
        "gross_kg": kg(ln.gross_kg),
        "unit_price": _money(ln.unit_price, f"floor.skus.{ln.sku}.unit_prices.{cur}"),
        "amount": _money(ln.amount, f"floor.skus.{ln.sku}.unit_prices.{cur}"),
        "fob": _money(ln.fob, "fob"),
    }


def _csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
        w.writeheader()
        w.writerows({k: csvsafe.cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def peb_csv(p: Papers) -> str:
    """PEB goods data as CSV: one row per item, the header fields on every row."""
    header = peb_header(p)
    return _csv([{**header, **peb_item(p, ln)} for ln in p.lines])


def peb_json(p: Papers) -> dict[str, Any]:
    """PEB goods data as JSON: the header, the items, what is missing, the sources."""
    return {
        "document": "peb",
        "header": peb_header(p),
        "items": [peb_item(p, ln) for ln in p.lines],
        "missing": _missing(p, Doc.PEB),
        "sources": _sources(p, Doc.PEB),
    }


def form_e_csv(p: Papers) -> str:
    """The Form E sheet as CSV: one row per item (boxes 5 to 10), boxes 1 to 3 repeated."""
    s = p.shipment
    status = FINAL if not p.missing_for(Doc.FORM_E) else DRAFT
    rows = []
    for ln in p.lines:
        rows.append(
            {
                "status": status,
                "box1_exporter": _get(p, p.exporter.name, "site.exporter.name"),
                "box1_exporter_address": _get(p, p.exporter.address, "site.exporter.address"),
                "box1_exporter_country": p.exporter.country,
                "producer": p.exporter.producer or p.exporter.name,
                "box2_consignee": _get(p, p.consignee.name, "shipment.buyer.name"),
                "box2_consignee_address": _get(p, p.consignee.address, "shipment.buyer.address"),
                "box2_consignee_country": _get(p, p.consignee.country, "shipment.buyer.country"),
                "box3_departure_date": _get(p, day(s.departure_date), "shipment.departure_date"),
                "box3_vessel": _get(p, s.vessel, "shipment.vessel"),
                "box3_voyage": _get(p, s.voyage, "shipment.voyage"),
                "box3_port_of_loading": _get(p, s.port_of_loading, "shipment.port_of_loading"),
                "box3_port_of_discharge": _get(
                    p, s.port_of_discharge, "shipment.port_of_discharge"
                ),
                "box5_item_no": str(ln.item),
                "box6_marks_and_numbers": "; ".join(str(r) for r in ln.marks),
                "box7_packages": str(ln.drums),
                "box7_package_kind": ln.package_kind,
                "box7_description": ln.description,
                "box7_hs_code": ln.hs6,
                "box8_origin_criterion": _get(
                    p, ln.origin_criterion, f"floor.skus.{ln.sku}.origin_criterion"
                ),
                "box9_gross_kg": kg(ln.gross_kg),
                "box9_quantity": str(ln.drums),
                "box9_unit_code": ln.unit_code,
                "box9_fob": _money(ln.fob, "fob"),
                "box9_currency": _get(p, s.currency, "shipment.currency"),
                "box10_invoice_no": _get(p, s.invoice_no, "shipment.invoice_no"),
                "box10_invoice_date": _get(p, day(s.invoice_date), "shipment.invoice_date"),
            }
        )
    return _csv(rows)


def packing_list_csv(p: Papers) -> str:
    """The packing list as CSV: one row per item (marks, packages, weights, volume)."""
    s = p.shipment
    status = FINAL if not p.missing_for(Doc.PACKING_LIST) else DRAFT
    return _csv(
        [
            {
                "status": status,
                "container_no": p.container_no,
                "container_type": p.container_type,
                "seal_no": _get(p, p.seal_no or "", "container.seal_no"),
                "invoice_no": _get(p, s.invoice_no, "shipment.invoice_no"),
                "buyer_name": _get(p, s.buyer.name, "shipment.buyer.name"),
                "item_no": str(ln.item),
                "sku": ln.sku,
                "description": ln.description,
                "hs_code": ln.hs_code,
                "marks_and_numbers": "; ".join(str(r) for r in ln.marks),
                "packages": str(ln.drums),
                "package_kind": ln.package_kind,
                "net_kg": kg(ln.net_kg),
                "gross_kg": kg(ln.gross_kg),
                "volume_m3": f"{ln.volume_m3:.3f}"
                if ln.volume_m3 is not None
                else f"MISSING:floor.skus.{ln.sku}.volume_m3",
            }
            for ln in p.lines
        ]
    )


def _missing(p: Papers, doc: Doc) -> list[dict[str, str]]:
    return [{"where": m.where, "en": m.en, "id": m.id} for m in p.missing_for(doc)]


def _sources(p: Papers, doc: Doc) -> list[dict[str, str]]:
    return [
        {
            "figures": s.figures_en,
            "source": s.source_en,
            "figures_id": s.figures_id,
            "source_id": s.source_id,
        }
        for s in p.sources_for(doc)
    ]


def summary(p: Papers) -> dict[str, Any]:
    """The papers' figures and readiness: what the dashboard shows before printing."""
    return {
        "container_no": p.container_no,
        "status": p.status.value,
        "seal_no": p.seal_no,
        "currency": p.shipment.currency or None,
        "incoterm": p.shipment.incoterm or None,
        "items": [
            {
                "item_no": ln.item,
                "sku": ln.sku,
                "description": ln.description,
                "hs_code": ln.hs_code,
                "drums": ln.drums,
                "net_kg": ln.net_kg,
                "gross_kg": ln.gross_kg,
                "volume_m3": ln.volume_m3,
                "unit_price": amount(ln.unit_price) or None,
                "amount": amount(ln.amount) or None,
                "fob": amount(ln.fob) or None,
                "marks": [str(r) for r in ln.marks],
            }
            for ln in p.lines
        ],
        "totals": {
            "drums": p.total_drums,
            "net_kg": p.total_net_kg,
            "gross_kg": p.total_gross_kg,
            "volume_m3": p.total_volume_m3,
            "amount": amount(p.total_amount) or None,
            "freight": amount(p.freight) or None,
            "insurance": amount(p.insurance) or None,
            "fob": amount(p.total_fob) or None,
        },
        "documents": {
            doc.value: {"final": not p.missing_for(doc), "missing": _missing(p, doc)} for doc in Doc
        },
    }
