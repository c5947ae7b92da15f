"""The dashboard in headless Chromium (Debian's, driven by Playwright): live, acknowledging,
bilingual, and the supervisors' actions: open, point, unload, seal, ship."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gudang.influx import quote_str
from gudang.settings import Settings
from gudang.wire import (
    DeviceStateV1,
    ScanKind,
    StationState,
    StationStatusV1,
    WeightReadingV1,
    encode,
)
from tests.api.conftest import CONTAINER, CONTAINER_2, TOKENS, Stack
from tests.harness import Probe, influx_rows, running_api, running_services, wait_for

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


def launch_chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's headless Chromium with CHROMIUM_ARGS (and `extra_args`), closed after."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()


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


def refused_then_taken(page: Page, field: str, bad: str, good: str, error: str) -> None:
    """The open dialog refuses ``bad`` in ``field``, says ``error`` and stays; ``good`` closes it."""
    page.fill(field, bad)
    page.click("#dlg-ok")
    expect(page.locator("#dlg-error")).to_contain_text(error)
    expect(page.locator("#dlg")).to_be_visible()
    page.fill(field, good)
    page.click("#dlg-ok")
    expect(page.locator("#dlg")).to_be_hidden()


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
        # The fill timeline (GET .../timeline, from InfluxDB) catches up with the count.
        timeline = card.locator(".timeline")
        expect(timeline.locator("title")).to_contain_text(": 60 / 2.600", timeout=20_000)
        expect(timeline).to_be_visible()
        assert "V" in (timeline.locator(".fill-line").get_attribute("d") or "")
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

        # The station's card tells the last scan, and its own screen tells it large.
        station_card = page.locator('[data-station="load-1"]')
        expect(station_card.locator(".last-scan")).to_have_attribute("data-tone", "warn")
        expect(station_card.locator(".last-scan")).to_contain_text("CB-JMB-L-000001")
        page.goto(f"{stack.url}/dashboard/#station=load-1")
        expect(page.locator("#screen")).to_be_visible()
        expect(page.locator("#h-stock")).to_be_hidden()
        expect(page.locator("#screen-result")).to_have_text("Duplicate scan")
        expect(page.locator("#screen-scan")).to_have_attribute("data-tone", "warn")
        stack.scan("CB-JMB-L-000777", 9.4)
        expect(page.locator("#screen-result")).to_have_text("Loaded")
        expect(page.locator("#screen-label")).to_have_text("CB-JMB-L-000777")
        expect(page.locator("#screen-scan")).to_have_attribute("data-tone", "ok")
        expect(page.locator("#screen-fill")).to_contain_text("61 / 2,600")
        expect(page.locator("#screen-scale")).to_be_hidden()  # no reading from this scale yet
        reading = WeightReadingV1(
            ts=datetime.now(UTC), station="load-1", weight_kg=9.4, stable=True, status="stable"
        )
        stack.probe.publish(stack.topics.weight("load-1"), encode(reading))
        expect(page.locator("#screen-scale")).to_have_text("Scale: 9.40 kg · stable")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "station-screen.png"))
        page.click("#screen-back")
        expect(page.locator("#screen")).to_be_hidden()
        expect(page.locator("#h-stock")).to_be_visible()

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


def _container_events(stack: Stack, number: str) -> list[dict[str, object]]:
    """The container's events as the services stored them in InfluxDB, oldest first."""
    return influx_rows(
        stack.settings.influx,
        "SELECT event, actor, seal_no, drum, reason, container_type, capacity_drums "
        f"FROM container_event WHERE site = {quote_str(stack.site)} "
        f"AND container_no = {quote_str(number)}",
    )


def _station(stack: Stack, name: str) -> dict[str, object]:
    r = stack.get("/api/v1/stations")
    assert r.status_code == 200, r.text
    return next(s for s in r.json() if s["station"] == name)


