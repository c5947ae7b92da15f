"""The dashboard in headless Chromium (Debian's, driven by Playwright): live, acknowledging, bilingual."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gudang.wire import DeviceStateV1, ScanKind, StationState, StationStatusV1, encode
from tests.api.conftest import CONTAINER, CONTAINER_2, TOKENS, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Enough for the stream to carry a scan to the page on a busy CI machine.
UI_TIMEOUT_MS = 10_000
expect.set_options(timeout=UI_TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _station_status(stack: Stack, station: str, scale_state: str = "connected") -> None:
    status = StationStatusV1(
        site=stack.site,
        station=station,
        state=StationState.ONLINE,
        heartbeat_s=15,
        devices=[
            DeviceStateV1(name="scanner", role="scanner", state="connected"),
            DeviceStateV1(name="scale", role="scale", state=scale_state),  # type: ignore[arg-type]
        ],
        spool_capacity=200_000,
    )
    stack.probe.publish(stack.topics.status(station), encode(status), retain=True)


def _arc(dasharray: str) -> float:
    """The drawn share of a gauge's arc, from its stroke-dasharray ("2.31, 100")."""
    return float(dasharray.replace(",", " ").split()[0])


def _sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/dashboard/")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-state", "on", timeout=UI_TIMEOUT_MS)


def test_dashboard_gauge_moves_alert_acknowledged_language_switched(
    stack: Stack, browser: Browser
) -> None:
    stack.open_and_point()
    _station_status(stack, "load-1")
    for i in range(3):
        stack.scan(f"CB-JMB-L-{i:06d}", 9.0 + i / 10)
    stack.wait_drums(3)
    page = browser.new_page(viewport={"width": 1440, "height": 1000}, timezone_id="UTC")
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        _sign_in(page, stack.url, TOKENS["supervisor"])
        card = page.locator(f'[data-container="{CONTAINER}"]')
        expect(card.locator(".drums")).to_have_text("3")
        bar = card.locator(".gauge.count .bar")
        before = bar.evaluate("b => b.style.strokeDasharray")

        for i in range(3, 60):  # the gauge moves while scans arrive, without a reload
            stack.scan(f"CB-JMB-{'LMS'[i % 3]}-{i:06d}", (9.0, 5.5, 3.2)[i % 3])
        expect(card.locator(".drums")).to_have_text("60")
        after = bar.evaluate("b => b.style.strokeDasharray")
        assert _arc(after) > _arc(before)
        expect(card.locator(".gauge.count .pct")).to_have_text("2,3%")  # 60 / 2600, id-ID
        expect(page.locator('#stock tr[data-sku="JMB-L"] td').nth(3)).to_have_text(
            "22"
        )  # in containers

        stack.scan("CB-JMB-L-000001", 9.1)  # a duplicate raises an alert
        alert = page.locator('#alerts [data-alert^="duplicate_scan-"]')
        expect(alert).to_have_count(1)
        expect(alert.locator(".what")).to_have_text("Scan ganda")
        alert.locator("button.ack").click()
        expect(alert).to_have_count(0)
        expect(page.locator("#alerts-empty")).to_be_visible()

        expect(page.locator("#h-containers")).to_have_text("Kontainer")
        expect(page.locator(".station .state")).to_have_text("online")
        page.click("#lang-en")
        expect(page.locator("#h-containers")).to_have_text("Containers")
        expect(card.locator(".status")).to_have_text("loading")
        expect(card.locator(".gauge.count .pct")).to_have_text("2.3%")
        expect(page.locator("#clock")).to_contain_text("WIB")  # site time zone, not the browser's

        # A second container and an open alert, for the picture.
        assert stack.post("/api/v1/containers", {"container_no": CONTAINER_2}).status_code == 201
        stack.scan("CB-JMB-L-000002", 9.2)
        _station_status(stack, "load-2", scale_state="error")
        stack.scan(CONTAINER_2, None, kind=ScanKind.CONTAINER, station="load-2")
        expect(page.locator(f'[data-container="{CONTAINER_2}"]')).to_have_count(1)
        expect(page.locator('#alerts [data-alert^="duplicate_scan-"]')).to_have_count(1)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})  # a supervisor's phone
        expect(page.locator("#h-alerts")).to_be_in_viewport()  # alerts come first there
        page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    finally:
        page.close()


def test_dashboard_refuses_unknown_token_and_hides_ack_from_workers(
    stack: Stack, browser: Browser
) -> None:
    stack.open_and_point()
    stack.scan("CB-JMB-M-000001", 5.0)
    stack.scan("CB-JMB-M-000001", 5.0)  # duplicate: an alert workers see but cannot ack
    page = browser.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page.goto(f"{stack.url}/dashboard/")
        page.fill("#token", "not-a-token")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).to_have_text("Token tidak dikenal.")
        _sign_in(page, stack.url, TOKENS["worker"])
        alert = page.locator('#alerts [data-alert^="duplicate_scan-"]')
        expect(alert).to_have_count(1)
        expect(alert.locator("button.ack")).to_have_count(0)
        expect(page.locator("#who")).to_have_text("worker-1 · worker")
    finally:
        page.close()
