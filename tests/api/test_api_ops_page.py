"""The operations page (dashboard/ops.html) in headless Chromium: a stock correction, a
container unsealed, the audit trail and the alert history, a SKU added by the admin and
used by the next scan without a restart, and what a worker does not see."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from gudang.wire import QcResult
from tests.api.conftest import CONTAINER, CONTAINER_2, TOKENS, Stack
from tests.api.test_api_dashboard import UI_TIMEOUT_MS, _sign_in, launch_chromium
from tests.harness import wait_for

RECEIVING = "recv-1"
# What another page's stream brings: generous, the machine may be busy.
STREAM_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()


def _ops(browser: Browser, url: str, role: str, tab: str) -> Page:
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, timezone_id="UTC")
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{url}/dashboard/")
    page.fill("#token", TOKENS[role])
    page.click("#login-form button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-state", "on")
    page.click("#ops-link")
    expect(page.locator("#ops")).to_be_visible()
    page.click(f'#tabs [data-tab="{tab}"]')
    return page


def _drum(n: int, sku: str = "JMB-L") -> str:
    return f"CB-{sku}-{n:06d}"


def _in_warehouse(stack: Stack) -> int:
    """Drums in the warehouse now (no stock yet: none; the first scans may be on their way)."""
    return sum(t["in_warehouse"] for t in stack.get("/api/v1/stock").json()["totals"])


def _correct_container(page: Page, number: str, kind: str, reason: str) -> None:
    """Send a container correction from the container tab's form."""
    page.click('#tabs [data-tab="container"]')
    page.select_option("#cc-no", number)
    page.select_option("#cc-kind", kind)
    page.fill("#cc-reason", reason)
    page.click("#container-form button[type=submit]")


def test_supervisor_corrects_stock_and_a_container_and_reads_the_audit(
    stack: Stack, browser: Browser
) -> None:
    r = stack.put(f"/api/v1/stations/{RECEIVING}/mode", {"mode": "receiving", "supplier": "CV"})
    assert r.status_code == 200, r.text
    for n in (1, 2, 3):
        stack.scan(_drum(n), station=RECEIVING)
    stack.scan(_drum(4), station=RECEIVING, qc=QcResult.REWORK)
    r = stack.post("/api/v1/containers", {"container_no": CONTAINER, "capacity_drums": 1})
    assert r.status_code == 201, r.text
    r = stack.put("/api/v1/stations/load-1/container", {"container_no": CONTAINER})
    assert r.status_code == 200, r.text
    stack.scan(_drum(3))
    stack.wait_drums(1)  # full: container_full raised
    assert stack.post(f"/api/v1/containers/{CONTAINER}/seal", {"seal_no": "S1"}).status_code == 200

    page = _ops(browser, stack.url, "supervisor", "stock")
    try:
        warehouse = page.locator('#stock-rows tr[data-location="warehouse"] td.n')
        expect(warehouse).to_have_text("2")
        page.fill("#sc-drum", _drum(1))
        page.select_option("#sc-reason", "damaged")
        page.fill("#sc-note", "jatuh")
        page.click("#stock-form button[type=submit]")
        expect(page.locator("#stock-result")).to_have_text(f"{_drum(1)}: warehouse → written-off")
        expect(warehouse).to_have_text("1")  # in stock at once

        page.select_option("#sc-kind", "move")
        page.fill("#sc-drum", _drum(2))
        page.fill("#sc-location", "rak-c3")
        page.fill("#sc-move-reason", "rak penuh")
        page.click("#stock-form button[type=submit]")
        expect(page.locator('#stock-rows tr[data-location="rak-c3"] td.n')).to_have_text("1")

        page.select_option("#sc-kind", "qc-disposal")
        page.fill("#sc-drum", _drum(4))
        page.select_option("#sc-action", "pass")
        page.click("#stock-form button[type=submit]")
        expect(page.locator("#stock-result")).to_have_text(f"{_drum(4)}: qc-rework → warehouse")
        # A refusal in the API's words (Indonesian too) stays on the form.
        page.fill("#sc-drum", _drum(1))
        page.select_option("#sc-kind", "write-off")
        page.click("#stock-form button[type=submit]")
        expect(page.locator("#stock-error")).to_contain_text("drum sudah written-off")

        _correct_container(page, CONTAINER, "unseal", "bea cukai")
        expect(page.locator("#container-result")).to_have_text("CSQU 305438 3: full")
        wait_for(lambda: stack.container()["status"] == "full", what="unsealed in the API")
        # A container opened by mistake is cancelled, and leaves the dashboard.
        r = stack.post("/api/v1/containers", {"container_no": CONTAINER_2})
        assert r.status_code == 201, r.text
        _correct_container(page, CONTAINER_2, "cancel", "nomor salah")
        expect(page.locator("#container-result")).to_have_text("MSKU 123456 5: cancelled")
        expect(page.locator(f'#cc-no option[value="{CONTAINER_2}"]')).to_have_count(0)
        board = _ops(browser, stack.url, "worker", "alerts")
        try:
            board.goto(f"{stack.url}/dashboard/")
            expect(board.locator(f'[data-container="{CONTAINER}"]')).to_have_count(1)
            expect(board.locator(f'[data-container="{CONTAINER_2}"]')).to_have_count(0)
        finally:
            board.close()

        page.click('#tabs [data-tab="audit"]')
        page.click("#audit-form button[type=submit]")
        row = page.locator('#audit-rows tr[data-command="stock/write-off"]')
        expect(row).to_have_count(1)
        expect(row.locator(".actor")).to_have_text("supervisor-1")
        expect(row.locator("td.json").first).to_contain_text('"reason":"damaged"')
        page.select_option("#audit-kind", "container/unseal")
        page.click("#audit-form button[type=submit]")
        expect(page.locator("#audit-rows tr")).to_have_count(1)
        href = page.locator("#audit-csv").get_attribute("href") or ""
        assert "kind=container%2Funseal" in href

        page.click('#tabs [data-tab="alerts"]')
        page.fill('#alerts-form [name="kind"]', "container_nearly_full")
        page.click("#alerts-form button[type=submit]")
        # Nearly full, cleared by the seal, raised again by the unseal: its latest state.
        expect(page.locator("#alert-rows tr")).to_have_count(1)
        page.fill('#alerts-form [name="kind"]', "")
        page.fill('#alerts-form [name="container_no"]', CONTAINER)
        page.click("#alerts-form button[type=submit]")
        expect(page.locator("#alert-rows tr").first).to_be_visible()

        page.click('.lang button[data-lang="en"]')
        expect(page.locator('#tabs [data-tab="stock"]')).to_have_text("Stock corrections")
        page.click('.lang button[data-lang="id"]')
        expect(page.locator('#tabs [data-tab="stock"]')).to_have_text("Koreksi stok")
    finally:
        page.close()


