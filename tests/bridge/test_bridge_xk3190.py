"""A bridge on a simulated Yaohua XK3190: stability judged from equal frames, noise counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from gudang.settings import Settings
from gudang.wire import WeightStatus
from tests.bridge.station_kit import running_station
from tests.harness import wait_for


@pytest.mark.parametrize("protocol", ["xk3190-a12", "xk3190-tf0"])
def test_a_drum_takes_the_weight_once_the_frames_agree(
    protocol: str, settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, protocol) as st:
        assert st.scale is not None
        st.scale.place(8.25)
        st.scanner.scan("CB-JMB-L-000401")
        scan = st.recorder.wait_scans(1)[0]
        assert (scan.weight_kg, scan.weight_stable) == (8.25, True)
        assert scan.weight_status is WeightStatus.STABLE


def test_a_weight_that_never_settles_is_not_stable(settings: Settings, tmp_path: Path) -> None:
    with running_station(settings, tmp_path, "xk3190-a12") as st:
        assert st.scale is not None
        # Each frame 0.1 kg off the last, for longer than the pairing window.
        moving: list[ScaleReading | bytes] = [
            ScaleReading(ScaleStatus.MOTION, 6.0 + 0.1 * (i % 2), net=False) for i in range(60)
        ]
        st.scale.play(moving)
        st.scanner.scan("CB-JMB-M-000402")
        scan = st.recorder.wait_scans(1)[0]
        assert scan.weight_stable is False
        assert scan.weight_status is not WeightStatus.STABLE


def test_bad_checksums_and_noise_are_dropped_and_counted(
    settings: Settings, tmp_path: Path
) -> None:
    with running_station(settings, tmp_path, "xk3190-a12") as st:
        assert st.scale is not None
        st.scale.place(5.5)
        st.scale.play([b"WG005.500kg00\r\n", b"\xff\xfe\x00garbage\r\n"])
        wait_for(lambda: st.bridge.counters["scale_bad_frames"] >= 2, 10, "bad frames counted")
        st.scanner.scan("CB-JMB-M-000403")
        scan = st.recorder.wait_scans(1)[0]
        assert (scan.weight_kg, scan.weight_stable) == (5.5, True)
