"""The documents' contents as text: header facts and goods tables, for HTML and PDF alike.

A figure that is missing prints as ``MISSING: <what>`` (``BELUM ADA``), never as a blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from api.papers.model import Doc, GoodsLine, Papers
from api.papers.words import words
from gudang.wire import PartyV1

# Form E box 6 lists label ranges up to this many per item; more refer to the annex.
MAX_MARK_RANGES = 12


def kg(value: float) -> str:
    """A weight as printed: to the gram."""
    return f"{value:.3f}"


def m3(value: float | None) -> str:
    """A volume as printed: to the litre."""
    return "" if value is None else f"{value:.3f}"


def amount(value: Decimal | None) -> str:
    """Money as printed: to the cent, no thousands separator (the same in both languages)."""
    return "" if value is None else f"{value:.2f}"


def day(value: date | None) -> str:
    """A date as printed (ISO 8601: unambiguous to both readers)."""
    return "" if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class Table:
    """A goods table: headings, alignments (L/R), rows and total rows."""

    heads: list[str]
    aligns: list[str]
    widths: list[int]  # relative column widths on paper
    rows: list[list[str]]
    totals: list[list[str]]


class View:
    """One document of a container in one language, as text."""

    def __init__(self, papers: Papers, doc: Doc, lang: str, timezone: str) -> None:
        self.p = papers
        self.doc = doc
        self.lang = lang
        self.t = words(lang)
        self.tz = ZoneInfo(timezone)
        self.missing = papers.missing_for(doc)
        self.final = not self.missing

    @property
    def title(self) -> str:
        """The document's title."""
        return self.t[self.doc.value]

    def when(self, at: datetime) -> str:
        """A time in the site's zone."""
        return at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z")

    def missing_text(self, where: str) -> str:
        """How a missing field prints: what is missing, in the document's language."""
        for m in self.missing:
            if m.where == where:
                return f"{self.t['missing']}: {m.id if self.lang == 'id' else m.en}"
        return self.t["missing"]

    def value(self, text: str, where: str) -> str:
        """``text``, or what is missing when it is empty."""
        return text if text.strip() else self.missing_text(where)

    def missing_lines(self) -> list[str]:
        """What this document still needs, one line each."""
        return [f"{m.id if self.lang == 'id' else m.en} [{m.where}]" for m in self.missing]

    def sources(self) -> list[tuple[str, str]]:
        """(figures, source) pairs of this document."""
        id_ = self.lang == "id"
        return [
            (s.figures_id if id_ else s.figures_en, s.source_id if id_ else s.source_en)
            for s in self.p.sources_for(self.doc)
        ]

    # -- header -------------------------------------------------------------------------------
    def party(self, party: PartyV1, where: str) -> str:
        """A party as one block of text: name, address, country."""
        return "\n".join(
            [
                self.value(party.name, f"{where}.name"),
                self.value(party.address, f"{where}.address"),
                self.value(party.country, f"{where}.country"),
            ]
        )

    def exporter(self) -> str:
        """The exporter's block, with the numbers this document prints."""
        e = self.p.exporter
        lines = [
            self.value(e.name, "site.exporter.name"),
            self.value(e.address, "site.exporter.address"),
        ]
        if self.doc in (Doc.INVOICE, Doc.PEB):
            lines.append(f"{self.t['npwp']}: {self.value(e.npwp, 'site.exporter.npwp')}")
        if self.doc is Doc.PEB:
            lines.append(f"{self.t['nib']}: {self.value(e.nib, 'site.exporter.nib')}")
        return "\n".join(lines)

    def facts(self) -> list[tuple[str, str]]:
        """The header's (label, value) pairs: parties, transport, invoice, container."""
        p, s, t = self.p, self.p.shipment, self.t
        out = [(t["exporter"], self.exporter())]
        if self.doc is Doc.FORM_E:
            out.append((t["producer"], p.exporter.producer or t["as_exporter"]))
        out.append((t["buyer"], self.party(s.buyer, "shipment.buyer")))
        consignee = (
            self.party(s.consignee, "shipment.consignee") if s.consignee else t["same_buyer"]
        )
        out.append((t["consignee"], consignee))
        if self.doc is not Doc.FORM_E:
            notify = (
                self.party(s.notify_party, "shipment.notify_party")
                if s.notify_party
                else t["same_consignee"]
            )
            out.append((t["notify"], notify))
        out += [
            (t["invoice_no"], self.value(s.invoice_no, "shipment.invoice_no")),
            (t["invoice_date"], self.value(day(s.invoice_date), "shipment.invoice_date")),
            (t["pol"], self.value(s.port_of_loading, "shipment.port_of_loading")),
            (t["pod"], self.value(s.port_of_discharge, "shipment.port_of_discharge")),
            (
                t["vessel"],
                f"{self.value(s.vessel, 'shipment.vessel')} / "
                f"{self.value(s.voyage, 'shipment.voyage')}",
            ),
        ]
        if self.doc in (Doc.PEB, Doc.FORM_E):
            out.append(
                (t["departure"], self.value(day(s.departure_date), "shipment.departure_date"))
            )
        if self.doc in (Doc.INVOICE, Doc.PACKING_LIST):
            out.append((t["bl"], s.bl_no or t["not_issued"]))
        if self.doc is not Doc.PACKING_LIST:
            out += [
                (t["incoterm"], self.value(s.incoterm, "shipment.incoterm")),
                (t["currency"], self.value(s.currency, "shipment.currency")),
            ]
        out += [
            (t["container"], f"{p.container_no_formatted} ({p.container_type})"),
            (t["seal"], self.value(p.seal_no or "", "container.seal_no")),
            (t["country_origin"], p.exporter.country),
            (t["generated"], self.when(p.generated_at)),
        ]
        return out

    # -- goods --------------------------------------------------------------------------------
    def price(self, ln: GoodsLine) -> str:
        """A line's unit price, or what is missing."""
        where = f"floor.skus.{ln.sku}.unit_prices.{self.p.shipment.currency}"
        if ln.unit_price is not None:
            return amount(ln.unit_price)
        return self.missing_text(where if self.p.shipment.currency else "shipment.currency")

    def marks(self, ln: GoodsLine, limit: int | None = None) -> str:
        """A line's drum labels as ranges (the first ``limit``, then a pointer to the annex)."""
        ranges = [str(r) for r in ln.marks]
        if limit is not None and len(ranges) > limit:
            more = len(ranges) - limit
            ranges = [*ranges[:limit], f"(+{more}: {self.t['annex']})"]
        return "\n".join(ranges)

    def packages(self, ln: GoodsLine) -> str:
        """Number and kind of packages: ``1300 carton (CT)``."""
        return f"{ln.drums} {ln.package_kind} ({ln.package_code})"

    def invoice_table(self) -> Table:
        """Item, description, HS, quantity, unit price, amount; the total."""
        t, p = self.t, self.p
        cur = p.shipment.currency
        rows = [
            [
                str(ln.item),
                f"{ln.description} ({ln.sku})",
                ln.hs_code,
                f"{ln.drums} {ln.unit_code}",
                self.price(ln),
                amount(ln.amount) if ln.amount is not None else t["missing"],
            ]
            for ln in p.lines
        ]
        total = amount(p.total_amount) if p.total_amount is not None else t["missing"]
        totals = [["", f"{t['total']} {cur}".strip(), "", f"{p.total_drums}", "", total]]
        return Table(
            [
                t["item"],
                t["desc"],
                t["hs"],
                t["qty"],
                f"{t['unit_price']} {cur}".strip(),
                f"{t['amount']} {cur}".strip(),
            ],
            ["R", "L", "L", "R", "R", "R"],
            [6, 40, 14, 14, 14, 16],
            rows,
            totals,
        )

    def packing_table(self) -> Table:
        """Item, marks, packages, description, HS, net, gross, volume; totals."""
        t, p = self.t, self.p
        rows = [
            [
                str(ln.item),
                self.marks(ln),
                self.packages(ln),
                f"{ln.description} ({ln.sku})",
                ln.hs_code,
                kg(ln.net_kg),
                kg(ln.gross_kg),
                m3(ln.volume_m3)
                if ln.volume_m3 is not None
                else self.missing_text(f"floor.skus.{ln.sku}.volume_m3"),
            ]
            for ln in p.lines
        ]
        totals = [
            [
                "",
                t["total"],
                f"{p.total_drums}",
                "",
                "",
                kg(p.total_net_kg),
                kg(p.total_gross_kg),
                m3(p.total_volume_m3) if p.total_volume_m3 is not None else t["missing"],
            ]
        ]
        return Table(
            [
                t["item"],
                t["marks"],
                t["packages"],
                t["desc"],
                t["hs"],
                t["net"],
                t["gross"],
                t["volume"],
            ],
            ["R", "L", "R", "L", "L", "R", "R", "R"],
            [5, 34, 14, 20, 11, 13, 13, 11],
            rows,
            totals,
        )

    def annex_table(self) -> Table:
        """The per-drum list: #, label, SKU, net weight, loaded at."""
        t, p = self.t, self.p
        rows = [
            [str(i), d.drum, d.sku, kg(d.weight_kg), self.when(d.loaded_at)]
            for i, d in enumerate(p.drums, start=1)
        ]
        totals = [[t["total"], "", f"{p.total_drums}", kg(p.total_net_kg), ""]]
        return Table(
            ["#", t["drum"], t["sku"], t["weight"], t["loaded"]],
            ["R", "L", "L", "R", "L"],
            [8, 34, 16, 18, 24],
            rows,
            totals,
        )

    def form_e_rows(self) -> list[list[str]]:
        """One row per item: boxes 5 to 10 of the Form E."""
        p, t, s = self.p, self.t, self.p.shipment
        invoice = (
            f"{self.value(s.invoice_no, 'shipment.invoice_no')} "
            f"{self.value(day(s.invoice_date), 'shipment.invoice_date')}"
        )
        rows = []
        for ln in p.lines:
            fob = amount(ln.fob) if ln.fob is not None else self.missing_text("shipment.fob")
            rows.append(
                [
                    str(ln.item),
                    self.marks(ln, MAX_MARK_RANGES),
                    f"{self.packages(ln)}\n{ln.description}",
                    ln.hs6,
                    ln.origin_criterion
                    or self.missing_text(f"floor.skus.{ln.sku}.origin_criterion"),
                    f"{t['gross']}: {kg(ln.gross_kg)}\n{t['qty']}: {ln.drums} {ln.unit_code}\n"
                    f"FOB {s.currency} {fob}",
                    invoice,
                ]
            )
        return rows