def test_admin_adds_a_sku_the_next_scan_uses_and_a_worker_sees_no_actions(
    stack: Stack, browser: Browser
) -> None:
    stack.open_and_point()
    page = _ops(browser, stack.url, "admin", "catalogue")
    try:
        expect(page.locator('#sku-rows tr[data-sku="JMB-L"]')).to_have_count(1)
        page.fill("#sk-sku", "JMB-XL")
        page.fill("#sk-name", "Djembe extra besar")
        page.fill("#sk-size", "XL")
        page.fill("#sk-min", "10")
        page.fill("#sk-max", "16")
        page.fill("#sk-cap", "1300")
        page.fill("#sk-prices", "USD=31.50")
        page.fill("#sk-pack", "1.2")
        page.fill("#sk-vol", "0.21")
        page.click("#sku-form button[type=submit]")
        row = page.locator('#sku-rows tr[data-sku="JMB-XL"]')
        expect(row).to_contain_text("Djembe extra besar")
        expect(row).to_contain_text("USD=31.50")
        # The next scan of the new SKU is loaded: no restart of anything.
        stack.scan(_drum(1, "JMB-XL"), weight=12.0)
        c = stack.wait_drums(1)
        assert c["drums_by_sku"] == {"JMB-XL": 1}
        page.once("dialog", lambda d: d.accept())
        row.locator("button.retire").click()
        expect(row).to_have_class("retired")
    finally:
        page.close()

    page = _ops(browser, stack.url, "worker", "alerts")
    try:
        for tab in ("stock", "container", "audit"):
            expect(page.locator(f'#tabs [data-tab="{tab}"]')).to_be_hidden()
        expect(page.locator('#tabs [data-tab="catalogue"]')).to_be_visible()
        page.click('#tabs [data-tab="catalogue"]')
        expect(page.locator('#sku-rows tr[data-sku="JMB-XL"]')).to_have_count(1)
        expect(page.locator("#sku-form")).to_be_hidden()
        expect(page.locator("#sku-rows button")).to_have_count(0)
        page.goto(f"{stack.url}/dashboard/ops.html#tab=stock")  # asked for by hand
        expect(page.locator("#tab-stock")).to_be_hidden()
    finally:
        page.close()


