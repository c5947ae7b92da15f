"""The export papers on the dashboard, in headless Chromium: offered on a sealed container,
the shipment record filled in the dialog, the documents in both languages, frozen once shipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from gudang_ops.servers import ServerProcess
from tests.api.conftest import CONTAINER, TOKENS, Stack, running_stack
from tests.api.test_api_dashboard import (
    ARTIFACTS,
    UI_TIMEOUT_MS,
    _sign_in,
    launch_chromium,
    refused_then_taken,
)
from tests.api.test_api_papers import papers_settings
from tests.harness import wait_for

DRUMS = [("CB-JMB-L-000001", 9.5), ("CB-JMB-L-000002", 9.75), ("CB-JMB-M-000001", 5.5)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()


@pytest.fixture
def sealed(
    mosquitto: ServerProcess, influxd: ServerProcess, site: str, tmp_path: Path
) -> Iterator[Stack]:
    """A container with three drums of two SKUs, sealed, with no shipment record yet."""
    with running_stack(papers_settings(mosquitto, influxd, site, tmp_path)) as stack:
        stack.open_and_point()
        for label, kg in DRUMS:
            stack.scan(label, kg)
        stack.wait_drums(len(DRUMS))
        r = stack.post(f"/api/v1/containers/{CONTAINER}/seal", {"seal_no": "EMCS123456"})
        assert r.status_code == 200, r.text
        yield stack


def test_dashboard_offers_the_papers_of_a_sealed_container_in_both_languages(
    sealed: Stack, browser: Browser
) -> None:
    stack = sealed
    page = browser.new_page(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        _sign_in(page, stack.url, TOKENS["supervisor"])  # Indonesian by default
        card = page.locator(f'[data-container="{CONTAINER}"]')
        papers = card.locator(".papers")
        expect(papers).to_be_visible()
        expect(papers.locator("h4")).to_have_text("Dokumen ekspor")
        invoice = papers.locator(".doc-invoice")
        # No shipment record yet: not final, and it says what is missing, in Indonesian.
        expect(invoice.locator(".doc-state")).to_have_text("belum final (11)")
        expect(papers.locator(".missing")).to_contain_text("nama pembeli (data pengapalan)")
        expect(papers.locator(".missing")).to_contain_text("tanggal keberangkatan")  # PEB, Form E
        ARTIFACTS.mkdir(exist_ok=True)
        card.screenshot(path=str(ARTIFACTS / "dashboard-papers-missing.png"))
        expect(papers.locator('.doc-row[data-final="true"]')).to_have_count(0)
        draft = papers.locator("a.doc-invoice-pdf").get_attribute("href") or ""
        assert "draft=true" in draft
        assert "lang=id" in draft

        # The shipment record, in the dialog.
        papers.locator("button.act-shipment").click()
        expect(page.locator("#dlg")).to_be_visible()
        expect(page.locator("#dlg-buyer_name")).to_be_focused()
        fields = {
            "buyer_name": "Guangzhou Music Co.",
            "buyer_address": "88 Huangpu Rd, Guangzhou",
            "buyer_country": "cn",
            "notify_name": "Huangpu Forwarding",
            "notify_address": "1 Port Rd, Guangzhou",
            "notify_country": "CN",
            "port_of_loading": "IDSUB Tanjung Perak",
            "port_of_discharge": "CNHUA Huangpu",
            "vessel": "KMTC JAKARTA",
            "voyage": "2412N",
            "departure_date": "2026-12-05",
            "currency": "usd",
            "invoice_no": "INV-2026-031",
            "invoice_date": "2026-12-02",
        }
        for name, value in fields.items():
            page.fill(f"#dlg-{name}", value)
        page.select_option("#dlg-incoterm", "FOB")
        # "us", not an ISO 4217 code: refused, the dialog stays; "usd" is taken.
        refused_then_taken(page, "#dlg-currency", "us", "usd", "(422)")
        expect(papers.locator(".missing")).to_have_count(0)
        for doc in ("invoice", "packing-list", "peb", "form-e"):
            expect(papers.locator(f".doc-{doc}")).to_have_attribute("data-final", "true")
            expect(papers.locator(f".doc-{doc} .doc-state")).to_have_text("final")
        record = stack.get(f"/api/v1/containers/{CONTAINER}/shipment").json()
        assert (record["buyer"]["country"], record["currency"]) == ("CN", "USD")
        assert (record["set_by"], record["departure_date"]) == ("supervisor-1", "2026-12-05")
        assert record["consignee"] is None  # left empty: the buyer
        assert record["notify_party"]["name"] == "Huangpu Forwarding"

        # The links open the documents, final and in the page's language.
        href = papers.locator("a.doc-invoice-html").get_attribute("href") or ""
        assert "draft=true" not in href
        doc = browser.new_page()
        try:
            doc.goto(f"{stack.url}{href}")
            expect(doc.locator("h1")).to_have_text("Invoice komersial")
            expect(doc.locator("body")).to_have_attribute("data-final", "true")
            expect(doc.locator("dl")).to_contain_text("Huangpu Forwarding")
            expect(doc.locator("dl")).to_contain_text("sama dengan pembeli")  # the consignee
            total = f"{2 * 42.50 + 27.25:.2f}"
            expect(doc.locator("#goods tr.total")).to_contain_text(total)
            pdf = doc.request.get(
                f"{stack.url}{papers.locator('a.doc-packing-list-pdf').get_attribute('href')}"
            )
            assert pdf.status == 200
            assert pdf.body().startswith(b"%PDF-")
        finally:
            doc.close()

        page.click("#lang-en")
        expect(papers.locator("h4")).to_have_text("Export papers")
        expect(papers.locator(".doc-form-e .doc-name")).to_have_text("Form E data sheet")
        href = papers.locator("a.doc-form-e-html").get_attribute("href") or ""
        assert "lang=en" in href
        doc = browser.new_page()
        try:
            doc.goto(f"{stack.url}{href}")
            expect(doc.locator("h1")).to_have_text("Form E data sheet")
            expect(doc.locator("#goods")).to_contain_text("CB-JMB-L-000001 - CB-JMB-L-000002")
            expect(doc.locator("#goods")).to_contain_text("WO")
        finally:
            doc.close()

        # Shipped: the record is frozen, the papers stay.
        assert stack.post(f"/api/v1/containers/{CONTAINER}/ship").status_code == 200
        expect(card.locator(".status")).to_have_text("shipped")
        expect(papers.locator(".frozen")).to_have_text("Shipped: the shipment record is frozen.")
        expect(papers.locator("button.act-shipment")).to_have_count(0)
        expect(papers.locator('.doc-row[data-final="true"]')).to_have_count(4)
        ARTIFACTS.mkdir(exist_ok=True)
        card.screenshot(path=str(ARTIFACTS / "dashboard-papers.png"))
    finally:
        page.close()


def test_dashboard_shows_no_papers_to_workers(sealed: Stack, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        _sign_in(page, sealed.url, TOKENS["worker"])
        card = page.locator(f'[data-container="{CONTAINER}"]')
        expect(card.locator(".status")).to_have_text("disegel")
        expect(card.locator(".papers")).to_be_hidden()
        # and the API agrees: prices are not a worker's
        wait_for(
            lambda: (
                sealed.get(f"/api/v1/containers/{CONTAINER}/papers", role="worker").status_code
                == 403
            ),
            what="403 for a worker",
        )
    finally:
        page.close()
