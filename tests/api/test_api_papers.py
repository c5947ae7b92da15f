"""Export papers of a container filled by 2,600 real scans: every figure reconciles.

The scans go through the real ingest (MQTT -> services -> InfluxDB); the documents are read
back as a customs broker would read them: the PDFs' text, the CSVs, the JSON.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from gudang.influx import quote_str
from gudang.settings import ExporterSettings, Settings
from gudang.wire import Topics, encode
from gudang_ops.servers import ServerProcess
from tests.api.conftest import CONTAINER, STATION, Stack, running_stack, token_settings
from tests.harness import influx_rows, wait_for
from tests.services.kit import Streamer, make_scan

PRICES = {"JMB-L": Decimal("42.50"), "JMB-M": Decimal("27.25")}
PACKAGING = {"JMB-L": 1.25, "JMB-M": 0.8}
VOLUME = {"JMB-L": 0.125, "JMB-M": 0.064}
# 1,600 large drums in two runs of labels, 1,000 medium in one: 2,600, a full container.
LABELS = [f"CB-JMB-L-{n:06d}" for n in [*range(1, 801), *range(1001, 1801)]] + [
    f"CB-JMB-M-{n:06d}" for n in range(1, 1001)
]
FREIGHT, INSURANCE = Decimal("1850.00"), Decimal("96.40")
SHIPMENT = {
    "buyer": {
        "name": "Guangzhou Music Instruments Co., Ltd.",
        "address": "88 Huangpu Road, Guangzhou",
        "country": "CN",
    },
    "notify_party": {"name": "Huangpu Forwarding", "address": "1 Port Rd", "country": "CN"},
    "port_of_loading": "IDSUB Tanjung Perak",
    "port_of_discharge": "CNHUA Huangpu",
    "vessel": "KMTC JAKARTA",
    "voyage": "2412N",
    "departure_date": "2026-12-05",
    "incoterm": "CIF",
    "currency": "USD",
    "freight": str(FREIGHT),
    "insurance": str(INSURANCE),
    "invoice_no": "INV-2026-031",
    "invoice_date": "2026-12-02",
}


def _weight(i: int, sku: str) -> float:
    # grams that vary, inside each SKU's range
    return round((9.0 if sku == "JMB-L" else 5.5) + (i % 37) * 0.013, 3)


def papers_settings(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path
) -> Settings:
    """Test settings with the exporter and a complete, priced catalogue of two SKUs."""
    complete = {"origin_criterion": "WO", "hs_code": "9206.00.00"}
    settings = token_settings(
        mosquitto,
        influxd,
        site,
        tmp_path,
        floor={
            "skus": {
                sku: {
                    "name": name,
                    "min_kg": lo,
                    "max_kg": hi,
                    "unit_prices": {"USD": str(PRICES[sku])},
                    "packaging_kg": PACKAGING[sku],
                    "volume_m3": VOLUME[sku],
                    **complete,
                }
                for sku, name, lo, hi in (
                    ("JMB-L", "Djembe large", 7.0, 12.0),
                    ("JMB-M", "Djembe medium", 4.0, 7.5),
                )
            }
        },
    )
    exporter = ExporterSettings(
        name="CV Kendang Jaya",
        address="Jl. Merdeka 1, Blitar, Jawa Timur",
        npwp="01.234.567.8-654.000",
        nib="9120001234567",
    )
    site_settings = settings.site.model_copy(update={"exporter": exporter})
    return settings.model_copy(update={"site": site_settings})


@pytest.fixture
def papers_stack(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path
) -> Iterator[Stack]:
    with running_stack(papers_settings(mosquitto, influxd, site, tmp_path)) as stack:
        yield stack


def _fill(stack: Stack) -> None:
    """Publish the 2,600 scans flat out, as many stations' bridges would."""
    topic = Topics(stack.site).scan(STATION)
    messages = [
        (topic, encode(make_scan(stack.site, STATION, label, _weight(i, label[3:8]))))
        for i, label in enumerate(LABELS)
    ]
    streamer = Streamer(stack.settings)
    try:
        streamer.start(messages)
        streamer.wait_done(len(messages), timeout=120)
    finally:
        streamer.close()
    wait_for(
        lambda: stack.container()["drums"] == len(LABELS), timeout=120, what="2,600 drums loaded"
    )


def _stored(settings: Settings) -> dict[str, list[float]]:
    """The loaded scans' weights per SKU, as InfluxDB holds them."""
    rows = influx_rows(
        settings.influx,
        f"SELECT drum, sku, weight_kg FROM scan WHERE site = {quote_str(settings.site.name)} "
        f"AND container_no = '{CONTAINER}' AND result = 'loaded'",
    )
    out: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        out[r["sku"]].append(float(r["weight_kg"]))
    return out


