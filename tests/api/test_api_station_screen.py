"""The station screen in Chromium: each result its own sound (Web Audio) and flash, and plain
words when the station cannot store scans.

The page's AudioContext is instrumented before any script runs: every oscillator started is
logged as "waveform:Hz", so a test hears what the worker would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from gudang.wire import (
    DeviceStateV1,
    RefusedScanV1,
    StationState,
    StationStatusV1,
    encode,
)
from tests.api.conftest import CONTAINER, CONTAINER_2, TOKENS, Stack
from tests.api.test_api_dashboard import ARTIFACTS, UI_TIMEOUT_MS, launch_chromium

# Every oscillator the page starts, in order; and how many cues the screen gave.
HEAR = """
(() => {
  window.__tones = [];
  const Real = window.AudioContext;
  if (!Real) return;
  const create = Real.prototype.createOscillator;
  Real.prototype.createOscillator = function () {
    const osc = create.call(this);
    const start = osc.start.bind(osc);
    osc.start = (...args) => {
      window.__tones.push(`${osc.type}:${osc.frequency.value}`);
      return start(...args);
    };
    return osc;
  };
})();
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # A station tablet is set to play sound without a tap first (kiosk mode).
    yield from launch_chromium("--autoplay-policy=no-user-gesture-required")


def _status(stack: Stack, error: str = "", refused: RefusedScanV1 | None = None) -> None:
    status = StationStatusV1(
        site=stack.site,
        station="load-1",
        state=StationState.ONLINE,
        heartbeat_s=15,
        devices=[
            DeviceStateV1(name="scanner", role="scanner", state="connected"),
            DeviceStateV1(name="scale", role="scale", state="connected"),
        ],
        spool_capacity=200_000,
        error=error,
        refused=refused,
        scans_refused=1 if refused else 0,
    )
    stack.probe.publish(stack.topics.status("load-1"), encode(status), retain=True)


def _tones(page: Page) -> list[str]:
    return list(page.evaluate("window.__tones"))


def _cues(page: Page) -> int:
    return int(page.locator("#screen-scan").get_attribute("data-cues") or 0)


def _cue(page: Page, kind: str, action: Callable[[], object]) -> list[str]:
    """Do ``action``; wait for the screen's next cue to be ``kind``; return the tones played."""
    before, heard = _cues(page), len(_tones(page))  # taken first: the cue may come at once
    action()
    page.wait_for_function(
        "([kind, before]) => { const p = document.getElementById('screen-scan');"
        " return Number(p.dataset.cues || 0) > before && p.dataset.flash === kind; }",
        arg=[kind, before],
        timeout=UI_TIMEOUT_MS,
    )
    assert _cues(page) == before + 1, f"{kind}: one result, one cue"
    expect(page.locator("#screen-scan")).to_have_class("screen-scan flash")
    page.wait_for_function("n => window.__tones.length > n", arg=heard, timeout=UI_TIMEOUT_MS)
    return _tones(page)[heard:]


def test_each_result_sounds_and_flashes_its_own_way(stack: Stack, browser: Browser) -> None:
    stack.open_and_point()
    _status(stack)
    stack.scan("CB-JMB-L-000900", 9.0)  # the screen opens on this one: shown, not sounded
    stack.wait_drums(1)
    page = browser.new_page(viewport={"width": 1024, "height": 768}, timezone_id="UTC")
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.add_init_script(HEAR)
    try:
        page.goto(f"{stack.url}/dashboard/")
        page.fill("#token", TOKENS["worker"])
        page.click("#login-form button[type=submit]")
        expect(page.locator("#live")).to_have_attribute("data-state", "on")
        page.evaluate("location.hash = '#station=load-1'")
        expect(page.locator("#screen-label")).to_have_text("CB-JMB-L-000900")
        assert _tones(page) == []  # an old result is not played again when the screen opens
        assert _cues(page) == 0
        expect(page.locator("#screen-alarm")).to_be_hidden()

        heard: dict[str, list[str]] = {}
        heard["loaded"] = _cue(page, "loaded", lambda: stack.scan("CB-JMB-L-000901", 9.5))
        expect(page.locator("#screen-scan")).to_have_attribute("data-tone", "ok")

        heard["duplicate"] = _cue(page, "duplicate", lambda: stack.scan("CB-JMB-L-000901", 9.5))
        expect(page.locator("#screen-scan")).to_have_attribute("data-tone", "warn")

        stack.open_and_point(CONTAINER_2)  # the drum is in the first container
        heard["wrong_container"] = _cue(
            page, "wrong_container", lambda: stack.scan("CB-JMB-L-000901", 9.5)
        )
        expect(page.locator("#screen-scan")).to_have_attribute("data-tone", "bad")

        heard["rejected"] = _cue(page, "rejected", lambda: stack.scan("HELLO-WORLD", 9.5))
        expect(page.locator("#screen-result")).to_have_text("Ditolak")

        # Stored without a weight at a station with a scale: none was stable.
        heard["no_weight"] = _cue(page, "no_weight", lambda: stack.scan("CB-JMB-L-000902", None))
        expect(page.locator("#screen-detail")).to_contain_text("tanpa berat stabil")

        # The bridge cannot store scans (its SD card is full): a siren and plain words.
        refused = RefusedScanV1(
            at=datetime.now(UTC), label="CB-JMB-L-000903", reason="spool: disk full"
        )
        heard["not_saved"] = _cue(
            page, "not_saved", lambda: _status(stack, error="spool: disk full", refused=refused)
        )
        alarm = page.locator("#screen-alarm")
        expect(alarm).to_be_visible()
        expect(alarm).to_contain_text("TIDAK BISA menyimpan scan")
        expect(alarm).to_contain_text("spool: disk full")
        page.click("#lang-en")
        expect(alarm).to_contain_text("CANNOT store scans")
        page.screenshot(path=str(ARTIFACTS / "station-screen-not-saved.png"))
        cues = _cues(page)
        _status(stack)  # fixed: the words go away
        expect(alarm).to_be_hidden()
        # Updates that bring no new result (the status, the clock) play nothing.
        assert _cues(page) == cues
    finally:
        page.close()

    # Each result has a tune of its own, and a tune is what was played, nothing else.
    assert all(heard.values()), heard
    tunes = {kind: tuple(tones) for kind, tones in heard.items()}
    assert len(set(tunes.values())) == len(tunes), tunes
    assert tunes["loaded"] == ("sine:1320",)
    assert tunes["rejected"] == ("square:196",)
    assert CONTAINER != CONTAINER_2