def test_dashboard_supervisor_opens_points_unloads_seals_ships(
    stack: Stack, browser: Browser
) -> None:
    _station_status(stack, "load-1")
    page = browser.new_page(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    page.set_default_timeout(UI_TIMEOUT_MS)
    try:
        _sign_in(page, stack.url, TOKENS["supervisor"])
        expect(page.locator('[data-station="load-1"]')).to_have_count(1)

        # Open a container: a wrong check digit is refused with the API's reason, then the
        # number as printed on the door (lower case and spaces are fine).
        page.click("#open-toggle")
        expect(page.locator("#open-no")).to_be_focused()
        page.fill("#open-no", "csqu 305438 4")
        page.select_option("#open-type", "20GP")
        page.fill("#open-cap", "5")
        page.click("#open-submit")
        expect(page.locator("#open-error")).to_contain_text("wrong check digit")
        expect(page.locator("#open-error")).to_contain_text("(422)")
        expect(page.locator("#open-no")).to_have_attribute("aria-invalid", "true")
        assert stack.get("/api/v1/containers").json() == []
        page.fill("#open-no", "csqu 305438 3")
        page.click("#open-submit")
        expect(page.locator("#open-form")).to_be_hidden()
        card = page.locator(f'[data-container="{CONTAINER}"]')
        expect(card.locator(".cno")).to_have_text("CSQU 305438 3")
        expect(card.locator(".ctype")).to_have_text("20GP")
        expect(card.locator(".cap")).to_have_text("5")
        c = stack.container()
        assert (c["status"], c["container_type"], c["capacity_drums"]) == ("open", "20GP", 5)
        # Opening it again: the services' 409, shown in the form.
        page.click("#open-toggle")
        page.fill("#open-no", CONTAINER)
        page.click("#open-submit")
        expect(page.locator("#open-error")).to_contain_text("already open")
        expect(page.locator("#open-error")).to_contain_text("(409)")
        page.click("#open-cancel")
        expect(page.locator("#open-form")).to_be_hidden()

        # Point the loading station at it, then scans fill it.
        station = page.locator('[data-station="load-1"]')
        station.locator("select").select_option(CONTAINER)
        _station_status(stack, "load-1", scale_state="error")  # the station changes meanwhile
        expect(station.locator(".device.error")).to_have_count(1)
        expect(station.locator("select")).to_have_value(CONTAINER)  # the choice survives it
        station.locator("form.point button").click()
        expect(station.locator(".line b.active")).to_have_text(CONTAINER)
        assert _station(stack, "load-1")["active_container"] == CONTAINER
        for i in range(5):
            stack.scan(f"CB-JMB-L-{i:06d}", 9.0 + i / 10)
        stack.wait_drums(5)
        expect(card.locator(".drums")).to_have_text("5")
        expect(card.locator(".status")).to_have_text("penuh")
        expect(card.locator("button.act-ship")).to_have_count(0)  # not sealed yet

        # Unload one drum (a correction): a drum not in it is refused in the dialog.
        card.locator("button.act-unload").click()
        expect(page.locator("#dlg")).to_be_visible()
        page.fill("#dlg-reason", "salah kontainer")
        refused_then_taken(page, "#dlg-drum", "CB-JMB-L-999999", "CB-JMB-L-000004", "is not in")
        expect(card.locator(".drums")).to_have_text("4")
        expect(card.locator(".status")).to_have_text("dimuat")
        assert stack.container()["drums"] == 4

        # Seal with the keyboard alone: the dialog asks for the seal number.
        card.locator("button.act-seal").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#dlg-seal_no")).to_be_focused()
        page.keyboard.type("EMCS 778899")
        page.keyboard.press("Enter")
        expect(page.locator("#dlg")).to_be_hidden()
        expect(card.locator(".status")).to_have_text("disegel")
        expect(card.locator(".seal")).to_have_text("segel EMCS 778899")
        expect(card.locator("button.act-seal")).to_have_count(0)
        expect(station.locator(".line b.active")).to_have_text("—")  # sealing frees the station
        c = stack.container()
        assert (c["status"], c["seal_no"], c["drums"]) == ("sealed", "EMCS 778899", 4)
        pl = stack.get(f"/api/v1/containers/{CONTAINER}/packing-list").json()  # from InfluxDB
        assert (pl["seal_no"], pl["drums"]) == ("EMCS 778899", 4)
        assert "CB-JMB-L-000004" not in {ln["drum"] for ln in pl["lines"]}

        # Shipping cannot be undone: it asks first, and "cancel" changes nothing.
        card.locator("button.act-ship").click()
        expect(page.locator("#dlg-title")).to_contain_text("CSQU 305438 3")
        expect(page.locator("#dlg-cancel")).to_be_focused()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-ship-dialog.png"))
        page.click("#dlg-cancel")
        expect(page.locator("#dlg")).to_be_hidden()
        assert stack.container()["status"] == "sealed"
        card.locator("button.act-ship").click()
        page.click("#dlg-ok")
        expect(card.locator(".status")).to_have_text("dikirim")
        expect(card.locator(".actions button")).to_have_count(0)
        assert stack.container()["status"] == "shipped"

        # Each action is an event in InfluxDB, by whom.
        events = wait_for(
            lambda: (e := _container_events(stack, CONTAINER)) and len(e) >= 4 and e,
            what="the container's events in InfluxDB",
        )
        assert [e["event"] for e in events] == ["open", "unload", "seal", "ship"]
        assert {e["actor"] for e in events} == {"supervisor-1"}
        assert (events[0]["container_type"], events[0]["capacity_drums"]) == ("20GP", 5)
        assert (events[1]["drum"], events[1]["reason"]) == ("CB-JMB-L-000004", "salah kontainer")
        assert events[2]["seal_no"] == "EMCS 778899"

        page.click("#lang-en")
        expect(page.locator("#open-toggle")).to_have_text("Open container")
        expect(station.locator("form.point label")).to_have_text("Active container")
        page.set_viewport_size({"width": 390, "height": 844})  # a supervisor's phone
        page.click("#open-toggle")
        expect(page.locator("#open-submit")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-actions-phone.png"), full_page=True)

        # The station becomes a receiving desk for a craftsman's delivery, and back.
        station.locator("button.act-mode").click()
        page.select_option("#dlg-mode", "receiving")
        page.fill("#dlg-supplier", "Pak Darto")
        page.click("#dlg-ok")
        expect(page.locator("#dlg")).to_be_hidden()
        expect(station.locator(".line").first).to_contain_text("Supplier: Pak Darto")
        expect(station.locator("form.point")).to_be_hidden()  # no container to point at
        assert (_station(stack, "load-1")["mode"], _station(stack, "load-1")["supplier"]) == (
            "receiving",
            "Pak Darto",
        )
        station.locator("button.act-mode").click()
        expect(page.locator("#dlg-mode")).to_have_value("receiving")
        expect(page.locator("#dlg-supplier")).to_have_value("Pak Darto")
        page.select_option("#dlg-mode", "loading")
        page.click("#dlg-ok")
        expect(station.locator("form.point")).to_be_visible()
        assert _station(stack, "load-1")["mode"] == "loading"

        # Days later the shipped container leaves the floor's screen; a line counts it.
        page.clock.set_system_time(datetime.now(UTC) + timedelta(days=4))
        page.click("#lang-id")  # any re-render
        expect(card).to_have_count(0)
        expect(page.locator("#containers-older")).to_have_text(
            "1 kontainer dikirim lebih dari 3 hari lalu tidak ditampilkan."
        )
        assert stack.container()["status"] == "shipped"  # still in the API
    finally:
        page.close()


def test_dashboard_refuses_unknown_token_and_hides_ack_from_workers(
    stack: Stack, browser: Browser
) -> None:
    stack.open_and_point(CONTAINER_2)  # sealed below: a supervisor could ship it
    stack.scan("CB-JMB-S-000001", 3.0)
    stack.wait_drums(1, CONTAINER_2)
    r = stack.post(f"/api/v1/containers/{CONTAINER_2}/seal", {"seal_no": "EMCS1"})
    assert r.status_code == 200, r.text
    stack.open_and_point()  # loading: a supervisor could seal or unload it
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
        # No opening, sealing, shipping or unloading for a worker...
        expect(page.locator(f'[data-container="{CONTAINER}"] .status')).to_have_text("dimuat")
        expect(page.locator(f'[data-container="{CONTAINER_2}"] .status')).to_have_text("disegel")
        expect(page.locator("#open-toggle")).to_be_hidden()
        expect(page.locator(".card.container button")).to_have_count(0)
        # ...but a worker may point a station, as scanning a container label does.
        station = page.locator('[data-station="load-1"]')
        expect(station.locator(".line b.active")).to_have_text(CONTAINER)
        station.locator("select").select_option("")
        station.locator("form.point button").click()
        expect(station.locator(".line b.active")).to_have_text("—")
        assert _station(stack, "load-1")["active_container"] is None
        expect(station.locator("button.act-mode")).to_be_hidden()  # the mode: supervisors'
    finally:
        page.close()


def test_a_drifting_scale_shows_on_its_station_card(
    api_settings: Settings, browser: Browser
) -> None:
    # scale_drift after 1 s off zero (60 s in production) so the test need not wait.
    alerts = api_settings.alerts.model_copy(update={"scale_drift_s": 1.0})
    settings = api_settings.model_copy(update={"alerts": alerts})
    probe = Probe(settings)
    try:
        with running_services(settings), running_api(settings) as url:
            stack = Stack(url, settings, probe)
            _station_status(stack, "load-1")
            page = browser.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            try:
                _sign_in(page, url, TOKENS["worker"])
                card = page.locator('[data-station="load-1"]')
                expect(card).to_be_visible()
                expect(card.locator(".scale-alert")).to_have_count(0)

                def weight(kg: float) -> None:
                    reading = WeightReadingV1(
                        ts=datetime.now(UTC), station="load-1", weight_kg=kg, stable=True
                    )
                    probe.publish(stack.topics.weight("load-1"), encode(reading), qos=0)

                weight(0.0)
                weight(0.32)  # the empty platter, 320 g off zero
                drift = card.locator('.scale-alert[data-alert^="scale_drift-"]')
                expect(drift).to_have_count(1)
                expect(drift.locator("b")).to_have_text("Nol timbangan bergeser")
                expect(drift).to_contain_text("0.320 kg")
                weight(0.0)  # zeroed: the card clears
                expect(card.locator(".scale-alert")).to_have_count(0)
            finally:
                page.close()
    finally:
        probe.close()