def _pdf_text(body: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def _doc(stack: Stack, name: str, **params: str) -> bytes:
    r = stack.get(f"/api/v1/containers/{CONTAINER}/papers/{name}", params=params)
    assert r.status_code == 200, r.text[:500]
    return r.content


def test_papers_of_a_full_container_reconcile_with_influxdb_and_each_other(
    papers_stack: Stack,
) -> None:
    stack = papers_stack
    stack.open_and_point()
    _fill(stack)

    # Not sealed, no shipment record: a document names what it lacks instead of blanks.
    r = stack.get(f"/api/v1/containers/{CONTAINER}/papers/invoice.pdf")
    assert r.status_code == 409
    wheres = {m["where"] for m in r.json()["missing"]}
    assert {"container.seal_no", "shipment.buyer.name", "shipment.currency"} <= wheres
    page = stack.get(f"/api/v1/containers/{CONTAINER}/papers/invoice.html", params={"lang": "id"})
    assert page.status_code == 409
    assert "nomor segel" in page.text
    assert "draft=true" in page.text
    draft = _doc(stack, "packing-list.html", draft="true")
    assert b"MISSING: buyer&#x27;s name (shipment record)" in draft

    r = stack.put(f"/api/v1/containers/{CONTAINER}/shipment", SHIPMENT)
    assert r.status_code == 200, r.text
    assert (r.json()["set_by"], r.json()["editable"]) == ("supervisor-1", True)
    r = stack.post(f"/api/v1/containers/{CONTAINER}/seal", {"seal_no": "EMCS123456"})
    assert r.status_code == 200, r.text

    stored = _stored(stack.settings)
    assert {sku: len(w) for sku, w in stored.items()} == {"JMB-L": 1600, "JMB-M": 1000}
    net = {sku: round(sum(w), 3) for sku, w in stored.items()}
    gross = {sku: round(net[sku] + len(stored[sku]) * PACKAGING[sku], 3) for sku in stored}
    amount = {sku: PRICES[sku] * len(stored[sku]) for sku in stored}
    total = sum(amount.values(), Decimal(0))
    fob_total = total - FREIGHT - INSURANCE

    summary = stack.get(f"/api/v1/containers/{CONTAINER}/papers").json()
    assert all(d["final"] for d in summary["documents"].values()), summary["documents"]
    items = {i["sku"]: i for i in summary["items"]}
    for sku in stored:
        assert items[sku]["drums"] == len(stored[sku])
        assert items[sku]["net_kg"] == pytest.approx(net[sku], abs=1e-6)
        assert items[sku]["gross_kg"] == pytest.approx(gross[sku], abs=1e-6)
        assert Decimal(items[sku]["amount"]) == amount[sku]
    assert items["JMB-L"]["marks"] == [
        "CB-JMB-L-000001 - CB-JMB-L-000800",
        "CB-JMB-L-001001 - CB-JMB-L-001800",
    ]
    assert Decimal(summary["totals"]["amount"]) == total
    # the per-drum packing list (the annex on its own) has the same totals
    annex = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list").json()
    assert annex["net_weight_kg"] == pytest.approx(sum(net.values()), abs=1e-6)
    assert annex["gross_weight_kg"] == pytest.approx(sum(gross.values()), abs=1e-6)
    assert Decimal(summary["totals"]["fob"]) == fob_total

    # PEB goods data (CSV and JSON): the same figures, FOB shared out to the cent
    peb = list(csv.DictReader(io.StringIO(_doc(stack, "peb.csv").decode())))
    assert [(r["sku"], int(r["quantity"]), int(r["packages"])) for r in peb] == [
        ("JMB-L", 1600, 1600),
        ("JMB-M", 1000, 1000),
    ]
    for r in peb:
        assert float(r["net_kg"]) == pytest.approx(net[r["sku"]], abs=1e-6)
        assert float(r["gross_kg"]) == pytest.approx(gross[r["sku"]], abs=1e-6)
        assert Decimal(r["amount"]) == amount[r["sku"]]
        assert (r["status"], r["hs_code"], r["container_size"]) == ("final", "9206.00.00", "40")
        assert (r["container_no"], r["seal_no"]) == (CONTAINER, "EMCS123456")
    assert sum(Decimal(r["fob"]) for r in peb) == fob_total == Decimal(peb[0]["fob_total"])
    assert float(peb[0]["gross_kg_total"]) == pytest.approx(sum(gross.values()), abs=1e-6)
    peb_json = msgspec_json(_doc(stack, "peb.json"))
    assert [i["fob"] for i in peb_json["items"]] == [r["fob"] for r in peb]

    # The packing list's CSV: per SKU, the PEB's weights, the volume, the marks
    packing_rows = list(csv.DictReader(io.StringIO(_doc(stack, "packing-list.csv").decode())))
    assert [(r["sku"], r["packages"]) for r in packing_rows] == [
        ("JMB-L", "1600"),
        ("JMB-M", "1000"),
    ]
    assert [r["gross_kg"] for r in packing_rows] == [r["gross_kg"] for r in peb]
    assert [r["net_kg"] for r in packing_rows] == [r["net_kg"] for r in peb]
    assert [float(r["volume_m3"]) for r in packing_rows] == [
        pytest.approx(1600 * VOLUME["JMB-L"]),
        pytest.approx(1000 * VOLUME["JMB-M"]),
    ]
    assert packing_rows[0]["marks_and_numbers"] == (
        "CB-JMB-L-000001 - CB-JMB-L-000800; CB-JMB-L-001001 - CB-JMB-L-001800"
    )

    # Form E data sheet: boxes 6-10 carry the PEB's figures
    form_e = list(csv.DictReader(io.StringIO(_doc(stack, "form-e.csv").decode())))
    assert [r["box9_fob"] for r in form_e] == [r["fob"] for r in peb]
    assert [r["box9_gross_kg"] for r in form_e] == [r["gross_kg"] for r in peb]
    assert [r["box7_hs_code"] for r in form_e] == ["9206.00", "9206.00"]
    assert {r["box8_origin_criterion"] for r in form_e} == {"WO"}
    assert form_e[1]["box6_marks_and_numbers"] == "CB-JMB-M-000001 - CB-JMB-M-001000"
    page = _doc(stack, "form-e.html", lang="id").decode()
    assert "Lembar data Form E" in page
    assert all(r["box9_fob"] in page for r in form_e)

    # The invoice PDF: one line per SKU, quantity x unit price, the total
    invoice = _pdf_text(_doc(stack, "invoice.pdf"))
    for sku in stored:
        assert f"{len(stored[sku])} PCE {PRICES[sku]:.2f} {amount[sku]:.2f}" in invoice
    assert f"{total:.2f}" in invoice
    assert f"{fob_total:.2f}" in invoice
    assert "EMCS123456" in invoice
    assert "CSQU 305438 3" in invoice
    # The packing list PDF (Indonesian): per SKU, totals, and every drum in the annex
    packing = _pdf_text(_doc(stack, "packing-list.pdf", lang="id"))
    assert "Daftar kemasan" in packing
    for sku in stored:
        assert f"{net[sku]:.3f} {gross[sku]:.3f}" in packing
    assert f"{sum(net.values()):.3f} {sum(gross.values()):.3f}" in packing
    volume = sum(len(stored[s]) * VOLUME[s] for s in stored)
    assert f"{volume:.3f}" in packing
    assert all(label in packing for label in LABELS)

    # Shipped: the record is frozen, with the reason
    assert stack.post(f"/api/v1/containers/{CONTAINER}/ship").status_code == 200
    r = stack.put(f"/api/v1/containers/{CONTAINER}/shipment", {**SHIPMENT, "vessel": "OTHER"})
    assert r.status_code == 409
    assert "frozen" in r.json()["detail"]
    r = stack.get(f"/api/v1/containers/{CONTAINER}/shipment")
    assert (r.json()["vessel"], r.json()["editable"]) == ("KMTC JAKARTA", False)


def msgspec_json(body: bytes) -> dict[str, Any]:
    """A JSON body as a dict."""
    import json

    out: dict[str, Any] = json.loads(body)
    return out


def test_shipment_record_is_validated_and_for_supervisors(papers_stack: Stack) -> None:
    stack = papers_stack
    stack.open_and_point()
    path = f"/api/v1/containers/{CONTAINER}/shipment"
    assert stack.put(path, {**SHIPMENT, "incoterm": "FOO"}).status_code == 422
    assert stack.put(path, {**SHIPMENT, "currency": "usd"}).status_code == 422
    assert stack.put(path, {**SHIPMENT, "freight": "-1"}).status_code == 422
    assert stack.put(path, {**SHIPMENT, "surprise": 1}).status_code == 422
    assert stack.put(path, SHIPMENT, role="worker").status_code == 403
    assert stack.get(f"/api/v1/containers/{CONTAINER}/papers", role="worker").status_code == 403
    empty = stack.get(path).json()
    assert (empty["buyer"]["name"], empty["editable"]) == ("", True)
    r = stack.put(path, {"buyer": {"name": "Partial Buyer"}})
    assert r.status_code == 200, r.text
    papers = stack.get(f"/api/v1/containers/{CONTAINER}/papers").json()
    missing = {m["where"] for m in papers["documents"]["form-e"]["missing"]}
    assert "shipment.buyer.name" not in missing
    assert {"shipment.buyer.address", "shipment.departure_date", "container.seal_no"} <= missing
