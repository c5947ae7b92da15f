"""A bridge reading a USB keyboard-wedge scanner: input events on a FIFO (no /dev/input here).

Covers the layouts, Alt-code GS, a scanner without suffix, line noise, unplug and replug,
and a plain file of recorded events.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from firmware_bridge.bridge import Bridge
from firmware_bridge.hid_device import HidDevice
from firmware_bridge.protocols.hid import InputEvent, encode_events, type_text
from firmware_bridge.simulators import HidScannerSimulator
from gudang.settings import DeviceSettings, Settings
from gudang.wire import QcResult, ScanKind, StationStatusV1, Topics, WeightStatus
from tests.bridge.station_kit import STATION, Recorder, running_station, station_settings
from tests.harness import wait_for


def _device(status: StationStatusV1, name: str) -> str:
    return next(d.state for d in status.devices if d.name == name)


@pytest.mark.parametrize("layout", ["us", "de", "fr"])
def test_a_keyboard_scanner_loads_drums_on_each_layout(
    layout: str, settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, "xk3190-a12", hid_layout=layout) as st:
        assert st.scale is not None
        st.scale.place(9.75)
        st.scanner.scan("CB-JMB-L-000601")  # capitals: Shift; "-" and digits move on de/fr
        scan = st.recorder.wait_scans(1)[0]
        assert scan.barcode == "CB-JMB-L-000601"
        assert (scan.weight_kg, scan.weight_status) == (9.75, WeightStatus.STABLE)
        st.scanner.scan("010950110153000310ABC123\x1d21SN0001", "]C1")  # GS as Alt 0 2 9
        gs1 = st.recorder.wait_scans(2)[1]
        assert gs1.symbology == "]C1"
        assert gs1.barcode == "010950110153000310ABC123\x1d21SN0001"


def test_a_scanner_without_suffix_and_a_bad_key_between_scans(
    settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, None, suffix=b"", hid_layout="us") as st:
        assert isinstance(st.scanner, HidScannerSimulator)
        st.scanner.scan("CB-JMB-S-000611")
        assert st.recorder.wait_scans(1)[0].barcode == "CB-JMB-S-000611"  # the pause ended it
        # F1 then Enter, its records torn across two writes: a frame refused and counted.
        f1 = [e for e in type_text("a", "us", start=time.time()) if e.code == 30]
        bad = encode_events([InputEvent(e.sec, e.usec, e.type, 59, e.value) for e in f1])
        bad += encode_events(type_text("", "us", start=time.time(), suffix="\r"))
        st.scanner.write(bad[:10])
        st.scanner.write(bad[10:])
        wait_for(lambda: st.bridge.counters["scanner_bad_frames"] == 1, 10, "bad frame counted")
        st.scanner.scan("CB-JMB-S-000612")
        scans = st.recorder.wait_scans(2)
        assert [s.barcode for s in scans] == ["CB-JMB-S-000611", "CB-JMB-S-000612"]


def test_unplug_reports_down_and_replug_resumes(settings: Settings, tmp_path: Path) -> None:
    with running_station(settings, tmp_path, None, hid_layout="us") as st:
        st.scanner.scan("CB-JMB-M-000621")
        assert st.recorder.wait_scans(1)[0].barcode == "CB-JMB-M-000621"
        before = len(st.recorder.statuses())
        st.scanner.unplug()
        down = st.recorder.wait_status(
            lambda s: _device(s, "scanner") == "disconnected", what="scanner down", after=before
        )
        assert next(d.detail for d in down.devices if d.name == "scanner")
        st.scanner.replug()
        wait_for(lambda: st.device("scanner") == "connected", 15, "scanner reopened")
        st.scanner.scan("CB-JMB-M-000622")
        scans = st.recorder.wait_scans(2)
        assert [s.barcode for s in scans] == ["CB-JMB-M-000621", "CB-JMB-M-000622"]


def test_a_plain_file_of_recorded_events_is_read_and_followed(
    settings: Settings, tmp_path: Path
) -> None:
    recorded = tmp_path / "recorded.events"
    recorded.write_bytes(encode_events(type_text("CB-JMB-L-000631", "us", start=1.0)))
    device = DeviceSettings(name="scanner", role="scanner", port=str(recorded), protocol="hid")
    full = station_settings(settings, tmp_path, [device])
    recorder = Recorder(full, Topics(full.site.name).scan(STATION))
    bridge = Bridge(full)
    bridge.start()
    try:
        wait_for(lambda: len(recorder.on("scan")) >= 1, 15, "the recorded scan")
        with recorded.open("ab") as out:  # the file is followed, like tail -f
            out.write(encode_events(type_text("CB-JMB-L-000632", "us", start=2.0)))
        wait_for(lambda: len(recorder.on("scan")) >= 2, 15, "the appended scan")
        assert [s.barcode for s in recorder.scans()] == ["CB-JMB-L-000631", "CB-JMB-L-000632"]
        recorded.unlink()
        wait_for(lambda: bridge.device_states()["scanner"] == "disconnected", 15, "file gone")
    finally:
        bridge.stop()
        recorder.close()


def test_station_file_checks_hid_scanners() -> None:
    ok = DeviceSettings(
        name="scanner", role="scanner", port="/dev/input/by-id/x-event-kbd", protocol="hid"
    )
    assert ok.layout == "us"
    with pytest.raises(ValueError, match="layout"):
        DeviceSettings(name="s", role="scanner", port="/dev/input/x", protocol="hid", layout="uk")
    with pytest.raises(ValueError, match="device path /dev/input"):
        DeviceSettings(name="s", role="scanner", port="socket://h:1", protocol="hid")
    with pytest.raises(ValueError, match="'hid' \\(USB keyboard\\)"):
        DeviceSettings(name="s", role="scanner", port="/dev/ttyACM0", protocol="mt-sics")
    with pytest.raises(ValueError, match="a scale speaks one of"):
        DeviceSettings(name="s", role="scale", port="/dev/ttyUSB0", protocol="hid")


def test_a_character_device_that_is_no_input_device_is_down_with_the_reason() -> None:
    # /dev/null is a character device, as /dev/input/event* are: the bridge opens it with
    # python-evdev, whose evdev ioctls fail there; the scanner is down, retried, no crash.
    states: list[tuple[str, str]] = []
    device = HidDevice(
        DeviceSettings(name="scanner", role="scanner", port="/dev/null", protocol="hid"),
        lambda frame, at: None,
        lambda state, detail: states.append((state, detail)),
        idle_flush_s=0.3,
    )
    device.start()
    try:
        wait_for(lambda: device.detail.startswith("cannot open /dev/null"), 10, "the reason")
        assert device.state == "disconnected"
        assert "ioctl" in device.detail
        assert device.errors == 0  # an expected failure, not a bug
    finally:
        device.stop()
    assert states[-1] == ("disconnected", "stopped")


@pytest.mark.parametrize("layout", ["us", "fr"])
def test_container_labels_and_station_cards_typed_by_a_keyboard_scanner(
    layout: str, settings: Settings, tmp_path: Path
) -> None:
    # The same frame rules as a serial scanner: ISO 6346, supplier and QC cards.
    with running_station(settings, tmp_path, "xk3190-tf0", hid_layout=layout) as st:
        assert st.scale is not None
        st.scanner.scan("CSQU 305438 3")
        st.scanner.scan("SUP:CV-JAYA")  # ':' is Shift+; on us, a plain key on fr
        st.scanner.scan("QC:REJECT")
        st.scale.place(7.5)
        st.scanner.scan("CB-JMB-L-000641")
        scans = st.recorder.wait_scans(3)
        assert [(s.kind, s.barcode) for s in scans] == [
            (ScanKind.CONTAINER, "CSQU 305438 3"),
            (ScanKind.SUPPLIER, "CV-JAYA"),
            (ScanKind.DRUM, "CB-JMB-L-000641"),
        ]
        assert scans[2].qc is QcResult.REJECT
        assert scans[2].weight_kg == 7.5
