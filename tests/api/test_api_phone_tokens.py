"""A supervisor signs a phone in by QR code: a token that scans at one station, revocable.

Stored as station events in InfluxDB and rebuilt from them; against real servers.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, expect

from gudang.influx import quote_str
from gudang.wire import PhoneTokenV1, phone_tokens_decoder
from tests.api.conftest import TOKENS, Stack
from tests.api.test_api_dashboard import ARTIFACTS, _sign_in, browser  # noqa: F401 (a fixture)
from tests.api.test_api_scan_page import blank_browser  # noqa: F401 (a fixture)
from tests.harness import Probe, influx_rows, running_services, wait_for

PHONE_STATION = "phone-9"


def _scan(stack: Stack, token: str, station: str, label: str) -> httpx.Response:
    body = {"id": str(uuid.uuid4()), "ts": datetime.now(UTC).isoformat(), "barcode": label}
    return stack.as_token(token, "POST", f"/api/v1/stations/{station}/scans", body)


def _events(stack: Stack) -> list[dict[str, Any]]:
    return influx_rows(
        stack.settings.influx,
        f"SELECT * FROM station_event WHERE site = {quote_str(stack.site)} "
        f"AND station = '{PHONE_STATION}'",
    )


def test_phone_token_scans_at_its_station_only_and_is_revoked(stack: Stack) -> None:
    # A station with no bridge: its first phone makes it known to the services.
    r = stack.post(f"/api/v1/stations/{PHONE_STATION}/phone-tokens")
    assert r.status_code == 201, r.text
    signin = r.json()
    stack.open_and_point(station=PHONE_STATION)
    token = signin["token"]
    assert signin["station"] == PHONE_STATION
    assert signin["issued_by"] == "supervisor-1"
    assert signin["name"].startswith(f"phone-{PHONE_STATION}-")
    assert signin["url"] == (
        f"{stack.url}/dashboard/scan.html#station={PHONE_STATION}&token={token}"
    )
    assert signin["qr_svg"].lstrip().startswith("<?xml")
    assert "<path" in signin["qr_svg"]

    # It scans at its station...
    r = _scan(stack, token, PHONE_STATION, "CB-JMB-L-000101")
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "loaded"
    # ... and nothing else: another station, reading, commands.
    r = _scan(stack, token, "load-1", "CB-JMB-L-000102")
    assert r.status_code == 403
    assert f"scans at station {PHONE_STATION} only" in r.json()["detail"]
    for method, path in (
        ("GET", "/api/v1/stations"),
        ("GET", "/api/v1/containers"),
        ("GET", "/api/v1/phone-tokens"),
        ("POST", f"/api/v1/stations/{PHONE_STATION}/phone-tokens"),
    ):
        assert stack.as_token(token, method, path).status_code == 403, (method, path)

    # Listed for supervisors (never the token), not for workers.
    listed = stack.get("/api/v1/phone-tokens").json()
    assert [t["name"] for t in listed] == [signin["name"]]
    assert token not in str(listed)
    assert stack.get("/api/v1/phone-tokens", role="worker").status_code == 403

    # Stored as a station event: the hash, never the token.
    issued = wait_for(
        lambda: [e for e in _events(stack) if e["event"] == "phone_token_issue"],
        what="the issue event stored",
    )
    assert issued[0]["name"] == signin["name"]
    assert token not in str(_events(stack))

    r = stack.delete(f"/api/v1/phone-tokens/{signin['name']}")
    assert r.status_code == 200, r.text
    r = _scan(stack, token, PHONE_STATION, "CB-JMB-L-000103")
    assert r.status_code == 401
    assert stack.get("/api/v1/phone-tokens").json() == []
    wait_for(
        lambda: any(e["event"] == "phone_token_revoke" for e in _events(stack)),
        what="the revoke event stored",
    )
    again = stack.delete(f"/api/v1/phone-tokens/{signin['name']}")
    assert again.status_code == 404
    assert stack.post("/api/v1/stations/Bad%20Name/phone-tokens").status_code == 422


def test_phone_tokens_are_rebuilt_from_their_events(stack: Stack) -> None:
    first = stack.post(f"/api/v1/stations/{PHONE_STATION}/phone-tokens").json()
    second = stack.post(f"/api/v1/stations/{PHONE_STATION}/phone-tokens").json()
    r = stack.delete(f"/api/v1/phone-tokens/{first['name']}")
    assert r.status_code == 200, r.text
    wait_for(
        lambda: any(e["event"] == "phone_token_revoke" for e in _events(stack)),
        what="the revoke event stored",
    )
    assert [t.name for t in rebuilt_tokens(stack)] == [second["name"]]


def rebuilt_tokens(stack: Stack) -> list[PhoneTokenV1]:
    """The tokens a second services instance publishes, started on InfluxDB's events alone.

    The retained list is forgotten first: what it publishes can only come from the events.
    """
    topic = stack.topics.state_phone_tokens
    stack.probe.publish(topic, b"", retain=True)
    probe = Probe(stack.settings, topic)
    try:
        with running_services(stack.settings):
            return wait_for(  # type: ignore[no-any-return]
                lambda: next(
                    (
                        phone_tokens_decoder.decode(m.payload).tokens
                        for m in _drain(probe)
                        if m.payload
                    ),
                    None,
                ),
                20,
                "the rebuilt tokens published",
            )
    finally:
        probe.close()


def _drain(probe: Probe) -> list[Any]:
    out = []
    while not probe.messages.empty():
        out.append(probe.messages.get_nowait())
    return out


def test_the_qr_link_signs_the_scanning_page_in(
    stack: Stack,
    blank_browser: Browser,  # noqa: F811
) -> None:
    signin = stack.post(f"/api/v1/stations/{PHONE_STATION}/phone-tokens").json()
    stack.open_and_point(station=PHONE_STATION)
    context = blank_browser.new_context(permissions=["camera"])
    page = context.new_page()
    try:
        page.goto(signin["url"])  # what the phone's camera app opens from the QR code
        # The token leaves the address bar at once, and stays on the phone.
        expect(page).to_have_url(f"{stack.url}/dashboard/scan.html#station={PHONE_STATION}")
        assert page.evaluate("localStorage.getItem('gudang.scanToken')") == signin["token"]
        page.fill("#manual-code", "CB-JMB-L-000201")
        page.click("#manual-go")
        expect(page.locator('#recent li[data-label="CB-JMB-L-000201"]')).to_have_attribute(
            "data-result", "loaded", timeout=20_000
        )
        assert stack.container()["drums"] == 1
    finally:
        context.close()


def test_supervisor_shows_a_phone_qr_code_on_the_dashboard_and_revokes_it(
    stack: Stack,
    browser: Browser,  # noqa: F811
) -> None:
    signin_station(stack)
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _sign_in(page, stack.url, TOKENS["supervisor"])
        card = page.locator(f'[data-station="{PHONE_STATION}"]')
        link = card.locator(f'[data-phone-link="{PHONE_STATION}"]')
        expect(link).to_have_attribute("href", f"scan.html#station={PHONE_STATION}")
        card.locator(f'[data-phone-qr="{PHONE_STATION}"]').click()
        code = page.locator("#phone-qr-code img")
        expect(code).to_be_visible()
        expect(page.locator("#phone-list li[data-phone]")).to_have_count(1)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "phone-qr.png"))
        # The QR code, read off the screen as a phone's camera would, is the signed-in link.
        shot = Image.open(io.BytesIO(code.screenshot()))
        read = zxingcpp.read_barcode(shot)
        assert read is not None
        assert read.text.startswith(
            f"{stack.url}/dashboard/scan.html#station={PHONE_STATION}&token="
        )
        token = read.text.rsplit("token=", 1)[1]
        assert _scan(stack, token, PHONE_STATION, "CB-JMB-L-000401").status_code == 200
        phones = page.locator("#phone-list li[data-phone]")
        expect(phones).to_have_count(1)
        phones.first.locator("button").click()
        expect(page.locator("#phone-list li[data-phone]")).to_have_count(0)
        assert stack.get("/api/v1/phone-tokens").json() == []
        assert _scan(stack, token, PHONE_STATION, "CB-JMB-L-000402").status_code == 401
    finally:
        page.close()

    # A worker gets the scanning page's link, not the QR code.
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        _sign_in(page, stack.url, TOKENS["worker"])
        card = page.locator(f'[data-station="{PHONE_STATION}"]')
        expect(card.locator(f'[data-phone-link="{PHONE_STATION}"]')).to_be_visible()
        expect(card.locator(f'[data-phone-qr="{PHONE_STATION}"]')).to_have_count(0)
    finally:
        page.close()


def signin_station(stack: Stack) -> None:
    """Make the phone station known (its first phone) and point it at a container."""
    first = stack.post(f"/api/v1/stations/{PHONE_STATION}/phone-tokens").json()
    r = stack.delete(f"/api/v1/phone-tokens/{first['name']}")
    assert r.status_code == 200, r.text
    stack.open_and_point(station=PHONE_STATION)
