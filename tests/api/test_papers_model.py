"""The export papers as pure code: marks, reconciliation, FOB, what is missing, rendering."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from api.papers import data, html, pdf
from api.papers.marks import LabelRange, label_ranges
from api.papers.model import Doc, _allocate, compose, hs6
from api.queries import LoadedDrum
from gudang.settings import Settings, load_settings
from gudang.wire import ContainerStateV1, ContainerStatus, PartyV1, ShipmentV1

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("labels", "want"),
    [
        ([], []),
        (["CB-JMB-L-000003"], [("CB-JMB-L-000003", "CB-JMB-L-000003", 1)]),
        (
            ["CB-JMB-L-000003", "CB-JMB-L-000001", "CB-JMB-L-000002", "CB-JMB-L-000005"],
            [("CB-JMB-L-000001", "CB-JMB-L-000003", 3), ("CB-JMB-L-000005",) * 2 + (1,)],
        ),
        # a label read twice is one drum
        (["A-0099", "A-0100", "A-0100"], [("A-0099", "A-0100", 2)]),
        # widths differ: they read apart, and are written apart
        (["A-99", "A-100"], [("A-100", "A-100", 1), ("A-99", "A-99", 1)]),
        # other text before the serial, or no serial at all
        (
            ["B-1", "A-2", "NOSERIAL"],
            [("A-2", "A-2", 1), ("B-1", "B-1", 1), ("NOSERIAL",) * 2 + (1,)],
        ),
    ],
)
def test_label_ranges(labels: list[str], want: list[tuple[str, str, int]]) -> None:
    assert label_ranges(labels) == [LabelRange(*w) for w in want]


def test_a_range_prints_as_first_to_last() -> None:
    assert str(LabelRange("A-01", "A-09", 9)) == "A-01 - A-09"
    assert str(LabelRange("A-01", "A-01", 1)) == "A-01"


def test_hs6() -> None:
    assert [hs6(c) for c in ("9206.00", "9206.00.00", "92060000", "9206")] == [
        "9206.00",
        "9206.00",
        "9206.00",
        "9206",
    ]


def settings(**sku_extra: object) -> Settings:
    """A site with its exporter and a priced, complete catalogue of two SKUs."""
    complete = {
        "unit_prices": {"USD": "42.50", "CNY": "300"},
        "volume_m3": 0.125,
        "origin_criterion": "WO",
    }
    return load_settings(
        overrides={
            "site": {
                "name": "blitar",
                "exporter": {
                    "name": "CV Kendang Jaya",
                    "address": "Jl. Merdeka 1, Blitar, Jawa Timur",
                    "npwp": "01.234.567.8-654.000",
                    "nib": "9120001234567",
                },
            },
            "floor": {
                "skus": {
                    "JMB-L": {"name": "Djembe large", "min_kg": 7, "max_kg": 12,
                              "packaging_kg": 1.25, **complete, **sku_extra},
                    "JMB-S": {"name": "Djembe small", "min_kg": 2, "max_kg": 4.5,
                              "packaging_kg": 0.5, **complete,
                              "unit_prices": {"USD": "19.99"}},
                }
            },
            "api": {"packaging_kg_per_drum": 2.0},
        }
    )  # fmt: skip


def shipment(**changes: object) -> ShipmentV1:
    """A complete FOB shipment record; ``changes`` replace fields."""
    base: dict[str, object] = {
        "buyer": PartyV1(name="Guangzhou Music Co.", address="88 Huangpu Rd", country="CN"),
        "port_of_loading": "IDSUB Tanjung Perak",
        "port_of_discharge": "CNHUA Huangpu",
        "vessel": "KMTC JAKARTA",
        "voyage": "2412N",
        "departure_date": date(2026, 12, 5),
        "incoterm": "FOB",
        "currency": "USD",
        "invoice_no": "INV-2026-031",
        "invoice_date": date(2026, 12, 2),
        "set_by": "supervisor-1",
        "set_at": T0,
    }
    base.update(changes)
    return ShipmentV1(**base)  # type: ignore[arg-type]


def container(ship: ShipmentV1 | None, seal: str | None = "EMCS123456") -> ContainerStateV1:
    return ContainerStateV1(
        container_no="CSQU3054383",
        container_type="40HC",
        status=ContainerStatus.SEALED if seal else ContainerStatus.LOADING,
        drums=0,
        capacity_drums=2600,
        fill_ratio=0,
        net_weight_kg=0,
        max_payload_kg=26000,
        weight_ratio=0,
        seal_no=seal,
        shipment=ship,
    )


def drums() -> list[LoadedDrum]:
    """Five large drums 1-3 and 7-8, two small ones 10-11, with gram weights."""
    out = []
    for i, (n, sku, kg) in enumerate(
        [(1, "JMB-L", 9.125), (2, "JMB-L", 9.5), (3, "JMB-L", 8.75), (7, "JMB-L", 10.001),
         (8, "JMB-L", 9.999), (10, "JMB-S", 3.25), (11, "JMB-S", 3.5)]
    ):  # fmt: skip
        out.append(LoadedDrum(f"CB-{sku}-{n:06d}", sku, kg, T0 + timedelta(seconds=i), "load-1"))
    return out


def test_compose_reconciles_every_figure() -> None:
    p = compose(container(shipment()), drums(), settings(), now=T0)
    assert p.missing == []
    large, small = p.lines
    assert (large.item, large.sku, large.drums, small.item, small.drums) == (1, "JMB-L", 5, 2, 2)
    assert large.net_kg == pytest.approx(9.125 + 9.5 + 8.75 + 10.001 + 9.999)
    assert large.gross_kg == pytest.approx(large.net_kg + 5 * 1.25)
    assert small.gross_kg == pytest.approx(3.25 + 3.5 + 2 * 0.5)
    assert p.total_net_kg == pytest.approx(large.net_kg + small.net_kg)
    assert p.total_gross_kg == pytest.approx(large.gross_kg + small.gross_kg)
    assert p.total_volume_m3 == pytest.approx(7 * 0.125)
    assert (large.amount, small.amount) == (Decimal("212.50"), Decimal("39.98"))
    assert p.total_amount == Decimal("252.48")
    assert p.total_fob == p.total_amount  # FOB: the price is the FOB value
    assert [str(r) for r in large.marks] == [
        "CB-JMB-L-000001 - CB-JMB-L-000003",
        "CB-JMB-L-000007 - CB-JMB-L-000008",
    ]
    assert (p.container_size, large.hs6, large.package_code) == ("40", "9206.00", "CT")


def test_cif_fob_takes_off_freight_and_insurance_to_the_cent() -> None:
    ship = shipment(incoterm="CIF", freight=Decimal("50.00"), insurance=Decimal("1.01"))
    p = compose(container(ship), drums(), settings(), now=T0)
    assert p.missing == []
    assert p.total_fob == Decimal("201.47")  # 252.48 - 50.00 - 1.01
    # shared by value to the cent (largest remainders): they add up exactly
    assert sum(ln.fob or 0 for ln in p.lines) == p.total_fob
    assert p.lines[0].fob == Decimal("169.57")  # 201.47 x 212.50 / 252.48, to the cent


def test_missing_shipment_data_is_named_per_document() -> None:
    p = compose(container(None, seal=None), drums(), settings(volume_m3=None), now=T0)
    wheres = {m.where for m in p.missing}
    assert {"container.seal_no", "shipment.buyer.name", "shipment.invoice_no",
            "shipment.currency", "floor.skus.JMB-L.volume_m3"} <= wheres  # fmt: skip
    # no currency yet: no unit price can be looked up, so none is named missing
    assert not any("unit_prices" in w for w in wheres)
    assert [m.where for m in p.missing_for(Doc.PACKING_LIST) if "volume" in m.where] == [
        "floor.skus.JMB-L.volume_m3"
    ]
    assert not any("volume" in m.where for m in p.missing_for(Doc.INVOICE))
    assert p.total_amount is None
    assert p.total_volume_m3 is None
    # a currency the catalogue has no price in: that price is missing, never converted
    p = compose(container(shipment(currency="CNY")), drums(), settings(), now=T0)
    assert [m.where for m in p.missing] == ["floor.skus.JMB-S.unit_prices.CNY"]
    assert {d for m in p.missing for d in m.docs} == {Doc.INVOICE, Doc.PEB, Doc.FORM_E}
    # CIF without the insurance: the FOB value cannot be had
    p = compose(container(shipment(incoterm="CIF", freight=Decimal(10))), drums(), settings())
    assert [(m.where, m.docs) for m in p.missing] == [
        ("shipment.insurance", frozenset({Doc.PEB, Doc.FORM_E}))
    ]
    assert p.total_fob is None
    # an origin criterion not configured: the Form E, only, says so
    p = compose(container(shipment()), drums(), settings(origin_criterion=""), now=T0)
    assert [(m.where, m.docs) for m in p.missing] == [
        ("floor.skus.JMB-L.origin_criterion", frozenset({Doc.FORM_E}))
    ]
    # EXW gives no FOB value
    p = compose(container(shipment(incoterm="EXW")), drums(), settings(), now=T0)
    assert [m.where for m in p.missing] == ["shipment.incoterm"]


def _pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


@pytest.mark.parametrize("lang", ["en", "id"])
def test_documents_print_the_same_figures(lang: str) -> None:
    p = compose(container(shipment()), drums(), settings(), now=T0)
    tz = "Asia/Jakarta"
    inv_html = html.invoice(p, lang, tz)
    pl_html = html.packing_list(p, lang, tz)
    fe_html = html.form_e(p, lang, tz)
    inv_pdf = _pdf_text(pdf.invoice(p, lang, tz))
    pl_pdf = _pdf_text(pdf.packing_list(p, lang, tz))
    for page in (inv_html, pl_html, fe_html):
        assert 'data-final="true"' in page
        assert "CSQU 305438 3" in page
        assert "EMCS123456" in page
    assert "Invoice komersial" in inv_html if lang == "id" else "Commercial invoice" in inv_html
    for text in (inv_html, inv_pdf):
        assert "252.48" in text
        assert "212.50" in text
        assert "39.98" in text
        assert "42.50" in text
    net, gross = f"{p.total_net_kg:.3f}", f"{p.total_gross_kg:.3f}"
    for text in (pl_html, pl_pdf):
        assert net in text
        assert gross in text
        assert "0.875" in text
        assert "CB-JMB-L-000001 - CB-JMB-L-000003" in text
        assert all(d.drum in text for d in drums())  # the annex
    assert "9206.00" in fe_html
    assert "WO" in fe_html
    assert "INV-2026-031" in fe_html
    assert "KMTC JAKARTA" in pl_pdf
    assert "Guangzhou Music Co." in inv_pdf
    assert "InfluxDB" in inv_pdf
    assert "floor.skus" in pl_html


def test_a_draft_says_what_is_missing_instead_of_blanks() -> None:
    ship = shipment(buyer=PartyV1(name="Guangzhou Music Co."), invoice_no="")
    p = compose(container(ship, seal=None), drums(), settings(), now=T0)
    page = html.invoice(p, "en", "UTC")
    assert 'data-final="false"' in page
    assert "DRAFT - not final" in page
    assert "MISSING: buyer&#x27;s address (shipment record)" in page
    assert "MISSING: invoice number (shipment record)" in page
    assert "MISSING: seal number" in page
    text = _pdf_text(pdf.invoice(p, "id", "UTC"))
    assert "DRAF - belum final" in text
    assert "BELUM ADA: nomor invoice" in text
    refusal = html.refusal(p, Doc.INVOICE, "id", "UTC", "/draft")
    assert "Belum final" in refusal
    assert "nomor segel" in refusal
    assert 'href="/draft"' in refusal


def test_peb_and_form_e_data_carry_the_invoice_figures() -> None:
    p = compose(container(shipment()), drums(), settings(), now=T0)
    rows = list(csv.DictReader(io.StringIO(data.peb_csv(p))))
    assert [r["item_no"] for r in rows] == ["1", "2"]
    assert {r["status"] for r in rows} == {"final"}
    assert [r["quantity"] for r in rows] == ["5", "2"]
    assert sum(Decimal(r["fob"]) for r in rows) == p.total_amount == Decimal(rows[0]["fob_total"])
    assert sum(float(r["net_kg"]) for r in rows) == pytest.approx(p.total_net_kg)
    assert rows[0]["exporter_npwp"] == "01.234.567.8-654.000"
    assert (rows[0]["container_size"], rows[0]["seal_no"]) == ("40", "EMCS123456")
    js = data.peb_json(p)
    assert [i["hs_code"] for i in js["items"]] == ["9206.00", "9206.00"]
    assert js["missing"] == []
    assert js["header"]["status"] == "final"
    fe = list(csv.DictReader(io.StringIO(data.form_e_csv(p))))
    assert [r["box9_fob"] for r in fe] == [r["fob"] for r in rows]
    assert [r["box9_gross_kg"] for r in fe] == [r["gross_kg"] for r in rows]
    assert fe[0]["box6_marks_and_numbers"] == (
        "CB-JMB-L-000001 - CB-JMB-L-000003; CB-JMB-L-000007 - CB-JMB-L-000008"
    )
    # a draft's data names what is missing in the cell
    p = compose(container(shipment(vessel="")), drums(), settings(), now=T0)
    rows = list(csv.DictReader(io.StringIO(data.peb_csv(p))))
    assert rows[0]["status"] == "draft"
    assert rows[0]["vessel"] == "MISSING:shipment.vessel"


def test_form_e_box_6_lists_a_dozen_ranges_then_points_to_the_annex() -> None:
    # every other serial: 20 ranges of one drum
    gappy = [LoadedDrum(f"CB-JMB-L-{2 * n:06d}", "JMB-L", 9.0, T0, "load-1") for n in range(20)]
    p = compose(container(shipment()), gappy, settings(), now=T0)
    assert len(p.lines[0].marks) == 20
    page = html.form_e(p, "en", "UTC")
    assert "CB-JMB-L-000022" in page  # the 12th range
    assert "CB-JMB-L-000024" not in page  # the 13th is in the annex, not in box 6
    assert "(+8: Annex: drum by drum)" in page
    # the CSV keeps them all: the e-SKA application is filled from it
    row = next(csv.DictReader(io.StringIO(data.form_e_csv(p))))
    assert row["box6_marks_and_numbers"].count(";") == 19


@given(
    st.sets(
        st.tuples(st.sampled_from(["CB-JMB-L-", "CB-JMB-M-", "X", ""]), st.integers(0, 60)),
        max_size=80,
    ),
    st.sampled_from([1, 4, 6]),
)
def test_label_ranges_cover_every_label_once(pairs: set[tuple[str, int]], width: int) -> None:
    labels = {f"{prefix}{n:0{width}d}" for prefix, n in pairs}
    ranges = label_ranges(labels)
    assert sum(r.count for r in ranges) == len(labels)
    covered: list[str] = []
    for r in ranges:
        head = r.first.rstrip("0123456789")
        first, last = int(r.first[len(head) :]), int(r.last[len(head) :])
        assert last - first + 1 == r.count
        covered += [f"{head}{n:0{len(r.first) - len(head)}d}" for n in range(first, last + 1)]
    assert sorted(covered) == sorted(labels)


@given(
    st.lists(st.tuples(st.sampled_from(["JMB-L", "JMB-S"]), st.integers(2000, 12000)), min_size=1),
    st.sampled_from(["FOB", "CFR", "CIF"]),
    st.integers(0, 5000),
    st.integers(0, 500),
)
def test_figures_add_up_for_any_container(
    loads: list[tuple[str, int]], term: str, freight_cents: int, insurance_cents: int
) -> None:
    loaded = [
        LoadedDrum(f"CB-{sku}-{i:06d}", sku, grams / 1000, T0, "load-1")
        for i, (sku, grams) in enumerate(loads)
    ]
    ship = shipment(
        incoterm=term,
        freight=Decimal(freight_cents) / 100,
        insurance=Decimal(insurance_cents) / 100,
    )
    p = compose(container(ship), loaded, settings(), now=T0)
    assert sum(ln.drums for ln in p.lines) == p.total_drums == len(loaded)
    assert sum(ln.net_kg for ln in p.lines) == pytest.approx(p.total_net_kg, abs=1e-6)
    assert p.total_net_kg == pytest.approx(sum(d.weight_kg for d in loaded), abs=1e-6)
    for ln in p.lines:
        assert ln.gross_kg == pytest.approx(ln.net_kg + ln.drums * ln.packaging_kg_each, abs=1e-6)
        assert ln.amount == (ln.unit_price or 0) * ln.drums
    assert p.total_amount == sum(ln.amount or 0 for ln in p.lines)
    if p.total_fob is not None:
        assert sum(ln.fob or 0 for ln in p.lines) == p.total_fob
        assert all(ln.fob is not None and ln.fob >= 0 for ln in p.lines)
    else:  # only when freight and insurance leave nothing of the price
        assert [m.where for m in p.missing] == ["shipment.freight"]


@given(
    st.lists(st.integers(1, 10**7), min_size=1, max_size=30),
    st.integers(0, 10**8),
)
def test_fob_shares_are_never_negative_and_add_up(amount_cents: list[int], fob_cents: int) -> None:
    amounts = [Decimal(a) / 100 for a in amount_cents]
    shares = _allocate(amounts, Decimal(fob_cents) / 100)
    assert sum(shares) == Decimal(fob_cents) / 100
    assert all(s >= 0 and s == s.quantize(Decimal("0.01")) for s in shares)
    # each share is within a cent of its exact part
    base = sum(amounts)
    for a, s in zip(amounts, shares, strict=True):
        assert abs(s - Decimal(fob_cents) / 100 * a / base) < Decimal("0.01")
