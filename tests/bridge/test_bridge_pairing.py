"""Pairing over ptys: each scale protocol, a real bridge, a real broker.

A drum scan takes the scale's next stable weight, never one read before the scan; no
stable weight in the window, overload and error are published with the scan.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from firmware_bridge.pairing import ScaleWatch
from firmware_bridge.protocols import SCALE_PROTOCOLS
from firmware_bridge.protocols.base import ScaleReading, ScaleStatus
from firmware_bridge.simulators import ScaleSimulator
from gudang.settings import Settings
from gudang.wire import ScanKind, WeightStatus
from tests.bridge.station_kit import SETTLE_S, Station, running_station
from tests.harness import wait_for

# What each protocol's scale sends for a fault it is put in: a protocol with no words for
# overload (Ohaus) stays silent, which the bridge reports as a scale error.
OVERLOAD_STATUS = {
    "mt-sics": WeightStatus.OVERLOAD,
    "mt-continuous": WeightStatus.OVERLOAD,
    "and": WeightStatus.OVERLOAD,
    "cas": WeightStatus.OVERLOAD,
    "sma": WeightStatus.OVERLOAD,
    "ohaus": WeightStatus.ERROR,
    "xk3190-a12": WeightStatus.OVERLOAD,
    "xk3190-tf0": WeightStatus.ERROR,  # format 0 has no overload frame
}


def _settled(scale: ScaleSimulator) -> bool:
    return scale.reading().stable


def _scan_drum(station: Station, label: str, count: int) -> dict[str, object]:
    station.scanner.scan(label)
    scan = station.recorder.wait_scans(count)[count - 1]
    assert scan.barcode == label
    assert scan.kind is ScanKind.DRUM
    return {"kg": scan.weight_kg, "stable": scan.weight_stable, "status": scan.weight_status}


def _paired_stable(kg: float) -> dict[str, object]:
    """What `_scan_drum` returns for a drum paired with a stable `kg`."""
    return {"kg": kg, "stable": True, "status": WeightStatus.STABLE}


@pytest.mark.parametrize("protocol", sorted(SCALE_PROTOCOLS))
def test_scan_pairs_with_next_stable_weight_and_reports_faults(
    protocol: str, settings: Settings, tmp_path: Path
) -> None:
    assert set(OVERLOAD_STATUS) == set(SCALE_PROTOCOLS)
    with running_station(settings, tmp_path, protocol) as st:
        scale = st.require_scale()
        scale.place(5.0)
        wait_for(lambda: _settled(scale), what="first drum settled")
        assert _scan_drum(st, "CB-JMB-M-000001", 1) == _paired_stable(5.0)

        # The first drum still reads 5.0 kg, stable, when the next goes on and is scanned:
        # only a reading taken after the scan counts, so the scan waits for 9.25 kg.
        scale.place(9.25)
        assert _scan_drum(st, "CB-JMB-L-000002", 2) == _paired_stable(9.25)

        # A drum that never settles within the window: published, without a weight.
        scale.settle_s = 60.0
        scale.place(7.5)
        assert _scan_drum(st, "CB-JMB-L-000003", 3) == {
            "kg": None,
            "stable": False,
            "status": WeightStatus.NO_STABLE,
        }
        scale.settle_s = SETTLE_S

        scale.fault(ScaleStatus.OVERLOAD)
        assert _scan_drum(st, "CB-JMB-L-000004", 4)["status"] is OVERLOAD_STATUS[protocol]
        scale.fault(ScaleStatus.ERROR)
        assert _scan_drum(st, "CB-JMB-L-000005", 5)["status"] is WeightStatus.ERROR

        # Back to normal: the next drum pairs again.
        scale.fault(None)
        scale.place(8.125)
        wait_for(lambda: _settled(scale), what="scale settled after the faults")
        assert _scan_drum(st, "CB-JMB-L-000006", 6) == _paired_stable(8.125)
        assert scale.alive
        assert st.bridge.counters["scans"] == 6
        assert st.bridge.counters["scans_refused"] == 0
        scans = st.recorder.scans()
        assert len({s.id for s in scans}) == 6
        assert [s.ts for s in scans] == sorted(s.ts for s in scans)


def test_container_label_is_published_as_context_without_weighing(
    settings: Settings, tmp_path: Path
) -> None:
    # No polls between scans (weight_publish_hz 0): the only ones counted are the label's.
    with running_station(settings, tmp_path, "mt-sics", weight_publish_hz=0) as st:
        assert st.scale is not None
        st.scale.place(9.0)
        polls_before = st.scale.commands
        st.scanner.scan("CSQU 305438 3")
        scan = st.recorder.wait_scans(1)[0]
        assert scan.kind is ScanKind.CONTAINER
        assert scan.barcode == "CSQU 305438 3"
        assert scan.weight_status is WeightStatus.NO_SCALE
        assert scan.weight_kg is None
        # A label is not weighed: the scale was not asked.
        assert st.scale.commands == polls_before


def test_late_reply_to_a_poll_before_the_scan_is_not_its_weight() -> None:
    """A polled scale's answer to an earlier poll, arriving after the scan, is ignored."""
    watch = ScaleWatch(polled=True, min_weight_kg=0.1)
    watch.set_connected(True)
    polls: list[float] = []
    # A poll of the previous scan is still unanswered when the next scan comes.
    watch.wait_after(time.monotonic(), time.monotonic() + 0.05, lambda: polls.append(1) or True)
    assert len(polls) == 1
    scan_at = time.monotonic()

    def scale_replies() -> None:
        time.sleep(0.05)
        # The late reply to the old poll: the previous drum's weight.
        watch.feed(ScaleReading(ScaleStatus.STABLE, 5.0), time.monotonic())
        wait_for(lambda: len(polls) == 2, what="a poll after the scan")
        watch.feed(ScaleReading(ScaleStatus.STABLE, 9.25), time.monotonic())

    replier = threading.Thread(target=scale_replies)
    replier.start()
    paired = watch.wait_after(scan_at, scan_at + 5.0, lambda: polls.append(2) or True)
    replier.join()
    assert paired.weight_kg == 9.25
    assert paired.status is WeightStatus.STABLE


def test_empty_platter_is_not_a_drum_weight() -> None:
    """A stable zero (the last drum taken off) never pairs; the scan waits for its drum."""
    watch = ScaleWatch(polled=False, min_weight_kg=0.1)
    watch.set_connected(True)
    scan_at = time.monotonic()

    def stream() -> None:
        for kg in (0.0, 0.0, 0.02, 6.5):
            time.sleep(0.07)
            watch.feed(ScaleReading(ScaleStatus.STABLE, kg), time.monotonic())

    streamer = threading.Thread(target=stream)
    streamer.start()
    paired = watch.wait_after(scan_at, scan_at + 5.0, None)
    streamer.join()
    assert paired.weight_kg == 6.5
    # Only empty readings in the window: no stable weight.
    empty_at = time.monotonic()

    def empty_stream() -> None:
        for _ in range(6):
            time.sleep(0.07)
            watch.feed(ScaleReading(ScaleStatus.STABLE, 0.0), time.monotonic())

    streamer = threading.Thread(target=empty_stream)
    streamer.start()
    empty = watch.wait_after(empty_at, empty_at + 0.3, None)
    streamer.join()
    assert empty.status is WeightStatus.NO_STABLE
    assert empty.weight_kg is None
