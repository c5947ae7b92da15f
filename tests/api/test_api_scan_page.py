"""The phone's scanning page in headless Chromium with a fake camera.

The camera plays a video the test makes from rendered labels (a Code 128 drum code and a
GS1 DataMatrix); desktop Chromium has no native BarcodeDetector, so the vendored
ZXing-C++ polyfill decodes them, its WASM served by the API. Scans reach the API and
InfluxDB once; with the API stopped they wait in IndexedDB and arrive in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gudang.influx import quote_str
from gudang.settings import Settings
from gudang.wire import scan_decoder
from gudang_ops.servers import free_port
from tests.api.conftest import STATION, TOKENS, Stack, scale_station
from tests.api.test_api_dashboard import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.harness import Probe, influx_rows, running_api, running_services

CODE128 = "CB-JMB-L-000001"
GS1_HRI = "(01)09501101530003(21)SN0001"  # the default catalogue's JMB-L GTIN
GS1_KEY = "09501101530003:SN0001"
# The camera: 640x480 grey at 10 frames a second, each label 1.5 s in view with 1.5 s of
# empty paper between (the page counts a label again only after 0.8 s out of view).
WIDTH, HEIGHT, FPS = 640, 480, 10
SEGMENT_FRAMES = 15
# Decoding a frame in WASM, the stream and the services on a busy 2-core machine.
UI_TIMEOUT_MS = 45_000


def _label(content: str, fmt: Any, scale: int, **options: Any) -> Image.Image:
    code = zxingcpp.create_barcode(content, fmt, **options)
    img = zxingcpp.write_barcode_to_image(code, scale=scale)
    h, w = img.shape
    return Image.frombytes("L", (w, h), bytes(memoryview(img)))


def _frame(label: Image.Image | None) -> bytes:
    paper = Image.new("L", (WIDTH, HEIGHT), 235)
    if label is not None:
        paper.paste(label, ((WIDTH - label.width) // 2, (HEIGHT - label.height) // 2))
    return paper.tobytes()


def write_camera_video(path: Path) -> None:
    """A y4m video: paper, the Code 128 label, paper, the GS1 DataMatrix; Chromium loops it."""
    code128 = _label(CODE128, zxingcpp.BarcodeFormat.Code128, scale=3)
    datamatrix = _label(GS1_HRI, zxingcpp.BarcodeFormat.DataMatrix, scale=10, gs1=True)
    # The labels read back as they should before a browser is asked to.
    assert zxingcpp.read_barcode(code128).text == CODE128
    assert zxingcpp.read_barcode(datamatrix).symbology_identifier == "]d2"
    chroma = bytes([128]) * (WIDTH * HEIGHT // 2)  # 4:2:0, no colour
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for label in (None, code128, None, datamatrix):
            frame = _frame(label)
            for _ in range(SEGMENT_FRAMES):
                f.write(b"FRAME\n" + frame + chroma)


def _browser(video: Path | None) -> Iterator[Browser]:
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if video is not None:
        args.append(f"--use-file-for-fake-video-capture={video}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


@pytest.fixture
def camera_browser(tmp_path: Path) -> Iterator[Browser]:
    """Chromium whose camera films the two labels, over and over."""
    video = tmp_path / "camera.y4m"
    write_camera_video(video)
    yield from _browser(video)


@pytest.fixture
def blank_browser() -> Iterator[Browser]:
    """Chromium whose camera shows Chromium's own test pattern: no label in view."""
    yield from _browser(None)


TONE_COUNTER = """
window.__tones = [];
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones.push(this.frequency.value);
  return start.apply(this, args);
};
"""


def _scan_page(browser: Browser, url: str, token: str, station: str = STATION) -> Page:
    context = browser.new_context(viewport={"width": 412, "height": 900}, permissions=["camera"])
    # Signed in as the dashboard would leave it.
    context.add_init_script(f"localStorage.setItem('gudang.token', {token!r})")
    # Count the tones the page really starts on the audio output.
    context.add_init_script(TONE_COUNTER)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{url}/dashboard/scan.html#station={station}")
    return page


def _rows(settings: Settings, where: str) -> list[dict[str, Any]]:
    return influx_rows(
        settings.influx,
        f"SELECT * FROM scan WHERE site = {quote_str(settings.site.name)} AND {where}",
    )