def test_a_stocktake_from_open_to_approved_in_the_browser(stack: Stack, browser: Browser) -> None:
    r = stack.put(f"/api/v1/stations/{RECEIVING}/mode", {"mode": "receiving", "supplier": "CV"})
    assert r.status_code == 200, r.text
    for n in (1, 2, 3):
        stack.scan(_drum(n), station=RECEIVING)
    wait_for(
        lambda: _in_warehouse(stack) == 3,
        what="received",
    )
    stack.scan(_drum(1), station="load-1")  # load-1 seen by the services (no container: refused)
    wait_for(lambda: len(stack.get("/api/v1/stations").json()) == 2, what="two stations")
    page = _ops(browser, stack.url, "supervisor", "stocktake")
    try:
        page.fill("#st-location", "warehouse")
        page.click("#st-open-form button[type=submit]")
        row = page.locator('#st-rows tr[data-status="open"]')
        expect(row).to_have_count(1)
        count_id = row.get_attribute("data-count") or ""
        expect(page.locator("#st-id")).to_have_text(count_id)
        page.select_option("#st-station", "load-1")
        page.click("#st-count-form button[type=submit]")
        expect(page.locator('#st-station option[value="load-1"]')).to_contain_text(count_id)
        # The dashboard's station card says what the station does now.
        board = _ops(browser, stack.url, "worker", "alerts")
        try:
            board.goto(f"{stack.url}/dashboard/")
            card = board.locator(".station", has_text="load-1")
            expect(card.locator(".stocktake")).to_have_text(count_id)
            expect(card).to_contain_text("hitung stok")
        finally:
            board.close()

        for n in (1, 2, 7):  # 3 is not found; 7 was never received
            stack.scan(_drum(n), station="load-1")
        wait_for(
            lambda: stack.get(f"/api/v1/stocktakes/{count_id}").json()["found"] == 3,
            what="3 counted",
        )
        page.click('#tabs [data-tab="stocktake"]')
        page.locator(f'#st-rows tr[data-count="{count_id}"] button.show').click()
        expect(page.locator(f'#st-rows tr[data-count="{count_id}"] .found')).to_have_text("3")
        page.click("#st-close")
        expect(page.locator("#st-detail")).to_have_attribute("data-status", "closed")
        missing = page.locator('#st-diffs tr[data-kind="missing"]')
        expect(missing).to_have_count(1)
        expect(missing).to_have_attribute("data-drum", _drum(3))
        expect(page.locator('#st-diffs tr[data-kind="unexpected"]')).to_have_attribute(
            "data-drum", _drum(7)
        )
        missing.locator("input").uncheck()  # drum 3: looked for again, not written off
        page.click("#st-approve")
        expect(page.locator("#st-detail")).to_have_attribute("data-status", "approved")
        expect(page.locator("#st-diffs tr.adjusted")).to_have_count(1)
    finally:
        page.close()
    count = stack.get(f"/api/v1/stocktakes/{count_id}").json()
    assert (count["status"], count["adjusted"]) == ("approved", [_drum(7)])
    wait_for(
        lambda: _in_warehouse(stack) == 4,
        what="drum 7 into the books, drum 3 kept",
    )
    station = {s["station"]: s for s in stack.get("/api/v1/stations").json()}["load-1"]
    assert station["mode"] == "loading"  # the close let the counting station go


