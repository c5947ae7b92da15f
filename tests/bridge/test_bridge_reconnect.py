"""Unplugging devices over ptys: device-down status, no scan invented, reattach on replug."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.protocols.base import ScaleStatus
from gudang.settings import Settings
from gudang.wire import StationState, StationStatusV1, WeightStatus
from tests.bridge.station_kit import running_station
from tests.harness import wait_for


def _device(status: StationStatusV1, name: str) -> str:
    return next(d.state for d in status.devices if d.name == name)


@pytest.mark.parametrize("protocol", ["mt-sics", "cas", "xk3190-a12", "xk3190-tf0"])
def test_scale_unplugged_reports_down_invents_nothing_and_resumes_on_replug(
    protocol: str, settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, protocol) as st:
        scale = st.require_scale()
        scale.place(6.0)
        st.scanner.scan("CB-JMB-M-000301")
        assert st.recorder.wait_scans(1)[0].weight_kg == 6.0

        before = len(st.recorder.statuses())
        scale.unplug()  # the pty closes: to the bridge, a USB cable pulled
        down = st.recorder.wait_status(
            lambda s: _device(s, "scale") == "disconnected",
            what="scale down in the status",
            after=before,
        )
        assert down.state is StationState.ONLINE
        assert _device(down, "scanner") == "connected"
        assert down.devices[1].detail  # why, for the operator

        # The worker scans while the scale is away: the scan is published, with the reason.
        st.scanner.scan("CB-JMB-M-000302")
        second = st.recorder.wait_scans(2)[1]
        assert second.barcode == "CB-JMB-M-000302"
        assert second.weight_status is WeightStatus.ERROR
        assert second.weight_kg is None

        scale.replug()  # a new pty behind the same stable name
        wait_for(lambda: st.device("scale") == "connected", 15, "scale reattached")
        up = st.recorder.wait_status(
            lambda s: _device(s, "scale") == "connected",
            what="scale up again in the status",
            after=st.recorder.statuses().index(down),
        )
        assert _device(up, "scanner") == "connected"

        scale.place(7.25)
        st.scanner.scan("CB-JMB-L-000303")
        scans = st.recorder.wait_scans(3)
        # Nothing was invented while the scale was away: exactly the three scans made.
        assert [s.barcode for s in scans] == [
            "CB-JMB-M-000301",
            "CB-JMB-M-000302",
            "CB-JMB-L-000303",
        ]
        assert scans[2].weight_kg == 7.25
        assert scans[2].weight_status is WeightStatus.STABLE
        assert st.bridge.counters["scans"] == 3


def test_scanner_unplugged_and_replugged_keeps_the_scale_and_resumes(
    settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, "mt-sics") as st:
        st.require_scale().place(4.5)
        st.scanner.unplug()
        wait_for(lambda: st.device("scanner") == "disconnected", what="scanner down")
        assert st.device("scale") == "connected"
        st.scanner.replug()
        wait_for(lambda: st.device("scanner") == "connected", 15, "scanner reattached")
        st.scanner.scan("CB-JMB-S-000401")
        scans = st.recorder.wait_scans(1)
        assert [(s.barcode, s.weight_kg) for s in scans] == [("CB-JMB-S-000401", 4.5)]
        assert st.bridge.counters["scans"] == 1


@pytest.mark.parametrize("protocol", ["mt-sics", "cas"])
def test_scale_in_error_shows_in_the_status_until_it_weighs_again(
    protocol: str, settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, protocol) as st:
        scale = st.require_scale()
        before = len(st.recorder.statuses())
        # MT-SICS says "EL"; a CAS indicator has no error frame and goes silent.
        scale.fault(ScaleStatus.ERROR)
        st.scanner.scan("CB-JMB-M-000601")
        assert st.recorder.wait_scans(1)[0].weight_status is WeightStatus.ERROR
        failing = st.recorder.wait_status(
            lambda s: _device(s, "scale") == "error", what="scale in error", after=before
        )
        assert failing.devices[1].detail
        assert _device(failing, "scanner") == "connected"
        scale.fault(None)
        scale.place(5.5)
        st.scanner.scan("CB-JMB-M-000602")
        assert st.recorder.wait_scans(2)[1].weight_kg == 5.5
        st.recorder.wait_status(
            lambda s: _device(s, "scale") == "connected",
            what="scale well again",
            after=st.recorder.statuses().index(failing),
        )


def test_a_port_missing_from_the_start_says_why(settings: Settings, tmp_path: Path) -> None:
    from firmware_bridge.protocols.scanner import make_scan_splitter
    from firmware_bridge.serial_device import SerialDevice
    from gudang.settings import DeviceSettings

    missing = tmp_path / "ttyGone"
    device = SerialDevice(
        DeviceSettings(name="scanner", role="scanner", port=str(missing)),
        make_scan_splitter,
        lambda frame, at: None,
        lambda state, detail: None,
    )
    device.start()
    try:
        wait_for(lambda: device.detail.startswith(f"cannot open {missing}"), 10, "the reason")
        assert device.state == "disconnected"
    finally:
        device.stop()