def test_camera_scans_code128_and_gs1_datamatrix_once_each(
    stack: Stack, camera_browser: Browser
) -> None:
    stack.open_and_point()
    page = _scan_page(camera_browser, stack.url, TOKENS["worker"])
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.reload()  # with the listener in place from the first request on
    recent = page.locator("#recent li")
    expect(page.locator(f'#recent li[data-result="loaded"][data-label="{CODE128}"]')).to_have_count(
        1, timeout=UI_TIMEOUT_MS
    )
    expect(page.locator('#recent li[data-result="loaded"]')).to_have_count(2, timeout=UI_TIMEOUT_MS)
    # The video loops: the drum label comes back into view, a second scan of the same drum.
    expect(
        page.locator(f'#recent li[data-result="duplicate"][data-label="{CODE128}"]').first
    ).to_be_visible(timeout=UI_TIMEOUT_MS)

    # The page said it in words and sound, the station screen's (js/cues.js): a cue per scan.
    result = page.locator("#result")
    assert int(result.get_attribute("data-cues") or 0) >= 3
    tones = page.evaluate("window.__tones")
    assert 1320 in tones  # "loaded": one short high beep
    assert tones.count(660) >= 2  # "duplicate": two quick mid beeps
    # The scans as the API lists them.
    listed = stack.get("/api/v1/scans", params={"station": STATION}).json()
    assert {(x["barcode"], x["result"]) for x in listed} >= {
        (CODE128, "loaded"),
        (CODE128, "duplicate"),
    }
    assert sum(x["result"] == "loaded" for x in listed) == 2
    expect(recent.filter(has_text="Dimuat")).to_have_count(2)
    expect(recent.filter(has_text="Scan ganda").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "scan-page.png"))

    c = stack.container()
    assert c["drums"] == 2
    assert c["drums_by_sku"] == {"JMB-L": 2}
    loaded = _rows(stack.settings, f"station = '{STATION}' AND result = 'loaded'")
    assert sorted(r["drum"] for r in loaded) == sorted([CODE128, GS1_KEY])
    assert all(r["weight_status"] == "no_scale" for r in loaded)
    dups = _rows(stack.settings, f"station = '{STATION}' AND result = 'duplicate'")
    assert CODE128 in {r["barcode"] for r in dups}
    # Each scan stored once, by its id.
    every = _rows(stack.settings, f"station = '{STATION}'")
    assert len({r["id"] for r in every}) == len(every)

    # Nothing but the API itself was asked for anything; the WASM came from it.
    assert requests, "the page made no request"
    assert all(u.startswith(stack.url + "/") for u in requests), [
        u for u in requests if not u.startswith(stack.url)
    ]
    assert f"{stack.url}/dashboard/vendor/barcode-detector/zxing_reader.wasm" in requests
    page.context.close()


def test_scans_wait_in_the_page_while_the_api_is_away(
    api_settings: Settings, blank_browser: Browser
) -> None:
    settings = api_settings
    port = free_port()
    probe = Probe(settings, f"gudang/{settings.site.name}/station/{STATION}/scan")
    labels = [f"CB-JMB-M-{i:06d}" for i in range(1, 6)]
    try:
        with running_services(settings):
            with running_api(settings, port) as url:
                stack = Stack(url, settings, probe)
                stack.open_and_point()
                page = _scan_page(blank_browser, url, TOKENS["worker"], station=STATION)
                _type(page, labels[0])
                expect(page.locator(f'#recent li[data-label="{labels[0]}"]')).to_have_attribute(
                    "data-result", "loaded"
                )
            # The API is gone (the page stays open): the scans are kept, and counted.
            for label in labels[1:]:
                _type(page, label)
            expect(page.locator("#waiting")).to_have_attribute("data-count", "4")
            expect(page.locator("#waiting")).to_be_visible()
            expect(page.locator("#net")).to_have_attribute("data-state", "off")
            assert _rows(settings, f"barcode = '{labels[1]}'") == []

            with running_api(settings, port):
                expect(page.locator("#waiting")).to_have_attribute(
                    "data-count", "0", timeout=UI_TIMEOUT_MS
                )
                expect(page.locator("#waiting")).to_be_hidden()
                expect(page.locator('#recent li[data-result="loaded"]')).to_have_count(5)
                assert stack.container()["drums"] == 5
            page.context.close()
        stored = _rows(settings, f"station = '{STATION}' AND kind = 'drum'")
        assert sorted(r["barcode"] for r in stored) == labels  # each exactly once
        # In the order scanned: as the API published them, and by the phone's times.
        published = [scan_decoder.decode(m.payload) for m in _drain(probe)]
        first_seen = list(dict.fromkeys(s.barcode for s in published if s.kind == "drum"))
        assert first_seen == labels
        assert [r["barcode"] for r in sorted(stored, key=lambda r: r["time"])] == labels
    finally:
        probe.close()


def _type(page: Page, code: str) -> None:
    page.fill("#manual-code", code)
    page.click("#manual-go")


def _drain(probe: Probe) -> list[Any]:
    out = []
    while not probe.messages.empty():
        out.append(probe.messages.get_nowait())
    return out


def test_scan_page_words_switch_and_manual_refusal(stack: Stack, blank_browser: Browser) -> None:
    page = _scan_page(blank_browser, stack.url, TOKENS["worker"])
    expect(page.locator("#manual-go")).to_have_text("Kirim")
    page.click("#lang-en")
    expect(page.locator("#manual-go")).to_have_text("Send")
    _type(page, "QC:REJECT")  # no bridge at this station: refused, said, not resent
    item = page.locator('#recent li[data-label="QC:REJECT"]')
    expect(item).to_have_attribute("data-result", "refused")
    expect(item).to_contain_text("QC cards need a station with a bridge")
    expect(page.locator("#waiting")).to_have_attribute("data-count", "0")
    expect(page.locator("#result")).to_have_attribute("data-flash", "rejected")
    assert 196 in page.evaluate("window.__tones")  # the station screen's long low buzz
    page.context.close()


def test_typed_scan_at_a_station_with_bridge_carries_the_scales_weight(
    stack: Stack, blank_browser: Browser, tmp_path: Path
) -> None:
    stack.open_and_point()
    with scale_station(stack, tmp_path, 9.25) as (st, _scale):
        page = _scan_page(blank_browser, stack.url, TOKENS["worker"])
        _type(page, "CB-JMB-L-000301")
        item = page.locator('#recent li[data-label="CB-JMB-L-000301"]')
        expect(item).to_have_attribute("data-result", "loaded")
        expect(item).to_contain_text("9,25 kg")  # id-ID: the scale's stable weight
        (scan,) = st.recorder.wait_scans(1)
        assert (scan.weight_kg, scan.weight_stable) == (9.25, True)
        assert scan.id == item.get_attribute("data-id")
        page.context.close()