def test_a_sku_renamed_reaches_an_open_dashboard_and_ops_page_without_a_reload(
    stack: Stack, browser: Browser
) -> None:
    """The admin's catalogue change shows at once where pages are open: a worker's dashboard
    (its stock's names, by the stream's skus event) and an ops page on the catalogue tab
    (every field: it asks GET /catalogue again on that event)."""
    stack.open_and_point()
    stack.scan(_drum(1), weight=9.5)
    stack.wait_drums(1)
    dashboard = browser.new_page(viewport={"width": 1440, "height": 1000}, timezone_id="UTC")
    ops = None
    try:
        dashboard.set_default_timeout(UI_TIMEOUT_MS)
        _sign_in(dashboard, stack.url, TOKENS["worker"])
        name = dashboard.locator('#stock tr[data-sku="JMB-L"] .name')
        expect(name).to_have_text("Djembe large")
        ops = _ops(browser, stack.url, "admin", "catalogue")
        row = ops.locator('#sku-rows tr[data-sku="JMB-L"]')
        expect(row).to_contain_text("Djembe large")
        expect(ops.locator("#ops")).to_have_attribute("data-stream", "on")
        for page in (dashboard, ops):
            page.evaluate("window.loadedOnce = true")  # a reload would lose it

        # Another admin renames it (and prices it): no page is reloaded.
        large = next(s for s in stack.get("/api/v1/catalogue").json() if s["sku"] == "JMB-L")
        spec = {k: v for k, v in large.items() if k != "sku"}
        spec |= {"name": "Djembe besar", "unit_prices": {"USD": "29.75"}}
        r = stack.put("/api/v1/catalogue/JMB-L", spec, role="admin")
        assert r.status_code == 200, r.text
        expect(name).to_have_text("Djembe besar", timeout=STREAM_TIMEOUT_MS)
        expect(row).to_contain_text("Djembe besar", timeout=STREAM_TIMEOUT_MS)
        expect(row).to_contain_text("USD=29.75")  # GET /catalogue's, not the stream's
        for page in (dashboard, ops):
            assert page.evaluate("window.loadedOnce") is True
    finally:
        dashboard.close()
        if ops is not None:
            ops.close()


def test_an_admin_editing_a_sku_keeps_the_edits_when_another_admin_changes_it(
    stack: Stack, browser: Browser
) -> None:
    """The SKU in the form changed meanwhile (another admin, by the stream's skus event):
    the edits not saved stay and a note says a save would replace their change, with a
    button to take the saved values; an untouched form shows the saved values at once."""
    ops = _ops(browser, stack.url, "admin", "catalogue")
    try:
        row = ops.locator('#sku-rows tr[data-sku="JMB-L"]')
        expect(row).to_contain_text("Djembe large")
        expect(ops.locator("#ops")).to_have_attribute("data-stream", "on")
        ops.evaluate("window.loadedOnce = true")  # a reload would lose it
        note = ops.locator("#sku-changed")
        expect(note).to_be_hidden()
        row.locator("button.edit").click()
        expect(ops.locator("#sk-sku")).to_have_value("JMB-L")
        ops.fill("#sk-name", "Djembe L punya saya")

        def put_large(**change: object) -> None:
            large = next(s for s in stack.get("/api/v1/catalogue").json() if s["sku"] == "JMB-L")
            spec = {k: v for k, v in large.items() if k != "sku"} | change
            r = stack.put("/api/v1/catalogue/JMB-L", spec, role="admin")
            assert r.status_code == 200, r.text

        # Another admin renames and prices it while this one edits it.
        put_large(name="Djembe besar", unit_prices={"USD": "29.75"})
        expect(row).to_contain_text("USD=29.75", timeout=STREAM_TIMEOUT_MS)
        expect(note).to_have_attribute("data-changed", "skuMeanwhile")
        expect(note).to_contain_text("SKU JMB-L diubah admin lain")
        expect(ops.locator("#sk-name")).to_have_value("Djembe L punya saya")  # kept
        expect(ops.locator("#sk-prices")).not_to_have_value("USD=29.75")
        ops.click('.lang button[data-lang="en"]')
        expect(note).to_contain_text("SKU JMB-L was changed by another admin")
        expect(ops.locator("#sk-name")).to_have_value("Djembe L punya saya")
        ops.click("#sku-theirs")
        expect(ops.locator("#sk-name")).to_have_value("Djembe besar")
        expect(ops.locator("#sk-prices")).to_have_value("USD=29.75")
        expect(note).to_be_hidden()
        expect(ops.locator("#sku-theirs")).to_be_hidden()

        # Not edited: the form follows the saved values, and says so.
        put_large(name="Djembe besar sekali")
        expect(ops.locator("#sk-name")).to_have_value(
            "Djembe besar sekali", timeout=STREAM_TIMEOUT_MS
        )
        expect(note).to_have_attribute("data-changed", "skuFollowed")
        expect(note).to_contain_text("the form shows the saved values")
        expect(ops.locator("#sku-theirs")).to_be_hidden()

        # Edited, then retired by the other admin: Save would make it active again, said.
        ops.fill("#sk-name", "Djembe mine")
        r = stack.post("/api/v1/catalogue/JMB-L/retire", role="admin")
        assert r.status_code == 200, r.text
        expect(row).to_have_class("retired", timeout=STREAM_TIMEOUT_MS)
        expect(note).to_have_attribute("data-changed", "skuRetiredMeanwhile")
        expect(note).to_contain_text("Save will make it active again")
        expect(ops.locator("#sk-name")).to_have_value("Djembe mine")
        # The admin decides: their own save is what is in force, and no news.
        ops.click("#sku-form button[type=submit]")
        expect(row).to_contain_text("Djembe mine")
        expect(row).not_to_have_class("retired")
        expect(note).to_be_hidden()
        large = next(s for s in stack.get("/api/v1/catalogue").json() if s["sku"] == "JMB-L")
        assert (large["name"], large["retired"], large["unit_prices"]) == (
            "Djembe mine",
            False,
            {"USD": "29.75"},
        )
        assert ops.evaluate("window.loadedOnce") is True
    finally:
        ops.close()


def test_the_stock_and_stocktake_tabs_follow_the_stream_without_a_reload(
    stack: Stack, browser: Browser
) -> None:
    """An open stock tab draws the stream's stock; an open stocktake tab follows another
    supervisor's count (opened, a counting station, drums counted, closed) and keeps the
    boxes unticked here when the count is drawn again."""
    r = stack.put(f"/api/v1/stations/{RECEIVING}/mode", {"mode": "receiving", "supplier": "CV"})
    assert r.status_code == 200, r.text
    stack.scan(_drum(1), station=RECEIVING)
    wait_for(lambda: _in_warehouse(stack) == 1, what="received")
    stack.scan(_drum(1), station="load-1")  # load-1 seen by the services (no container: refused)
    wait_for(lambda: len(stack.get("/api/v1/stations").json()) == 2, what="two stations")
    stock = _ops(browser, stack.url, "supervisor", "stock")
    counts = None
    try:
        warehouse = stock.locator('#stock-rows tr[data-location="warehouse"] td.n')
        expect(warehouse).to_have_text("1")
        counts = _ops(browser, stack.url, "supervisor", "stocktake")
        for page in (stock, counts):
            expect(page.locator("#ops")).to_have_attribute("data-stream", "on")
            page.evaluate("window.loadedOnce = true")  # a reload would lose it

        for n in (2, 3):
            stack.scan(_drum(n), station=RECEIVING)
        expect(warehouse).to_have_text("3", timeout=STREAM_TIMEOUT_MS)

        # Another supervisor runs a count of the warehouse, by the API.
        r = stack.post("/api/v1/stocktakes", {"location": "warehouse"})
        assert r.status_code == 201, r.text
        count_id = r.json()["id"]
        row = counts.locator(f'#st-rows tr[data-count="{count_id}"]')
        expect(row).to_have_attribute("data-status", "open", timeout=STREAM_TIMEOUT_MS)
        row.locator("button.show").click()
        expect(counts.locator("#st-id")).to_have_text(count_id)
        r = stack.put("/api/v1/stations/load-1/mode", {"mode": "counting", "stocktake": count_id})
        assert r.status_code == 200, r.text
        expect(counts.locator('#st-station option[value="load-1"]')).to_contain_text(
            count_id, timeout=STREAM_TIMEOUT_MS
        )
        for n in (1, 2, 7):  # 3 is not found; 7 was never received
            stack.scan(_drum(n), station="load-1")
        expect(row.locator(".found")).to_have_text("3", timeout=STREAM_TIMEOUT_MS)
        r = stack.post(f"/api/v1/stocktakes/{count_id}/close")
        assert r.status_code == 200, r.text
        detail = counts.locator("#st-detail")
        expect(detail).to_have_attribute("data-status", "closed", timeout=STREAM_TIMEOUT_MS)
        missing = counts.locator('#st-diffs tr[data-kind="missing"]')
        expect(missing).to_have_attribute("data-drum", _drum(3))
        missing.locator("input").uncheck()  # drum 3: looked for again, not written off
        # Drawn again (as on every change the stream tells of): the untick stays.
        counts.evaluate("document.querySelector('#st-diffs section').dataset.old = '1'")
        row.locator("button.show").click()
        expect(counts.locator("#st-diffs section[data-old]")).to_have_count(0)
        expect(missing.locator("input")).not_to_be_checked()
        counts.click("#st-approve")
        expect(detail).to_have_attribute("data-status", "approved")
        expect(warehouse).to_have_text("4", timeout=STREAM_TIMEOUT_MS)  # 7 in, 3 kept
        for page in (stock, counts):
            assert page.evaluate("window.loadedOnce") is True
    finally:
        stock.close()
        if counts is not None:
            counts.close()
    count = stack.get(f"/api/v1/stocktakes/{count_id}").json()
    assert (count["status"], count["adjusted"]) == ("approved", [_drum(7)])
